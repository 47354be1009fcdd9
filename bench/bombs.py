"""Peak RSS of each hostile input of issue 12, each run as its own `forensics` process (bound: < 1.5 GB).

Scaled to run in a few minutes: SCALE (env BOMB_SCALE_MIB, default 256) MiB of decompressed zeros instead of
1 GiB. Usage: python bench/bombs.py [--scale-mib N]. Prints one line per bomb: name, exit code, peak RSS.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import zstandard

BOUND_MIB = 1536


def _tree_rss(pid: int) -> int:
    """RSS (bytes) of a process and all its descendants: mapping expressions run in a child process."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/statm") as fh:
                total += int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as fh:
                    todo.extend(int(c) for c in fh.read().split())
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return total


def _run(args: list[str], env: dict[str, str] | None = None) -> tuple[int, float, float]:
    """Exit code, peak RSS (MiB) and seconds of one command: the larger of wait4's maximum for the process
    itself and the sum over its process tree sampled every 20 ms (the tree includes the mapping evaluator)."""
    started = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    peak = 0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        peak = max(peak, _tree_rss(proc.pid))
        time.sleep(0.02)
    own = max(usage.ru_maxrss * 1024, peak)  # wait4: this child's own maximum
    return os.waitstatus_to_exitcode(status), own / (1 << 20), time.perf_counter() - started


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


MAPPING_BOMBS = {
    "repeat(account, 50000000)": "CAST(length(repeat(account, 50000000)) AS VARCHAR)",
    "repeat([account], 50000000)": "CAST(len(repeat([account], 50000000)) AS VARCHAR)",
    "list_resize([account], 200000000)": "CAST(len(list_resize([account], 200000000)) AS VARCHAR)",
    "6 nested regexp_replace(x, '', 10 chars)": "CAST(length("
    + "regexp_replace(" * 6
    + "account"
    + ", '', 'xxxxxxxxxx', 'g')" * 6
    + ") AS VARCHAR)",
}


def _mapping_bombs(work: Path, exe: list[str]) -> dict[str, list[str]]:
    """Ingest 1,000 JSON lines through a mapping whose actor_id expression would take tens of GB."""
    data = work / "records.jsonl"
    with data.open("w", encoding="utf-8") as fh:
        for i in range(1000):
            fh.write(json.dumps({"op_time": "2024-03-01 10:00:00", "account": f"acct{i:05d}"}) + "\n")
    runs: dict[str, list[str]] = {}
    for n, (name, sql) in enumerate(MAPPING_BOMBS.items()):
        mapping = work / f"bomb{n}.toml"
        mapping.write_text(
            'source = "bomb"\nformat = "jsonl"\ntz = "Asia/Shanghai"\n[timestamp]\nexpr = "op_time"\n'
            f"[columns]\nactor_id = {json.dumps(sql)}\naction = \"'other'\"\n",
            encoding="utf-8",
        )
        runs[f"ingest 1,000 JSON lines, mapping {name}"] = [
            *exe, "ingest", str(work / "case"), str(data), "--mapping", str(mapping)
        ]
    return runs


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
                "nginx",  # a line format: jsonl without --mapping would stop at the usage check, before reading
            ]
        runs.update(_mapping_bombs(work, exe))
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
