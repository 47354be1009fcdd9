"""Mapping files: how one platform's raw records become canonical events.

A mapping (TOML, see docs/internals.md) names the source, the input format, the zone of
zone-less timestamps and, for each canonical column, a DuckDB SQL expression over the raw
fields. The expressions are evidence-handling code written by whoever prepares the case, so
they are checked twice before anything runs:

1. sqlglot parses each expression on its own: exactly one expression, no statements, no
   subqueries, no aggregates or window functions (their value would depend on how a file
   happens to be cut into batches), no functions that touch files, the network, settings
   or the clock (a re-ingest must give the same rows).
2. DuckDB parses and binds it inside the exact query that will run it (against an empty
   table), so a parser difference between sqlglot and DuckDB cannot smuggle anything past
   step 1, and unknown functions or type errors surface when the mapping is loaded.

At run time the expressions execute on an in-memory DuckDB connection with external access
disabled and the configuration locked. The SQL that runs is the text from the file (only
wrapped in a CAST, and in strftime when a timestamp expression yields a DuckDB TIMESTAMP), so
the mapping file the examiner hands over is exactly what was executed.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb
import polars as pl
import pyarrow as pa

from forensics.errors import UsageError
from forensics.mapping_lookups import KEY_PREFIX, NULL_KEY, Lookup, current_tally, parse_lookups
from forensics.mapping_sql import denied_function, first_line, validate_expression, walk_json
from forensics.sandbox import (
    ResourceExceeded,
    arrow_for_duckdb,
    resource_error,
    run_in_sandbox,
    sandbox_connection,
)
from forensics.schema import ACTIONS, EVENT_SCHEMA, OUTCOMES
from forensics.timeparse import ALT_COLUMN, KIND_COLUMN, Normalized, local_readings, normalize

# Formats whose records only become events through a mapping; other formats (nginx, syslog)
# may carry a mapping to give meaning to the fields their own parser extracts.
STRUCTURED_FORMATS: Final[tuple[str, ...]] = ("jsonl", "json", "cloudtrail", "csv", "tsv")
MAPPING_FORMATS: Final[tuple[str, ...]] = (*STRUCTURED_FORMATS, "nginx", "apache", "syslog", "w3c")
EPOCH_UNITS: Final[tuple[str, ...]] = ("s", "ms", "us")

# Columns a mapping may define. The rest come from the timestamp section (ts, ts_raw,
# ts_offset), from ingest (source, src_sha256, row_digest) or from the parser (line_no,
# byte_offset, attrs).
_NOT_MAPPABLE: Final[frozenset[str]] = frozenset(
    {"ts", "ts_raw", "ts_offset", "source", "src_sha256", "line_no", "byte_offset", "attrs", "row_digest"}
)
MAPPABLE_COLUMNS: Final[tuple[str, ...]] = tuple(f.name for f in EVENT_SCHEMA if f.name not in _NOT_MAPPABLE)

# action and outcome are NOT NULL in the schema; a mapping that does not mention them says
# nothing about what happened or how it ended, which is exactly 'other' / 'unknown'.
DEFAULT_EXPRESSIONS: Final[dict[str, str]] = {"action": "'other'", "outcome": "'unknown'"}

_TOP_KEYS: Final[tuple[str, ...]] = (
    "source",
    "format",
    "tz",
    "encoding",
    "description",
    "timestamp",
    "columns",
    "csv",
    "actions",
    "actor_types",
)
_TIMESTAMP_KEYS: Final[tuple[str, ...]] = ("expr", "formats", "epoch")
_CSV_KEYS: Final[tuple[str, ...]] = ("delimiter", "header", "quote", "columns")

_ROW: Final[str] = "__forensics_row"  # the batch's line number inside DuckDB; cannot clash with a raw field
_TS_TEXT: Final[str] = "__forensics_ts"
_BATCH: Final[str] = "__forensics_batch"


@dataclass(frozen=True)
class CsvOptions:
    delimiter: str = ","
    header: bool = True
    quote: str = '"'  # "" turns quoting off (plain TSV)
    columns: tuple[str, ...] = ()  # field names when header = false


@dataclass
class Mapping:
    source: str
    format: str
    tz: ZoneInfo | None
    encoding: str
    description: str
    timestamp_expr: str | None
    timestamp_formats: tuple[str, ...] | None
    timestamp_epoch: str | None
    columns: dict[str, str]
    csv: CsvOptions
    path: Path
    sha256: str
    # raw field names each expression reads, filled by load_mapping
    fields_by_expr: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)
    # DuckDB type of the timestamp expression (found when loading): text is normalized by
    # forensics.timeparse, a DuckDB TIMESTAMP/TIMESTAMPTZ value is first written as ISO text
    timestamp_type: str = "VARCHAR"
    # [actions] / [actor_types] tables (forensics.mapping_lookups); their CASE is in `columns`
    lookups: list[Lookup] = field(default_factory=list)


@dataclass
class Evaluation:
    """Canonical values for the rows that evaluated, their timestamps, and the rows that did not."""

    values: pl.DataFrame  # line_no, ts, ts_raw, ts_offset, one column per mapped canonical column
    failures: pl.DataFrame  # line_no, reason
    zoneless_line: int | None  # first line whose timestamp had no zone and none was given


# ----------------------------------------------------------------------------------------------
# Loading and validation


def load_mapping(path: Path) -> Mapping:
    """Read and validate a mapping file; every problem is a UsageError naming the file and key."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read mapping file ({exc.strerror})") from exc
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{path}: not a valid TOML mapping file: {exc}") from exc
    sha256 = hashlib.sha256(data).hexdigest()
    key = (str(path), sha256)
    if key not in _VALIDATED:
        _VALIDATED[key] = mapping_from_dict(doc, path=path, sha256=sha256)
        while len(_VALIDATED) > _VALIDATED_KEEP:
            _VALIDATED.pop(next(iter(_VALIDATED)))
    return copy.deepcopy(_VALIDATED[key])


