"""Repeated (DST end) and skipped (DST start) local times are placed by file order and flagged (issue 15.3).

Every line here is written for these tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forensics.case import Case, init_case
from forensics.ingest import IngestOptions, ingest_paths
from forensics.testing.syslog import rfc3164_time
from forensics.timeparse import ORDER_TOLERANCE

LA = ZoneInfo("America/Los_Angeles")
SYSLOG = IngestOptions(format="syslog", tz="America/Los_Angeles", year=2024, source="s")


def _ingest(case: Case, tmp_path: Path, lines: list[str], options: IngestOptions = SYSLOG, name: str = "a.log") -> None:
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    ingest_paths(case, [path], options)


def _events(case: Case) -> list[tuple[int, datetime, dict[str, object]]]:
    _, rows = case.query_readonly("SELECT line_no, ts, attrs FROM events ORDER BY line_no")
    return [(r[0], r[1], json.loads(r[2])) for r in rows]


def _quarantine(case: Case) -> dict[int, str]:
    _, rows = case.query_readonly("SELECT line_no, reason FROM quarantine ORDER BY line_no")
    return dict(rows)


def test_the_repeated_hour_follows_file_order(case: Case, tmp_path: Path) -> None:
    _ingest(case, tmp_path, ["Nov  3 01:59:14 h t: a", "Nov  3 01:24:56 h t: b", "Nov  3 01:30:00 h t: c"])
    events = _events(case)
    assert [e[1] for e in events] == [
        datetime(2024, 11, 3, 8, 59, 14, tzinfo=UTC),  # PDT: the first time the clock showed it
        datetime(2024, 11, 3, 9, 24, 56, tzinfo=UTC),  # PST: the clock went back; not before the line above
        datetime(2024, 11, 3, 9, 30, 0, tzinfo=UTC),
    ]
    flags = [str(e[2]["local_time"]) for e in events]
    assert flags[0].startswith("repeated hour") and "first reading" in flags[0]
    assert "second reading" in flags[1] and "second reading" in flags[2]


def test_writers_racing_inside_the_repeated_hour_are_not_an_hour_off(case: Case, tmp_path: Path) -> None:
    _ingest(case, tmp_path, ["Nov  3 01:30:07 h t: a", "Nov  3 01:30:05 h t: b"])
    assert [e[1] for e in _events(case)] == [
        datetime(2024, 11, 3, 8, 30, 7, tzinfo=UTC),
        datetime(2024, 11, 3, 8, 30, 5, tzinfo=UTC),
    ]


def test_the_skipped_hour_is_flagged_not_dropped(case: Case, tmp_path: Path) -> None:
    _ingest(case, tmp_path, ["Mar 10 01:59:50 h t: a", "Mar 10 02:00:10 h t: b"])
    events = _events(case)
    assert events[1][1] == datetime(2024, 3, 10, 10, 0, 10, tzinfo=UTC)  # the clock not yet moved on
    assert "skipped hour" in str(events[1][2]["local_time"]) and "local_time" not in events[0][2]


def test_quarantined_only_when_order_cannot_decide(case: Case, tmp_path: Path) -> None:
    _ingest(case, tmp_path, ["Nov  3 03:30:00 h t: a", "Nov  3 01:10:00 h t: b", "Nov  3 03:31:00 h t: c"])
    assert [e[0] for e in _events(case)] == [1, 3]
    reason = _quarantine(case)[2]
    assert "ambiguous local time" in reason and "file order cannot decide" in reason


def test_order_carries_across_batches(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The record before a flagged one may sit in an earlier block of the file."""
    from forensics import ingest, reader

    filler = [f"Nov  3 01:{m:02d}:00 h t: {'x' * 200}" for m in range(40, 60)]
    lines = [*filler, "Nov  3 01:05:00 h t: after the change"]
    monkeypatch.setattr(reader, "BLOCK_SIZE", 2048)  # several blocks
    monkeypatch.setattr(ingest, "BLOCK_SIZE", 2048)
    _ingest(case, tmp_path, lines)
    assert _events(case)[-1][1] == datetime(2024, 11, 3, 9, 5, tzinfo=UTC)


def test_jsonl_local_times_through_a_mapping_follow_the_same_rule(case: Case, tmp_path: Path) -> None:
    mapping = tmp_path / "m.toml"
    mapping.write_text(
        'source = "shop"\nformat = "jsonl"\ntz = "America/Los_Angeles"\n[timestamp]\nexpr = "t"\n'
        '[columns]\nactor_id = "who"\n',
        encoding="utf-8",
    )
    lines = [
        '{"t": "2024-11-03 01:59:14", "who": "a"}',
        '{"t": "2024-11-03 01:24:56", "who": "b"}',
    ]
    _ingest(case, tmp_path, lines, IngestOptions(mapping=mapping), name="ops.jsonl")
    events = _events(case)
    assert events[1][1] == datetime(2024, 11, 3, 9, 24, 56, tzinfo=UTC)
    assert "second reading" in str(events[1][2]["local_time"])


# ------------------------------------------------------------------ property


@st.composite
def _nights(draw: st.DrawFn) -> list[datetime]:
    """Increasing instants across the 2024 fall-back night in Los Angeles, each less than 45 minutes
    after the one before (the log is dense enough to see the clock go back)."""
    start = datetime(2024, 11, 3, 7, 0, tzinfo=UTC) + timedelta(seconds=draw(st.integers(0, 3600)))
    gaps = draw(st.lists(st.integers(0, 45 * 60 - 1), min_size=1, max_size=30))
    out = [start]
    for gap in gaps:
        out.append(out[-1] + timedelta(seconds=gap))
    return out


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(_nights())
def test_repeated_hour_is_flagged_and_order_preserving(tmp_path: Path, instants: list[datetime]) -> None:
    case = init_case(tmp_path / f"case{len(list(tmp_path.iterdir()))}")
    lines = [f"{rfc3164_time(t.astimezone(LA).replace(tzinfo=None))} h t: m" for t in instants]
    _ingest(case, tmp_path, lines, name=f"{len(list(tmp_path.iterdir()))}.log")
    events = _events(case)
    assert not _quarantine(case)
    got = [e[1] for e in events]
    assert got == instants  # each record is where it happened, so the order is the file's
    for (_line, ts, attrs), true in zip(events, instants, strict=True):
        local = true.astimezone(LA)
        repeated = local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset()
        assert ("local_time" in attrs) == repeated, (ts, attrs)
    assert timedelta(minutes=30) > ORDER_TOLERANCE
