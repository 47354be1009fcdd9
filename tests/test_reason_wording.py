"""Completeness and not-proven reasons said one by one, in Chinese and English, from their facts (issue 13).

The gap sample is generated, ingested and checked; its exhibit model (the zh text) must say every reason of every
INCONCLUSIVE / FLAGGED completeness verdict in Chinese (not count them, not paste the English reason).
"""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from typing import Any

import pytest

from forensics.exhibit import reason_kinds
from forensics.exhibit.model import RecordInputs, build_record, build_view
from forensics.exhibit.wording import reason_text
from forensics.masking import Masker

# Four English words in a row are a sentence (identifiers are joined by '_', '.' or '-', never by spaces).
ENGLISH = re.compile(r"\b[A-Za-z]{2,}(?:[ ,;:]+[A-Za-z]{2,}){3,}\b")
TZ = "Asia/Shanghai"


@pytest.fixture(scope="module")
def gap_view(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    from forensics.case import Case, init_case
    from forensics.ingest import IngestOptions, ingest_plan
    from forensics.packs import run_pack
    from forensics.sample import generate

    root = tmp_path_factory.mktemp("gap-wording")
    sample = generate(root / "sample", "gap", 2_000, 7)
    case = init_case(root / "case")
    shutil.copy(sample.case_toml_path, case.toml_path)
    ingest_plan(case, sample.plan_path, IngestOptions())
    case = Case(root / "case")
    pack = run_pack(case, None, {}).to_json(full=True)
    src = RecordInputs(
        pack=pack,
        config=case.config,
        manifest=case.manifest(),
        custody=[],
        case_ref={"absolute": str(root / "case"), "relative": "case"},
        generated_at=datetime(2024, 4, 2, tzinfo=UTC),
        versions={"forensics": "test"},
        number="E-3",
        lang="zh",
    )
    record = build_record(src, Masker(bytes(range(32)), [], enabled=True))
    return pack, build_view(record, "0" * 64)


def test_the_zh_exhibit_says_every_completeness_reason_in_chinese(
    gap_view: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    pack, view = gap_view
    statements = {p["id"]: p["statement"] for p in view["purposes"]}
    judged = [c for c in pack["checks"] if c["verdict"] in {"inconclusive", "flagged"} and c["facts"].get("reasons")]
    assert {c["id"] for c in judged} >= {"completeness", "unmasked-view", "export-scope"}
    kinds: set[str] = set()
    for check in judged:
        zh = statements[check["id"]]["zh"]
        for facts in check["facts"]["reasons"]:
            kinds.add(facts["kind"])
            said_zh, said_en = reason_kinds.one(facts, check["facts"]["tz"])
            assert said_zh in zh, (check["id"], said_zh)
            assert said_en in statements[check["id"]]["en"]
        assert ENGLISH.findall(zh) == [], (check["id"], zh)
        assert "项前提未满足" not in zh  # each reason is said, not counted
        assert not re.search(r"\d{4}-\d\d-\d\dT", zh)  # times in the case zone with their offset, never UTC 'Z'
    assert {"missing_heartbeat", "seq_gap"} <= kinds
    # The completeness section says each source's reasons one by one too.
    sources = {s["source"]: s for s in pack["completeness"]["sources"]}
    for shown in view["completeness"]["sources"]:
        facts = sources[shown["source"]]["facts"]
        assert [p["zh"] for p in shown["problems"]] == [reason_kinds.one(f, TZ)[0] for f in facts]
        assert all(ENGLISH.findall(p["zh"]) == [] for p in shown["problems"])
    assert any(s["problems"] for s in view["completeness"]["sources"])
    completeness = statements["completeness"]["zh"]
    assert "节点 mb-02" in completeness and "无心跳" in completeness and "+08:00" in completeness


# ---------------------------------------------------------------- one template per kind


def _span(**more: Any) -> dict[str, Any]:
    return {"source": "merchant_backend", "node": "mb-02", "start": "2024-03-02T01:58:01+00:00",
            "end": "2024-03-02T05:00:01+00:00", **more}  # fmt: skip


EVIDENCE = {
    "heartbeats": {"nodes_without_heartbeats": ["(no node)"]},
    "seq": {"events": 83, "with_seq": 0},
    "volume": {"judged_hours": 0, "whole_hours": 24},
}
EXAMPLES: list[dict[str, Any]] = [
    _span(kind="gap", seconds=1320.0, at="08:08 +08:00", baseline_longest=2940.0, threshold=8820.0),
    _span(kind="gap", seconds=10920.0, at="09:58 +08:00", baseline_longest=None, threshold=600.0),
    _span(kind="seq_gap", after_seq=780, next_seq=100000, missing=99219),
    _span(kind="missing_heartbeat", missed=36),
    _span(kind="low_volume", node=None, events=0, baseline=10.5),
    _span(kind="coverage_start", node=None, seconds=7200.0),
    _span(kind="coverage_end", node=None, seconds=7200.0),
    _span(kind="duplicate", seconds=60.0, extra=3),
    _span(kind="silent_node", node="mb-09"),
    _span(kind="no_events", node=None),
    {"kind": "skew", "a": "merchant_backend", "b": "open_api", "seconds": 600.0, "cap": 300.0},
    {"kind": "no_continuity", "source": "logistics", "evidence": EVIDENCE, "volume_min_baseline": 20},
    {"kind": "no_source", "source": "open_api"},
    {"kind": "no_control", "source": "open_api", "actions": ["order.view_unmasked"]},
    {"kind": "no_control_action", "action": "order.export", "sources": ["merchant_backend", "open_api"]},
    {"kind": "order_absent", "order_id": "O-1"},
    {"kind": "merchant_absent", "merchant_id": "S-1"},
    {"kind": "unbound_role", "role": "back_office", "bound": ["merchant_backend"]},
    {"kind": "absent_role", "role": "open_api"},
]


@pytest.mark.parametrize("facts", EXAMPLES, ids=[f"{e['kind']}-{i}" for i, e in enumerate(EXAMPLES)])
def test_every_reason_kind_has_its_own_chinese_and_english_sentence(facts: dict[str, Any]) -> None:
    zh, en = reason_kinds.one(facts, TZ)
    assert facts["kind"] in reason_kinds.KINDS
    assert ENGLISH.findall(zh) == [], zh
    assert re.search(r"[\u4e00-\u9fff]", zh) and not re.search(r"[\u4e00-\u9fff]", en)
    assert "—" not in zh and "—" not in en  # every figure filled in
    counts = [v for k, v in facts.items() if isinstance(v, int) and not isinstance(v, bool) and k != "cap"]
    for value in counts:  # counts and sequence numbers appear as they are (durations are shown in min or h)
        assert str(value) in zh and str(value) in en, (value, zh)
    for name in ("source", "node", "role", "order_id", "merchant_id", "action"):
        if facts.get(name):
            assert str(facts[name]) in zh and str(facts[name]) in en


def test_gap_reason_says_what_it_was_compared_with() -> None:
    zh, en = reason_kinds.one(EXAMPLES[0], TZ)
    assert "2024-03-02 09:58:01 +08:00" in zh and "22 分钟" in zh and "08:08 +08:00" in zh and "49 分钟" in zh
    assert "(22 min at 08:08 +08:00; baseline days had silences up to 49 min at this time of day)" in en


def test_not_proven_lists_each_reason_and_counts_the_rest() -> None:
    many = [_span(kind="missing_heartbeat", missed=i) for i in range(12)]
    said = reason_text({"kind": "not_proven", "n": 12, "reasons": many, "tz": TZ}, lambda c: "")
    assert said is not None
    for i in range(reason_kinds.LISTED):
        assert f"（缺 {i} 次）" in said["zh"]
    assert f"（缺 {reason_kinds.LISTED} 次）" not in said["zh"] and "等共 12 项" in said["zh"]
    assert "and 4 more" in said["en"]


def test_clean_completeness_names_the_evidence_per_source_and_the_absent_roles() -> None:
    facts = {
        "kind": "complete",
        "sources": ["admin_audit", "print_service"],
        "evidence": {"admin_audit": ["seq", "volume"], "print_service": ["seq"]},
        "absent_roles": ["open_api"],
    }
    said = reason_text(facts, lambda c: "")
    assert said is not None
    assert "admin_audit：序号连续、事件量与基线相符；print_service：序号连续" in said["zh"]
    assert "案件声明不存在的角色：open_api" in said["zh"]
    assert "admin_audit by sequence numbers and hourly volume against baseline" in said["en"]
    assert ENGLISH.findall(said["zh"]) == []
