"""forensics.fuzz and the public strategies in forensics.testing.

The CI profile fuzzes every built-in format with a fixed seed (about a minute in all); set
FORENSICS_FUZZ_PROFILE=long for a longer run. Deliberately broken parsers and user formats
check that each property really fails when it should.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Literal

import polars as pl
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from forensics.cli import main
from forensics.formats import REGISTRY, format_names
from forensics.formats.base import FormatOptions, ParseError, ParseResult, quarantine_rows
from forensics.fuzz import (
    FuzzOptions,
    Sample,
    Target,
    compare_event,
    is_specific,
    line_samples,
    run_fuzz,
    run_target,
)
from forensics.testing import (
    GeneratedLine,
    access_log_lines,
    hostile_lines,
    mutated,
    rfc5424_lines,
    tokens,
    utc_timestamps,
)
from forensics.timeparse import normalize

DATA = Path(__file__).parent / "data"
LONG = os.environ.get("FORENSICS_FUZZ_PROFILE") == "long"
CI_EXAMPLES = 1000 if LONG else 120
BOUNDED = settings(max_examples=100, deadline=None, database=None)


# ---------------------------------------------------------------- the CI profile: every built-in format


@pytest.mark.parametrize("name", format_names())
def test_builtin_format_holds_every_property(name: str, tmp_path: Path) -> None:
    report = run_fuzz(FuzzOptions(format=name, examples=CI_EXAMPLES, seed=20261129, failures_dir=tmp_path))
    assert report.ok, "\n".join(report.summary())
    assert report.examples >= CI_EXAMPLES
    assert report.checks["round_trip"] > 0  # well-formed lines were generated and compared
    assert report.checks["ingest"] > 0
    assert report.events > 0 and report.quarantined > 0  # both sides of the parser were exercised


# ---------------------------------------------------------------- the CLI contract


def test_cli_fuzz_builtin_exits_0_with_a_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["fuzz", "--format", "nginx", "--examples", "20", "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert "fuzz nginx (format nginx, seed 1): 20 examples" in result.output
    assert result.output.rstrip().endswith("OK")
    for prop in ("never_crash", "accounting", "round_trip", "determinism", "reasons", "ingest"):
        assert prop in result.output


def test_cli_fuzz_json_output_is_stable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["fuzz", "--format", "csv", "--examples", "10", "--seed", "3", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["ok"] is True and data["seed"] == 3 and data["examples"] == 10
    assert set(data["properties"]) == {"never_crash", "accounting", "round_trip", "determinism", "reasons", "ingest"}
    lines = data["lines"]
    assert lines["total"] == lines["events"] + lines["quarantined"] + lines["blank"] + lines["structural"]


@pytest.mark.parametrize(
    "args",
    [
        ["fuzz"],
        ["fuzz", "--format", "ngnix"],
        ["fuzz", "--format", "jsonl", "--log-format", "combined"],
        ["fuzz", "--format", "nginx", "--examples", "0"],
    ],
)
def test_cli_fuzz_usage_errors_exit_2(args: list[str]) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output


def test_same_seed_same_run(tmp_path: Path) -> None:
    a = run_fuzz(FuzzOptions(format="apache", examples=15, seed=7, failures_dir=tmp_path))
    b = run_fuzz(FuzzOptions(format="apache", examples=15, seed=7, failures_dir=tmp_path))
    assert (a.examples, a.lines, a.events, a.quarantined, a.blank) == (
        b.examples,
        b.lines,
        b.events,
        b.quarantined,
        b.blank,
    )


def test_time_limit_stops_the_run(tmp_path: Path) -> None:
    report = run_fuzz(FuzzOptions(format="tsv", examples=100_000, seconds=1.0, seed=1, failures_dir=tmp_path))
    assert report.ok
    assert report.stopped_by_time
    assert 0 < report.examples < 100_000


# ---------------------------------------------------------------- deliberately broken user formats


def test_broken_mapping_exits_1_and_names_a_minimal_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mapping = tmp_path / "shop.toml"
    mapping.write_text(
        'source = "shop"\nformat = "jsonl"\n[timestamp]\nexpr = "strptime(t, \'%Y\')::VARCHAR || \'Z\'"\n'
        "[columns]\nactor_id = \"user\"\naction = \"CASE op WHEN 'view' THEN 'order.view' ELSE 'other' END\"\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["fuzz", "--mapping", str(mapping), "--examples", "50", "--seed", "1"])
    assert result.exit_code == 1, result.output
    assert "FAILED round_trip" in result.output and "mapping timestamp.expr failed" in result.output
    assert str(Path("fuzz-failures") / "mapping-shop-round_trip.txt") in result.output
    line = (tmp_path / "fuzz-failures" / "mapping-shop-round_trip.txt").read_bytes()
    # the minimal line: one JSON record whose time is a full timestamp, which '%Y' cannot read
    assert line.count(b"\n") <= 1
    record = json.loads(line)
    assert set(record) >= {"t", "user", "op"}
    assert normalize(pl.Series([record["t"]])).error[0] is None  # a perfectly good timestamp


def test_ambiguous_log_format_exits_1(tmp_path: Path) -> None:
    # A header written unquoted between space-separated fields: nginx writes its value verbatim,
    # spaces included, so lines cannot be split back reliably.
    fmt = '$remote_addr $http_x_note $remote_user [$time_local] "$request" $status'
    report = run_fuzz(FuzzOptions(log_format=fmt, examples=200, seed=1, failures_dir=tmp_path))
    assert not report.ok
    failure = next(f for f in report.failures if f.prop == "round_trip")
    assert "was quarantined" in failure.message or "differs" in failure.message
    line = Path(failure.path).read_bytes()
    assert Path(failure.path).name == "nginx-log-format-round_trip.txt"
    assert line.count(b"\n") == 1 and b"[" in line  # one line, shrunk, still well-formed for the server


def test_corpus_lines_are_read_and_mutated(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("test.log", "access.log"):
        shutil.copy(DATA / "elastic-beats" / "nginx-access" / name, corpus / name)
    report = run_fuzz(FuzzOptions(format="nginx", corpus=corpus, examples=40, seed=2, failures_dir=tmp_path))
    c = report.corpus
    expected_lines = sum(len((corpus / n).read_bytes().splitlines()) for n in ("test.log", "access.log"))
    assert c["files"] == 2 and c["lines"] == expected_lines
    assert c["events"] + c["quarantined"] == c["lines"]
    assert c["events"] > 0
    assert report.ok, "\n".join(report.summary())


# ---------------------------------------------------------------- each property catches its bug


class _BrokenParser:
    """'<iso-ts> <word>' lines; `bug` selects one way of being wrong."""

    def __init__(self, bug: str) -> None:
        self.bug = bug

    def parse_lines(self, batch: pl.DataFrame) -> ParseResult:
        if self.bug == "crash" and batch.filter(pl.col("text").str.contains('"')).height:
            raise IndexError("list index out of range")
        parts = batch.with_columns(pl.col("text").str.extract_groups(r"^(\S+) (\w+)$").alias("g"))
        ok = parts.filter(pl.col("g").struct.field("1").is_not_null())
        norm = normalize(ok["g"].struct.field("1"))
        ok = ok.with_columns(ts=norm.ts, err=norm.error)
        # year 0 passes timeparse today (tests/regressions/test_timeparse_offset_range.py); refuse it here
        outside = ~pl.col("ts").dt.year().is_between(1, 9999)
        ok = ok.with_columns(err=pl.when(outside).then(pl.lit("year out of range")).otherwise(pl.col("err")))
        good = ok.filter(pl.col("err").is_null())
        events = good.select("line_no", "byte_offset", "ts", pl.col("g").struct.field("2").alias("actor_id"))
        if self.bug == "wrong_value":
            events = events.with_columns(pl.col("actor_id").str.to_uppercase())
        bad = parts.filter(pl.col("g").struct.field("1").is_null())
        bad_ts = ok.filter(pl.col("err").is_not_null())
        reason = "error" if self.bug == "generic_reason" else "line is not '<timestamp> <word>'"
        quarantine = pl.concat([quarantine_rows(bad, reason), quarantine_rows(bad_ts, pl.col("err"))])
        if self.bug == "drop_line":
            quarantine = quarantine.filter(~pl.col("raw").bin.contains(b"\x00"))
        return ParseResult(events=events, quarantine=quarantine)

    def parse_document(self, text: str) -> ParseResult:
        raise ParseError("line format")


class _BrokenFormat:
    name = "broken"
    kind: Literal["lines", "document"] = "lines"
    description = "test-only"

    def __init__(self, bug: str) -> None:
        self.bug = bug

    def parser(self, options: FormatOptions) -> _BrokenParser:
        return _BrokenParser(self.bug)

    def sniff(self, sample: list[str]) -> float:
        return 0.0


@st.composite
def _word_lines(draw: st.DrawFn) -> GeneratedLine:
    ts = draw(utc_timestamps())
    word = draw(tokens(1, 10, exclude=".-:/@+=~!*(),;&%"))
    text = f"{ts.strftime('%Y-%m-%dT%H:%M:%S.%f')}Z {word}"
    return GeneratedLine(text.encode(), {"ts": ts, "actor_id": word})


def _broken_target(bug: str, monkeypatch: pytest.MonkeyPatch) -> Target:
    fmt = _BrokenFormat(bug)
    monkeypatch.setitem(REGISTRY, "broken", fmt)  # the whole-ingest check looks the format up by name
    return Target(bug, fmt, FormatOptions(source="t", path="broken.log"), line_samples(_word_lines()), "broken")


@pytest.mark.parametrize(
    ("bug", "prop"),
    [
        ("crash", "never_crash"),
        ("drop_line", "accounting"),
        ("wrong_value", "round_trip"),
        ("generic_reason", "reasons"),
    ],
)
def test_each_property_catches_its_bug(bug: str, prop: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = _broken_target(bug, monkeypatch)
    report = run_target(target, FuzzOptions(examples=300, seed=1, failures_dir=tmp_path))
    assert [f.prop for f in report.failures] == [prop], "\n".join(report.summary())
    written = Path(report.failures[0].path)
    assert written.name == f"{bug}-{prop}.txt" and written.read_bytes()


def test_a_correct_toy_parser_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report = run_target(_broken_target("none", monkeypatch), FuzzOptions(examples=80, seed=4, failures_dir=tmp_path))
    assert report.ok, "\n".join(report.summary())
    assert report.checks["round_trip"] > 0


# ---------------------------------------------------------------- helpers


def test_specific_reasons() -> None:
    assert is_specific("unparseable timestamp '2024-13-01' in field time_local")
    assert is_specific("expected 5 cells, found 3")
    for vague in (None, "", "error", "Error", "ValueError", "parse error", "invalid", "failed."):
        assert not is_specific(vague)


def test_compare_event_reports_each_difference() -> None:
    from datetime import UTC, datetime

    ts = datetime(2024, 2, 29, 12, 0, 0, 123456, tzinfo=UTC)
    row = {"ts": ts, "status": 200, "attrs": '{"msg": "hi", "pri": 13}', "actor_id": None}
    assert compare_event({"ts": ts, "status": 200, "attrs": {"pri": 13}, "actor_id": None}, row) == []
    problems = compare_event({"ts": ts.replace(microsecond=0), "status": 404, "attrs": {"msg": "ho"}}, row)
    assert len(problems) == 3
    assert any(p.startswith("ts:") for p in problems) and any("attrs['msg']" in p for p in problems)


# ---------------------------------------------------------------- the public strategies, as users would use them


@BOUNDED
@given(hostile_lines())
def test_hostile_lines_are_single_lines(raw: bytes) -> None:
    assert b"\n" not in raw


@BOUNDED
@given(mutated(access_log_lines().map(lambda g: g.raw)))
def test_mutations_stay_on_one_line(raw: bytes) -> None:
    assert b"\n" not in raw


@BOUNDED
@given(access_log_lines("combined", "nginx"))
def test_nginx_combined_lines_parse_back(line: GeneratedLine) -> None:
    assert _assert_round_trip("nginx", line, FormatOptions(source="t", path="a.log")) == 1


@BOUNDED
@given(rfc5424_lines())
def test_rfc5424_lines_parse_back(line: GeneratedLine) -> None:
    assert _assert_round_trip("syslog", line, FormatOptions(source="t", path="s.log")) == 1


def _assert_round_trip(name: str, line: GeneratedLine, options: FormatOptions) -> int:
    """Lines accounted for; returns how many rendered events parsed back to their values."""
    from forensics.fuzz import check_accounting, check_round_trip, parse_sample

    target = Target(name, _format(name), options, st.nothing(), name)
    sample = Sample(raw=line.raw + b"\n", lines=[line])
    outcome = parse_sample(target, sample)
    check_accounting(sample, outcome)
    return check_round_trip(sample, outcome)


def _format(name: str) -> Any:
    from forensics.formats import get_format

    return get_format(name)


def test_mapping_on_top_of_a_builtin_parser(tmp_path: Path) -> None:
    mapping = tmp_path / "web.toml"
    mapping.write_text(
        'source = "web"\nformat = "nginx"\n[columns]\n'
        "action = \"CASE WHEN uri LIKE '/order/%' THEN 'order.view' ELSE 'http.request' END\"\n"
        'merchant_id = "remote_user"\n',
        encoding="utf-8",
    )
    report = run_fuzz(FuzzOptions(mapping=mapping, examples=30, seed=1, progress=True, failures_dir=tmp_path))
    assert report.ok, "\n".join(report.summary())
    assert report.format == "nginx" and report.checks["round_trip"] > 0


@pytest.mark.parametrize(
    "fmt",
    [
        '%h %{%Y-%m-%d %H:%M:%S}t "%r" %>s',  # zone-less: fuzzed with --tz UTC
        '%h [%{%d/%b/%Y:%H:%M:%S %z}t] "%r" %>s %b',
        '%h %{msec}t "%r" %>s',
        '$remote_addr [$time_local] $request_time "$request" $status $upstream_addr',
    ],
)
def test_user_log_formats_with_custom_times(fmt: str, tmp_path: Path) -> None:
    report = run_fuzz(FuzzOptions(log_format=fmt, examples=30, seed=5, failures_dir=tmp_path))
    assert report.ok, "\n".join(report.summary())
    assert report.checks["round_trip"] > 0


def test_a_registered_format_without_generator_gets_hostile_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(REGISTRY, "broken", _BrokenFormat("none"))
    report = run_fuzz(FuzzOptions(format="broken", examples=40, seed=2, failures_dir=tmp_path))
    assert report.ok, "\n".join(report.summary())
    assert report.checks["round_trip"] == 0 and report.quarantined > 0


def test_w3c_corpus_keeps_its_directives(tmp_path: Path) -> None:
    corpus = tmp_path / "iis"
    corpus.mkdir()
    for name in ("iis10.log", "iis_without_date.log"):
        shutil.copy(DATA / "plaso" / name, corpus / name)
    report = run_fuzz(FuzzOptions(format="w3c", corpus=corpus, examples=40, seed=3, failures_dir=tmp_path))
    assert report.ok, "\n".join(report.summary())
    c = report.corpus
    assert c["files"] == 2 and c["events"] > 0
    # directives are structural: events + quarantined < lines, and nothing was refused
    assert c["events"] + c["quarantined"] < c["lines"] and c["refused"] == 0


# ---------------------------------------------------------------- raw field types implied by the mapping (issue 16, 6c)

TYPED_MAPPING = """source = "shop"
format = "{fmt}"
[timestamp]
expr = "t"
[columns]
action_raw = "op"
order_ids = "list_filter(CAST(items AS VARCHAR[]), lambda o: o <> 'internal')"
masked = "list_contains(CAST(flags AS VARCHAR[]), 'masked')"
record_count = "len(TRY_CAST(batch AS VARCHAR[]))"
bytes = "CAST(size AS BIGINT) * 2"
status = "CASE WHEN TRY_CAST(code AS INTEGER) >= 500 THEN 2 ELSE 1 END"
seq = "CAST(seqno AS BIGINT) + 1"
fields = "CAST(exposed AS VARCHAR[])"
"""


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
def test_fuzz_mapping_generates_lists_and_numbers_where_the_mapping_needs_them(tmp_path: Path, fmt: str) -> None:
    """The reproduction: a JSON list field compared inside a lambda got a string, a false round-trip failure."""
    mapping = tmp_path / "typed.toml"
    mapping.write_text(TYPED_MAPPING.format(fmt=fmt), encoding="utf-8")
    report = run_fuzz(FuzzOptions(mapping=mapping, examples=60, seed=1, failures_dir=tmp_path))
    assert report.ok, "\n".join(report.summary())
    assert report.checks["round_trip"] > 0


def test_plan_records_infers_field_types_from_use(tmp_path: Path) -> None:
    from forensics.mapping import load_mapping
    from forensics.testing.structured import plan_records

    mapping = tmp_path / "typed.toml"
    mapping.write_text(TYPED_MAPPING.format(fmt="jsonl"), encoding="utf-8")
    kinds = {name: fp.kind for name, fp in plan_records(load_mapping(mapping)).fields.items()}
    assert kinds == {
        "t": "time",
        "op": "text",
        "items": "list",
        "flags": "list",
        "batch": "list",
        "size": "int",
        "code": "int",
        "seqno": "int",
        "exposed": "list",
    }
    assert "o" not in kinds  # a lambda's parameter is not a raw field
