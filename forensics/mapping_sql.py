"""The first of a mapping expression's two checks: sqlglot parses it on its own, and anything that is not one
per-record value is refused (statements, subqueries, aggregates and window functions, table references,
functions that touch files, the network, settings, the clock or randomness). forensics.mapping then lets DuckDB
bind it in the exact query that will run it (the second check), reusing `denied_function` and `walk_json`.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError as SqlglotParseError
from sqlglot.errors import TokenError

from forensics.errors import UsageError

# Functions an expression may not call. Prefixes end with '_'. Why each group:
# files/network/catalog: reading anything but the record is not a mapping's job;
# settings/environment: the result would depend on the machine that ran it;
# clock/randomness/sequences: a re-ingest of the same file must reproduce the same rows.
_DENIED_PREFIXES: Final[tuple[str, ...]] = (
    "read_",
    "parquet_",
    "iceberg_",
    "delta_",
    "duckdb_",
    "pragma_",
    "sniff_",
    "json_execute",
    "http",
    "s3_",
    "current_",
    "get_current",
    "set_",
    "which_",
    "sqlite_",
    "postgres_",
    "mysql_",
    "ducklake_",
)
_DENIED_NAMES: Final[frozenset[str]] = frozenset(
    {
        "glob",
        "getenv",
        "getvariable",
        "query",
        "query_table",
        "install",
        "load",
        "attach",
        "detach",
        "copy",
        "export",
        "import",
        "checkpoint",
        "force_checkpoint",
        "vacuum",
        "random",
        "rand",
        "setseed",
        "uuid",
        "uuidv4",
        "uuidv7",
        "gen_random_uuid",
        "now",
        "today",
        "transaction_timestamp",
        "localtimestamp",
        "localtime",
        "nextval",
        "currval",
        "txid_current",
        "version",
        "database_size",
        "pg_sleep",
        "sleep",
        "range",
        "generate_series",
        "unnest",
        "summary",
        "arrow_scan",
        "seq_scan",
        "test_all_types",
        "enable_profiling",
        "write_log",
        "current_setting",
    }
)
# sqlglot node types that are statements, queries or batch-dependent, never a per-record value.
_DENIED_NODES: Final[tuple[type[exp.Expr], ...]] = (
    exp.Query,
    exp.Subquery,
    exp.Exists,
    exp.Table,
    exp.Copy,
    exp.Command,
    exp.Create,
    exp.Insert,
    exp.Update,
    exp.Delete,
    exp.Drop,
    exp.Set,
    exp.Pragma,
    exp.Use,
    exp.DDL,
    exp.DML,
    exp.Attach,
    exp.Detach,
    exp.Install,
    exp.Describe,
    exp.Summarize,
    exp.Window,
    exp.AggFunc,
    exp.Star,
    exp.Placeholder,
    exp.Parameter,
)


def validate_expression(sql: str, *, where: str) -> frozenset[str]:
    """Check one expression with sqlglot; return the raw field names it reads."""
    try:
        trees = [t for t in _quiet_parse(sql) if t is not None]
    except (SqlglotParseError, TokenError) as exc:
        raise UsageError(f"{where}: not a valid SQL expression: {first_line(str(exc))}") from exc
    if len(trees) != 1:
        raise UsageError(f"{where}: must be one SQL expression, not several statements (remove ';')")
    tree = trees[0]
    for node in tree.walk():
        _check_node(node, where)
    # Every value-producing expression (column, literal, function, operator, CASE, CAST) is a
    # sqlglot Condition; statements (ATTACH, SET, PRAGMA, INSTALL, ...) are not.
    if not isinstance(tree, exp.Condition):
        raise UsageError(f"{where}: must be a value expression (found a {type(tree).__name__.upper()} statement)")
    return frozenset(col.name for col in tree.find_all(exp.Column))


def _quiet_parse(sql: str) -> list[exp.Expr | None]:
    # sqlglot logs a warning when it falls back to an opaque Command (e.g. for LOAD); we reject
    # those ourselves with a better message, and library code does not write to stderr.
    logger = logging.getLogger("sqlglot")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        return list(sqlglot.parse(sql, read="duckdb"))
    finally:
        logger.setLevel(level)


def _check_node(node: exp.Expr, where: str) -> None:
    if isinstance(node, _DENIED_NODES):
        raise UsageError(f"{where}: {_describe(node)} is not allowed in a mapping expression (one value per record)")
    if isinstance(node, exp.Column) and node.table:
        raise UsageError(
            f"{where}: qualified name {node.sql(dialect='duckdb')} is not allowed; raw fields are plain names "
            f'(quote names containing dots: "a.b")'
        )
    if isinstance(node, exp.Func):
        name = _function_name(node)
        if denied_function(name):
            raise UsageError(f"{where}: function {name}() is not allowed in a mapping expression")


def _describe(node: exp.Expr) -> str:
    if isinstance(node, exp.Query | exp.Subquery | exp.Exists):
        return "a subquery"
    if isinstance(node, exp.AggFunc):
        return f"aggregate {node.sql_name().lower()}()"
    if isinstance(node, exp.Window):
        return "a window function"
    if isinstance(node, exp.Table):
        return "a table reference"
    if isinstance(node, exp.Star | exp.Placeholder | exp.Parameter):
        return f"{node.sql(dialect='duckdb')!r}"
    return f"a {type(node).__name__.upper()} statement"


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    return node.sql_name().lower()


def denied_function(name: str) -> bool:
    name = name.lower()
    return name in _DENIED_NAMES or name.startswith(_DENIED_PREFIXES)


def first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def walk_json(value: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found.append(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found
