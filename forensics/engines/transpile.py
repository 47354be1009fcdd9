"""Pack SQL (DuckDB dialect, written once) to Spark SQL, with sqlglot plus the rewrites listed here.

sqlglot's own DuckDB -> Spark translation is the base. Where DuckDB and Spark disagree on a function's
meaning, the tree is rewritten before Spark SQL is generated, so that both engines return the same rows
(the differential tests in tests/test_spark_checks.py hold the two to that):

- `$name` -> `:name`, bound through `spark.sql(args=...)`: parameters are never formatted in.
- `to_seconds(x)`, `to_minutes`, `to_hours`, `to_days` -> `make_dt_interval(...)` (no such functions in Spark).
- `epoch(a - b)`, `epoch(ts)` -> `CAST(unix_micros(a) - unix_micros(b) AS DOUBLE) / 1000000`: sqlglot's
  `unix_timestamp` would drop the fraction of a second.
- `range(a, b, step)` (end exclusive) -> `IF(a < b, filter(sequence(a, b, step), x -> x < b), array())`:
  `sequence` includes its end; `FROM range(...) AS t(c)` -> `FROM explode(...) AS t(c)`.
- `quantile_cont(x, q)` -> `percentile(x, q)` (both exact, linear interpolation).
- `list(x)` -> `collect_list(x)`; `list(DISTINCT x ORDER BY x)` -> `array_sort(collect_set(x))`;
  `list(v ORDER BY k)` -> the v of `array_sort(collect_list(struct(k, v)))`; NULL when empty, as in DuckDB.
- `format('{} {:.Nf}', a, b)` -> `format_string('%s %.Nf', a, bround(b, N))`: fmt rounds half to even,
  Java's %f half up.
- `round(x, n)` (n > 0) -> `round(x * 10^n) / 10^n` on DOUBLE: DuckDB rounds the scaled binary value,
  Spark the decimal text of x.
- `json_valid(x)` -> `try_parse_json(x) IS NOT NULL` (NULL for NULL); Spark has no json_valid.
- `timezone(tz, timestamptz)` -> `CAST(from_utc_timestamp(ts, tz) AS TIMESTAMP_NTZ)` (wall-clock time).
- `len(list)` -> `size(list)` for a list column of the canonical schema or a list expression (Spark's
  length() takes only text).
- `(a, b) IN (SELECT (x, y) ...)` -> `(a, b) IN (SELECT x, y ...)` (DuckDB row value, Spark column list).
- `WITH x AS [NOT] MATERIALIZED (...)` -> `WITH x AS (...)`: DuckDB's hint whether to store a CTE that is
  read twice; Spark has no such syntax (it plans a CTE per reference) and the rows are the same.

Known differences that no rewrite hides (documented, not expected in pack SQL): `list(x)` keeps NULL
elements in DuckDB and drops them in Spark; `list(x ORDER BY y)` with another key is refused; a double
divided by zero is `inf` in DuckDB and an error in Spark (ANSI mode); `format('{}', double)` prints
the shortest round-trip text in DuckDB and Java's `Double.toString` in Spark; `timezone()` is only
translated for a TIMESTAMPTZ argument.

Anything sqlglot cannot translate (an unsupported function or construct) raises `TranspileError` with
the check's file:line, at `forensics packs test` time as well as at run time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import cast

import pyarrow as pa
import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, UnsupportedError

from forensics.errors import ForensicsError
from forensics.schema import EVENT_SCHEMA

# DuckDB functions with no Spark counterpart and no rewrite: refused with file:line rather than failing later
REFUSED_FUNCTIONS = frozenset(
    {
        "READ_PARQUET",
        "READ_CSV",
        "READ_CSV_AUTO",
        "READ_JSON",
        "READ_JSON_AUTO",
        "GLOB",
    }
)
# Spark SQL's built-in functions (SHOW FUNCTIONS of the pyspark release named in the file), plus the
# UDFs every Spark engine registers: a translated call to anything else is refused without a JVM
SPARK_UDFS = frozenset({"CLIENT_IP"})
# SQL keywords sqlglot writes with call syntax
_CALL_KEYWORDS = frozenset({"CAST", "TRY_CAST", "EXTRACT", "IF", "FILTER", "EXISTS", "ARRAY", "STRUCT", "MAP"})


@lru_cache(maxsize=1)
def spark_functions() -> frozenset[str]:
    text = (Path(__file__).with_name("spark_functions.txt")).read_text(encoding="utf-8")
    names = {line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")}
    return frozenset(names) | SPARK_UDFS | _CALL_KEYWORDS


LIST_COLUMNS = frozenset(f.name for f in EVENT_SCHEMA if pa.types.is_list(f.type))
_INTERVAL_FUNCTIONS = {"TO_SECONDS": 3, "TO_MINUTES": 2, "TO_HOURS": 1, "TO_DAYS": 0}
_FORMAT_FIELD = re.compile(r"\{(:[^{}]*)?\}|\{\{|\}\}|%")


class TranspileError(ForensicsError):
    """Pack SQL that cannot be expressed in Spark SQL."""


def to_spark(sql: str, where: str = "SQL", first_line: int = 1) -> str:
    """Spark SQL for one DuckDB-dialect SELECT; `where` (a path) and `first_line` place errors as file:line."""
    return _to_spark(sql, where, first_line)


@lru_cache(maxsize=256)
def _to_spark(sql: str, where: str, first_line: int) -> str:
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except ParseError as exc:
        line = first_line - 1 + int((exc.errors[0] if exc.errors else {}).get("line") or 1)
        raise TranspileError(f"{where}:{line}: the SQL does not parse for translation to Spark: {exc}") from exc
    for node in tree.find_all(exp.Func):
        name = node.sql_name() if not isinstance(node, exp.Anonymous) else str(node.this).upper()
        if name in REFUSED_FUNCTIONS:
            _refuse(sql, where, first_line, name, "has no Spark SQL equivalent")
    tree = _bottom_up(cast(exp.Expression, tree), lambda node: _rewrite(node, sql, where, first_line))
    try:
        spark_sql = tree.sql(dialect="spark", unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as exc:
        raise TranspileError(f"{where}:{first_line}: cannot be written in Spark SQL: {exc}") from exc
    _check_functions(spark_sql, sql, where, first_line)
    return spark_sql


def _bottom_up(node: exp.Expression, rewrite: Callable[[exp.Expression], exp.Expression]) -> exp.Expression:
    """Rewrite children before their parent (sqlglot's transform does not revisit a replaced subtree)."""
    for key, value in list(node.args.items()):
        if isinstance(value, exp.Expression):
            node.set(key, _bottom_up(value, rewrite))
        elif isinstance(value, list):
            node.set(key, [_bottom_up(v, rewrite) if isinstance(v, exp.Expression) else v for v in value])
    return rewrite(node)


def _check_functions(spark_sql: str, sql: str, where: str, first_line: int) -> None:
    """Every function the Spark SQL calls must be a Spark built-in or a registered UDF."""
    known = spark_functions()
    for node in sqlglot.parse_one(spark_sql, read="spark").find_all(exp.Func):
        match = re.match(r"([A-Za-z_][A-Za-z0-9_]*)\(", node.sql(dialect="spark"))
        if match and match.group(1).upper() not in known:
            _refuse(sql, where, first_line, match.group(1), "has no Spark SQL equivalent")


def check_spark_sql(path: Path, text: str, body: str) -> str:
    """Transpile a check's body (the file's text after the header) with errors at the file's lines."""
    first_line = text[: text.find(body)].count("\n") + 1 if body in text else 1
    return to_spark(body, str(path), first_line)


def _refuse(sql: str, where: str, first_line: int, needle: str, why: str) -> None:
    match = re.search(re.escape(needle) + r"\s*\(", sql, flags=re.IGNORECASE)
    written = match.group(0).rstrip("( \t\n") if match else needle  # the name as the check spells it
    raise TranspileError(f"{where}:{_line(sql, needle, first_line)}: {written}() {why}; rewrite the check")


def _line(sql: str, needle: str, first_line: int) -> int:
    match = re.search(re.escape(needle) + r"\s*\(", sql, flags=re.IGNORECASE) or re.search(
        re.escape(needle), sql, flags=re.IGNORECASE
    )
    return first_line + (sql[: match.start()].count("\n") if match else 0)


def _fn(name: str, *args: exp.Expression) -> exp.Anonymous:
    return exp.Anonymous(this=name, expressions=list(args))


def _num(value: int | float) -> exp.Expression:
    return exp.Literal.number(value)


def _double(node: exp.Expression) -> exp.Cast:
    return exp.Cast(this=node, to=exp.DataType.build("DOUBLE"))


def _rewrite(node: exp.Expression, sql: str, where: str, first_line: int) -> exp.Expression:
    if isinstance(node, exp.Func) and node.sql_name() in _INTERVAL_FUNCTIONS:
        return _interval(node.sql_name(), node.this)
    if isinstance(node, exp.Anonymous):
        return _rewrite_anonymous(node, sql, where, first_line)
    if isinstance(node, exp.TimeToUnix):  # epoch()
        return _epoch(node.this)
    if isinstance(node, exp.GenerateSeries):
        return _range(node, sql, where, first_line)
    if isinstance(node, exp.Table) and isinstance(node.this, exp.Anonymous | exp.If):
        # FROM range(...) AS t(c): a table-valued call becomes explode() of the array
        return node
    if isinstance(node, exp.PercentileCont) and not isinstance(node.parent, exp.WithinGroup):
        return _fn("PERCENTILE", node.this, node.expression)
    if isinstance(node, exp.Filter) and isinstance(node.this, exp.ArrayAgg):
        return _list(node.this, sql, where, first_line, node.expression)
    if isinstance(node, exp.ArrayAgg) and not isinstance(node.parent, exp.Filter):
        return _list(node, sql, where, first_line)
    if isinstance(node, exp.Format):
        return _format(node, sql, where, first_line)
    if isinstance(node, exp.Round) and node.args.get("decimals") is not None:
        return _round(node)
    if isinstance(node, exp.In) and node.args.get("query") is not None:
        return _row_in(node)
    if isinstance(node, exp.Length) and _is_list(node.this):
        return _fn("SIZE", node.this)
    if isinstance(node, exp.CTE) and node.args.get("materialized") is not None:
        node.set("materialized", None)
    return node


def _is_list(node: exp.Expression) -> bool:
    """Whether DuckDB's len() is counting list elements: a list column of the canonical schema or a list
    expression (Spark's length() takes only text, its size() only arrays)."""
    if isinstance(node, exp.Paren):
        return _is_list(node.this)
    if isinstance(node, exp.Array | exp.ArrayAgg):
        return True
    if isinstance(node, exp.Coalesce):
        return any(_is_list(a) for a in [node.this, *node.expressions])
    if isinstance(node, exp.Anonymous):
        return str(node.this).upper() in {"COLLECT_LIST", "COLLECT_SET", "ARRAY_SORT", "FILTER", "SEQUENCE"}
    return isinstance(node, exp.Column) and node.name in LIST_COLUMNS


def _rewrite_anonymous(node: exp.Anonymous, sql: str, where: str, first_line: int) -> exp.Expression:
    name = str(node.this).upper()
    args = list(node.expressions)
    if name in _INTERVAL_FUNCTIONS and len(args) == 1:
        return _interval(name, args[0])
    if name == "JSON_VALID" and len(args) == 1:
        valid = exp.Not(this=exp.Is(this=_fn("TRY_PARSE_JSON", args[0].copy()), expression=exp.Null()))
        return exp.Case(ifs=[exp.If(this=exp.Is(this=args[0].copy(), expression=exp.Null()), true=exp.Null())]).else_(
            valid
        )
    if name == "TIMEZONE" and len(args) == 2:
        shifted = _fn("FROM_UTC_TIMESTAMP", args[1], args[0])
        return exp.Cast(this=shifted, to=exp.DataType.build("TIMESTAMP_NTZ", dialect="spark"))
    return node


def _interval(name: str, value: exp.Expression) -> exp.Expression:
    # make_dt_interval(days, hours, mins, secs): the value goes in its own slot
    slots: list[exp.Expression] = [_num(0), _num(0), _num(0), _num(0)]
    position = _INTERVAL_FUNCTIONS[name]
    slots[position] = value.copy()
    return _fn("MAKE_DT_INTERVAL", *slots[: position + 1])


def _epoch(arg: exp.Expression) -> exp.Expression:
    inner = arg.this if isinstance(arg, exp.Paren) else arg
    if isinstance(inner, exp.Sub):  # epoch(a - b): the interval between two timestamps, in seconds
        micros: exp.Expression = exp.Sub(
            this=_fn("UNIX_MICROS", inner.this), expression=_fn("UNIX_MICROS", inner.expression)
        )
    else:
        micros = _fn("UNIX_MICROS", inner)
    return exp.Div(this=_double(exp.Paren(this=micros)), expression=_num(1000000))


def _range(node: exp.GenerateSeries, sql: str, where: str, first_line: int) -> exp.Expression:
    start, end, step = node.args.get("start"), node.args.get("end"), node.args.get("step")
    if start is None or end is None or step is None:
        _refuse(sql, where, first_line, "range", "needs start, end and step to be translated")
    assert start is not None and end is not None and step is not None
    seq = _fn("SEQUENCE", start.copy(), end.copy(), step.copy())
    if node.args.get("is_end_exclusive"):
        x = exp.to_identifier("_x")
        keep = exp.Lambda(this=exp.LT(this=exp.Column(this=x.copy()), expression=end.copy()), expressions=[x])
        seq = _fn("FILTER", seq, keep)
        empty = exp.Array(expressions=[])
        guard = exp.LT(this=start.copy(), expression=end.copy())
        array: exp.Expression = exp.If(this=guard, true=seq, false=empty)
    else:
        array = seq
    if isinstance(node.parent, exp.Table):
        return _fn("EXPLODE", array)
    return array


def _list(
    node: exp.ArrayAgg, sql: str, where: str, first_line: int, where_clause: exp.Expression | None = None
) -> exp.Expression:
    arg = node.this
    order: exp.Order | None = None
    if isinstance(arg, exp.Order):
        order, arg = arg, arg.this
    distinct = isinstance(arg, exp.Distinct)
    value = arg.expressions[0] if distinct and isinstance(arg, exp.Distinct) else arg
    keys = list(order.expressions) if order is not None else []
    if any(k.args.get("desc") for k in keys):
        _refuse(sql, where, first_line, "list", "ordered descending cannot be translated (Spark)")
    by_value = len(keys) == 1 and keys[0].this == value
    if distinct and keys and not by_value:
        _refuse(sql, where, first_line, "list", "with DISTINCT ordered by another key cannot be translated (Spark)")
    agg: exp.Expression
    if keys and not by_value:
        # list(v ORDER BY k...): sort structs (k..., v) and keep v, the order DuckDB's ORDER BY gives
        fields = [cast(exp.Expression, exp.alias_(k.this.copy(), f"_k{i}")) for i, k in enumerate(keys)]
        packed = _fn("STRUCT", *fields, cast(exp.Expression, exp.alias_(value.copy(), "_v")))
        agg = _fn("COLLECT_LIST", packed)
        if where_clause is not None:
            agg = exp.Filter(this=agg, expression=where_clause.copy())
        element = exp.to_identifier("_e")
        pick = exp.Lambda(this=exp.Dot(this=exp.Column(this=element.copy()), expression=exp.to_identifier("_v")),
                          expressions=[element])
        agg = _fn("TRANSFORM", _fn("ARRAY_SORT", agg), pick)
    else:
        agg = _fn("COLLECT_SET" if distinct else "COLLECT_LIST", value.copy())
        if where_clause is not None:
            agg = exp.Filter(this=agg, expression=where_clause.copy())
        if keys or distinct:
            agg = _fn("ARRAY_SORT", agg)
    return exp.Case(
        ifs=[exp.If(this=exp.EQ(this=_fn("SIZE", agg.copy()), expression=_num(0)), true=exp.Null())]
    ).else_(agg)


def _format(node: exp.Format, sql: str, where: str, first_line: int) -> exp.Expression:
    template = _literal_text(node.this)
    if template is None:
        _refuse(sql, where, first_line, "format", "needs a literal template to be translated")
    args = [a.copy() for a in node.expressions]
    out: list[str] = []
    index = 0

    def field(match: re.Match[str]) -> str:
        nonlocal index
        text = match.group(0)
        if text in {"{{", "}}"}:
            return text[0]
        if text == "%":
            return "%%"
        spec = match.group(1) or ""
        precision = re.fullmatch(r":\.(\d+)f", spec)
        if index >= len(args):
            _refuse(sql, where, first_line, "format", "has more fields than arguments")
        if precision:  # fmt rounds the binary value half to even: bround first, then print
            args[index] = _fn("BROUND", _double(args[index]), _num(int(precision.group(1))))
            index += 1
            return f"%.{precision.group(1)}f"
        if spec:
            _refuse(sql, where, first_line, "format", f"field {{{spec}}} cannot be translated")
        index += 1
        return "%s"

    out.append(_FORMAT_FIELD.sub(field, template or ""))
    return _fn("FORMAT_STRING", exp.Literal.string(out[0]), *args)


def _literal_text(node: exp.Expression) -> str | None:
    """The text of a string literal, or of literals joined with || (a long template split over lines)."""
    if isinstance(node, exp.Literal) and node.is_string:
        return str(node.this)
    if isinstance(node, exp.DPipe | exp.Concat):
        pieces = node.expressions if isinstance(node, exp.Concat) else list(node.flatten())
        parts = [_literal_text(cast(exp.Expression, p)) for p in pieces]
        return None if any(p is None for p in parts) else "".join(p for p in parts if p is not None)
    if isinstance(node, exp.Paren):
        return _literal_text(node.this)
    return None


def _round(node: exp.Round) -> exp.Expression:
    decimals = node.args["decimals"]
    if isinstance(decimals, exp.Literal) and decimals.this in {"0"}:
        return exp.Round(this=node.this)
    scale = _fn("POWER", _num(10), decimals.copy())
    scaled = exp.Mul(this=_double(node.this.copy()), expression=scale)
    return exp.Div(this=exp.Round(this=scaled), expression=scale.copy())


def _row_in(node: exp.In) -> exp.Expression:
    query = node.args["query"]
    select = query.this if isinstance(query, exp.Subquery) else query
    if isinstance(select, exp.Select) and len(select.expressions) == 1 and isinstance(select.expressions[0], exp.Tuple):
        select.set("expressions", [e.copy() for e in select.expressions[0].expressions])
    return node
