"""`forensics ingest --engine spark`: the same per-file ingest, run as Spark tasks, sealed on the driver.

Nothing here parses, hashes or seals a log line itself: the driver expands the plan exactly as the local
engine does (`ingest.plan_request`: same globbing, confinement, options), each Spark task runs the local
engine's `ingest.ingest_file` on one file and stages its Parquet in the run's staging folder inside the
case (so the case folder must be on a filesystem every executor sees, at the same path), and the driver
seals the staged files with `ingest.ingest_staged`, the function the local engine seals with: same lock,
same manifest entries, same custody entry. Only what a task returns travels back to the driver: its
report, manifest entry and staged-file list (small, picklable), never rows.

Duplicates: a task skips a file the case already holds (as the local engine does); a file that repeats
another file of the same run is found on the driver, in plan order, and its staged output is dropped, so
the report and the manifest are the local engine's.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import forensics
from forensics.case import Case
from forensics.errors import ForensicsError, UsageError
from forensics.ingest import (
    FileReport,
    IngestOptions,
    IngestReport,
    Job,
    RunState,
    Stored,
    ingest_file,
    ingest_staged,
    paths_request,
    plan_request,
)

# ---------------------------------------------------------------- entry points (cli.py calls these)


def ingest_plan_spark(case: Case, plan_path: Path, options: IngestOptions, master: str | None) -> IngestReport:
    jobs, command = plan_request(plan_path, options)
    return _ingest_on_spark(case, jobs, command, master)


def ingest_paths_spark(case: Case, paths: list[Path], options: IngestOptions, master: str | None) -> IngestReport:
    jobs, command = paths_request(paths, options)
    return _ingest_on_spark(case, jobs, command, master)


# ---------------------------------------------------------------- what a task gets and gives back


@dataclass(frozen=True)
class _Task:
    """One file for one Spark task (pickled to the executor)."""

    index: int  # position in the plan: results are sealed in this order
    path: str
    options: IngestOptions
    case_root: str
    staging: str  # the run's staging folder; the task stages below <staging>/<index>-<attempt>/
    cwd: str  # the driver's working folder: relative plan paths mean the same file on every host
    version: str  # the driver's forensics version: an executor with another one would parse differently


@dataclass
class _Outcome:
    """What a task returns: the local engine's report and staged input, or the error that stopped it."""

    index: int
    report: FileReport | None = None
    stored: Stored | None = None
    error: str | None = None
    usage_error: bool = False
    version: str = ""


def run_task(task: _Task, state: dict[str, Any]) -> _Outcome:
    """Run the local engine's per-file ingest on one file (on an executor). Errors come back as data,
    so the driver can seal every file before the first failing one, in plan order, as the local engine does."""
    if task.version != forensics.__version__:  # the driver names both versions; do no work with the wrong code
        return _Outcome(task.index, error="forensics version differs", version=forensics.__version__)
    attempt = _attempt_number()
    staging = Path(task.staging) / f"{task.index:06d}-{attempt}"  # a retried or speculative attempt: own folder
    where = contextlib.chdir(task.cwd) if os.path.isdir(task.cwd) else contextlib.nullcontext()
    try:
        with where:
            report, stored = ingest_file(
                Case(Path(task.case_root)),
                Path(task.path),
                task.options,
                set(state["known"]),
                dict(state["contents"]),
                staging=staging,
                generations=dict(state["generations"]),
            )
    except UsageError as exc:
        return _Outcome(task.index, error=str(exc), usage_error=True, version=forensics.__version__)
    except ForensicsError as exc:
        return _Outcome(task.index, error=str(exc), version=forensics.__version__)
    except Exception as exc:  # a bug or an OSError on the executor: said with the file, sealed like a failure
        return _Outcome(task.index, error=f"{task.path}: {type(exc).__name__}: {exc}", version=forensics.__version__)
    return _Outcome(task.index, report, stored, version=forensics.__version__)


def _attempt_number() -> int:
    from pyspark import TaskContext

    context = TaskContext.get()
    return context.attemptNumber() if context is not None else 0


# ---------------------------------------------------------------- driver


def _ingest_on_spark(case: Case, jobs: list[Job], command: dict[str, Any], master: str | None) -> IngestReport:
    def stage(run: RunState) -> Iterator[tuple[FileReport, Stored | None]]:
        spark = _session(master)
        command["engine"] = {"name": "spark", "master": spark.sparkContext.master, "spark_version": spark.version}
        outcomes = _run_tasks(spark, case, jobs, run)
        yield from _in_plan_order(jobs, outcomes, run)

    return ingest_staged(case, command, stage)


