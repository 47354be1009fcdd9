"""forensics.sample: the synthetic case world, its ground truth, and the pipeline run over it.

Structural tests read the generated files with the standard library only (json, csv, gzip, tomllib), so they
judge the generator independently of the parsers. The integration tests at the end ingest every variant with its
own plan and check the pipeline against the ground truth: line accounting, quarantine reasons, the order's trail,
the flagged lines and the order-leak pack's verdicts.
"""

from __future__ import annotations

import csv
import glob
import gzip
import io
import itertools
import json
import re
import shutil
import statistics
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forensics.errors import UsageError
from forensics.sample import (
    CSV_HEADER,
    DEFAULT_EVENTS,
    FACTS,
    GAP_END,
    GAP_NODE,
    GAP_START,
    MAX_EVENTS,
    VARIANTS,
    generate,
)
from forensics.schema import ACTIONS, PI_FIELDS

COMMITTED = Path(__file__).resolve().parents[1] / "sample_logs" / "xue-case"
SMALL = 1_500  # events for the per-variant worlds: heartbeats dominate, so the pipeline sees ~105k lines anyway

SYSLOG_5424 = re.compile(r'^<\d{1,3}>1 \S+ \S+ \S+ \S+ \S+ \[meta sequenceId="(\d+)"\](\[[^\]]*\])* .*$')
NGINX_LINE = re.compile(
    r'^(\S+) - - \[([^\]]+)\] "GET (\S+) HTTP/1\.1" (\d{3}) (\d+) "-" "([^"]*)" '
    r"(\d+\.\d{3}) (\S+) ([0-9a-f]{32}) (\S+)$"
)


# ---------------------------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("worlds")
    return {v: generate(root / v, variant=v, events=SMALL, seed=11).out_dir for v in VARIANTS}


def truth_of(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "ground_truth.json").read_text(encoding="utf-8"))
    return data


def raw_lines(path: Path) -> list[bytes]:
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    assert data.endswith(b"\n"), f"{path} must end with a newline"
    return data[:-1].split(b"\n")


def quarantined_at(truth: dict[str, Any]) -> dict[tuple[str, int], dict[str, Any]]:
    return {(q["file"], q["line"]): q for q in truth["quarantine"]}


def log_files(folder: Path) -> set[str]:
    return {
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and p.parts[len(folder.parts)] in {"merchant_backend", "open_api", "logistics", "security"}
    }


def mb_records(folder: Path, day: str = "*") -> list[tuple[str, int, dict[str, Any]]]:
    """(file, line_no, record) of every parseable back-office line."""
    out = []
    for path in sorted(folder.glob(f"merchant_backend/*/audit-{day}.jsonl.gz")):
        for no, line in enumerate(raw_lines(path), start=1):
            try:
                out.append((str(path.relative_to(folder)), no, json.loads(line)))
            except (UnicodeDecodeError, json.JSONDecodeError):
                continue
    return out


# ---------------------------------------------------------------------------------------------- entry point


def test_unknown_variant_suggests_the_closest(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="did you mean 'guilty'"):
        generate(tmp_path / "x", variant="gulty")
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("events", [0, 999, 10**9])
def test_events_out_of_range_is_a_usage_error(tmp_path: Path, events: int) -> None:
    with pytest.raises(UsageError, match="--events"):
        generate(tmp_path / "x", events=events)


