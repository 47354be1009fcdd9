"""The child process that evaluates mapping expressions (run as a script by forensics.sandbox; imports no forensics).

A mapping expression can allocate without bound (``length(repeat(account, 50000000))``): DuckDB's memory_limit
does not cover the string heap of an expression, so the bound is the operating system's. This process caps its
own private writable memory (RLIMIT_DATA; RLIMIT_AS would count the ~1 GB of address space the allocators only
reserve) before DuckDB loads, so an allocation beyond it fails inside DuckDB as an OutOfMemoryException (the
process lives on), and if anything still goes wrong only this process dies.

Protocol on stdin/stdout, each message two frames (8-byte little-endian length, then bytes):
request = JSON header {"sql", "timeout", "table"} + Arrow IPC stream of the batch;
reply = JSON header {"ok": true} + Arrow IPC stream of the result, or {"ok": false, "type", "message"} + empty.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import struct
import sys
import threading
from typing import Any, BinaryIO


def _limit_memory() -> None:
    limit = int(os.environ.get("FORENSICS_SANDBOX_BYTES", "0") or 0)
    if limit > 0:
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


def _read_frame(stream: BinaryIO) -> bytes | None:
    head = stream.read(8)
    if len(head) < 8:
        return None
    (size,) = struct.unpack("<Q", head)
    data = stream.read(size)
    if len(data) < size:
        return None
    return data


def _write(stream: BinaryIO, header: dict[str, object], payload: bytes) -> None:
    text = json.dumps(header).encode("utf-8")
    stream.write(struct.pack("<Q", len(text)) + text + struct.pack("<Q", len(payload)))
    stream.write(payload)
    stream.flush()


def main() -> None:
    # Ctrl-C reaches the whole process group: the parent decides what an interrupt means (it holds SIGINT while
    # sealing) and kills this process at exit, so the evaluator must not die first and look like a crash.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _limit_memory()
    import duckdb
    import pyarrow as pa

    con = duckdb.connect(
        ":memory:",
        config={
            "enable_external_access": False,
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "memory_limit": os.environ.get("FORENSICS_SANDBOX_DUCKDB_MEMORY", "512MB"),
            "threads": int(os.environ.get("FORENSICS_THREADS", "2") or 2),
        },
    )
    con.execute("SET lock_configuration = true")
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        header = _read_frame(stdin)
        payload = _read_frame(stdin)
        if header is None or payload is None:
            return
        request = json.loads(header)
        try:
            table = pa.ipc.open_stream(payload).read_all()
            result = _run(con, request, table)
        except MemoryError as exc:  # Python's own allocation under the same cap
            _write(stdout, {"ok": False, "type": "OutOfMemoryException", "message": f"out of memory: {exc}"}, b"")
            continue
        except duckdb.Error as exc:
            _write(stdout, {"ok": False, "type": type(exc).__name__, "message": str(exc)}, b"")
            continue
        except Exception as exc:  # e.g. a statement with no result: an error of the request, not of the process
            _write(stdout, {"ok": False, "type": "Error", "message": f"{type(exc).__name__}: {exc}"}, b"")
            continue
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, result.schema) as writer:
            writer.write_table(result)
        _write(stdout, {"ok": True}, sink.getvalue().to_pybytes())


def _run(con: Any, request: dict[str, Any], table: Any) -> Any:
    """One statement over the registered batch, interrupted after the request's timeout."""
    name = str(request["table"])
    timeout = float(request.get("timeout") or 0)
    timer = threading.Timer(timeout, con.interrupt) if timeout > 0 else None
    con.register(name, table)
    try:
        if timer is not None:
            timer.daemon = True
            timer.start()
        return con.sql(str(request["sql"])).to_arrow_table()
    finally:
        if timer is not None:
            timer.cancel()
        con.unregister(name)


if __name__ == "__main__":
    main()
