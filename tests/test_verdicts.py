"""Verdict rules, completeness figures and clock skew: absence must be earned."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forensics.packs import CheckRun, Pack, load_pack, materialize_case, read_fixture_events, run_fixture, run_pack
from forensics.verdicts import (
    Completeness,
    SkewPair,
    SourceCompleteness,
    Window,
    clean_scope,
    decide,
    measure_skew,
    pad_window,
)

START = datetime(2024, 3, 1, 16, tzinfo=UTC)
END = datetime(2024, 3, 2, 16, tzinfo=UTC)
WINDOW = Window(START, END, START, END, "Asia/Shanghai", 0.0)
VALUES: dict[str, Any] = {
    "order_id": "O1",
    "merchant_id": "S1",
    "heartbeat_source": "security",
    "heartbeat_sources": ["security"],
    "heartbeat_action": "system.heartbeat",
}


@pytest.fixture(scope="module")
def pack() -> Pack:
    return load_pack("order-leak")


def _complete(
    *sources: str, broken: dict[str, str] | None = None, evidence: dict[str, list[str]] | None = None
) -> Completeness:
    """Sources as the figures would report them; each shown continuous by heartbeats unless `evidence` says."""
    broken = broken or {}
    entries = [
        SourceCompleteness(
            s,
            START,
            END,
            100,
            600.0,
            reasons=[broken[s]] if s in broken else [],
            nodes=[f"{s}-n1"],
            evidence={k: {"holds": True} for k in (evidence or {}).get(s, ["heartbeats"])},
        )
        for s in sources
    ]
    return Completeness(entries, [])


def _run(pack: Pack, check_id: str, rows: int) -> CheckRun:
    check = pack.check(check_id)
    columns = ["ts", "source", "src_sha256", "line_no"]
    return CheckRun(
        check, columns, [["2024-03-02T00:00:00+00:00", "merchant_backend", "ab" * 32, 10 + i] for i in range(rows)]
    )


ALL = ("merchant_backend", "open_api", "logistics", "security")
CONTROLS = {("merchant_backend", "order.view_unmasked"): 5, ("open_api", "order.view_unmasked"): 2}


# ---------------------------------------------------------------- the rules, one by one


def test_rows_make_a_none_check_flagged_with_citations(pack: Pack) -> None:
    paths = {"ab" * 32: "merchant_backend/mb-01.jsonl.gz"}
    decision = decide(_run(pack, "unmasked-view", 2), _complete(*ALL), CONTROLS, WINDOW, VALUES, input_paths=paths)
    assert decision.verdict == "flagged"
    assert "merchant_backend/mb-01.jsonl.gz:10" in decision.reason and ":11" in decision.reason
    assert decision.scope is None


def test_clean_needs_completeness_and_a_positive_control(pack: Pack) -> None:
    decision = decide(_run(pack, "unmasked-view", 0), _complete(*ALL), CONTROLS, WINDOW, VALUES)
    assert decision.verdict == "clean"
    assert decision.scope is not None


def test_an_incomplete_source_makes_it_inconclusive_naming_the_gap(pack: Pack) -> None:
    gap = "merchant_backend node mb-02 wrote nothing from 2024-03-02T05:00:00Z to 2024-03-02T08:00:00Z"
    completeness = _complete(*ALL, broken={"merchant_backend": gap})
    decision = decide(_run(pack, "unmasked-view", 0), completeness, CONTROLS, WINDOW, VALUES)
    assert decision.verdict == "inconclusive"
    assert gap in decision.reason


def test_an_incomplete_source_the_check_does_not_use_does_not_matter(pack: Pack) -> None:
    completeness = _complete(*ALL, broken={"logistics": "logistics: broken"})
    assert decide(_run(pack, "unmasked-view", 0), completeness, CONTROLS, WINDOW, VALUES).verdict == "clean"


def test_a_missing_source_makes_it_inconclusive(pack: Pack) -> None:
    decision = decide(_run(pack, "unmasked-view", 0), _complete("merchant_backend"), CONTROLS, WINDOW, VALUES)
    assert decision.verdict == "inconclusive"
    assert "open_api: no event of this source in the case" in decision.reason


def test_no_positive_control_makes_it_inconclusive(pack: Pack) -> None:
    controls = {("merchant_backend", "order.view_unmasked"): 5}
    decision = decide(_run(pack, "unmasked-view", 0), _complete(*ALL), controls, WINDOW, VALUES)
    assert decision.verdict == "inconclusive"
    assert "no order.view_unmasked event at all is recorded in open_api" in decision.reason


def test_some_and_info_checks(pack: Pack) -> None:
    complete = _complete(*ALL)
    assert decide(_run(pack, "waybill-print", 1), complete, {}, WINDOW, VALUES).verdict == "found"
    missing = decide(
        _run(pack, "waybill-print", 0), _complete(*ALL, broken={"logistics": "lg gap"}), {}, WINDOW, VALUES
    )
    assert missing.verdict == "missing" and "lg gap" in missing.reason
    assert decide(_run(pack, "order-trail", 3), complete, {}, WINDOW, VALUES).verdict == "info"


def test_completeness_check_needs_continuity_evidence_for_every_source(pack: Pack) -> None:
    """Heartbeats, sequence numbers or volume: any one kind per source; a source with none is named."""
    run = _run(pack, "completeness", 0)
    mixed = {"merchant_backend": ["seq"], "open_api": ["heartbeats"], "logistics": ["volume", "seq"]}
    mixed["security"] = ["heartbeats"]
    clean = decide(run, _complete(*ALL, evidence=mixed), {}, WINDOW, VALUES, is_completeness=True)
    assert clean.verdict == "clean"
    assert clean.facts["evidence"] == {"merchant_backend": ["seq"], "open_api": ["heartbeats"],
                                       "logistics": ["seq", "volume"], "security": ["heartbeats"]}  # fmt: skip
    assert "merchant_backend by sequence numbers; open_api by heartbeats" in clean.reason
    assert "logistics by sequence numbers and hourly volume against baseline" in (clean.scope or "")
    none = decide(run, _complete(*ALL, evidence={**mixed, "logistics": []}), {}, WINDOW, VALUES, is_completeness=True)
    assert none.verdict == "inconclusive"
    assert "logistics: no continuity evidence" in none.reason and "would settle it" in none.reason
    assert [f["kind"] for f in none.facts["reasons"]] == ["no_continuity"]
    # Other checks need it too for the sources they depend on, and only for those.
    gap = {**mixed, "open_api": []}
    view = decide(_run(pack, "unmasked-view", 0), _complete(*ALL, evidence=gap), CONTROLS, WINDOW, VALUES)
    assert view.verdict == "inconclusive" and "open_api: no continuity evidence" in view.reason
    prints = decide(_run(pack, "export-scope", 0), _complete(*ALL, evidence=gap), CONTROLS, WINDOW, VALUES)
    assert "open_api" not in prints.reason


def test_clean_wording_is_scoped(pack: Pack) -> None:
    scope = clean_scope(pack.check("unmasked-view"), _complete(*ALL), CONTROLS, WINDOW, VALUES)
    assert "order.view_unmasked" in scope  # event types
    assert "order O1" in scope
    assert "any principal" in scope  # principals
    assert "merchant_backend (nodes merchant_backend-n1), open_api (nodes open_api-n1)" in scope  # systems
    assert "between 2024-03-02 00:00 +08:00 and 2024-03-03 00:00 +08:00 Asia/Shanghai" in scope  # window, local
    assert "Checks passed: completeness of merchant_backend, open_api" in scope
    assert "5 order.view_unmasked in merchant_backend; 2 order.view_unmasked in open_api" in scope
    shop = clean_scope(pack.check("account-anomaly"), _complete(*ALL), {}, WINDOW, VALUES)
    assert "the accounts and sub-accounts of the fulfilling shop S1" in shop


verdicts_none = st.sampled_from(["unmasked-view", "export-scope", "account-anomaly", "mass-access"])


@settings(max_examples=150, deadline=None)
@given(
    check_id=verdicts_none,
    rows=st.integers(0, 3),
    broken=st.sets(st.sampled_from(ALL)),
    control_counts=st.dictionaries(
        st.tuples(
            st.sampled_from(ALL),
            st.sampled_from(["order.view_unmasked", "order.export", "order.export_download", "auth.login"]),
        ),
        st.integers(0, 3),
    ),
)
def test_verdict_invariants(
    check_id: str, rows: int, broken: set[str], control_counts: dict[tuple[str, str], int]
) -> None:
    pack = load_pack("order-leak")
    check = pack.check(check_id)
    completeness = _complete(*ALL, broken={s: f"{s} broken" for s in broken})
    decision = decide(_run(pack, check_id, rows), completeness, control_counts, WINDOW, VALUES)
    if rows:
        assert decision.verdict == "flagged"
        return
    assert decision.verdict in {"clean", "inconclusive"}
    if decision.verdict == "clean":
        assert not broken & set(check.sources)
        for source in check.sources:
            assert any(control_counts.get((source, a), 0) for a in check.actions)
        assert decision.scope is not None
    else:
        assert decision.reason.startswith("No rows, but absence is not proven")
        assert decision.scope is None


# ---------------------------------------------------------------- window padding and clock skew


def test_window_is_padded_by_the_skew_but_never_beyond_the_cap() -> None:
    skew = [SkewPair("merchant_backend", "open_api", 2.0, 30), SkewPair("a", "b", -1.5, 3)]
    window = pad_window(START, END, "Asia/Shanghai", skew, 300.0)
    assert window.skew_seconds == 2.0
    assert window.padded_start == START - timedelta(seconds=2) and window.padded_end == END + timedelta(seconds=2)
    capped = pad_window(START, END, "UTC", [SkewPair("a", "b", 900.0, 5)], 300.0)
    assert capped.skew_seconds == 300.0
    assert pad_window(START, END, "UTC", [], 300.0).padded_start == START


def _skew_case(tmp_path: Path, pack: Pack, offset_s: float) -> Any:
    folder = pack.fixtures_dir / "clean"
    events = read_fixture_events(folder / "events.jsonl")
    for i in range(20):
        at = START + timedelta(hours=1, minutes=i)
        rid = f"req-{i:03d}"
        events.append(
            {
                "ts": at.isoformat(),
                "source": "merchant_backend",
                "node": "mb-01",
                "action": "api.call",
                "request_id": rid,
                "line_no": 900 + i,
            }
        )
        shifted = at + timedelta(seconds=offset_s)
        events.append(
            {
                "ts": shifted.isoformat(),
                "source": "open_api",
                "node": "api-01",
                "action": "api.call",
                "request_id": rid,
                "line_no": 950 + i,
            }
        )
    return materialize_case(tmp_path / "case", events, (folder / "case.toml").read_text(encoding="utf-8"), "1" * 64)


def test_skew_is_measured_on_shared_request_ids_and_pads_the_window(tmp_path: Path, pack: Pack) -> None:
    case = _skew_case(tmp_path, pack, 2.0)
    con = case.connect()
    try:
        [pair] = measure_skew(con, START, END, 300.0)
    finally:
        con.close()
    assert (pair.a, pair.b, pair.seconds, pair.pairs) == ("merchant_backend", "open_api", 2.0, 20)
    result = run_pack(case, pack, {})
    full = result.to_json(full=True)
    assert full["window"]["skew_seconds"] == 2.0
    assert full["window"]["padded_start"] == "2024-03-01T15:59:58+00:00"
    assert full["completeness"]["skew"] == [{"a": "merchant_backend", "b": "open_api", "seconds": 2.0, "pairs": 20}]


def test_skew_beyond_the_cap_makes_both_sources_incomplete(tmp_path: Path, pack: Pack) -> None:
    case = _skew_case(tmp_path, pack, 600.0)
    result = run_pack(case, pack, {"max_clock_skew": "5m"})
    for source in ("merchant_backend", "open_api"):
        entry = result.completeness.get(source)
        assert entry is not None and not entry.ok
        assert any("clock skew between merchant_backend and open_api is 600.0 s" in r for r in entry.reasons)
    assert result.check("unmasked-view").verdict == "inconclusive"


# ---------------------------------------------------------------- completeness figures


def test_gap_fixture_names_the_node_and_times(pack: Pack) -> None:
    result, _ = run_fixture(pack, pack.fixtures_dir / "gap")
    mb = result.completeness.get("merchant_backend")
    assert mb is not None and not mb.ok
    [gap] = mb.gaps
    assert gap["node"] == "mb-02"
    assert gap["start"].startswith("2024-03-02T01:58") and gap["end"].startswith("2024-03-02T05:00")
    [seq] = mb.seq_gaps
    assert (seq["node"], seq["after_seq"], seq["next_seq"]) == ("mb-02", 780, 100_000)
    [beat] = mb.missing_heartbeats
    assert beat["node"] == "mb-02" and beat["minutes"] == 180.0
    reason = result.check("unmasked-view").reason
    assert "mb-02" in reason and "2024-03-02T01:58:01Z" in reason
    assert result.check("completeness").verdict == "flagged"
    security = result.completeness.get("security")
    assert security is not None and security.ok  # the heartbeat log itself is complete


def test_figures_agree_with_the_completeness_check(pack: Pack) -> None:
    """The figures reuse the completeness check's own CTEs: the threshold a gap row states is the model's."""
    from forensics.completeness import figures_sql

    assert figures_sql(pack.check("completeness").sql).startswith(
        pack.check("completeness").sql.split("-- defects:")[0].rstrip()
    )
    result, _ = run_fixture(pack, pack.fixtures_dir / "gap")
    rows = result.check("completeness").run.records()
    [gap_row] = [r for r in rows if r["kind"] == "gap"]
    threshold = float(re.search(r"threshold (\d+) s", gap_row["detail"]).group(1))  # type: ignore[union-attr]
    [facts] = [f for f in result.check("completeness").facts["reasons"] if f["kind"] == "gap"]
    assert round(facts["threshold"]) == threshold
    mb = result.completeness.get("merchant_backend")
    assert mb is not None and mb.normal_gap_seconds is not None
    low = {(r["source"], r["start"]) for r in rows if r["kind"] == "low_volume"}
    for entry in result.completeness.sources:
        for hour in entry.hourly:
            assert hour["ok"] == ((entry.source, hour["hour"]) not in low)


def test_a_quiet_hour_is_low_volume(tmp_path: Path, pack: Pack) -> None:
    folder = pack.fixtures_dir / "clean"
    quiet = START + timedelta(hours=6)
    events = [
        e
        for e in read_fixture_events(folder / "events.jsonl")
        if not (
            e.get("source") == "open_api" and quiet <= datetime.fromisoformat(str(e["ts"])) < quiet + timedelta(hours=1)
        )
    ]
    case = materialize_case(tmp_path / "case", events, (folder / "case.toml").read_text(encoding="utf-8"), "2" * 64)
    # One baseline day on each side: the same hour of day has two samples (21 events and this hour's 0).
    result = run_pack(case, pack, {"min_gap": "2h", "volume_min_baseline": "5"})
    api = result.completeness.get("open_api")
    assert api is not None and not api.ok
    bad = [h for h in api.hourly if not h["ok"]]
    assert [h["hour"] for h in bad] == [quiet.isoformat()]
    assert bad[0]["events"] == 0 and bad[0]["baseline"] == 10.5
    assert result.check("unmasked-view").verdict == "inconclusive"


def test_a_listed_node_that_wrote_nothing_is_a_defect(tmp_path: Path, pack: Pack) -> None:
    folder = pack.fixtures_dir / "clean"
    config = (folder / "case.toml").read_text(encoding="utf-8")
    config += '\n[completeness.sources.merchant_backend]\nnodes = ["mb-01", "mb-02", "mb-09"]\n'
    events = read_fixture_events(folder / "events.jsonl")
    case = materialize_case(tmp_path / "case", events, config, "3" * 64)
    result = run_pack(case, pack, {})
    rows = result.check("completeness").run.records()
    assert [(r["source"], r["node"], r["kind"]) for r in rows] == [("merchant_backend", "mb-09", "silent_node")]
    assert (
        "merchant_backend node mb-09 is listed in case.toml but wrote no event at all"
        in result.check("unmasked-view").reason
    )


# ---------------------------------------------------------------- the case world: verdicts equal ground truth

SAMPLE_EVENTS = 2_000  # the smallest world that still has every scripted event; ingest cost is mostly heartbeats


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Any, dict[str, Any], Path]]:
    """Each variant generated, ingested and checked once: (PackResult, ground truth, sample folder)."""
    import json
    import shutil

    from forensics.case import init_case
    from forensics.ingest import IngestOptions, ingest_plan
    from forensics.sample import generate

    out: dict[str, tuple[Any, dict[str, Any], Path]] = {}
    root = tmp_path_factory.mktemp("world")
    for variant in ("clean", "guilty", "gap"):
        sample = generate(root / f"sample-{variant}", variant, SAMPLE_EVENTS, 7)
        case = init_case(root / f"case-{variant}")
        shutil.copy(sample.case_toml_path, case.toml_path)
        ingest_plan(case, sample.plan_path, IngestOptions())
        truth = json.loads(sample.ground_truth_path.read_text(encoding="utf-8"))
        out[variant] = (run_pack(case, None, {}), truth, sample.out_dir)
    return out


@pytest.mark.parametrize("variant", ["clean", "guilty", "gap"])
def test_verdicts_equal_ground_truth(world: dict[str, tuple[Any, dict[str, Any], Path]], variant: str) -> None:
    result, truth, _ = world[variant]
    assert result.verdicts == truth["checks"]


@pytest.mark.parametrize("variant", ["clean", "guilty", "gap"])
def test_order_trail_counts_equal_ground_truth(
    world: dict[str, tuple[Any, dict[str, Any], Path]], variant: str
) -> None:
    result, truth, _ = world[variant]
    counts: dict[str, int] = {}
    for record in result.check("order-trail").run.records():
        counts[record["action"]] = counts.get(record["action"], 0) + 1
    assert counts == truth["trail"]


def test_guilty_findings_are_the_exact_lines(world: dict[str, tuple[Any, dict[str, Any], Path]]) -> None:
    import hashlib

    result, truth, sample_dir = world["guilty"]
    expected = {
        (hashlib.sha256((sample_dir / f["file"]).read_bytes()).hexdigest(), int(f["line"]), f["action"])
        for f in truth["flagged_lines"]
    }
    got = {
        (r["src_sha256"], int(r["line_no"]), r["action"])
        for check_id in ("unmasked-view", "export-scope")
        for r in result.check(check_id).run.records()
    }
    assert got == expected
    for f in truth["flagged_lines"]:
        owner = "unmasked-view" if f["action"] == "order.view_unmasked" else "export-scope"
        assert f"{f['file']}:{f['line']}" in result.check(owner).reason


def test_gap_is_named_in_the_inconclusive_reason(world: dict[str, tuple[Any, dict[str, Any], Path]]) -> None:
    result, truth, _ = world["gap"]
    gap = truth["completeness"]
    start = datetime.fromisoformat(gap["start"]).astimezone(UTC)
    for check_id in ("unmasked-view", "export-scope"):
        reason = result.check(check_id).reason
        assert result.check(check_id).verdict == "inconclusive"
        assert f"node {gap['node']}" in reason
    entry = result.completeness.get(gap["source"])
    assert entry is not None and not entry.ok
    [beats] = entry.missing_heartbeats
    assert beats["node"] == gap["node"]
    assert abs(datetime.fromisoformat(beats["start"]) - start) < timedelta(minutes=2)
    [seq] = entry.seq_gaps
    assert (seq["after_seq"], seq["next_seq"]) == (gap[gap["source"]]["seq_before"], gap[gap["source"]]["seq_after"])


def test_measured_skew_matches_the_world(world: dict[str, tuple[Any, dict[str, Any], Path]]) -> None:
    result, truth, _ = world["clean"]
    [pair] = result.completeness.skew
    assert (pair.a, pair.b) == ("merchant_backend", "open_api")
    assert abs(pair.seconds - truth["clock_skew"]["open_api"]["seconds"]) <= 1.0
    assert result.window.skew_seconds == abs(pair.seconds)
