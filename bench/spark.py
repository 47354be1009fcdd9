"""Benchmark: the same plan ingested with `--engine local` and `--engine spark`, and pack time at scale.

    .venv/bin/python bench/spark.py                                   # 1 M events, local[2]; pack at 10 M, both engines
    .venv/bin/python bench/spark.py --events 1000000 --master 'local[2]' --pack-sizes 10000000,50000000

1. A sample world (`forensics.sample.generate`, clean, seed 7) of --events events is ingested into two fresh
   cases with the sample's plan: once with the local engine, once on Spark (`--master`, default local[2]).
   The Spark session is started before the clock starts (its start-up is reported on its own line), so the
   figure is the ingest. The two manifests' inputs must be equal (hashes, counts, Merkle roots; only
   `ingested_at` differs): the script fails otherwise.
2. Pack time: the whole order-leak pack on worlds of --pack-sizes events, on DuckDB and on Spark (--master),
   with bench/check.py's generate/ingest/measure (cached in its --workdir between runs; --drop removes each
   world and case once measured, for disk).

Prints Markdown for bench/RESULTS.md. The machine is shared: say so next to the figures.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from forensics.case import Case, init_case  # noqa: E402
from forensics.ingest import IngestOptions, ingest_plan  # noqa: E402


def world(workdir: Path, events: int) -> Path:
    from forensics.sample import generate

    folder = workdir / f"sample-{events}"
    if not (folder / "plan.toml").exists():
        print(f"[{events:,}] generating ...", file=sys.stderr, flush=True)
        generate(folder, "clean", events, 7)
    return folder


def fresh_case(path: Path, sample: Path) -> Case:
    shutil.rmtree(path, ignore_errors=True)
    case = init_case(path)
    shutil.copy(sample / "case.toml", case.toml_path)
    return case


def inputs(case: Case) -> list[dict[str, Any]]:
    return [{k: v for k, v in i.items() if k != "ingested_at"} for i in case.manifest()["inputs"]]


def ingest_both(workdir: Path, events: int, master: str) -> dict[str, float]:
    from forensics.engines.spark_ingest import _session, ingest_plan_spark

    sample = world(workdir, events)
    plan = sample / "plan.toml"
    local = fresh_case(workdir / f"local-{events}", sample)
    print(f"[{events:,}] ingest, local engine ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    report = ingest_plan(local, plan, IngestOptions())
    local_s = time.perf_counter() - started
    print(f"[{events:,}] starting Spark ({master}) ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    spark = _session(master)
    session_s = time.perf_counter() - started
    on_spark = fresh_case(workdir / f"spark-{events}", sample)
    print(f"[{events:,}] ingest, spark engine ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    ingest_plan_spark(on_spark, plan, IngestOptions(), master)
    spark_s = time.perf_counter() - started
    spark.stop()
    if inputs(on_spark) != inputs(local):
        raise SystemExit("manifest inputs differ between the engines: a bug, do not publish these figures")
    return {
        "files": float(len(report.files)),
        "lines": float(sum(f.lines for f in report.files)),
        "events": float(report.events),
        "local": local_s,
        "session": session_s,
        "spark": spark_s,
    }


def pack_times(sizes: list[int], workdir: Path, master: str, drop: bool, spark_narrow: bool, repeat: int = 2) -> str:
    import check  # bench/check.py

    measures = []
    for events in sizes:
        case, ingest_seconds = check.prepare(workdir, events, fresh=False)
        for engine in ("duckdb", "spark"):
            print(f"[{events:,}] pack on {engine} ({os.getloadavg()[0]:.1f} load) ...", file=sys.stderr, flush=True)
            on_spark = engine == "spark"
            m = check.measure(
                case, ingest_seconds, repeat, engine, master if on_spark else None, narrow=spark_narrow or not on_spark
            )
            print(f"[{events:,}] {engine}: {m.total:.2f} s, verdicts {m.verdicts}", file=sys.stderr, flush=True)
            measures.append(m)
        if drop:
            shutil.rmtree(workdir / f"sample-{events}", ignore_errors=True)
            shutil.rmtree(workdir / f"case-{events}", ignore_errors=True)
    table = check.table(measures)
    for duck, spark in zip(measures[::2], measures[1::2], strict=True):
        same = duck.verdicts == spark.verdicts and duck.result_sha256 == spark.result_sha256
        table += f"\n\n{duck.events:,} events: spark / duckdb pack time {spark.total / duck.total:.2f}; "
        differ = f"NO (a bug): {duck.verdicts} vs {spark.verdicts}"
        table += "verdicts and every result_sha256 equal: " + ("yes" if same else differ)
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="sample size for the engine comparison")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--pack-sizes", default="10000000", help="comma-separated event counts ('' to skip)")
    parser.add_argument("--workdir", type=Path, default=Path("/work/tmp/forensics-bench-spark"))
    parser.add_argument("--check-workdir", type=Path, default=Path("/work/tmp/forensics-bench-check"))
    parser.add_argument("--drop", action="store_true", help="delete each pack-size world and case once measured")
    parser.add_argument(
        "--repeat", type=int, default=2, help="pack runs per engine, best reported (1 at 50 M: a Spark run is long)"
    )
    parser.add_argument(
        "--spark-narrow", action="store_true", help="also time the 1-day and 1-hour windows on Spark (slow)"
    )
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} CPUs, load average at start {os.getloadavg()[0]:.1f}")
    if args.events:
        r = ingest_both(args.workdir, args.events, args.master)
        print(f"| engine | {int(r['files'])} files, {int(r['lines']):,} lines, {int(r['events']):,} events | lines/s |")
        print("|---|---:|---:|")
        print(f"| local | {r['local']:.1f} s | {r['lines'] / r['local']:,.0f} |")
        print(f"| spark {args.master} | {r['spark']:.1f} s | {r['lines'] / r['spark']:,.0f} |")
        print(f"| (Spark session start, not included) | {r['session']:.1f} s | |")
        print(f"\nspark / local time: {r['spark'] / r['local']:.2f}; manifest inputs equal: yes")
        print(f"load average after the ingests: {os.getloadavg()[0]:.1f}")
    sizes = [int(s) for s in args.pack_sizes.split(",") if s]
    if sizes:
        args.check_workdir.mkdir(parents=True, exist_ok=True)
        print()
        print(pack_times(sizes, args.check_workdir, args.master, args.drop, args.spark_narrow, args.repeat))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of this process (driver; Spark's JVM and workers not included): {peak:,.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
