"""The engine interface the pack runner and the verdict machinery run their SQL through.

An engine executes one SELECT (DuckDB dialect, as the packs are written) with named parameters bound,
never formatted in, and returns a result with DB-API-like `description`, `fetchall()` and `fetchone()`.
DuckDB's own connection already answers like that; Spark's results are collected through Arrow and
normalised to the same Python values (tz-aware UTC datetimes, lists, dicts for structs), so
`packs.json_safe` and `result_sha256` see the same rows whichever engine ran the SQL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

import duckdb

from forensics.errors import ForensicsError, UsageError


class QueryError(ForensicsError):
    """An engine other than DuckDB failed on a statement (the message carries the engine's own)."""


# what a caller catches around engine.execute (duckdb.Error for the DuckDB engine)
QUERY_ERRORS: tuple[type[Exception], ...] = (duckdb.Error, QueryError)

ENGINES = ("duckdb", "spark")


class Result(Protocol):
    @property
    def description(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def fetchone(self) -> Any: ...


class Engine(Protocol):
    """Where a check's SQL runs. `name` is recorded in the check's JSON and custody entry."""

    name: str

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> Result: ...

    def timeout(
        self, seconds: float | None, what: str, hint: str = "(--timeout); narrow the query"
    ) -> AbstractContextManager[None]: ...

    def close(self) -> None: ...

    def source(self) -> dict[str, Any] | None:
        """What the events view reads when it is not the case's sealed Parquet (a warehouse table)."""
        ...


@dataclass
class Rows:
    """A collected result: column names and rows as tuples."""

    columns: list[str]
    rows: list[tuple[Any, ...]]
    _next: int = field(default=0, repr=False)

    @property
    def description(self) -> list[tuple[str, None, None, None, None, None, None]]:
        return [(c, None, None, None, None, None, None) for c in self.columns]

    def fetchall(self) -> list[tuple[Any, ...]]:
        rest = self.rows[self._next :]
        self._next = len(self.rows)
        return rest

    def fetchone(self) -> tuple[Any, ...] | None:
        if self._next >= len(self.rows):
            return None
        self._next += 1
        return self.rows[self._next - 1]


class DuckDBEngine:
    """The case's in-process DuckDB connection (Case.connect) behind the engine interface."""

    name = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> duckdb.DuckDBPyConnection:
        return self.con.execute(sql, dict(params) if params is not None else None)

    def timeout(
        self, seconds: float | None, what: str, hint: str = "(--timeout); narrow the query"
    ) -> AbstractContextManager[None]:
        from forensics.limits import statement_timeout

        return statement_timeout(self.con, seconds, what, hint)

    def close(self) -> None:
        self.con.close()

    def source(self) -> dict[str, Any] | None:
        return None


def as_engine(con_or_engine: Any) -> Engine:
    """Accept a DuckDB connection where an engine is expected (callers written before engines existed)."""
    if isinstance(con_or_engine, duckdb.DuckDBPyConnection):
        return DuckDBEngine(con_or_engine)
    return con_or_engine


def rows_of(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Rows:
    return Rows(list(columns), [tuple(r) for r in rows])





class Executes(Protocol):
    """What the verdict machinery needs: execute(sql, params). A DuckDB connection and every Engine have it."""

    def execute(self, sql: str, params: Any = None, /) -> Any: ...


def open_engine(
    case: Any, engine: str = "duckdb", master: str | None = None, tables: Mapping[str, str] | None = None
) -> Engine:
    """The engine a check runs on: DuckDB over Case.connect(), or Spark over the same manifest-listed files."""
    if engine == "duckdb":
        if master or tables:
            raise UsageError("--master and --table need --engine spark")
        return DuckDBEngine(case.connect())
    if engine == "spark":
        from forensics.engines.spark import SparkEngine
        from forensics.engines.spark_session import DEFAULT_MASTER

        return SparkEngine.for_case(case, master or DEFAULT_MASTER, tables)
    raise UsageError(f"unknown engine {engine!r}: use one of {', '.join(ENGINES)}")
