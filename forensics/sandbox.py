"""Mapping expressions run in a child process with a hard memory cap and a statement timeout.

Why a process: DuckDB's ``memory_limit`` bounds its buffer manager, not the strings an expression builds, so
``length(repeat(account, 50000000))`` took 24 GB before anything stopped it. The child (forensics/_exprworker.py)
caps its own address space; an expression that needs more fails there with DuckDB's OutOfMemoryException, and
whatever else goes wrong kills only the child. The parent also waits at most the timeout plus a grace period.

A resource failure is never a property of one log line (the same line passes on a bigger machine), so it is not
quarantined: quarantine must come out the same on every re-parse. It is raised as ``ResourceExceeded`` and the
mapping code turns it into an error naming the mapping file and key.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

import duckdb
import polars as pl
import pyarrow as pa

from forensics.errors import ForensicsError
from forensics.limits import limit_config, sandbox_bytes, timeout_seconds

_WORKER = Path(__file__).with_name("_exprworker.py")
_GRACE = 10.0  # seconds past the timeout before the parent kills a child that did not stop itself


class ResourceExceeded(ForensicsError):
    """An expression ran out of memory or time: a defect of the mapping (or the machine), not of a line."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind  # "memory" | "time" | "crash"
        self.detail = detail


class _Worker:
    def __init__(self) -> None:
        self.cap = sandbox_bytes()
        env = dict(os.environ)
        env["FORENSICS_SANDBOX_BYTES"] = str(self.cap)
        env["FORENSICS_SANDBOX_DUCKDB_MEMORY"] = f"{max(64, self.cap // 2 >> 20)}MB"
        self.proc = subprocess.Popen(
            [sys.executable, "-u", str(_WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()

    def run(self, sql: str, table: pa.Table, name: str, timeout: float) -> pa.Table:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        header = json.dumps({"sql": sql, "timeout": timeout, "table": name}).encode("utf-8")
        stdin, stdout = self.proc.stdin, self.proc.stdout
        assert stdin is not None and stdout is not None
        try:
            payload = sink.getvalue().to_pybytes()
            stdin.write(struct.pack("<Q", len(header)) + header + struct.pack("<Q", len(payload)))
            stdin.write(payload)
            stdin.flush()
        except OSError as exc:
            raise ResourceExceeded("crash", f"the evaluation process ended unexpectedly ({exc})") from exc
        deadline = time.monotonic() + timeout + _GRACE if timeout > 0 else None
        reply = json.loads(_read_frame(stdout, deadline))
        data = _read_frame(stdout, deadline)
        if reply.get("ok"):
            return pa.ipc.open_stream(data).read_all()
        kind, message = str(reply.get("type")), str(reply.get("message"))
        if kind == "OutOfMemoryException":
            raise ResourceExceeded("memory", _first_line(message))
        if kind == "InterruptException":
            raise ResourceExceeded("time", f"stopped after {timeout:g} s")
        cls = getattr(duckdb, kind, None)
        if not (isinstance(cls, type) and issubclass(cls, duckdb.Error)):
            cls = duckdb.Error
        raise cls(message)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def _read_frame(stream: IO[bytes], deadline: float | None) -> bytes:
    head = _read_exact(stream, 8, deadline)
    (size,) = struct.unpack("<Q", head)
    return _read_exact(stream, size, deadline)


def _read_exact(stream: IO[bytes], size: int, deadline: float | None) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    fd = stream.fileno()
    while remaining > 0:
        wait = None if deadline is None else max(0.0, deadline - time.monotonic())
        ready, _, _ = select.select([fd], [], [], wait)
        if not ready:
            raise ResourceExceeded("time", "did not stop when interrupted; the evaluation process was killed")
        chunk = os.read(fd, min(remaining, 1 << 22))
        if not chunk:
            raise ResourceExceeded("crash", "the evaluation process ended unexpectedly (killed, or out of memory)")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def resource_error(where: str, exc: ResourceExceeded, records: int) -> ForensicsError:
    """The one-line error for a mapping expression that ran out of memory or time (where = file: key)."""
    limit = {
        "memory": f"needs more than the evaluator's {sandbox_bytes() >> 20} MiB (FORENSICS_MAPPING_MEMORY)",
        "time": f"ran longer than {timeout_seconds():g} s (FORENSICS_TIMEOUT)",
    }.get(exc.kind, exc.detail)
    return ForensicsError(
        f"{where}: evaluation {limit} on a batch of {records} records; nothing of this input was stored. Fix the "
        "expression: the limit is the machine's, not a fault of a log line, so no line was quarantined for it"
    )


_local = threading.local()  # in-process connections (JSON decoding)


def sandbox_connection() -> duckdb.DuckDBPyConnection:
    """One sandboxed in-memory connection per thread: no file or network access, settings locked."""
    con: duckdb.DuckDBPyConnection | None = getattr(_local, "con", None)
    if con is None:
        con = duckdb.connect(
            ":memory:",
            config={
                "enable_external_access": False,
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
                **limit_config(),  # JSON decoding of log lines: bounded like every connection
            },
        )
        con.execute("SET lock_configuration = true")
        _local.con = con
    return con


def arrow_for_duckdb(frame: pl.DataFrame, chunk_rows: int = 4096) -> pa.Table:
    """The frame as an Arrow table cut into record batches: DuckDB scans one batch per thread,
    so a single-chunk table would run on one core (measured: 2x slower on JSON work)."""
    table = frame.to_arrow()
    return pa.Table.from_batches(table.to_batches(max_chunksize=chunk_rows), schema=table.schema)


_lock = threading.Lock()
_state: dict[str, Any] = {"worker": None}


def run_in_sandbox(sql: str, table: pa.Table, name: str) -> pa.Table:
    """Run one SELECT over `table` (registered as `name`) in the capped child; restart it after a failure."""
    with _lock:
        worker: _Worker | None = _state["worker"]
        if worker is not None and (worker.proc.poll() is not None or worker.cap != sandbox_bytes()):
            worker.close()  # dead, or the cap was changed (FORENSICS_MAPPING_MEMORY) since it started
            worker = None
        if worker is None:
            worker = _state["worker"] = _Worker()
        try:
            return worker.run(sql, table, name, timeout_seconds())
        except ResourceExceeded:
            # a timed-out or dead child may be mid-statement, and one that ran out of memory may keep what it
            # holds: the next statement starts in a fresh one
            worker.close()
            _state["worker"] = None
            raise


@atexit.register
def _shutdown() -> None:
    worker: _Worker | None = _state["worker"]
    if worker is not None:
        worker.close()