def test_refuses_a_folder_that_is_not_a_sample(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(UsageError, match="not empty"):
        generate(tmp_path, events=1_000)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_regenerating_over_a_sample_replaces_only_its_own_files(tmp_path: Path) -> None:
    first = generate(tmp_path, variant="guilty", events=1_000)
    (tmp_path / "my-notes.md").write_text("keep me", encoding="utf-8")
    second = generate(tmp_path, variant="clean", events=1_000)
    assert (tmp_path / "my-notes.md").read_text(encoding="utf-8") == "keep me"
    assert truth_of(tmp_path)["variant"] == "clean"
    assert {p.resolve() for p in second.files} <= {p.resolve() for p in tmp_path.rglob("*") if p.is_file()}
    assert first.events_written == second.events_written + 6  # the insider's six scripted lines are gone


def test_result_lists_every_file_written(tmp_path: Path) -> None:
    result = generate(tmp_path, events=1_000)
    assert set(result.files) == {p for p in tmp_path.rglob("*") if p.is_file()}
    assert result.out_dir == tmp_path
    assert result.plan_path == tmp_path / "plan.toml" and result.case_toml_path == tmp_path / "case.toml"
    assert result.ground_truth_path == tmp_path / "ground_truth.json"
    assert result.events_written == truth_of(tmp_path)["totals"]["events"]


def test_same_arguments_same_bytes_and_the_seed_matters(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", events=1_000, seed=3)
    b = generate(tmp_path / "b", events=1_000, seed=3)
    c = generate(tmp_path / "c", events=1_000, seed=4)
    rel = sorted(str(p.relative_to(a.out_dir)) for p in a.files)
    assert rel == sorted(str(p.relative_to(b.out_dir)) for p in b.files)
    assert all((a.out_dir / r).read_bytes() == (b.out_dir / r).read_bytes() for r in rel)
    assert (a.out_dir / "ground_truth.json").read_bytes() != (c.out_dir / "ground_truth.json").read_bytes()


@pytest.mark.parametrize("events", [1_000, 30_000, 1_000_000, 10_000_000, MAX_EVENTS])
def test_chunks_tile_the_span_and_stay_bounded_at_any_size(events: int) -> None:
    """Generation streams: background events are drawn and written a time chunk at a time, and no chunk's
    expected share grows past CHUNK_EVENTS, however many events are asked for (50 M on a 23 GB machine)."""
    from forensics.sample import chunks

    plan = chunks.plan_chunks(events)
    assert plan[0].start_us == chunks.SPAN_START_US and plan[-1].end_us == chunks.SPAN_END_US
    assert all(a.end_us == b.start_us for a, b in itertools.pairwise(plan))
    assert [c.no for c in plan] == list(range(len(plan)))
    assert max(chunks.expected_events(c, events) for c in plan) <= chunks.CHUNK_EVENTS
    assert len(plan) >= events // chunks.CHUNK_EVENTS


def test_more_events_means_more_chunks_not_bigger_ones() -> None:
    from forensics.sample import chunks

    sizes = [30_000, 5_000_000, 10_000_000, MAX_EVENTS]
    counts = [len(chunks.plan_chunks(n)) for n in sizes]
    assert counts == sorted(counts) and counts[-1] > counts[1] > counts[0]


def test_generation_holds_one_chunk_of_records_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a small chunk bound the generator draws every chunk's records separately and each stays near it."""
    from forensics.sample import chunks, stream

    monkeypatch.setattr(chunks, "CHUNK_EVENTS", 4_000)
    seen: list[int] = []
    real = stream._chunk_records

    def spy(*args: Any, **kwargs: Any) -> Any:
        records = real(*args, **kwargs)
        seen.append(records.rows())
        return records

    monkeypatch.setattr(stream, "_chunk_records", spy)
    result = generate(tmp_path / "w", variant="guilty", events=120_000, seed=5)
    assert len(seen) == len(chunks.plan_chunks(120_000)) > 2 * 9  # sub-day chunks
    assert max(seen) < 3 * 4_000  # background + mirrors + carried-over records of one chunk
    assert sum(seen) > 120_000  # every event went through some chunk
    truth = truth_of(result.out_dir)
    assert truth["totals"]["events"] == result.events_written > 120_000


def test_sub_day_chunks_keep_bytes_sequences_and_ground_truth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Records carried over chunk boundaries (mirrors, prints, gateway lines logged at request end) keep every
    file in time order, every node's sequence numbers contiguous (but for the gap) and the ground truth exact."""
    from forensics.sample import chunks

    monkeypatch.setattr(chunks, "CHUNK_EVENTS", 3_000)
    assert chunks.chunk_hours(60_000) < 24
    a = generate(tmp_path / "a", variant="gap", events=60_000, seed=9)
    b = generate(tmp_path / "b", variant="gap", events=60_000, seed=9)
    rel = sorted(str(p.relative_to(a.out_dir)) for p in a.files)
    assert all((a.out_dir / r).read_bytes() == (b.out_dir / r).read_bytes() for r in rel)
    assert_lines_match_truth(a.out_dir)
    gap = truth_of(a.out_dir)["completeness"]["merchant_backend"]
    for node in ("mb-01", "mb-02", "mb-03", "mb-04"):
        records = [r for _, _, r in mb_records(a.out_dir) if r["node"] == node]  # files by day, lines in order
        times = [r["op_time"] for r in records]
        assert times == sorted(times), node
        jumps = [(x["seq"], y["seq"]) for x, y in itertools.pairwise(records) if y["seq"] != x["seq"] + 1]
        expected = [(gap["seq_before"], gap["seq_after"])] if node == GAP_NODE else []
        lost = [q for q in truth_of(a.out_dir)["quarantine"] if q["file"].startswith(f"merchant_backend/{node}/")]
        lost = [q for q in lost if q["reason"] == "invalid utf-8"]  # a record lost to a GBK name: one seq missing
        assert len([j for j in jumps if j[1] == j[0] + 2]) == len(lost), node
        assert [j for j in jumps if j[1] not in (j[0], j[0] + 2)] == expected, node  # a truncated twin repeats
    for path in sorted(a.out_dir.glob("open_api/*/access.log-*.gz")):
        stamps = [NGINX_LINE.match(line.decode()) for line in raw_lines(path)]
        logged = [datetime.strptime(m.group(2), "%d/%b/%Y:%H:%M:%S %z") for m in stamps if m]
        assert logged == sorted(logged), path


def test_committed_sample_is_what_the_generator_writes(tmp_path: Path) -> None:
    fresh = generate(tmp_path / "xue-case")  # the documented defaults
    expected = sorted(str(p.relative_to(fresh.out_dir)) for p in fresh.files)
    committed = sorted(str(p.relative_to(COMMITTED)) for p in COMMITTED.rglob("*") if p.is_file())
    assert committed == expected
    changed = [r for r in expected if (COMMITTED / r).read_bytes() != (fresh.out_dir / r).read_bytes()]
    assert changed == [], "regenerate with `forensics sample sample_logs/xue-case`"
    assert truth_of(COMMITTED)["events_requested"] == DEFAULT_EVENTS
    assert sum(p.stat().st_size for p in COMMITTED.rglob("*")) < 8 * 2**20  # "a few MB"


# ---------------------------------------------------------------------------------------------- the files


def check_mb_line(raw: bytes, expect: str | None) -> None:
    if expect is None:
        record = json.loads(raw.decode("utf-8"))
        assert isinstance(record["order_ids"], list) and isinstance(record["seq"], int)
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}", record["op_time"]), "local time, no offset"
        return
    with pytest.raises((UnicodeDecodeError, json.JSONDecodeError)):
        json.loads(raw.decode("utf-8"))


def check_api_line(raw: bytes, expect: str | None) -> None:
    match = NGINX_LINE.match(raw.decode("utf-8"))
    assert (match is not None) == (expect is None), raw
    if match:
        assert match.group(2).endswith(" +0800") and match.group(3).startswith("/router/rest?method=")


def check_sec_line(raw: bytes, expect: str | None) -> None:
    assert (SYSLOG_5424.match(raw.decode("utf-8")) is not None) == (expect is None), raw


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_line_is_what_ground_truth_says(worlds: dict[str, Path], variant: str) -> None:
    assert_lines_match_truth(worlds[variant])


def assert_lines_match_truth(folder: Path) -> None:
    truth = truth_of(folder)
    quirks = quarantined_at(truth)
    assert set(truth["lines"]) == log_files(folder)
    checkers = {"merchant_backend": check_mb_line, "open_api": check_api_line, "security": check_sec_line}
    for rel, counts in truth["lines"].items():
        lines = raw_lines(folder / rel)
        assert len(lines) == counts["lines"], rel
        blank = 0
        for no, raw in enumerate(lines, start=1):
            quirk = quarantined_at(truth).get((rel, no))
            if not raw.strip():
                assert quirk is not None and quirk["expect"] == "blank"
                blank += 1
            elif not rel.startswith("logistics/"):
                checkers[rel.split("/")[0]](raw, quirk["reason"] if quirk else None)
        assert blank == counts["blank"]
        assert counts["lines"] == counts["events"] + counts["quarantined"] + counts["blank"] + counts["structural"]
        assert counts["quarantined"] == sum(1 for (f, _), q in quirks.items() if f == rel and q["expect"] != "blank")


@pytest.mark.parametrize("variant", VARIANTS)
def test_logistics_csv_is_gb18030_with_utc_times(worlds: dict[str, Path], variant: str) -> None:
    folder = worlds[variant]
    truth = truth_of(folder)
    quirks = quarantined_at(truth)
    for path in sorted(folder.glob("logistics/*.csv")):
        rel = str(path.relative_to(folder))
        raw = path.read_bytes()
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")  # Chinese text really is GB18030, not UTF-8
        rows = list(csv.reader(io.StringIO(raw.decode("gb18030"))))
        assert ",".join(rows[0]) == CSV_HEADER
        for no, row in enumerate(rows[1:], start=2):
            if (rel, no) in quirks:
                assert len(row) == 8 and quirks[(rel, no)]["reason"] == "cells"
                continue
            assert len(row) == 9, (rel, no)
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row[0]) and row[0][:10].replace("-", "") in rel
            assert int(row[8]) >= 1


