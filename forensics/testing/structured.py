"""Strategies for the mapping-driven formats: JSON lines, JSON documents, CloudTrail, CSV/TSV.

Records are generated *from the mapping*: each raw field the mapping reads gets values of the
shape its expressions suggest (a bare field feeding ``status`` gets integers, a field compared
with literals gets those literals, ``json_extract_string(f, '$.a.b')`` makes ``f`` an object
with that path, the timestamp field gets times in the mapping's formats). Where an expression is
a bare field (or a CAST of one) the expected canonical value is known and the round trip is
checked; otherwise a well-formed record must at least become an event, not a quarantine row.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import sqlglot
from hypothesis import strategies as st
from sqlglot import exp

from forensics.mapping import Mapping, referenced_fields
from forensics.schema import ACTIONS, ACTOR_TYPES, EVENT_SCHEMA, OUTCOMES
from forensics.testing.common import (
    GeneratedLine,
    format_offset,
    free_text,
    in_offset,
    tokens,
    utc_offsets,
    utc_timestamps,
)

# A mapping for fuzzing the structured formats when the user gives none: every canonical column
# from a raw field, through the shapes real mappings use (bare field, CAST, CASE, JSON path).
DEFAULT_MAPPING_TOML = """\
source = "fuzz"
format = "{format}"
description = "forensics fuzz: generic mapping exercising every canonical column"

[timestamp]
expr = "time"

