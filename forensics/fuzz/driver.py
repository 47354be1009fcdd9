"""The hypothesis driver: one example through every property, rounds until --examples or --seconds,
failures shrunk and written to disk, progress on a terminal."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import HypothesisException

from forensics.errors import ForensicsError
from forensics.fuzz.corpus import corpus_pass, corpus_strategy
from forensics.fuzz.model import (
    INGEST_EXAMPLES,
    ROUND_SIZE,
    FailureRecord,
    FuzzOptions,
    FuzzReport,
    IngestCheck,
    PropertyFailure,
    Sample,
    Target,
    safe_label,
    shorten,
)
from forensics.fuzz.properties import (
    check_accounting,
    check_determinism,
    check_ingest,
    check_reasons,
    check_refusal,
    check_round_trip,
    parse_sample,
)

# ---------------------------------------------------------------- one example


@dataclass
class RunState:
    report: FuzzReport
    deadline: float | None
    ingest_left: int = INGEST_EXAMPLES
    failing: bool = False  # once hypothesis has seen a failure it only shrinks: stop counting
    ingest_failing: bool = False  # an ingest failure is being shrunk: keep checking ingest
    tick: Callable[[], None] | None = None


def check_example(target: Target, sample: Sample, state: RunState) -> None:
    """All properties on one sample; raises the PropertyFailure subclass of the first that fails."""
    if state.deadline is not None and time.monotonic() > state.deadline and not state.failing:
        state.report.stopped_by_time = True
        return
    try:
        _check_all(target, sample, state)
    except PropertyFailure:
        if not state.failing:
            state.report.examples += 1  # the first failing example ran too
        state.failing = True
        raise


def _check_all(target: Target, sample: Sample, state: RunState) -> None:
    report = state.report
    count = not state.failing
    outcome = parse_sample(target, sample)
    check_refusal(target, sample, outcome)
    check_accounting(sample, outcome)
    reasons = check_reasons(sample, outcome, report.reason_examples)
    trips = check_round_trip(sample, outcome)
    check_determinism(target, sample, outcome)
    if (state.ingest_left > 0 and count) or state.ingest_failing:
        state.ingest_left -= 1
        try:
            check_ingest(target, sample, outcome)
        except IngestCheck:
            state.ingest_failing = True
            raise
        report.checks["ingest"] += count
    if not count:
        return
    report.examples += 1
    for prop in ("never_crash", "accounting", "determinism", "reasons"):
        report.checks[prop] += 1
    report.checks["round_trip"] += trips
    report.reasons.update(reasons)
    report.lines += outcome.lines
    report.events += outcome.result.events.height
    report.quarantined += outcome.result.quarantine.height + outcome.undecodable.height
    report.blank += outcome.blank
    report.structural += outcome.result.structural.height
    if state.tick is not None:
        state.tick()


# ---------------------------------------------------------------- hypothesis driver


def _unwrap(exc: BaseException) -> list[PropertyFailure]:
    if isinstance(exc, PropertyFailure):
        return [exc]
    if isinstance(exc, BaseExceptionGroup):
        out: list[PropertyFailure] = []
        for inner in exc.exceptions:
            out.extend(_unwrap(inner))
        return out
    return []


def run_round(
    target: Target, strategy: st.SearchStrategy[Sample], n: int, round_seed: int, state: RunState
) -> list[PropertyFailure]:
    """One hypothesis run of n examples; returns the minimal failures found (one per property)."""

    @settings(
        max_examples=n,
        database=None,
        deadline=None,
        derandomize=False,
        phases=(Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        report_multiple_bugs=True,
        print_blob=False,
    )
    @seed(round_seed)
    @given(strategy)
    def prop(sample: Sample) -> None:
        check_example(target, sample, state)

    try:
        prop()
    except (PropertyFailure, BaseExceptionGroup) as exc:
        found = _unwrap(exc)
        if found:
            return found
        raise
    except HypothesisException as exc:
        raise ForensicsError(f"fuzz: hypothesis stopped: {exc}") from exc
    except ForensicsError:
        raise
    except Exception as exc:  # a bug of the fuzzer itself: say so in one line, never a traceback
        raise ForensicsError(
            f"fuzz: internal error while checking an example ({type(exc).__name__}: {shorten(str(exc), 200)}); "
            f"this is a bug in forensics.fuzz, please report it with --seed {round_seed}"
        ) from exc
    return []


def _write_failure(target: Target, failure: PropertyFailure, out_dir: Path) -> FailureRecord:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{safe_label(target.label)}-{failure.prop}.txt"
    sample = failure.sample
    data = sample.raw
    if failure.line_no is not None and sample.document is None and 0 < failure.line_no <= len(sample.lines):
        data = sample.lines[failure.line_no - 1].raw + b"\n"
        head = [ln.raw + b"\n" for ln in sample.lines if ln.kind == "header"]
        if head and sample.lines[failure.line_no - 1].kind != "header":
            data = b"".join(head) + data  # a CSV row or W3C record means nothing without its header
    path.write_bytes(data)
    example = sample.describe(failure.line_no)
    if sample.log_format:
        example += f" (log format {sample.log_format!r})"
    return FailureRecord(failure.prop, failure.message, example, str(path))


@contextmanager
def _progress(enabled: bool, total: int, label: str) -> Iterator[Callable[[], None] | None]:
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn(f"fuzz {label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("examples", total=total)
        yield lambda: bar.advance(task)


def run_target(target: Target, options: FuzzOptions) -> FuzzReport:
    """Fuzz one target: rounds of hypothesis examples until the count or the time is used up."""
    base_seed = options.seed if options.seed is not None else secrets.randbelow(2**31)
    report = FuzzReport(target=target.label, format=target.fmt.name, seed=base_seed, kind=target.fmt.kind)
    started = time.monotonic()
    deadline = started + options.seconds if options.seconds else None
    state = RunState(report, deadline)
    strategy = target.samples
    if target.corpus_samples:
        report.corpus = corpus_pass(target)
        strategy = st.one_of(strategy, corpus_strategy(target.corpus_samples))
    out_dir = options.failures_dir or Path("fuzz-failures")
    with _progress(options.progress, options.examples, target.label) as tick:
        state.tick = tick
        round_no = 0
        while report.examples < options.examples and not report.stopped_by_time:
            n = min(ROUND_SIZE, options.examples - report.examples)
            before = report.examples
            failures = run_round(target, strategy, n, base_seed + round_no, state)
            round_no += 1
            if failures:
                seen = set()
                for failure in failures:
                    if failure.prop not in seen:
                        seen.add(failure.prop)
                        report.failures.append(_write_failure(target, failure, out_dir))
                break
            if report.examples == before:  # nothing ran (time limit inside the round)
                break
    report.seconds = time.monotonic() - started
    return report