def test_every_kind_of_malformed_line_is_there(worlds: dict[str, Path]) -> None:
    kinds = {q["kind"] for q in truth_of(worlds["clean"])["quarantine"]}
    expected = {
        "truncated-json",
        "invalid-utf8",
        "blank-line",
        "csv-missing-cell",
        "syslog-continuation",
        "cut-user-agent",
    }
    assert kinds == expected


def test_plan_covers_every_log_file_once_and_mappings_validate(worlds: dict[str, Path]) -> None:
    from forensics.mapping import load_mapping

    folder = worlds["clean"]
    plan = tomllib.loads((folder / "plan.toml").read_text(encoding="utf-8"))
    seen: list[str] = []
    for entry in plan["input"]:
        matched = [str(Path(p).relative_to(folder)) for p in glob.glob(str(folder / entry["glob"]))]
        assert matched, entry["glob"]
        seen += matched
        mapping = load_mapping(folder / entry["mapping"])  # parses and validates every SQL expression
        assert mapping.source == matched[0].split("/")[0]
    assert sorted(seen) == sorted(log_files(folder))


def test_case_toml_describes_the_case(worlds: dict[str, Path]) -> None:
    folder = worlds["clean"]
    case = tomllib.loads((folder / "case.toml").read_text(encoding="utf-8"))
    truth = truth_of(folder)
    assert case["case"]["court"] == "杭州互联网法院"
    plaintiff = next(p for p in case["parties"] if p["role"] == "plaintiff")
    assert plaintiff == {"role": "plaintiff", **truth["plaintiff"]}
    assert plaintiff["phone"].startswith("1380013")  # the obviously fake test range
    assert case["order"]["ids"] == [truth["order_id"]] and case["order"]["merchant_id"] == truth["merchant_id"]
    assert case["order"]["waybill_no"] == truth["waybill_no"]
    assert case["window"]["tz"] == "Asia/Shanghai"
    assert set(case["exposure"]) == {"masked_order_page", "unmasked_view", "export_file", "paper_waybill"}
    for channel in case["exposure"].values():
        assert set(channel["fields"]) <= set(PI_FIELDS) and set(channel["actions"]) <= set(ACTIONS)
    assert set(case["fraudster"]["knew"]) | set(case["fraudster"]["did_not_know"]) <= set(PI_FIELDS)
    # The seed case's reasoning: only the paper waybill shows nothing the fraudster did not know.
    unknown = set(case["fraudster"]["did_not_know"])
    innocent = [name for name, ch in case["exposure"].items() if not unknown & set(ch["fields"])]
    assert innocent == ["paper_waybill"]
    assert len(case["facts"]["fraud_calls"]) == 3
    assert case["completeness"]["sources"]["security"]["heartbeat_action"] == "system.heartbeat"