[columns]
actor_id = "user"
actor_type = "user_type"
merchant_id = "shop"
action = "action"
action_raw = "op"
outcome = "CASE result WHEN 'ok' THEN 'success' WHEN 'denied' THEN 'failure' ELSE 'unknown' END"
order_ids = "{order_ids}"
masked = "CAST(masked AS BOOLEAN)"
record_count = "CAST(n AS BIGINT)"
ip = "ip"
user_agent = "ua"
session_id = "json_extract_string(ctx, '$.session')"
request_id = "json_extract_string(ctx, '$.request.id')"
status = "CAST(status AS INTEGER)"
bytes = "CAST(size AS BIGINT)"
node = "node"
seq = "CAST(seq AS BIGINT)"
"""


def default_mapping_toml(fmt: str) -> str:
    order_ids = "string_split(orders, ';')" if fmt in ("csv", "tsv") else "json_extract_string(orders, '$[*]')"
    return DEFAULT_MAPPING_TOML.format(format=fmt, order_ids=order_ids)


# ---------------------------------------------------------------- what each raw field should hold


@dataclass
class FieldPlan:
    """How to generate one raw field, and which canonical column equals it (if any)."""

    # time | int | bool | action | outcome | actor_type | text | literal | object | array | list
    # (array: read with a JSON path '$[*]'; list: cast to a DuckDB list, e.g. CAST(f AS VARCHAR[]))
    kind: str
    column: str | None = None  # canonical column that is exactly this field's value
    literals: tuple[str, ...] = ()
    paths: list[tuple[str, ...]] = field(default_factory=list)  # JSON paths read from an object field


@dataclass
class RecordPlan:
    mapping: Mapping
    fields: dict[str, FieldPlan]
    ts_field: str | None  # the timestamp expression is exactly this field (or a coalesce of fields)
    ts_fields: tuple[str, ...]
    cache: dict[str, Any] = field(default_factory=dict, repr=False)  # strategies built once per plan


# CAST targets an integer text satisfies (numbers are generated as integers).
_INT_TYPES = (
    "int", "bigint", "integer", "smallint", "tinyint", "ubigint", "hugeint", "int64", "int32", "long",
    "double", "float", "real", "decimal", "numeric",
)  # fmt: skip


def _column_type(column: str) -> str:
    t = EVENT_SCHEMA.field(column).type
    if pa.types.is_list(t):
        return "array"
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_integer(t):
        return "int"
    return "text"


def _bare_field(tree: exp.Expression) -> str | None:
    """The field name if the expression is `f`, `CAST(f AS T)` or `TRY_CAST(f AS T)`."""
    node = tree
    if isinstance(node, exp.Cast | exp.TryCast):
        node = node.this
    if isinstance(node, exp.Paren):
        node = node.this
    return node.name if isinstance(node, exp.Column) else None


def _coalesced_fields(tree: exp.Expression) -> tuple[str, ...]:
    if isinstance(tree, exp.Column):
        return (tree.name,)
    if isinstance(tree, exp.Coalesce):
        args = [tree.this, *tree.expressions]
        if all(isinstance(a, exp.Column) for a in args):
            return tuple(a.name for a in args)
    return ()


def _kind_for(column: str) -> str:
    if column in ("action", "outcome", "actor_type"):
        return column
    kind = _column_type(column)
    # a field that becomes a list column as it is (or through CAST) must be written as a list the cast reads
    return "list" if kind == "array" else kind


def _json_path(literal: str) -> tuple[str, ...] | None:
    """'$.a.b' -> ('a', 'b'); '$[*]' -> () (the field is an array); anything else -> None."""
    m = re.fullmatch(r"\$((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", literal)
    if m:
        return tuple(m.group(1).split(".")[1:])
    return () if literal == "$[*]" else None


def _json_paths(func: exp.Func) -> list[tuple[str, ...]]:
    """The paths a JSON function reads, whether sqlglot kept them as text or parsed them (JSONPath)."""
    out: list[tuple[str, ...]] = []
    for arg in [func.args.get("expression"), *func.expressions]:
        if isinstance(arg, exp.JSONPath):
            parts = arg.expressions[1:]
            if parts and all(isinstance(p, exp.JSONPathKey) for p in parts):
                out.append(tuple(str(p.this) for p in parts))
            elif len(parts) == 1 and isinstance(parts[0], exp.JSONPathSubscript):
                out.append(())
        elif isinstance(arg, exp.Literal):
            path = _json_path(str(arg.this))
            if path is not None:
                out.append(path)
    return out


def _cast_kind(cast: exp.Cast) -> str | None:
    """What a raw text must look like for this CAST to succeed: a list, an integer, a boolean (else None)."""
    to = cast.to
    if to.is_type(exp.DataType.Type.ARRAY, exp.DataType.Type.LIST):
        return "list"
    target = to.sql(dialect="duckdb").lower()
    if target.endswith("[]") or target.startswith(("list", "array")):
        return "list"
    if target.startswith(_INT_TYPES):
        return "int"
    return "bool" if target == "boolean" else None


def _lambda_params(tree: exp.Expression) -> set[str]:
    """Names bound by a lambda (`lambda o: o <> ''`): they are not raw fields."""
    return {str(p.name) for lam in tree.find_all(exp.Lambda) for p in lam.expressions}


def _observe(tree: exp.Expression, plans: dict[str, FieldPlan]) -> None:
    """Infer field shapes from how an arbitrary expression uses them: a field cast to a list (and then filtered,
    searched or compared inside a lambda) must be generated as a list, a field cast to a number as a number."""
    literals = tuple(str(lit.this) for lit in tree.find_all(exp.Literal) if lit.is_string)
    bound = _lambda_params(tree)
    for col in tree.find_all(exp.Column):
        if col.name in bound:
            continue
        plan = plans.setdefault(col.name, FieldPlan("literal", literals=literals))
        parent = col.parent
        while isinstance(parent, exp.Paren):
            parent = parent.parent
        if isinstance(parent, exp.Cast | exp.TryCast) and plan.kind in ("literal", "text"):
            plan.kind = _cast_kind(parent) or plan.kind
        if isinstance(parent, exp.Func) and "json" in parent.sql_name().lower():
            for path in _json_paths(parent):
                if path == ():
                    plan.kind = "array"
                elif plan.kind != "array":
                    plan.kind = "object"
                    plan.paths.append(path)
        if plan.kind == "literal" and not plan.literals:
            plan.literals = literals


def _parse(sql: str) -> exp.Expression:
    tree = sqlglot.parse_one(sql, read="duckdb")
    assert isinstance(tree, exp.Expression)  # an expression, never a bare token (validated by load_mapping)
    return tree


def plan_records(mapping: Mapping) -> RecordPlan:
    """Decide how to fill each raw field the mapping reads."""
    plans: dict[str, FieldPlan] = {}
    ts_fields: tuple[str, ...] = ()
    if mapping.timestamp_expr is not None:
        tree = _parse(mapping.timestamp_expr)
        ts_fields = _coalesced_fields(tree) or tuple(c.name for c in tree.find_all(exp.Column))
        for name in ts_fields:
            plans[name] = FieldPlan("time")
    for column, sql in mapping.columns.items():
        tree = _parse(sql)
        bare = _bare_field(tree)
        if bare is not None and bare not in plans:
            plans[bare] = FieldPlan(_kind_for(column), column=column)
        elif bare is None:
            _observe(tree, plans)
    for name in referenced_fields(mapping):
        plans.setdefault(name, FieldPlan("text"))
    ts_exact = mapping.timestamp_expr is not None and bool(_coalesced_fields(_parse(mapping.timestamp_expr)))
    return RecordPlan(mapping, plans, ts_fields[0] if ts_exact else None, ts_fields)


# ---------------------------------------------------------------- timestamps in the mapping's shape


def _py_format(chrono: str) -> tuple[str, int]:
    """chrono/strptime format -> (Python strftime format, fractional digits kept)."""
    digits = 0
    for token, n in (("%.9f", 9), ("%.6f", 6), ("%.3f", 3), ("%.f", 6)):
        if token in chrono:
            chrono = chrono.replace(token, ".%f")
            digits = min(n, 6)
    return chrono.replace("%:z", "%z"), digits


@st.composite
def _time_value(draw: st.DrawFn, mapping: Mapping, tz: ZoneInfo) -> tuple[str | int, datetime]:
    """(value as written, the UTC instant it denotes)."""
    ts = draw(utc_timestamps())
    if mapping.timestamp_epoch is not None:
        scale = {"s": 1, "ms": 1_000, "us": 1_000_000}[mapping.timestamp_epoch]
        units = int(ts.timestamp()) * scale + (ts.microsecond * scale // 1_000_000)
        exact = datetime.fromtimestamp(0, UTC) + timedelta(microseconds=units * (1_000_000 // scale))
        return (units if draw(st.booleans()) else str(units)), exact
    if mapping.timestamp_formats:
        return _formatted_time(draw, ts, mapping.timestamp_formats[0], tz)
    digits = draw(st.integers(0, 6))
    scale = 10 ** (6 - digits)
    ts = ts.replace(microsecond=ts.microsecond // scale * scale)
    offset = draw(utc_offsets())
    local = in_offset(ts, offset)
    sep = draw(st.sampled_from(["T", " "]))
    frac = f".{local.microsecond:06d}"[: digits + 1] if digits else ""
    zone = draw(st.sampled_from(["Z", "+00:00"])) if offset == timedelta(0) else format_offset(offset, colon=True)
    return local.strftime(f"%Y-%m-%d{sep}%H:%M:%S") + frac + zone, ts


def _formatted_time(draw: st.DrawFn, ts: datetime, chrono: str, tz: ZoneInfo) -> tuple[str, datetime]:
    fmt, digits = _py_format(chrono)
    has_zone = "%z" in fmt or "%Z" in fmt
    if not digits:
        ts = ts.replace(microsecond=0)
    if "%S" not in fmt and "%T" not in fmt:
        ts = ts.replace(second=0, microsecond=0)
    if has_zone:
        local = in_offset(ts, draw(utc_offsets()))
    else:
        # A naive wall clock in the mapping's zone: the earlier of two ambiguous instants is the
        # one timeparse picks; DST gaps cannot be written at all.
        local = ts.astimezone(tz)
        naive = local.replace(tzinfo=None)
        ts = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    text = local.strftime(fmt)
    if digits and digits < 6:
        text = text.replace(f".{local.microsecond:06d}", f".{local.microsecond:06d}"[: digits + 1])
        ts = ts.replace(microsecond=ts.microsecond // 10 ** (6 - digits) * 10 ** (6 - digits))
    return text, ts


# ---------------------------------------------------------------- values


def _nested(paths: list[tuple[str, ...]], leaf: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        for path in paths:
            if draw(st.integers(0, 5)) == 0:
                continue  # a key the expression reads may be absent from a record
            node = obj
            for key in path[:-1]:
                child = node.get(key)
                if not isinstance(child, dict):
                    child = node[key] = {}
                node = child
            node[path[-1]] = draw(leaf)
        return obj

    return build()


def _value(plan: FieldPlan) -> st.SearchStrategy[Any]:
    if plan.kind == "int":
        return st.integers(0, 2**31 - 1)
    if plan.kind == "bool":
        return st.sampled_from(["true", "false"])
    if plan.kind == "action":
        return st.sampled_from(ACTIONS)
    if plan.kind == "outcome":
        return st.sampled_from(OUTCOMES)
    if plan.kind == "actor_type":
        return st.sampled_from(ACTOR_TYPES)
    if plan.kind == "array":
        return st.lists(tokens(1, 12, exclude=";,\"'"), max_size=4)
    if plan.kind == "list":
        # elements a DuckDB list cast reads back unchanged, and the literals the expression compares them with
        element = tokens(1, 12, exclude=";,\"'[]{}\\ ")
        usable = [lit for lit in plan.literals if re.fullmatch(r"[^\s,;\"'\[\]{}\\]+", lit)]
        return st.lists(st.one_of(st.sampled_from(usable), element) if usable else element, max_size=4)
    if plan.kind == "object":
        leaf = st.one_of(tokens(1, 12), st.sampled_from(plan.literals) if plan.literals else tokens(1, 4))
        return _nested(plan.paths, leaf)
    if plan.kind == "literal" and plan.literals:
        return st.one_of(st.sampled_from(plan.literals), tokens(1, 12))
    return free_text(min_size=1, max_size=40).filter(bool)


@dataclass
class GeneratedRecord:
    record: dict[str, Any]  # raw field -> value (objects and arrays as Python values)
    expected: dict[str, Any]


def mapping_records(plan: RecordPlan, tz: ZoneInfo) -> st.SearchStrategy[GeneratedRecord]:
    """Well-formed raw records for the mapping, with what the mapping must make of each."""
    key = f"records:{tz.key}"
    if key not in plan.cache:
        values = {name: _value(fp) for name, fp in plan.fields.items() if fp.kind != "time"}
        plan.cache[key] = _records(plan, values, _time_value(plan.mapping, tz))
    strategy: st.SearchStrategy[GeneratedRecord] = plan.cache[key]
    return strategy


_EXTRA_NAMES = st.lists(tokens(1, 8, exclude="\"'"), max_size=2, unique=True)


@st.composite
def _records(
    draw: st.DrawFn,
    plan: RecordPlan,
    values: dict[str, st.SearchStrategy[Any]],
    times: st.SearchStrategy[tuple[str | int, datetime]],
) -> GeneratedRecord:
    record: dict[str, Any] = {}
    expected: dict[str, Any] = {"event": True}
    ts_value: tuple[str | int, datetime] | None = None
    for name, fp in sorted(plan.fields.items()):
        if fp.kind == "time":
            ts_value = ts_value or draw(times)
            record[name] = ts_value[0]
            continue
        value = draw(values[name])
        record[name] = value
        if fp.column is not None:
            expected[fp.column] = _canonical(fp, value)
    if ts_value is not None and plan.ts_field is not None:
        expected["ts"] = ts_value[1]
    lowered = {k.lower() for k in record}
    for extra in draw(_EXTRA_NAMES):
        if ("x_" + extra).lower() not in lowered:
            record["x_" + extra] = draw(free_text(max_size=20))  # unmapped: must land in attrs
    return GeneratedRecord(record, expected)


def _canonical(fp: FieldPlan, value: Any) -> Any:
    if fp.kind == "int":
        return int(value)
    if fp.kind == "bool":
        return value == "true"
    if fp.kind in ("array", "list"):
        return list(value)
    return value


# ---------------------------------------------------------------- renderers


def _json_value(value: Any, as_number: bool) -> Any:
    if isinstance(value, int) and not as_number:
        return str(value)
    return value


def render_json(
    record: dict[str, Any], *, ascii_only: bool = False, numbers: bool = True, indent: int | None = None
) -> str:
    body = {k: _json_value(v, numbers) for k, v in record.items()}
    return json.dumps(body, ensure_ascii=ascii_only, indent=indent)


@st.composite
def jsonl_lines(draw: st.DrawFn, plan: RecordPlan, tz: ZoneInfo) -> GeneratedLine:
    gen = draw(mapping_records(plan, tz))
    text = render_json(gen.record, ascii_only=draw(st.booleans()), numbers=draw(st.booleans()))
    unmapped = {k: v for k, v in gen.record.items() if k.startswith("x_")}
    expected = dict(gen.expected)
    if unmapped:
        expected["attrs"] = unmapped
    return GeneratedLine(text.encode("utf-8"), expected)


def csv_header(plan: RecordPlan) -> list[str]:
    """Header names: mapped fields first, then two unmapped ones (they must reach attrs)."""
    if not plan.mapping.csv.header:
        return list(plan.mapping.csv.columns)
    return [*sorted(plan.fields), "x_note", "x_extra"]


def render_csv_row(cells: list[str], delimiter: str, quote: str) -> str:
    if not quote:
        return delimiter.join(cells)
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, quotechar=quote, lineterminator="", quoting=csv.QUOTE_MINIMAL).writerow(cells)
    return buf.getvalue()


def _cell(value: Any, fp: FieldPlan | None, csv_list_sep: str = ";") -> str:
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return csv_list_sep.join(value) if fp is not None and fp.kind == "array" else json.dumps(value)
    return str(value)


@st.composite
def csv_lines(draw: st.DrawFn, plan: RecordPlan, tz: ZoneInfo, header: list[str]) -> GeneratedLine:
    """One data row under `header` (csv or tsv per the mapping's [csv] options)."""
    opts = plan.mapping.csv
    gen = draw(mapping_records(plan, tz))
    cells: list[str] = []
    attrs: dict[str, str] = {}
    banned = opts.delimiter + (opts.quote or "")
    for name in header:
        if name in gen.record:
            cells.append(_cell(gen.record[name], plan.fields.get(name)))
        else:
            value = draw(free_text(exclude=banned if not opts.quote else "", max_size=20))
            cells.append(value)
            attrs[name] = value
    if not opts.quote and any(opts.delimiter in c for c in cells):
        return GeneratedLine(render_csv_row(cells, opts.delimiter, opts.quote).encode("utf-8"), None, kind="hostile")
    expected = dict(gen.expected)
    if "order_ids" in expected and plan.fields.get("orders") is not None:
        expected.pop("order_ids")
    if attrs:
        expected["attrs"] = attrs
    return GeneratedLine(render_csv_row(cells, opts.delimiter, opts.quote).encode("utf-8"), expected)


@dataclass
class GeneratedDocument:
    """A JSON document and where each record starts (byte offset) with its expected values."""

    raw: bytes
    records: list[tuple[int, dict[str, Any] | None]]  # (byte offset, expected or None)
    broken: bool = False


HOSTILE_JSON_VALUES: tuple[Any, ...] = ("a string", 42, None, True, [], [1, 2], {"nested": {"deep": [None]}})


@st.composite
def json_documents(draw: st.DrawFn, plan: RecordPlan, tz: ZoneInfo, envelope: str | None) -> GeneratedDocument:
    """A JSON array (or {envelope: [...]}) of records, compact or pretty, with hostile records mixed in."""
    items: list[tuple[Any, dict[str, Any] | None]] = []
    for _ in range(draw(st.integers(0, 6))):
        if draw(st.integers(0, 4)) == 4:
            items.append((draw(st.sampled_from(HOSTILE_JSON_VALUES)), None))
        else:
            gen = draw(mapping_records(plan, tz))
            expected: dict[str, Any] = dict(gen.expected)
            unmapped = {k: v for k, v in gen.record.items() if k.startswith("x_")}
            if unmapped:
                expected["attrs"] = unmapped
            items.append((gen.record, expected))
    indent = draw(st.sampled_from([None, 2]))
    ascii_only = draw(st.booleans())
    head = f'{{"{envelope}": [' if envelope else "["
    parts = [head]
    offsets: list[tuple[int, dict[str, Any] | None]] = []
    size = len(head.encode())
    for i, (value, want) in enumerate(items):
        sep = ("," if i else "") + ("\n  " if indent else "")
        parts.append(sep)
        size += len(sep.encode())
        text = (
            json.dumps(value, ensure_ascii=ascii_only, indent=indent)
            if not isinstance(value, dict)
            else (render_json(value, ascii_only=ascii_only, indent=indent))
        )
        offsets.append((size, want))
        parts.append(text)
        size += len(text.encode())
    parts.append(("\n" if indent else "") + ("]}" if envelope else "]") + "\n")
    return GeneratedDocument("".join(parts).encode("utf-8"), offsets)
