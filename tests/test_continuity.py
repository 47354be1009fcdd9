"""Continuity evidence without heartbeats (issue 16 item 6a) and the time-of-day gap model (item 6b).

A second platform met both: it has no heartbeat source and no open API, proves its logs continuous by per-node
sequence numbers and volume; and its logs fall silent every morning around 08:00 local for up to 49 minutes.
The worlds here are written event by event (no heartbeats unless a test adds them).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from forensics.packs import PackResult, materialize_case, run_pack

TZ8 = timedelta(hours=8)
FIRST = datetime(2024, 2, 29, 16, tzinfo=UTC)  # 2024-03-01 00:00 +08:00: one baseline day before the window
LAST = datetime(2024, 3, 3, 16, tzinfo=UTC)  # one baseline day after it
WINDOW_DAY = datetime(2024, 3, 2, tzinfo=UTC) - TZ8  # 2024-03-02 00:00 +08:00 in UTC

CASE_TOML = """
[case]
caption = "fixture"

[order]
ids = ["O-FIX-0001"]
merchant_id = "S-FIX-1"

[window]
start = "2024-03-02T00:00:00"
end = "2024-03-03T00:00:00"
tz = "Asia/Shanghai"

[completeness]
max_clock_skew = "5m"
baseline_days = 1

[roles]
absent = {absent}
"""

ACTIONS = ("order.list", "order.view_unmasked", "order.export", "order.export_download", "auth.login")


def _local(day: int, hour: int, minute: int) -> datetime:
    """A local (+08:00) time on 2024-03-<day> as UTC."""
    return datetime(2024, 3, day, hour, minute, tzinfo=UTC) - TZ8


def _stream(
    source: str, node: str | None, every: timedelta, silent: Iterable[tuple[datetime, datetime]] = (), seq: bool = True
) -> list[dict[str, Any]]:
    """One node's events from FIRST to LAST, none inside the silent spans; per-node seq numbers without holes."""
    quiet = list(silent)
    events: list[dict[str, Any]] = []
    moment, k = FIRST, 0
    while moment < LAST:
        if not any(a <= moment < b for a, b in quiet):
            event: dict[str, Any] = {
                "ts": moment.isoformat(),
                "source": source,
                "action": ACTIONS[k % len(ACTIONS)] if source == "merchant_backend" else "waybill.print",
                "actor_id": "S-FIX-2-ops",
                "actor_type": "account",
                "merchant_id": "S-FIX-2",
                "order_ids": ["O-OTHER-1"],
                "outcome": "success",
                "line_no": len(events) + 1,
            }
            if node is not None:
                event["node"] = node
            if source == "merchant_backend" and k % 7 == 0:
                event.update(order_ids=["O-FIX-0001"], action="order.view", merchant_id="S-FIX-1")
            if seq:
                event["seq"] = len(events) + 1
            events.append(event)
            k += 1
        moment += every
    return events


def _run(tmp: Path, events: list[dict[str, Any]], absent: list[str], params: dict[str, str] | None = None) -> Any:
    toml = CASE_TOML.replace("{absent}", "[" + ", ".join(f'"{a}"' for a in absent) + "]")
    case = materialize_case(tmp / "case", events, toml, "5" * 64)
    return run_pack(case, "order-leak", params or {})


def _seq_platform(**mb: Any) -> list[dict[str, Any]]:
    """A back office of two nodes and a print service, all with sequence numbers; no heartbeats, no open API."""
    return [
        *_stream("merchant_backend", "mb-01", timedelta(minutes=2), **mb),
        *_stream("merchant_backend", "mb-02", timedelta(minutes=3)),
        *_stream("logistics", "lg-01", timedelta(minutes=20)),
    ]


NO_API_NO_BEATS = ["open_api", "security_monitor"]


def test_sequence_numbers_prove_continuity_without_heartbeats(tmp_path: Path) -> None:
    result = _run(tmp_path, _seq_platform(), NO_API_NO_BEATS)
    completeness = result.check("completeness")
    assert completeness.verdict == "clean", completeness.reason
    assert completeness.facts["evidence"]["logistics"] == ["seq"]  # 3 events an hour: too few to judge volume
    assert completeness.facts["evidence"]["merchant_backend"] == ["seq", "volume"]
    assert "logistics by sequence numbers" in completeness.reason
    assert "merchant_backend by sequence numbers and hourly volume against baseline" in completeness.reason
    assert completeness.facts["absent_roles"] == ["open_api", "security_monitor"]
    scope = completeness.scope or ""
    assert "open API (declared absent in case.toml)" in scope
    assert "security monitoring (declared absent in case.toml)" in scope
    view = result.check("unmasked-view")
    assert view.verdict == "clean", view.reason
    assert "continuity shown for merchant_backend by sequence numbers" in (view.scope or "")
    entry = result.completeness.get("merchant_backend")
    assert entry is not None and entry.evidence["heartbeats"]["holds"] is False
    assert entry.to_json()["continuity"] == ["seq", "volume"]