# ---------------------------------------------------------------------------------------------- the story


def test_clean_world_never_touches_the_order_in_the_back_office(worlds: dict[str, Path]) -> None:
    records = mb_records(worlds["clean"])
    assert records
    assert not [r for _, _, r in records if FACTS.order_id in r["order_ids"]]
    shop_exports = [r for _, _, r in records if r["shop_id"] == FACTS.shop_id and r["op_code"].startswith("EXPORT")]
    assert shop_exports and all(
        json.loads(json.dumps(r["export_filter"]))["created_to"] < "2024-03-04" for r in shop_exports
    )  # the decoy: February only


def test_guilty_flagged_lines_are_the_insider_touching_the_order(worlds: dict[str, Path]) -> None:
    folder = worlds["guilty"]
    truth = truth_of(folder)
    by_line = {(f, n): r for f, n, r in mb_records(folder, "20240305")}
    flagged = truth["flagged_lines"]
    assert {f["action"] for f in flagged} == {"order.view_unmasked", "order.export", "order.export_download"}
    for ref in flagged:
        record = by_line[(ref["file"], ref["line"])]
        assert record["account"] == FACTS.insider and record["client_ip"] == FACTS.insider_ip
        if ref["action"] == "order.view_unmasked":
            assert record["op_code"] == "RECEIVER_INFO_DECRYPT" and record["order_ids"] == [FACTS.order_id]
        else:
            scope = record["export_filter"]
            assert scope["created_from"] <= FACTS.created_at.date().isoformat() <= scope["created_to"]
    # The IP is new: nobody used it anywhere in the clean world (same seed, same background).
    assert FACTS.insider_ip not in {r["client_ip"] for _, _, r in mb_records(worlds["clean"])}


