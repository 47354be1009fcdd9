"""Benchmark: what a pack run on Spark (local mode) pays per SQL statement, beside DuckDB on the same case.

    .venv/bin/python bench/spark_overhead.py                        # guilty sample, 1,000 events, local[2]
    .venv/bin/python bench/spark_overhead.py --events 20000 --variant gap --runs 3

1. A sample world (`forensics.sample.generate`, --variant, seed 7) is ingested with the local engine into a
   fresh case (what tests/test_spark_checks.py does).
2. The Spark session (JVM start) is timed on its own.
3. The bundled pack runs --runs times on DuckDB, on Spark reading the Parquet per statement, and on Spark
   with the events cached for the run (forensics/engines/spark.py CACHE_EVENTS_MAX_BYTES), each through
   `run_pack` over `open_engine` (no custody entry); every statement the engine sends is counted and
   timed, grouped by the module that asked for it (packs: the checks; verdicts/completeness/exposure: the
   verdict machinery). Spark's first run pays the
   JIT/codegen warm-up; the last run is the steady state a long-running caller sees.
4. The runs' verdicts and result digests must be equal across engines: the script fails otherwise.

Prints Markdown for bench/RESULTS.md. The machine is shared: say so (and the load) next to the figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from forensics.case import Case, init_case  # noqa: E402


class Recorder:
    """(caller module, seconds) of every statement an engine ran."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float]] = []

    def wrap(self, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.calls.append((_caller(), time.perf_counter() - start))

        return timed


def _caller() -> str:
    """The first forensics module outside forensics/engines on the stack (who asked for the statement)."""
    for frame in reversed(traceback.extract_stack()[:-2]):
        path = Path(frame.filename)
        if "forensics" in path.parts and "engines" not in path.parts:
            return path.stem
    return "?"


@contextmanager
def recording(cls: type, method: str, recorder: Recorder) -> Iterator[None]:
    original = getattr(cls, method)
    setattr(cls, method, recorder.wrap(original))
    try:
        yield
    finally:
        setattr(cls, method, original)


def sample_case(workdir: Path, variant: str, events: int) -> Case:
    from forensics.ingest import IngestOptions, ingest_plan
    from forensics.sample import generate

    world = workdir / f"world-{variant}-{events}"
    generate(world, variant, events, 7)
    case = init_case(workdir / f"case-{variant}-{events}")
    shutil.copyfile(world / "case.toml", case.toml_path)
    ingest_plan(case, world / "plan.toml", IngestOptions())
    return case


def one_run(case: Case, engine_name: str, master: str, cache: bool = True) -> dict[str, Any]:
    from forensics.engines import spark as spark_engine
    from forensics.engines.base import DuckDBEngine, open_engine
    from forensics.engines.spark import SparkEngine
    from forensics.packs import run_pack

    limit = spark_engine.CACHE_EVENTS_MAX_BYTES
    spark_engine.CACHE_EVENTS_MAX_BYTES = limit if cache else -1

    sent, spark_jobs = Recorder(), Recorder()  # sent: every execute; spark_jobs: those not answered from memory
    cls = SparkEngine if engine_name == "spark" else DuckDBEngine
    start = time.perf_counter()
    with recording(cls, "execute", sent), recording(SparkEngine, "_run", spark_jobs):
        engine = open_engine(case, engine_name, master if engine_name == "spark" else None)
        opened = time.perf_counter() - start
        result = run_pack(case, None, engine=engine)
    total = time.perf_counter() - start
    spark_engine.CACHE_EVENTS_MAX_BYTES = limit
    jobs = spark_jobs.calls if engine_name == "spark" else sent.calls
    return {
        "open": opened,
        "total": total,
        "sent": len(sent.calls),
        "jobs": jobs,
        "digests": [(c["id"], c["verdict"], c["result_sha256"]) for c in result.to_json()["checks"]],
    }


def describe(label: str, run: dict[str, Any]) -> list[str]:
    seconds = [s for _, s in run["jobs"]]
    by_module: dict[str, list[float]] = defaultdict(list)
    for module, s in run["jobs"]:
        by_module[module].append(s)
    median = statistics.median(seconds) if seconds else 0.0
    rows = [
        f"| {label} | {run['total']:.2f} | {run['open']:.2f} | {run['sent']} | {len(seconds)} | "
        f"{sum(seconds):.2f} | {1000 * median:.0f} | {1000 * max(seconds, default=0):.0f} | "
        + ", ".join(f"{m} {len(v)}×{1000 * statistics.mean(v):.0f}" for m, v in sorted(by_module.items()))
        + " |"
    ]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000)
    parser.add_argument("--variant", default="guilty", choices=["clean", "guilty", "gap"])
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()

    from forensics.engines.spark_session import get_spark, stop_spark

    with tempfile.TemporaryDirectory(prefix="spark-overhead-") as tmp:
        start = time.perf_counter()
        case = sample_case(Path(tmp), args.variant, args.events)
        built = time.perf_counter() - start
        start = time.perf_counter()
        spark = get_spark(args.master)
        started = time.perf_counter() - start
        conf = {k: spark.conf.get(k) for k in ("spark.sql.shuffle.partitions", "spark.sql.adaptive.enabled")}
        lines = [
            f"sample {args.variant}, {args.events:,} events, ingested locally in {built:.1f} s; "
            f"Spark session ({args.master}) started in {started:.1f} s; {conf}; load: {os.getloadavg()}",
            "",
            "| engine, run | pack s | open s | statements | Spark jobs | in jobs s | median ms | max ms | "
            "jobs by caller (n × mean ms) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        reference = None
        for engine_name, cache in (("duckdb", True), ("spark", False), ("spark", True)):
            label = engine_name if engine_name == "duckdb" else f"spark, events {'cached' if cache else 'not cached'}"
            for n in range(1, args.runs + 1):
                run = one_run(case, engine_name, args.master, cache)
                if reference is None:
                    reference = run["digests"]
                elif run["digests"] != reference:
                    sys.exit(f"{label} run {n}: verdicts or digests differ from DuckDB's")
                lines += describe(f"{label} {n}", run)
        verdicts = Counter(v for _, v, _ in reference or [])
        lines += ["", f"verdicts equal on both engines: {dict(verdicts)}"]
        stop_spark()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