# Validating binds every expression in DuckDB (~0.2 s for a real mapping); a dump of thousands of rotated files
# under one mapping paid that per file. A validation is reused only for the same path and the same bytes, so an
# edited mapping is validated again; callers get a copy, so nothing they change leaks into the next file.
_VALIDATED: dict[tuple[str, str], Mapping] = {}
_VALIDATED_KEEP: Final[int] = 64


def forget_validated_mappings() -> None:
    """Drop the reused validations (tests that count validations start from none)."""
    _VALIDATED.clear()


def mapping_from_dict(doc: dict[str, Any], *, path: Path, sha256: str) -> Mapping:
    """Validate an already parsed mapping document (load_mapping's second half; tests use it)."""
    where = str(path)
    _check_keys(doc, _TOP_KEYS, where, "")
    fmt = _req_str(doc, "format", where)
    if fmt not in MAPPING_FORMATS:
        raise UsageError(f"{where}: format {fmt!r} is not known{_suggest(fmt, MAPPING_FORMATS)}")
    ts_section = _section(doc, "timestamp", where)
    _check_keys(ts_section, _TIMESTAMP_KEYS, where, "timestamp.")
    columns_section = _section(doc, "columns", where)
    csv_section = _section(doc, "csv", where)
    _check_keys(csv_section, _CSV_KEYS, where, "csv.")
    if csv_section and fmt not in ("csv", "tsv"):
        raise UsageError(f"{where}: [csv] only applies to format csv or tsv, not {fmt}")
    if fmt in STRUCTURED_FORMATS and "expr" not in ts_section:
        raise UsageError(f"{where}: [timestamp] expr is required for format {fmt} (the raw field holding the time)")

    lookups = parse_lookups(doc, columns_section, where)
    columns = _columns(columns_section, where)
    for lookup in lookups:
        columns[lookup.column] = lookup.case_sql()
        if lookup.column == "action" and "action_raw" not in columns_section:
            columns["action_raw"] = lookup.key_sql  # the platform's own name, as the table was keyed
    mapping = Mapping(
        source=_opt_str(doc, "source", where) or path.stem,
        format=fmt,
        tz=_zone(doc.get("tz"), where),
        encoding=_encoding(doc.get("encoding"), where),
        description=_opt_str(doc, "description", where) or "",
        timestamp_expr=_opt_str(ts_section, "expr", where, "timestamp."),
        timestamp_formats=_formats(ts_section.get("formats"), where),
        timestamp_epoch=_epoch(ts_section.get("epoch"), where),
        columns=columns,
        csv=_csv_options(csv_section, fmt, where),
        path=path,
        sha256=sha256,
        lookups=lookups,
    )
    exprs = {lookup.hidden: lookup.key_sql for lookup in lookups}  # first: errors name the table's key
    exprs.update(columns)
    if mapping.timestamp_expr is not None:
        exprs["timestamp.expr"] = mapping.timestamp_expr
    for key, sql in exprs.items():
        mapping.fields_by_expr[key] = validate_expression(sql, where=f"{where}: {_label(mapping, key)}")
    _check_case_clashes(mapping, where)
    _bind_check(mapping, where)
    return mapping


