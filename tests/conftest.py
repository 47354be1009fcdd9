"""Shared fixtures: a tiny test-only line format so ingest can be tested on its own."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import polars as pl
import pytest
from hypothesis import settings

from forensics.case import Case, init_case
from forensics.formats import REGISTRY
from forensics.formats.base import FormatOptions, ParseResult, quarantine_rows
from forensics.timeparse import normalize, refuse_zoneless

if TYPE_CHECKING:
    from forensics.exhibit.build import ExhibitResult
    from forensics.exhibit.pdf import FontChoice

# The test suite is deterministic: the same examples on every run, so CI cannot fail by chance.
# FORENSICS_HYPOTHESIS=explore switches to fresh random examples (what `forensics fuzz` does too).
settings.register_profile("deterministic", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", print_blob=True)
settings.load_profile("explore" if os.environ.get("FORENSICS_HYPOTHESIS") == "explore" else "deterministic")


class _TinyParser:
    """'<timestamp> <actor> <action>' per line; anything else is quarantined."""

    def __init__(self, options: FormatOptions) -> None:
        self.options = options

    def parse_lines(self, batch: pl.DataFrame) -> ParseResult:
        parts = batch.with_columns(
            pl.col("text").str.extract_groups(r"^(\S+(?: \d\d:\d\d:\d\d)?) (\w+) ([\w.]+)$").alias("g")
        )
        ok = parts.filter(pl.col("g").struct.field("1").is_not_null())
        bad = parts.filter(pl.col("g").struct.field("1").is_null())
        norm = normalize(ok["g"].struct.field("1"), tz=self.options.tz)
        refuse_zoneless(norm.error, ok["line_no"], self.options.path)
        ok = ok.with_columns(ts=norm.ts, ts_offset=norm.ts_offset, err=norm.error)
        events = ok.filter(pl.col("err").is_null()).select(
            "line_no",
            "byte_offset",
            "ts",
            "ts_offset",
            pl.col("g").struct.field("1").alias("ts_raw"),
            pl.col("g").struct.field("2").alias("actor_id"),
            pl.col("g").struct.field("3").alias("action"),
        )
        q = pl.concat(
            [
                quarantine_rows(bad, "line does not match '<ts> <actor> <action>'"),
                quarantine_rows(ok.filter(pl.col("err").is_not_null()), pl.col("err")),
            ]
        )
        return ParseResult(events=events, quarantine=q)

    def parse_document(self, text: str) -> ParseResult:
        raise NotImplementedError


class _TinyFormat:
    name = "tiny"
    kind: Literal["lines", "document"] = "lines"
    description = "test-only format"

    def parser(self, options: FormatOptions) -> _TinyParser:
        return _TinyParser(options)

    def sniff(self, sample: list[str]) -> float:
        return 0.0


@pytest.fixture
def tiny_format() -> Iterator[str]:
    REGISTRY["tiny"] = _TinyFormat()
    yield "tiny"
    del REGISTRY["tiny"]


@pytest.fixture
def case(tmp_path: Path) -> Case:
    return init_case(tmp_path / "case")


@pytest.fixture(autouse=True, scope="session")
def _pseudonym_keys_in_tmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Exhibits keep the pseudonym key in the user's config folder: tests keep theirs in a temporary one."""
    before = os.environ.get("FORENSICS_KEY_DIR")
    os.environ["FORENSICS_KEY_DIR"] = str(tmp_path_factory.mktemp("keys"))
    yield
    if before is None:
        os.environ.pop("FORENSICS_KEY_DIR", None)
    else:
        os.environ["FORENSICS_KEY_DIR"] = before


# ---------------------------------------------------------------- exhibits built once per test session
# Rendering an exhibit takes seconds and building a sample case tens of seconds: tests that only read one share
# it; a test that changes anything works on a copy (shutil.copytree into its own tmp_path).


@pytest.fixture(scope="session")
def exhibit_fonts() -> FontChoice:
    from forensics.exhibit.pdf import find_cjk_fonts

    return find_cjk_fonts(None)


