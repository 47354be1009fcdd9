"""Peak RSS of each hostile input of issue 12, each run as its own `forensics` process (bound: < 1.5 GB).

Scaled to run in a few minutes: SCALE (env BOMB_SCALE_MIB, default 256) MiB of decompressed zeros instead of
1 GiB. Usage: python bench/bombs.py [--scale-mib N]. Prints one line per bomb: name, exit code, peak RSS.
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import zstandard

BOUND_MIB = 1536


def _run(args: list[str]) -> tuple[int, float, float]:
    """Exit code, peak RSS (MiB) and seconds of one child process (wait4 gives the child's own maximum)."""
    started = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    return os.waitstatus_to_exitcode(status), usage.ru_maxrss / 1024, time.perf_counter() - started


def _zeros_gz(path: Path, mib: int) -> None:
    with gzip.open(path, "wb", compresslevel=9) as fh:
        for _ in range(mib):
            fh.write(bytes(1 << 20))


def _zstd_bomb(path: Path, mib: int) -> None:
    cctx = zstandard.ZstdCompressor(level=19)
    with path.open("wb") as raw, cctx.stream_writer(raw) as fh:
        for _ in range(mib):
            fh.write(bytes(1 << 20))


def _long_line(path: Path, mib: int) -> None:
    with path.open("wb") as fh:
        for _ in range(mib):
            fh.write(b"a" * (1 << 20))
        fh.write(b"\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale-mib", type=int, default=int(os.environ.get("BOMB_SCALE_MIB", "256")))
    mib = parser.parse_args().scale_mib
    exe = [sys.executable, "-c", "from forensics.cli import main; main()"]
    work = Path(tempfile.mkdtemp(prefix="bombs-"))
    try:
        case = work / "case"
        subprocess.run([*exe, "init", str(case)], check=True, stdout=subprocess.DEVNULL)
        makers = {"gzip-zeros.log.gz": _zeros_gz, "zstd-bomb.log.zst": _zstd_bomb, "single-line.log": _long_line}
        runs: dict[str, list[str]] = {}
        for name, make in makers.items():
            make(work / name, mib)
            runs[f"ingest {name} ({mib} MiB, {(work / name).stat().st_size} B on disk)"] = [
                *exe,
                "ingest",
                str(case),
                str(work / name),
                "--format",
                "jsonl",
            ]
        runs["ingest /dev/zero"] = [*exe, "ingest", str(case), "/dev/zero", "--format", "nginx"]
        runs["query range(1e14) --timeout 5"] = [
            *exe,
            "query",
            str(case),
            "select count(*) from range(100000000000000)",
            "--timeout",
            "5",
        ]
        runs["query 3M rows --json"] = [*exe, "query", str(case), "select range n, 'x' s from range(3000000)", "--json"]
        for name, args in runs.items():
            code, rss, secs = _run(args)
            flag = "ok" if rss < BOUND_MIB else "OVER BOUND"
            print(f"{name}: exit {code}, peak RSS {rss:.0f} MiB, {secs:.1f} s [{flag}]")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