def _key_label(key: str) -> str:
    return key if key.startswith("timestamp.") else f"columns.{key}"


def _label(mapping: Mapping, key: str) -> str:
    """Where the expression behind an evaluation key is written in the mapping file."""
    if key == _TS_TEXT:
        return "timestamp.expr"
    for lookup in mapping.lookups:
        if key == lookup.hidden:
            return lookup.key_label
        if key == lookup.column:
            return f"[{lookup.table}]"
    return _key_label(key)


def _check_keys(section: dict[str, Any], allowed: tuple[str, ...], where: str, prefix: str) -> None:
    for key in section:
        if key not in allowed:
            raise UsageError(f"{where}: unknown key {prefix}{key}{_suggest(key, allowed)}")


def _suggest(name: str, choices: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else f" (expected one of: {', '.join(choices)})"


def _section(doc: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    value = doc.get(name, {})
    if not isinstance(value, dict):
        raise UsageError(f"{where}: [{name}] must be a table")
    return value


def _req_str(doc: dict[str, Any], key: str, where: str) -> str:
    value = _opt_str(doc, key, where)
    if not value:
        raise UsageError(f"{where}: {key} is required")
    return value


def _opt_str(doc: dict[str, Any], key: str, where: str, prefix: str = "") -> str | None:
    value = doc.get(key)
    if value is not None and not isinstance(value, str):
        raise UsageError(f"{where}: {prefix}{key} must be a string")
    return value


def _zone(value: Any, where: str) -> ZoneInfo | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise UsageError(f"{where}: tz must be a zone name such as 'Asia/Shanghai'")
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UsageError(f"{where}: tz {value!r} is not a known time zone (e.g. 'Asia/Shanghai', 'UTC')") from exc


def _encoding(value: Any, where: str) -> str:
    if value is None:
        return "auto"
    from forensics.reader import check_encoding  # any ASCII-safe codec Python knows, as on the command line

    try:
        return check_encoding(str(value))
    except UsageError as exc:
        raise UsageError(f"{where}: {exc}") from None


def _formats(value: Any, where: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise UsageError(f"{where}: timestamp.formats must be a list of strftime formats")
    return tuple(value)


def _epoch(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if value not in EPOCH_UNITS:
        raise UsageError(f"{where}: timestamp.epoch must be one of {', '.join(EPOCH_UNITS)}, not {value!r}")
    return str(value)


def _columns(section: dict[str, Any], where: str) -> dict[str, str]:
    columns: dict[str, str] = {}
    for name, sql in section.items():
        if name not in MAPPABLE_COLUMNS:
            hint = " (it is filled from [timestamp] or by ingest)" if name in _NOT_MAPPABLE else ""
            raise UsageError(
                f"{where}: columns.{name} is not a canonical column{hint or _suggest(name, MAPPABLE_COLUMNS)}"
            )
        if not isinstance(sql, str) or not sql.strip():
            raise UsageError(f"{where}: columns.{name} must be a SQL expression string")
        columns[name] = sql
    for name, default in DEFAULT_EXPRESSIONS.items():
        columns.setdefault(name, default)
    return columns


def _csv_options(section: dict[str, Any], fmt: str, where: str) -> CsvOptions:
    tsv = fmt == "tsv"
    delimiter = section.get("delimiter", "\t" if tsv else ",")
    quote = section.get("quote", "" if tsv else '"')
    header = section.get("header", True)
    names = section.get("columns", [])
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in "\r\n":
        raise UsageError(f"{where}: csv.delimiter must be one character")
    if not isinstance(quote, str) or len(quote) > 1 or (quote and quote == delimiter):
        raise UsageError(f"{where}: csv.quote must be one character different from the delimiter, or ''")
    if not isinstance(header, bool):
        raise UsageError(f"{where}: csv.header must be true or false")
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise UsageError(f"{where}: csv.columns must be a list of field names")
    if not header and not names:
        raise UsageError(f"{where}: csv.header = false needs csv.columns = [...] to name the fields")
    if len(set(names)) != len(names):
        raise UsageError(f"{where}: csv.columns has duplicate names")
    return CsvOptions(delimiter=delimiter, header=header, quote=quote, columns=tuple(names))


def _check_case_clashes(mapping: Mapping, where: str) -> None:
    # DuckDB resolves unquoted names case-insensitively, so two fields differing only by case
    # cannot both be read safely in one query.
    seen: dict[str, str] = {}
    for name in sorted(referenced_fields(mapping)):
        other = seen.setdefault(name.lower(), name)
        if other != name:
            raise UsageError(
                f"{where}: fields {other!r} and {name!r} differ only by case; DuckDB cannot tell them apart"
            )


def _bind_check(mapping: Mapping, where: str) -> None:
    """Let DuckDB parse and bind every expression in the query it will run, on zero rows."""
    con = sandbox_connection()
    empty = _input_frame(mapping, pl.DataFrame({"line_no": pl.Series([], dtype=pl.Int64)}))
    keys_first = {lookup.hidden: lookup.key_sql for lookup in mapping.lookups}  # errors name the table's key
    for key, sql in (keys_first | _expressions(mapping)).items():
        label = _label(mapping, key)
        query = _select_sql({key: sql})
        _check_duckdb_parse(con, query, f"{where}: {label}", items=2)
        _check_duckdb_parse(con, _tolerant_sql({key: sql}), f"{where}: {label}", items=3)
        try:
            _execute(con, empty, query)
            _execute(con, empty, _tolerant_sql({key: sql}))
            if key == _TS_TEXT:
                mapping.timestamp_type = _result_type(con, empty, sql)
        except duckdb.Error as exc:
            raise UsageError(f"{where}: {label}: {_bind_message(exc)}") from exc


def _bind_message(exc: duckdb.Error) -> str:
    message = _duckdb_message(exc)
    if "lambda arrow" in message.lower():
        # DuckDB 1.3+ refuses `x -> expr`; say which form works instead of its deprecation notice.
        return (
            "the lambda form `x -> ...` is not accepted; write `lambda x: ...` "
            "(e.g. list_filter(tags, lambda t: t = 'vip'))"
        )
    return message


def _result_type(con: duckdb.DuckDBPyConnection, empty: pl.DataFrame, sql: str) -> str:
    con.register(_BATCH, empty.to_arrow())
    try:
        return str(con.sql(f"SELECT (\n{sql}\n) FROM {_BATCH}").types[0])
    finally:
        con.unregister(_BATCH)


def _timestamp_sql(mapping: Mapping) -> str:
    """The timestamp expression as run: DuckDB timestamp values are written as ISO 8601 text
    (UTC with Z for TIMESTAMPTZ, zone-less for TIMESTAMP) so timeparse treats them like any text."""
    sql = mapping.timestamp_expr or "NULL"
    kind = mapping.timestamp_type
    if kind == "TIMESTAMP WITH TIME ZONE":
        return f"strftime(timezone('UTC', (\n{sql}\n)), '%Y-%m-%dT%H:%M:%S.%fZ')"
    if kind.startswith("TIMESTAMP") or kind == "DATE":
        return f"strftime(CAST((\n{sql}\n) AS TIMESTAMP), '%Y-%m-%dT%H:%M:%S.%f')"
    return sql


def _check_duckdb_parse(con: duckdb.DuckDBPyConnection, query: str, where: str, items: int) -> None:
    """DuckDB's own parse tree must be one plain SELECT over the batch with no subquery or denied call."""
    try:
        statements = con.extract_statements(query)
    except duckdb.Error as exc:
        raise UsageError(f"{where}: not a valid SQL expression: {_duckdb_message(exc)}") from exc
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        raise UsageError(f"{where}: must be one SQL expression")
    rows = con.execute("SELECT json_serialize_sql(?::VARCHAR)", [query]).fetchall()
    tree: dict[str, Any] = json.loads(rows[0][0]) if rows else {"error": True}
    if tree.get("error"):
        raise UsageError(f"{where}: not a valid SQL expression: {tree.get('error_message', 'rejected by DuckDB')}")
    node = tree["statements"][0]["node"]
    if node.get("type") != "SELECT_NODE" or len(node.get("select_list", [])) != items:
        raise UsageError(f"{where}: must be one SQL expression")
    if node.get("from_table", {}).get("table_name") != _BATCH or node.get("where_clause") is not None:
        raise UsageError(f"{where}: must be one SQL expression")
    for item in walk_json(node["select_list"]):
        if item.get("class") == "SUBQUERY":
            raise UsageError(f"{where}: a subquery is not allowed in a mapping expression")
        name = item.get("function_name")
        if isinstance(name, str) and denied_function(name):
            raise UsageError(f"{where}: function {name}() is not allowed in a mapping expression")


# ----------------------------------------------------------------------------------------------
# Evaluation


def referenced_fields(mapping: Mapping) -> set[str]:
    """Raw field names read by any expression (everything else goes to attrs)."""
    names: set[str] = set()
    for fields in mapping.fields_by_expr.values():
        names.update(fields)
    return names


def evaluate_columns(mapping: Mapping, fields: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Canonical columns for a batch of raw fields: (values, failures).

    values: line_no + every mapped column, typed as in EVENT_SCHEMA; failures: line_no, reason.
    """
    values, failures = _run_expressions(mapping, fields, _with_keys(mapping, dict(mapping.columns)))
    values, bad = _check_vocabulary(values)
    values = _tally_unknown(mapping, values)
    return values, pl.concat([failures, bad]).sort("line_no")


def evaluate_timestamp(mapping: Mapping, fields: pl.DataFrame, tz: ZoneInfo | None) -> Normalized:
    """The mapping's timestamp for every row of `fields` (same order); bad rows carry an error."""
    if mapping.timestamp_expr is None:
        raise UsageError(f"{mapping.path}: the mapping has no [timestamp] expr")
    values, failures = _run_expressions(mapping, fields, {_TS_TEXT: _timestamp_sql(mapping)})
    frame = fields.select("line_no").join(values, on="line_no", how="left").join(failures, on="line_no", how="left")
    norm = _normalize(mapping, frame[_TS_TEXT], tz)
    error = frame.select(pl.coalesce(pl.col("reason"), pl.Series(norm.error)).alias("error"))["error"]
    return Normalized(norm.ts, norm.ts_offset, error)


def evaluate(mapping: Mapping, fields: pl.DataFrame, tz: ZoneInfo | None) -> Evaluation:
    """Columns and timestamp in one pass over the batch (what the structured formats use)."""
    if mapping.timestamp_expr is None:
        raise UsageError(f"{mapping.path}: the mapping has no [timestamp] expr")
    exprs = _with_keys(mapping, {_TS_TEXT: _timestamp_sql(mapping), **mapping.columns})
    values, failures = _run_expressions(mapping, fields, exprs)
    values, bad = _check_vocabulary(values)
    norm = _normalize(mapping, values[_TS_TEXT], tz)
    values = values.with_columns(
        ts=norm.ts, ts_offset=norm.ts_offset, ts_error=norm.error, **local_readings(norm)
    ).rename({_TS_TEXT: "ts_raw"})
    zoneless = values.filter(pl.col("ts_error") == "__no_zone__")
    ts_bad = values.filter(pl.col("ts_error").is_not_null() & (pl.col("ts_error") != "__no_zone__")).select(
        "line_no", reason=pl.col("ts_error")
    )
    good = _tally_unknown(mapping, values.filter(pl.col("ts_error").is_null()).drop("ts_error"))
    readings = [c for c in (ALT_COLUMN, KIND_COLUMN) if c in good.columns]  # DST: ingest places them by order
    order = ["line_no", "ts", "ts_raw", "ts_offset", *readings, *[c for c in good.columns if c in mapping.columns]]
    return Evaluation(
        values=good.select(order),
        failures=pl.concat([failures, bad, ts_bad]).sort("line_no"),
        zoneless_line=int(zoneless["line_no"].min()) if zoneless.height else None,  # type: ignore[arg-type]
    )


def _normalize(mapping: Mapping, texts: pl.Series, tz: ZoneInfo | None) -> Normalized:
    return normalize(
        texts,
        formats=mapping.timestamp_formats,
        tz=tz if tz is not None else mapping.tz,
        epoch_unit=mapping.timestamp_epoch,
    )


def _expressions(mapping: Mapping) -> dict[str, str]:
    exprs = _with_keys(mapping, dict(mapping.columns))
    if mapping.timestamp_expr is not None:
        exprs[_TS_TEXT] = mapping.timestamp_expr
    return exprs


def _with_keys(mapping: Mapping, exprs: dict[str, str]) -> dict[str, str]:
    """exprs plus one hidden column per lookup table carrying its raw key (after the others, so a
    failing row is named by the column it feeds)."""
    return exprs | {lookup.hidden: lookup.key_sql for lookup in mapping.lookups}


def _tally_unknown(mapping: Mapping, values: pl.DataFrame) -> pl.DataFrame:
    """Count raw values no lookup table lists (when an ingest is collecting) and drop the key columns."""
    tally = current_tally()
    for lookup in mapping.lookups:
        if tally is not None and values.height:
            keys = values.get_column(lookup.hidden)
            unknown = keys.filter(~keys.is_in(list(lookup.values)) | keys.is_null()).fill_null(NULL_KEY)
            if unknown.len():
                counts = unknown.value_counts()
                tally.add(
                    lookup.table, dict(zip(counts[lookup.hidden].to_list(), counts["count"].to_list(), strict=True))
                )
    return values.drop([lookup.hidden for lookup in mapping.lookups])


def _sql_type(column: str) -> str:
    if column == _TS_TEXT or column.startswith(KEY_PREFIX):
        return "VARCHAR"
    arrow_type = EVENT_SCHEMA.field(column).type
    if pa.types.is_list(arrow_type):
        return "VARCHAR[]"
    return {"string": "VARCHAR", "bool": "BOOLEAN", "int64": "BIGINT", "int32": "INTEGER"}[str(arrow_type)]


def _pl_type(column: str) -> pl.DataType:
    if column == _TS_TEXT or column.startswith(KEY_PREFIX):
        return pl.String()
    return {
        "VARCHAR": pl.String(),
        "VARCHAR[]": pl.List(pl.String()),
        "BOOLEAN": pl.Boolean(),
        "BIGINT": pl.Int64(),
        "INTEGER": pl.Int32(),
    }[_sql_type(column)]


def _select_sql(exprs: dict[str, str]) -> str:
    # Each expression sits on lines of its own so a trailing '--' comment cannot swallow the
    # rest of the query; the parse checks above make sure nothing else can escape the parentheses.
    items = [f"CAST((\n{sql}\n) AS {_sql_type(name)}) AS {_quote(name)}" for name, sql in exprs.items()]
    return f"SELECT {_ROW},\n" + ",\n".join(items) + f"\nFROM {_BATCH}"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _input_frame(mapping: Mapping, fields: pl.DataFrame) -> pl.DataFrame:
    """line_no plus one String column per referenced field; a field absent from the batch is NULL."""
    by_lower: dict[str, list[str]] = {}
    for name in fields.columns:
        by_lower.setdefault(name.lower(), []).append(name)
    cols: list[pl.Expr] = [pl.col("line_no").cast(pl.Int64).alias(_ROW)]
    for name in sorted(referenced_fields(mapping)):
        source = _resolve(name, fields.columns, by_lower)
        col = pl.col(source).cast(pl.String) if source else pl.lit(None, dtype=pl.String)
        cols.append(col.alias(name))
    return fields.select(cols)


def _resolve(name: str, columns: list[str], by_lower: dict[str, list[str]]) -> str | None:
    if name in columns and name != "line_no":
        return name
    candidates = [c for c in by_lower.get(name.lower(), []) if c != "line_no"]
    return candidates[0] if len(candidates) == 1 else None


def _execute(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame, query: str) -> pl.DataFrame:
    # hostile: in a child process with a memory cap and the statement timeout (forensics/sandbox.py); `con` is
    # kept in the signature for the callers' sake
    out = pl.from_arrow(run_in_sandbox(query, arrow_for_duckdb(frame), _BATCH))
    assert isinstance(out, pl.DataFrame)
    return out


def _run_expressions(
    mapping: Mapping, fields: pl.DataFrame, exprs: dict[str, str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Evaluate exprs over the batch; rows on which DuckDB fails become failures, the rest are kept.

    Running out of memory or time stops the input instead (see forensics/sandbox.py for why)."""
    frame = _input_frame(mapping, fields)
    try:
        return _evaluate_frame(mapping, frame, exprs)
    except ResourceExceeded as exc:
        raise _resource_error(mapping, frame, exprs, exc) from exc


def _resource_error(mapping: Mapping, frame: pl.DataFrame, exprs: dict[str, str], exc: ResourceExceeded) -> Exception:
    """Name the expression that exhausts memory or time: each one alone on the same batch, first culprit wins."""
    culprit = list(exprs)
    for name, sql in exprs.items():
        try:
            _execute(sandbox_connection(), frame, _select_sql({name: sql}))
        except ResourceExceeded:
            culprit = [name]
            break
        except duckdb.Error:
            continue
    keys = ", ".join("timestamp.expr" if k == _TS_TEXT else _key_label(k) for k in culprit)
    return resource_error(f"{mapping.path}: {keys}", exc, frame.height)


def _evaluate_frame(mapping: Mapping, frame: pl.DataFrame, exprs: dict[str, str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    con = sandbox_connection()
    schema = {"line_no": pl.Int64(), **{name: _pl_type(name) for name in exprs}}
    no_failures = pl.DataFrame(schema={"line_no": pl.Int64(), "reason": pl.String()})
    try:
        return _typed(_execute(con, frame, _select_sql(exprs)), schema), no_failures
    except duckdb.Error:
        pass  # some row fails: find which, without giving up the others
    try:
        result = _execute(con, frame, _tolerant_sql(exprs))
    except duckdb.Error:
        return _bisect_all(con, frame, exprs, schema)  # TRY could not contain the error
    err_cols = [pl.col(_err_name(i)) for i in range(len(exprs))]
    failing = pl.any_horizontal(err_cols)
    values = _typed(result.filter(~failing), schema)
    # the first expression that failed on each row names the reason
    names = list(exprs)
    first_bad = pl.coalesce([pl.when(c).then(pl.lit(n)) for c, n in zip(err_cols, names, strict=True)])
    failed = result.filter(failing).select(_ROW, first_bad.alias("__forensics_expr"))
    rows = frame.join(failed, on=_ROW, how="inner")
    parts = [
        _reasons(con, mapping, name, sql, rows.filter(pl.col("__forensics_expr") == name))
        for name, sql in exprs.items()
    ]
    return values, pl.concat(parts).sort("line_no")


def _reasons(con: duckdb.DuckDBPyConnection, mapping: Mapping, name: str, sql: str, rows: pl.DataFrame) -> pl.DataFrame:
    """DuckDB's own error text for rows on which expression `name` failed: re-derived on one row per
    distinct input (at most _REASON_QUERIES of them); further inputs cite the first failure."""
    label = _label(mapping, name)
    out_schema = {"line_no": pl.Int64(), "reason": pl.String()}
    if rows.height == 0:
        return pl.DataFrame(schema=out_schema)
    inputs = sorted(mapping.fields_by_expr.get("timestamp.expr" if name == _TS_TEXT else name, ()))
    keys = inputs or ["__forensics_expr"]
    distinct = rows.unique(subset=keys, keep="first", maintain_order=True).head(_REASON_QUERIES)
    messages = [
        f"mapping {label} failed: {_single_row_error(con, distinct.slice(i, 1), name, sql)}"
        for i in range(distinct.height)
    ]
    known = distinct.select(keys).with_columns(reason=pl.Series(messages, dtype=pl.String))
    fallback = f"mapping {label} failed (as on line {distinct[_ROW][0]}: {messages[0].split(': ', 1)[1]})"
    joined = rows.join(known, on=keys, how="left", nulls_equal=True)
    return joined.select(pl.col(_ROW).alias("line_no"), pl.col("reason").fill_null(fallback))


_REASON_QUERIES: Final[int] = 64  # single-row queries per expression and batch, to word the reasons


def _single_row_error(con: duckdb.DuckDBPyConnection, row: pl.DataFrame, name: str, sql: str) -> str:
    try:
        _execute(con, row.drop("__forensics_expr"), _select_sql({name: sql}))
    except duckdb.Error as exc:
        return _duckdb_message(exc)
    return "DuckDB raised an error for this record inside the batch"


# An expression errs on a row exactly when TRY(COALESCE(expr, sentinel)) is NULL: COALESCE is
# never NULL unless evaluating expr raised. This finds every failing row in one query, where
# halving the batch would cost two queries per failing row (minutes when a mapping fails everywhere).
_SENTINELS: Final[dict[str, str]] = {
    "VARCHAR": "''",
    "VARCHAR[]": "[]::VARCHAR[]",
    "BOOLEAN": "false",
    "BIGINT": "0",
    "INTEGER": "0",
}


def _err_name(i: int) -> str:
    return f"__forensics_err_{i}"


def _tolerant_sql(exprs: dict[str, str]) -> str:
    items: list[str] = []
    for i, (name, sql) in enumerate(exprs.items()):
        sql_type = _sql_type(name)
        cast = f"CAST((\n{sql}\n) AS {sql_type})"
        items.append(f"TRY({cast}) AS {_quote(name)}")
        items.append(f"TRY(COALESCE({cast}, {_SENTINELS[sql_type]})) IS NULL AS {_err_name(i)}")
    return f"SELECT {_ROW},\n" + ",\n".join(items) + f"\nFROM {_BATCH}"


def _typed(part: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    part = part.rename({_ROW: "line_no"})
    return part.select([pl.col(name).cast(dtype) for name, dtype in schema.items()])


def _bisect_all(
    con: duckdb.DuckDBPyConnection, frame: pl.DataFrame, exprs: dict[str, str], schema: dict[str, pl.DataType]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    parts: list[pl.DataFrame] = []
    failures: list[tuple[int, str]] = []
    _bisect(con, frame, _select_sql(exprs), exprs, parts, failures)
    values = pl.concat([_typed(p, schema) for p in parts]) if parts else pl.DataFrame(schema=schema)
    return values, pl.DataFrame(failures, schema={"line_no": pl.Int64(), "reason": pl.String()}, orient="row")


def _bisect(
    con: duckdb.DuckDBPyConnection,
    frame: pl.DataFrame,
    query: str,
    exprs: dict[str, str],
    parts: list[pl.DataFrame],
    failures: list[tuple[int, str]],
) -> None:
    # Last resort when even TRY() cannot contain an error: halve the batch until the failing
    # rows are isolated.
    try:
        parts.append(_execute(con, frame, query))
        return
    except duckdb.Error as exc:
        if frame.height <= 1:
            if frame.height == 1:
                failures.append((int(frame[_ROW][0]), _row_reason(con, frame, exprs, exc)))
            return
    mid = frame.height // 2
    _bisect(con, frame.slice(0, mid), query, exprs, parts, failures)
    _bisect(con, frame.slice(mid), query, exprs, parts, failures)


def _row_reason(con: duckdb.DuckDBPyConnection, row: pl.DataFrame, exprs: dict[str, str], exc: duckdb.Error) -> str:
    """Name the expression that fails on this row, for the quarantine reason."""
    for name, sql in exprs.items():
        try:
            _execute(con, row, _select_sql({name: sql}))
        except duckdb.Error as col_exc:
            label = "timestamp.expr" if name == _TS_TEXT else f"columns.{name}"
            return f"mapping {label} failed: {_duckdb_message(col_exc)}"
    return f"mapping failed: {_duckdb_message(exc)}"


def _duckdb_message(exc: Exception) -> str:
    return first_line(str(exc))


def _check_vocabulary(values: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """action must be in ACTIONS, outcome in OUTCOMES (NULL outcome means 'unknown')."""
    values = values.with_columns(pl.col("outcome").fill_null("unknown"))
    bad_action = ~pl.col("action").is_in(list(ACTIONS)) | pl.col("action").is_null()
    bad_outcome = ~pl.col("outcome").is_in(list(OUTCOMES))
    reason = (
        pl.when(pl.col("action").is_null())
        .then(pl.lit("mapping produced no action (NULL); give the CASE an ELSE 'other'"))
        .when(bad_action)
        .then(pl.format("mapping produced action '{}' (not in the vocabulary)", pl.col("action")))
        .otherwise(pl.format("mapping produced outcome '{}' (not success/failure/unknown)", pl.col("outcome")))
    )
    bad = values.filter(bad_action | bad_outcome).select("line_no", reason.alias("reason"))
    return values.filter(~(bad_action | bad_outcome)), bad