@pytest.fixture(scope="session")
def fixture_exhibit(
    tmp_path_factory: pytest.TempPathFactory, exhibit_fonts: FontChoice
) -> Callable[[str], ExhibitResult]:
    """The fixture exhibit of test_exhibit.py (_inputs(lang), masked) rendered once per language: read only."""
    from forensics.exhibit.build import render_exhibit

    rendered: dict[str, ExhibitResult] = {}

    def render(lang: str = "zh-en") -> ExhibitResult:
        if lang not in rendered:
            from test_exhibit import _inputs, _masker

            out = tmp_path_factory.mktemp(f"fixture-exhibit-{lang}") / "E-3"
            rendered[lang] = render_exhibit(_inputs(lang), _masker(), out, exhibit_fonts)
        return rendered[lang]

    return render


@pytest.fixture(scope="session")
def guilty_exhibit(tmp_path_factory: pytest.TempPathFactory) -> tuple[Case, ExhibitResult]:
    """A guilty sample case (4,000 events, seed 7) and its exhibit built with --unmask: read only; copy to change."""
    import shutil

    from forensics.exhibit import build_exhibit
    from forensics.ingest import IngestOptions, ingest_plan
    from forensics.sample import generate

    root = tmp_path_factory.mktemp("guilty")
    logs = root / "logs"
    generate(logs, "guilty", 4000, 7)
    case = init_case(root / "case")
    shutil.copyfile(logs / "case.toml", case.toml_path)
    ingest_plan(case, logs / "plan.toml", IngestOptions())
    return case, build_exhibit(case, None, unmask=True)



# ---------------------------------------------------------------- Spark: one JVM for the whole test run
# Starting a JVM costs tens of seconds on a loaded 2-core machine, and two JVMs on two workers fight over the
# cores: every Spark test file (tests/test_spark_*.py) goes to the same xdist worker (see the scheduler
# below) and shares one session, stopped only at the end of the run.
SPARK_TEST_FILES = "test_spark_"
SPARK_MASTER = "local[2]"


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from forensics.engines.spark_ingest import _same_code_on_local_workers
    from forensics.engines.spark_session import get_spark, pyspark_missing, stop_spark

    missing = pyspark_missing()
    if missing:
        pytest.skip(f"Spark tests need: {missing}")
    _same_code_on_local_workers()  # ingest tasks run this checkout's forensics in the Python workers
    yield get_spark(SPARK_MASTER, warehouse=tmp_path_factory.mktemp("spark-warehouse"))
    stop_spark()


@pytest.fixture(scope="session")
def spark_sample(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], tuple[Path, Case, object]]:
    """variant -> (world, case, report): a 1,000-event sample world (seed 7) ingested with the local engine, built
    once per run and shared by the Spark differential tests (checks on both engines; the reference the Spark
    ingest is compared with). Read only, apart from the `check` custody entries checks append."""
    from forensics.ingest import IngestOptions, ingest_plan
    from forensics.sample import generate

    built: dict[str, tuple[Path, Case, object]] = {}

    def build(variant: str) -> tuple[Path, Case, object]:
        if variant not in built:
            root = tmp_path_factory.mktemp(f"spark-sample-{variant}", numbered=False)
            world = generate(root / "world", variant, 1_000, 7).out_dir
            case = init_case(root / "case")
            (case.root / "case.toml").write_text((world / "case.toml").read_text(encoding="utf-8"), encoding="utf-8")
            built[variant] = (world, case, ingest_plan(case, world / "plan.toml", IngestOptions()))
        return built[variant]

    return build


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """`--dist loadfile` (scripts/test.sh), except that all Spark test files form one unit: one worker, one JVM."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SparkFilesTogether(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "spark test files" if Path(path).name.startswith(SPARK_TEST_FILES) else path

    return SparkFilesTogether(config, log)  # type: ignore[arg-type]