def test_a_hole_in_the_sequence_numbers_is_a_defect(tmp_path: Path) -> None:
    events = _seq_platform()
    for event in events:  # five records lost from a buffer: no silence, but the counter skips five numbers
        if event["node"] == "mb-02" and datetime.fromisoformat(event["ts"]) >= _local(2, 10, 0):
            event["seq"] += 5
    result = _run(tmp_path, events, NO_API_NO_BEATS)
    completeness = result.check("completeness")
    assert completeness.verdict == "flagged"
    assert [r["kind"] for r in completeness.run.records()] == ["seq_gap"]
    view = result.check("unmasked-view")
    assert view.verdict == "inconclusive"
    assert "merchant_backend node mb-02 sequence numbers jump" in view.reason and "5 records missing" in view.reason
    [reason] = view.facts["reasons"]
    assert reason["kind"] == "seq_gap" and reason["missing"] == 5 and reason["node"] == "mb-02"
    entry = result.completeness.get("merchant_backend")
    assert entry is not None and entry.evidence["seq"]["holds"] is False


def test_a_source_without_any_continuity_evidence_is_named(tmp_path: Path) -> None:
    events = [*_stream("merchant_backend", "mb-01", timedelta(minutes=2)), *_stream(
        "logistics", "lg-01", timedelta(minutes=20), seq=False
    )]  # fmt: skip
    result = _run(tmp_path, events, NO_API_NO_BEATS)
    completeness = result.check("completeness")
    assert completeness.verdict == "inconclusive"
    assert "logistics: no continuity evidence" in completeness.reason
    assert "0 of 24 whole hours had a baseline of at least 20 events" in completeness.reason
    assert "would settle it" in completeness.reason and "merchant_backend" not in completeness.reason
    [reason] = completeness.facts["reasons"]
    assert reason["kind"] == "no_continuity" and reason["source"] == "logistics"
    # A check that does not depend on logistics is not held back by it.
    assert result.check("unmasked-view").verdict == "clean"


def test_heartbeats_must_speak_for_every_node(tmp_path: Path) -> None:
    """A heartbeat source counts for the nodes it has heartbeats from, not for the others."""
    beats = [
        {"ts": e["ts"], "source": "security", "node": "mb-01", "action": "system.heartbeat", "actor_type": "system",
         "outcome": "success", "line_no": i}
        for i, e in enumerate(_stream("security", "mb-01", timedelta(minutes=1), seq=False))
    ]  # fmt: skip
    events = [
        *_stream("merchant_backend", "mb-01", timedelta(minutes=2), seq=False),
        *_stream("merchant_backend", "mb-02", timedelta(minutes=30), seq=False),
        *beats,
    ]
    result = _run(tmp_path, events, ["open_api", "logistics_print"])
    entry = result.completeness.get("merchant_backend")
    assert entry is not None
    assert entry.evidence["heartbeats"]["nodes_without_heartbeats"] == ["mb-02"]
    assert entry.continuity == ["volume"]  # mb-01's volume carries the source; mb-02 has no heartbeat of its own
    security = result.completeness.get("security")
    assert security is not None and security.continuity[0] == "heartbeats"


def _beats(node: str, silent: Iterable[tuple[datetime, datetime]] = ()) -> list[dict[str, Any]]:
    return [
        dict(e, action="system.heartbeat", actor_type="system", order_ids=None)
        for e in _stream("security", node, timedelta(minutes=1), silent=silent, seq=False)
    ]