def test_guilty_and_gap_share_the_clean_background(worlds: dict[str, Path]) -> None:
    clean, guilty, gap = (worlds[v] for v in VARIANTS)
    files = sorted(truth_of(clean)["lines"])
    differ_guilty = [f for f in files if (clean / f).read_bytes() != (guilty / f).read_bytes()]
    # The insider's lines land on 03-05; every node's later files differ only because its seq counter moved on.
    assert "merchant_backend/mb-03/audit-20240305.jsonl.gz" in differ_guilty
    assert all(f.startswith("merchant_backend/") and f[-17:-9] >= "20240305" for f in differ_guilty)
    differ_gap = [f for f in files if (clean / f).read_bytes() != (gap / f).read_bytes()]
    # Lost lines keep their seq numbers (that is what makes the jump), so nothing else changes.
    assert differ_gap == [f"merchant_backend/{GAP_NODE}/audit-20240305.jsonl.gz", "security/syslog-20240305.log.gz"]


def test_gap_node_is_silent_and_its_sequences_jump(worlds: dict[str, Path]) -> None:
    truth = truth_of(worlds["gap"])
    assert truth["checks"]["completeness"] == "flagged"
    gap = truth["completeness"]
    assert (gap["node"], gap["start"], gap["end"]) == (GAP_NODE, GAP_START.isoformat(), GAP_END.isoformat())
    start, end = GAP_START.replace(tzinfo=None), GAP_END.replace(tzinfo=None)

    def local(r: dict[str, Any]) -> datetime:
        return datetime.fromisoformat(r["op_time"])

    for variant, expect_inside in (("clean", True), ("gap", False)):
        node = sorted(
            (r for _, _, r in mb_records(worlds[variant], "20240305") if r["node"] == GAP_NODE), key=lambda r: r["seq"]
        )
        inside = [r for r in node if start <= local(r) < end]
        assert bool(inside) == expect_inside, variant
    jumps = [(a["seq"], b["seq"]) for a, b in itertools.pairwise(node) if b["seq"] - a["seq"] > 1]
    mb = gap["merchant_backend"]
    assert jumps == [(mb["seq_before"], mb["seq_after"])]
    assert mb["seq_after"] - mb["seq_before"] - 1 == mb["missing_records"] > 0
    beats = [line.decode() for line in raw_lines(worlds["gap"] / "security/syslog-20240305.log.gz")]
    seqs = [int(SYSLOG_5424.match(b).group(1)) for b in beats if f" {GAP_NODE} dsagent " in b]
    assert len(seqs) == 24 * 60 - 180 and gap["heartbeats"]["missing_records"] == 180


def test_open_api_clock_runs_two_seconds_ahead(worlds: dict[str, Path]) -> None:
    folder = worlds["clean"]
    backend = {
        r["request_id"]: datetime.fromisoformat(r["op_time"]) for _, _, r in mb_records(folder) if r["request_id"]
    }
    diffs = []
    for path in sorted(folder.glob("open_api/*/*.gz")):
        for raw in raw_lines(path):
            match = NGINX_LINE.match(raw.decode("utf-8", "replace"))
            if match and match.group(9) in backend:
                logged = datetime.strptime(match.group(2), "%d/%b/%Y:%H:%M:%S %z").replace(tzinfo=None)
                diffs.append((logged - backend[match.group(9)]).total_seconds())
    assert len(diffs) > 20
    assert 1.0 <= statistics.median(diffs) <= 3.0 and truth_of(folder)["clock_skew"]["open_api"]["seconds"] == 2


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), events=st.integers(1_000, 4_000))
def test_any_seed_gives_a_consistent_world(tmp_path: Path, seed: int, events: int) -> None:
    folder = tmp_path / f"w{seed}-{events}"
    result = generate(folder, events=events, seed=seed)
    truth = truth_of(folder)
    totals = truth["totals"]
    assert result.events_written == totals["events"]
    assert totals["lines"] == sum(v["lines"] for v in truth["lines"].values())
    assert truth["trail"] == {"api.call": 2, "waybill.print": 1}
    assert len(truth["quarantine"]) == 6
    for q in truth["quarantine"]:
        assert 1 <= q["line"] <= truth["lines"][q["file"]]["lines"]
    shutil.rmtree(folder)


