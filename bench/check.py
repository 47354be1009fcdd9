"""Benchmark: the whole order-leak pack on case worlds of growing size, seconds per check.

    .venv/bin/python bench/check.py                       # 1 M and 10 M events
    .venv/bin/python bench/check.py --sizes 1000000,10000000,50000000 --workdir /big/disk

Each size is generated with `forensics.sample.generate` (variant clean, seed 7), ingested with the
sample's plan, then checked `--repeat` times (the best run is reported, so the figure is the query
cost, not the page cache warming up). Generated worlds and cases are kept in --workdir and reused
on the next run unless --fresh is given. Further passes with a one-day window, and a one-hour window
without baseline days, on the same case show whether cost follows the window (partition pruning)
rather than the dump.

Prints a Markdown table for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from forensics.case import Case, init_case  # noqa: E402
from forensics.packs import PackResult, run_pack  # noqa: E402

NARROW = {"window_start": "2024-03-05T00:00:00", "window_end": "2024-03-06T00:00:00"}  # one day, in window tz
# One hour and no baseline days: only the partitions of that day are read, whatever the size of the dump.
HOUR = {"window_start": "2024-03-05T09:00:00", "window_end": "2024-03-05T10:00:00", "baseline_days": "0"}


@dataclass
class Measure:
    events: int
    ingest_seconds: float | None
    per_check: dict[str, float] = field(default_factory=dict)
    steps: dict[str, float] = field(default_factory=dict)
    total: float = 0.0
    narrow_total: float = 0.0
    hour_total: float = 0.0
    verdicts: dict[str, str] = field(default_factory=dict)
    result_sha256: dict[str, str] = field(default_factory=dict)  # per check: equal across engines or a bug
    engine: str = "duckdb"
    load: float = 0.0  # 1-minute load average when the measure ended (the machine may be shared)


def prepare(workdir: Path, events: int, fresh: bool) -> tuple[Case, float | None]:
    """Generate and ingest one world (reused when already there)."""
    from forensics.ingest import IngestOptions, ingest_plan
    from forensics.sample import generate

    sample_dir, case_dir = workdir / f"sample-{events}", workdir / f"case-{events}"
    if fresh:
        shutil.rmtree(sample_dir, ignore_errors=True)
        shutil.rmtree(case_dir, ignore_errors=True)
    done = case_dir / ".bench-ingested"
    if done.exists():
        return Case(case_dir), None
    shutil.rmtree(case_dir, ignore_errors=True)
    if not _generated(sample_dir, events):  # same arguments give the same bytes: a finished world is reused
        print(f"[{events:,}] generating ...", file=sys.stderr, flush=True)
        generate(sample_dir, "clean", events, 7)
    case = init_case(case_dir)
    shutil.copy(sample_dir / "case.toml", case.toml_path)
    print(f"[{events:,}] ingesting ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    ingest_plan(case, sample_dir / "plan.toml", IngestOptions())
    elapsed = time.perf_counter() - started
    done.write_text(f"{elapsed:.1f}\n", encoding="utf-8")
    return case, elapsed


def _generated(sample_dir: Path, events: int) -> bool:
    """A complete world of these arguments (ground_truth.json and README.md are written last)."""
    truth = sample_dir / "ground_truth.json"
    if not truth.exists() or not (sample_dir / "README.md").exists():
        return False
    facts = json.loads(truth.read_text(encoding="utf-8"))
    return bool(facts["variant"] == "clean" and facts["seed"] == 7 and facts["events_requested"] == events)


def count_events(case: Case) -> int:
    con = case.connect()
    try:
        row = con.execute("SELECT count(*) FROM events").fetchone()
        return int(row[0]) if row else 0
    finally:
        con.close()


def timed(
    case: Case, params: dict[str, str], repeat: int, engine: str = "duckdb", master: str | None = None
) -> tuple[PackResult, float]:
    from forensics.engines.base import open_engine

    best: tuple[PackResult, float] | None = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = run_pack(case, None, params, engine=open_engine(case, engine, master))
        elapsed = time.perf_counter() - started
        if best is None or elapsed < best[1]:
            best = (result, elapsed)
    assert best is not None
    return best


def measure(
    case: Case,
    ingest_seconds: float | None,
    repeat: int,
    engine: str = "duckdb",
    master: str | None = None,
    narrow: bool = True,
) -> Measure:
    """Best-of-`repeat` pack times on `engine` (a Spark session is reused across runs: best-of leaves out its
    start-up); the 1-day and 1-hour windows too unless not `narrow` (then reported as nan)."""
    result, total = timed(case, {}, repeat, engine, master)
    narrow_total = timed(case, NARROW, repeat, engine, master)[1] if narrow else float("nan")
    hour_total = timed(case, HOUR, repeat, engine, master)[1] if narrow else float("nan")
    return Measure(
        events=count_events(case),
        ingest_seconds=ingest_seconds,
        per_check={c.check.id: c.run.seconds for c in result.checks},
        steps=dict(result.timings),
        total=total,
        narrow_total=narrow_total,
        hour_total=hour_total,
        verdicts=result.verdicts,
        result_sha256={c["id"]: c["result_sha256"] for c in result.to_json()["checks"]},
        engine=engine,
        load=os.getloadavg()[0],
    )


def table(measures: list[Measure]) -> str:
    checks = list(measures[0].per_check)
    head = "| step | " + " | ".join(f"{m.events:,} events, {m.engine}" for m in measures) + " |"
    lines = [head, "|---|" + "---:|" * len(measures)]
    for check in checks:
        lines.append(f"| {check} | " + " | ".join(f"{m.per_check[check]:.2f}" for m in measures) + " |")
    for step in measures[0].steps:
        lines.append(f"| ({step}) | " + " | ".join(f"{m.steps.get(step, 0.0):.2f}" for m in measures) + " |")
    lines.append("| **whole pack, 3-day window** | " + " | ".join(f"**{m.total:.2f}**" for m in measures) + " |")
    lines.append("| whole pack, 1-day window | " + " | ".join(f"{m.narrow_total:.2f}" for m in measures) + " |")
    lines.append(
        "| whole pack, 1-hour window, no baseline | " + " | ".join(f"{m.hour_total:.2f}" for m in measures) + " |"
    )
    ingest = " | ".join("cached" if m.ingest_seconds is None else f"{m.ingest_seconds:.0f}" for m in measures)
    lines.append(f"| (ingest, for reference) | {ingest} |")
    lines.append("| (load average, 1 min) | " + " | ".join(f"{m.load:.1f}" for m in measures) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000000,10000000", help="comma-separated event counts")
    parser.add_argument("--workdir", type=Path, default=Path("/work/tmp/forensics-bench-check"))
    parser.add_argument("--repeat", type=int, default=2, help="runs per size; the best is reported")
    parser.add_argument("--fresh", action="store_true", help="regenerate and re-ingest even if cached")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    args.workdir.mkdir(parents=True, exist_ok=True)
    measures: list[Measure] = []
    for events in sizes:
        case, ingest_seconds = prepare(args.workdir, events, args.fresh)
        m = measure(case, ingest_seconds, args.repeat)
        print(f"[{events:,}] pack {m.total:.2f} s, verdicts {m.verdicts}", file=sys.stderr, flush=True)
        measures.append(m)
    print(table(measures))
    if len(measures) > 1:
        first, last = measures[0], measures[-1]
        growth = last.events / max(first.events, 1)
        print(f"\n{growth:.1f}x the events cost {last.total / max(first.total, 1e-9):.2f}x the time.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