def _run_tasks(spark: Any, case: Case, jobs: list[Job], run: RunState) -> list[_Outcome]:
    tasks = [
        _Task(
            index=i,
            path=str(path),
            options=replace(opts, progress=None),  # a terminal callback does not travel to executors
            case_root=str(case.root.resolve()),
            staging=str(run.staging.resolve()),
            cwd=os.getcwd(),
            version=forensics.__version__,
        )
        for i, (path, opts) in enumerate(jobs)
    ]
    # largest files first: the last task to start should be a short one (the list is re-ordered below)
    tasks.sort(key=lambda t: -_size(Path(t.path)))
    sc = spark.sparkContext
    state = sc.broadcast(
        {"known": sorted(run.known), "contents": dict(run.contents), "generations": dict(run.generations)}
    )
    try:
        rdd = sc.parallelize(tasks, max(1, len(tasks)))
        outcomes: list[_Outcome] = rdd.map(lambda t: run_task(t, state.value)).collect()
    except Exception as exc:  # Py4JJavaError and friends: the job itself failed (executor lost, ...)
        raise ForensicsError(f"Spark ingest failed, nothing was sealed: {_last_line(exc)}") from None
    finally:
        with contextlib.suppress(Exception):
            state.unpersist()
    return sorted(outcomes, key=lambda o: o.index)


def _in_plan_order(
    jobs: list[Job], outcomes: list[_Outcome], run: RunState
) -> Iterator[tuple[FileReport, Stored | None]]:
    """Hand the outcomes to the sealer in plan order; stop at the first failure (what came before is sealed)."""
    for outcome, (path, opts) in zip(outcomes, jobs, strict=True):
        if outcome.version != forensics.__version__:
            raise ForensicsError(
                f"{path}: a Spark executor runs forensics {outcome.version or '?'}, "
                f"the driver {forensics.__version__}; "
                "install the same version on every executor"
            )
        if outcome.error is not None:
            raise (UsageError if outcome.usage_error else ForensicsError)(outcome.error)
        assert outcome.report is not None
        if outcome.stored is None:
            yield outcome.report, None
            continue
        duplicate, earlier = _earlier_in_run(outcome.stored.entry, run)
        if not duplicate:
            yield outcome.report, outcome.stored
            continue
        outcome.stored.stager.discard()
        yield _as_duplicate(outcome.report, outcome.stored.entry, opts, earlier), None


def _earlier_in_run(entry: dict[str, Any], run: RunState) -> tuple[bool, dict[str, str] | None]:
    """The local engine's duplicate rule, applied after the fact: the same raw bytes or the same decompressed
    content as a file sealed or staged before this one. Returns (duplicate?, the earlier input if known)."""
    raw, content = str(entry["sha256"]), str(entry.get("decompressed_sha256") or entry["sha256"])
    earlier = run.contents.get(raw)
    if earlier is None and raw not in run.known:
        earlier = run.contents.get(content)
    return raw in run.known or earlier is not None, earlier


def _as_duplicate(
    report: FileReport, entry: dict[str, Any], opts: IngestOptions, earlier: dict[str, str] | None
) -> FileReport:
    """The report the local engine gives a skipped duplicate (it is never parsed there: no detection)."""
    fmt = opts.format if opts.format != "auto" else (entry["format"] if entry.get("mapping_sha256") else "auto")
    return FileReport(
        report.path,
        report.source,
        fmt,
        report.sha256,
        report.sm3,
        report.bytes,
        0,
        0,
        0,
        0,
        skipped_duplicate=True,
        duplicate_of=earlier,
    )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # the task reports it, with the path


def _last_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    useful = [ln for ln in lines if "Error" in ln or "Exception" in ln]
    return (useful or lines or [type(exc).__name__])[0][:500]


# ---------------------------------------------------------------- session


def _session(master: str | None) -> Any:
    """The process's SparkSession (forensics.engines.spark_session.get_spark: UTC, quiet, no UI).

    Without --master: the master spark-submit gave, else local[*]."""
    from forensics.engines.spark_session import get_spark, pyspark_missing

    missing = pyspark_missing()
    if missing:
        raise ForensicsError(missing)
    if master is None and "PYSPARK_GATEWAY_PORT" in os.environ:  # under spark-submit: its session and master
        from pyspark.sql import SparkSession

        return SparkSession.builder.getOrCreate()
    master = master or "local[*]"
    if master.startswith("local"):
        _same_code_on_local_workers()
    return get_spark(master)


def _same_code_on_local_workers() -> None:
    """Local-mode Python workers start from the JVM's environment: run them with this interpreter and this
    forensics first on their path, so the tasks run exactly the code the driver runs (a source checkout,
    not another installed copy). On a cluster, PYSPARK_PYTHON and the installed package are the site's."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # this interpreter, with this venv's packages
    here = str(Path(forensics.__file__).resolve().parent.parent)
    current = os.environ.get("PYTHONPATH", "")
    if here not in current.split(os.pathsep):
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (here, current) if p)
