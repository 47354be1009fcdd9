"""Bounded time and memory for every DuckDB statement a user or a log can influence.

A mapping expression (``length(repeat(account, 50000000))``), a pack check or a ``query`` may otherwise take all
the machine's memory or run for ever. Every case connection gets a memory limit and a thread count; statements
run under a timer that interrupts them. ``query`` output streams in batches (never ``fetchall``) and CSV cells are
neutralised against spreadsheet formula injection (OWASP: prefix ``= + - @ TAB CR`` with a single quote).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import duckdb

from forensics.errors import ForensicsError, UsageError

MEMORY_LIMIT = os.environ.get("FORENSICS_MEMORY_LIMIT", "1GB")  # DuckDB spills to CASE/.tmp beyond this
THREADS = int(os.environ.get("FORENSICS_THREADS", "2") or 2)
DEFAULT_TIMEOUT = 600.0  # seconds for one statement (FORENSICS_TIMEOUT changes it for mappings and packs)
# private memory (RLIMIT_DATA) of the mapping-evaluation process (FORENSICS_MAPPING_MEMORY)
DEFAULT_SANDBOX_BYTES = 1 << 30
BATCH_ROWS = 10_000
_FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def timeout_seconds() -> float:
    """The statement timeout for mapping evaluation and pack checks: FORENSICS_TIMEOUT seconds, else 600.

    Read at each use (not at import) so a test or a wrapper script can set it for one run."""
    text = os.environ.get("FORENSICS_TIMEOUT", "").strip()
    if not text:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"FORENSICS_TIMEOUT={text!r}: give a number of seconds (e.g. 600)") from None
    if value <= 0:
        raise UsageError(f"FORENSICS_TIMEOUT={text!r}: give a positive number of seconds")
    return value


_UNITS = {"": 1, "B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30}


def sandbox_bytes() -> int:
    """Memory cap (RLIMIT_DATA) of the mapping-evaluation process: FORENSICS_MAPPING_MEMORY (e.g. 1GiB)."""
    text = os.environ.get("FORENSICS_MAPPING_MEMORY", "").strip().upper().replace(" ", "")
    if not text:
        return DEFAULT_SANDBOX_BYTES
    number = text.rstrip("KMGIB")
    unit = text[len(number) :]
    try:
        value = int(float(number) * _UNITS[unit])
    except (ValueError, KeyError):
        raise UsageError(f"FORENSICS_MAPPING_MEMORY={text!r}: give a size such as 1GiB or 800MB") from None
    if value < 256 << 20:
        raise UsageError(f"FORENSICS_MAPPING_MEMORY={text!r}: at least 256MiB (the evaluator itself needs that)")
    return value


def apply_limits(con: duckdb.DuckDBPyConnection) -> None:
    """Memory limit and threads on a case connection (called once from Case.connect)."""
    con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
    con.execute(f"SET threads = {max(1, THREADS)}")
    con.execute("SET preserve_insertion_order = false")  # lets big results stream without buffering


def limit_config() -> dict[str, Any]:
    """The same limits as a duckdb.connect config (for connections that lock their configuration)."""
    return {"memory_limit": MEMORY_LIMIT, "threads": max(1, THREADS)}


@contextmanager
def statement_timeout(
    con: duckdb.DuckDBPyConnection, seconds: float | None, what: str, hint: str = "(--timeout); narrow the query"
) -> Iterator[None]:
    """Interrupt the connection's running statement after ``seconds`` (a timer thread; DuckDB checks often)."""
    if not seconds or seconds <= 0:
        yield
        return
    fired = threading.Event()

    def stop() -> None:
        fired.set()
        con.interrupt()

    timer = threading.Timer(seconds, stop)
    timer.daemon = True
    timer.start()
    try:
        yield
    except duckdb.Error as exc:
        if fired.is_set():
            raise ForensicsError(f"{what}: stopped after {seconds:g} s {hint}") from exc
        raise
    finally:
        timer.cancel()


def csv_cell(value: Any) -> str:
    """A cell safe to open in a spreadsheet: text starting with = + - @ TAB or CR gets a leading single quote."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if isinstance(value, str) and text.startswith(_FORMULA_LEADS):
        return "'" + text
    return text


def stream_select(
    con: duckdb.DuckDBPyConnection, sql: str, timeout: float | None, batch: int = BATCH_ROWS
) -> tuple[list[str], Iterator[list[tuple[Any, ...]]]]:
    """Run one read-only SELECT; its columns and an iterator of row batches, under the statement timeout."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise UsageError(f"SQL does not parse: {exc}") from exc
    if len(statements) != 1:
        raise UsageError(f"give exactly one SELECT statement (got {len(statements)})")
    if statements[0].type != duckdb.StatementType.SELECT:
        raise UsageError(f"only SELECT queries are allowed (got {statements[0].type.name})")
    try:
        with statement_timeout(con, timeout, "query"):
            rel = con.sql(sql)
            # streams record batches: never the whole result in memory (to_arrow_reader is the newer name)
            reader = rel.to_arrow_reader(batch) if hasattr(rel, "to_arrow_reader") else rel.fetch_record_batch(batch)
    except duckdb.Error as exc:
        raise ForensicsError(f"query failed: {exc}") from exc
    columns = list(reader.schema.names)

    def batches() -> Iterator[list[tuple[Any, ...]]]:
        try:
            while True:
                with statement_timeout(con, timeout, "query"):
                    try:
                        chunk = reader.read_next_batch()
                    except StopIteration:
                        return
                cols = [c.to_pylist() for c in chunk.columns]
                yield list(zip(*cols, strict=True)) if cols else []
        except duckdb.Error as exc:
            raise ForensicsError(f"query failed: {exc}") from exc

    return columns, batches()