# ---------------------------------------------------------------------------------------------- the pipeline


@pytest.fixture(scope="module")
def cases(worlds: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from forensics.case import init_case
    from forensics.ingest import IngestOptions, ingest_plan

    out = {}
    root = tmp_path_factory.mktemp("cases")
    for variant, folder in worlds.items():
        case = init_case(root / variant)
        shutil.copyfile(folder / "case.toml", case.toml_path)
        ingest_plan(case, folder / "plan.toml", IngestOptions())
        out[variant] = case
    return out


def rel_path(path: str, folder: Path) -> str:
    return str(Path(path).resolve().relative_to(folder.resolve()))


@pytest.mark.parametrize("variant", VARIANTS)
def test_ingest_accounts_for_every_line(worlds: dict[str, Path], cases: dict[str, Any], variant: str) -> None:
    folder, con = worlds[variant], cases[variant].connect()
    truth = truth_of(folder)
    rows = con.execute("SELECT path, lines, events, quarantined, blank FROM inputs").fetchall()
    got = {rel_path(p, folder): {"lines": n, "events": e, "quarantined": q, "blank": b} for p, n, e, q, b in rows}
    want = {f: {k: c[k] for k in ("lines", "events", "quarantined", "blank")} for f, c in truth["lines"].items()}
    assert got == want
    assert con.execute("SELECT count(*) FROM events").fetchone() == (truth["totals"]["events"],)


@pytest.mark.parametrize("variant", VARIANTS)
def test_quarantine_holds_each_malformed_line_with_its_reason(
    worlds: dict[str, Path], cases: dict[str, Any], variant: str
) -> None:
    folder, con = worlds[variant], cases[variant].connect()
    rows = con.execute(
        "SELECT i.path, q.line_no, q.reason FROM quarantine q JOIN inputs i ON q.src_sha256 = i.sha256"
    ).fetchall()
    got = {(rel_path(p, folder), n): reason for p, n, reason in rows}
    expected = [q for q in truth_of(folder)["quarantine"] if q["expect"] == "quarantine"]
    assert set(got) == {(q["file"], q["line"]) for q in expected}
    for q in expected:
        assert q["reason"].lower() in got[(q["file"], q["line"])].lower(), q


@pytest.mark.parametrize("variant", VARIANTS)
def test_order_trail_matches_ground_truth(worlds: dict[str, Path], cases: dict[str, Any], variant: str) -> None:
    truth = truth_of(worlds[variant])
    window = truth["window"]
    rows = (
        cases[variant]
        .connect()
        .execute(
            "SELECT action, count(*) FROM events WHERE list_contains(order_ids, $order) "
            "AND ts >= CAST($start AS TIMESTAMPTZ) AND ts < CAST($end AS TIMESTAMPTZ) GROUP BY action",
            {"order": truth["order_id"], "start": window["start"], "end": window["end"]},
        )
        .fetchall()
    )
    assert dict(rows) == truth["trail"]


def test_flagged_lines_are_ingested_as_the_insider(worlds: dict[str, Path], cases: dict[str, Any]) -> None:
    folder, con = worlds["guilty"], cases["guilty"].connect()
    for ref in truth_of(folder)["flagged_lines"]:
        rows = con.execute(
            "SELECT e.action, e.actor_id, e.actor_type, e.merchant_id, e.ip FROM events e "
            "JOIN inputs i ON e.src_sha256 = i.sha256 WHERE i.path LIKE '%' || $file AND e.line_no = $line",
            {"file": ref["file"], "line": ref["line"]},
        ).fetchall()
        assert rows == [(ref["action"], FACTS.insider, "sub_account", FACTS.shop_id, FACTS.insider_ip)]


@pytest.mark.parametrize("variant", VARIANTS)
def test_order_leak_pack_reaches_the_expected_verdicts(
    worlds: dict[str, Path], cases: dict[str, Any], variant: str
) -> None:
    from forensics.packs import run_pack

    result = run_pack(cases[variant], "order-leak", {}).to_json()
    verdicts = {c["id"]: c["verdict"] for c in result["checks"]}
    assert verdicts == truth_of(worlds[variant])["checks"]
