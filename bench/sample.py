"""Benchmark: how fast `forensics sample` writes a case world.

    .venv/bin/python bench/sample.py            # 30k (the committed sample) and 1 M events
    .venv/bin/python bench/sample.py --full     # also 10 M events (heavy: see below)
    .venv/bin/python bench/sample.py --events 50000000 --keep /work/tmp/world   # the maximum

Prints, per size: wall time, CPU time (user + system, all threads), events written (lines that become
events, heartbeats included), events/s, bytes on disk, and peak RSS of this process (run one size per
process to read each size's peak). Worlds go to a temporary folder ($TMPDIR) that is removed afterwards.
Generation streams, so RAM stays about 1.3-1.6 GB at any size; disk: ~0.6 GB at 10 M, ~2.9 GB at 50 M.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from forensics.sample import DEFAULT_EVENTS, generate


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_one(events: int, root: Path, variant: str, seed: int) -> dict[str, float]:
    out = root / f"world-{events}"
    started, cpu_started = time.perf_counter(), _cpu_seconds()
    result = generate(out, variant=variant, events=events, seed=seed)
    seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu_started
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {
        "requested": events,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "events_written": result.events_written,
        "events_per_s": result.events_written / seconds,
        "mb_on_disk": size / 2**20,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="also run 10 M events")
    parser.add_argument("--events", type=int, action="append", help="run this size instead (repeatable)")
    parser.add_argument("--variant", default="clean")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="write the worlds here and keep them")
    args = parser.parse_args()
    sizes = args.events or [DEFAULT_EVENTS, 1_000_000, *([10_000_000] if args.full else [])]
    root = args.keep or Path(tempfile.mkdtemp(prefix="forensics-bench-sample-"))
    print(
        f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} "
        "(wall time depends on it; CPU time much less)"
    )
    print(f"{'requested':>12} {'wall s':>8} {'CPU s':>8} {'events':>12} {'events/s':>10} {'MB':>8} {'peak RSS MB':>12}")
    try:
        for events in sizes:
            r = run_one(events, root, args.variant, args.seed)
            print(
                f"{r['requested']:>12,} {r['seconds']:>8.1f} {r['cpu_seconds']:>8.1f} {r['events_written']:>12,} "
                f"{r['events_per_s']:>10,.0f} {r['mb_on_disk']:>8.1f} {r['peak_rss_mb']:>12,.0f}",
                flush=True,
            )
            if not args.keep:
                shutil.rmtree(root / f"world-{events}")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
