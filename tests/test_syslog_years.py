"""Inferred RFC 3164 years never land after the file's mtime (or now), issue 15.2. Lines written for these tests."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forensics.case import Case
from forensics.formats.base import FormatOptions
from forensics.formats.syslog import SYSLOG, YEAR_LIMIT_TOLERANCE
from forensics.ingest import IngestOptions, ingest_paths
from forensics.testing.syslog import rfc3164_time


def batch_from_lines(lines: list[str]) -> pl.DataFrame:
    data = [(i + 1, 0, s.encode(), s) for i, s in enumerate(lines)]
    schema = {"line_no": pl.Int64, "byte_offset": pl.Int64, "raw": pl.Binary, "text": pl.String}
    return pl.DataFrame(data, schema=schema, orient="row")


LINE = "Dec 10 06:55:46 host sshd[24200]: Accepted publickey for deploy"


def test_a_date_after_the_mtime_belongs_to_the_year_before(case: Case, tmp_path: Path) -> None:
    path = tmp_path / "auth.log"
    path.write_text(LINE + "\n")
    mtime = datetime(2025, 12, 4, 12, 0, tzinfo=UTC).timestamp()
    os.utime(path, (mtime, mtime))
    ingest_paths(case, [path], IngestOptions(format="syslog", tz="UTC"))
    _, rows = case.query_readonly("SELECT ts, attrs FROM events")
    assert rows[0][0] == datetime(2024, 12, 10, 6, 55, 46, tzinfo=UTC)
    assert json.loads(rows[0][1])["year_inferred"] is True


def test_a_date_before_the_mtime_keeps_the_mtime_year(case: Case, tmp_path: Path) -> None:
    path = tmp_path / "auth.log"
    path.write_text(LINE + "\n")
    mtime = datetime(2025, 12, 11, tzinfo=UTC).timestamp()
    os.utime(path, (mtime, mtime))
    ingest_paths(case, [path], IngestOptions(format="syslog", tz="UTC"))
    _, rows = case.query_readonly("SELECT ts FROM events")
    assert rows[0][0] == datetime(2025, 12, 10, 6, 55, 46, tzinfo=UTC)


def test_new_year_eve_written_just_after_midnight(case: Case, tmp_path: Path) -> None:
    """mtime Jan 1 00:30: a last record of Dec 31 is of the year before the mtime's."""
    limit = datetime(2025, 1, 1, 0, 30, tzinfo=UTC)
    opts = FormatOptions(source="s", path="x", tz=ZoneInfo("UTC"), year_hint=2025, year_limit=limit)
    crossed = SYSLOG.parser(opts).parse_lines(batch_from_lines(["Dec 31 23:59:58 h t: a", "Jan  1 00:10:00 h t: b"]))
    assert [ts.year for ts in crossed.events.sort("line_no")["ts"]] == [2024, 2025]
    before = SYSLOG.parser(opts).parse_lines(batch_from_lines(["Dec 31 23:50:00 h t: a"]))
    assert before.events["ts"][0] == datetime(2024, 12, 31, 23, 50, tzinfo=UTC)


def test_the_limit_is_read_in_the_writers_zone() -> None:
    """mtime 2025-01-01 03:00Z is still Dec 31 in Los Angeles: 'Dec 31 18:00' is that evening, not a year ago."""
    zone = ZoneInfo("America/Los_Angeles")
    opts = FormatOptions(source="s", path="x", tz=zone, year_hint=2025, year_limit=datetime(2025, 1, 1, 3, tzinfo=UTC))
    events = SYSLOG.parser(opts).parse_lines(batch_from_lines(["Dec 31 18:00:00 h t: x"])).events
    assert events["ts"][0] == datetime(2025, 1, 1, 2, tzinfo=UTC)


@st.composite
def _files(draw: st.DrawFn) -> tuple[list[str], datetime]:
    start = datetime(2020, 1, 1) + timedelta(seconds=draw(st.integers(0, 5 * 365 * 86400)))  # noqa: DTZ001
    steps = draw(st.lists(st.integers(0, 90 * 86400), min_size=1, max_size=12))
    times, t = [], start
    for step in steps:
        t += timedelta(seconds=step)
        times.append(t)
    limit = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(seconds=draw(st.integers(0, 7 * 365 * 86400)))
    return [f"{rfc3164_time(x)} host app: m{i}" for i, x in enumerate(times)], limit


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_files())
def test_inferred_years_never_after_the_limit(sample: tuple[list[str], datetime]) -> None:
    lines, limit = sample
    opts = FormatOptions(source="s", path="x", tz=ZoneInfo("UTC"), year_hint=limit.year, year_limit=limit)
    result = SYSLOG.parser(opts).parse_lines(batch_from_lines(lines))
    assert result.events.height + result.quarantine.height == len(lines)
    for ts in result.events["ts"]:
        assert ts <= limit + YEAR_LIMIT_TOLERANCE
    for attrs in result.events["attrs"]:
        assert json.loads(attrs)["year_inferred"] is True