def test_declared_hosts_speak_for_a_source_without_nodes(tmp_path: Path) -> None:
    """A print log names no host; case.toml says which hosts' heartbeats speak for it."""
    prints = _stream("logistics", None, timedelta(minutes=20), seq=False)
    declared = '\n[completeness.sources.logistics]\nheartbeat_nodes = ["lg-01", "lg-02"]\n'
    toml = CASE_TOML.replace("{absent}", '["open_api", "back_office"]') + declared
    both = materialize_case(tmp_path / "both", [*prints, *_beats("lg-01"), *_beats("lg-02")], toml, "6" * 64)
    entry = run_pack(both, "order-leak", {}).completeness.get("logistics")
    assert entry is not None and entry.continuity == ["heartbeats"]
    assert entry.evidence["heartbeats"]["declared_nodes"] == ["lg-01", "lg-02"]
    one = materialize_case(tmp_path / "one", [*prints, *_beats("lg-01")], toml, "6" * 64)
    result = run_pack(one, "order-leak", {})
    entry = result.completeness.get("logistics")
    assert entry is not None and entry.continuity == []
    assert "logistics: no continuity evidence (nodes without heartbeats: (no node), lg-02" in (
        result.check("completeness").reason
    )
    undeclared = materialize_case(tmp_path / "none", [*prints, *_beats("lg-01")], CASE_TOML.replace(
        "{absent}", '["open_api", "back_office"]'), "6" * 64)  # fmt: skip
    entry = run_pack(undeclared, "order-leak", {}).completeness.get("logistics")
    assert entry is not None and entry.evidence["heartbeats"]["nodes_without_heartbeats"] == ["(no node)"]


def test_heartbeat_nodes_must_be_a_list_of_names(tmp_path: Path) -> None:
    from forensics.errors import ForensicsError

    toml = CASE_TOML.replace("{absent}", "[]") + '\n[completeness.sources.logistics]\nheartbeat_nodes = "lg-01"\n'
    case = materialize_case(tmp_path / "case", _seq_platform(), toml, "7" * 64)
    with pytest.raises(ForensicsError, match=r"\[completeness.sources.logistics\] heartbeat_nodes: must be a list"):
        run_pack(case, "order-leak", {})


# ---------------------------------------------------------------- the time-of-day gap model


def _dawn_world(window_silences: list[tuple[datetime, datetime]]) -> list[dict[str, Any]]:
    """Events every 2 minutes; every baseline morning silent from 07:50 to 08:39 local (49 minutes)."""
    dawn = [(_local(day, 7, 50), _local(day, 8, 39)) for day in (1, 3)]
    return _stream("merchant_backend", "mb-01", timedelta(minutes=2), silent=[*dawn, *window_silences])


def _gaps(result: PackResult) -> list[dict[str, Any]]:
    return [r for r in result.check("completeness").run.records() if r["kind"] == "gap"]


def test_a_gap_is_judged_against_the_same_time_of_day(tmp_path: Path) -> None:
    short = (_local(2, 8, 8), _local(2, 8, 30))  # 22 minutes of silence at 08:08: the baseline mornings had 49
    long = (_local(2, 14, 0), _local(2, 15, 17))  # 77 minutes at 14:00, where the baseline never fell silent
    result = _run(tmp_path, _dawn_world([short, long]), ["open_api", "logistics_print", "security_monitor"])
    [gap] = _gaps(result)
    assert long[0] - timedelta(minutes=2) <= datetime.fromisoformat(gap["start"]) < long[0]
    assert long[1] <= datetime.fromisoformat(gap["end"]) < long[1] + timedelta(minutes=2)
    assert "from 13:58 local; at this time of day the baseline days had silences up to 120 s" in gap["detail"]
    reason = result.check("unmasked-view").reason
    assert "(80 min at 13:58 +08:00; baseline days had silences up to 2 min at this time of day)" in reason
    [facts] = [f for f in result.check("unmasked-view").facts["reasons"] if f["kind"] == "gap"]
    assert facts["baseline_longest"] == 120.0 and facts["threshold"] == 600.0 and facts["at"] == "13:58 +08:00"
    entry = result.completeness.get("merchant_backend")
    assert entry is not None
    model = {m["hour_of_day"]: m for m in entry.gap_model}
    assert model[8]["longest_seconds"] == pytest.approx(49 * 60 + 120, abs=120)  # 07:48 -> 08:40 between events
    assert model[14]["longest_seconds"] == 120.0


def test_the_dawn_silence_is_normal_only_at_dawn(tmp_path: Path) -> None:
    """The same 22-minute silence in the afternoon is a gap; at 08:08 it is not."""
    afternoon = (_local(2, 15, 8), _local(2, 15, 30))
    morning = (_local(2, 8, 8), _local(2, 8, 30))
    result = _run(tmp_path, _dawn_world([afternoon, morning]), ["open_api", "logistics_print", "security_monitor"])
    [gap] = _gaps(result)
    local = datetime.fromisoformat(gap["start"]) + TZ8
    assert (local.hour, local.minute) == (15, 6)
