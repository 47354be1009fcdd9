"""`forensics mapping try`: what a mapping makes of a file's first records, writing nothing."""

from __future__ import annotations

import json
import os
import unicodedata
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forensics.cli import main
from forensics.mapping_try import TryOptions, safe_json, terminal_text, try_mapping

MAPPING = """source = "shop2"
format = "jsonl"
tz = "Asia/Shanghai"
[timestamp]
expr = "t"
[columns]
order_ids = "CAST(ids AS VARCHAR[])"
actor_id = "who"
[actions]
field = "操作"
[actions.values]
"查看订单" = "order.view"
"导出订单" = "order.export"
"""

LINES = [
    {"t": "2024-03-01 10:00:00", "操作": "查看订单", "ids": ["A1"], "who": "u1", "终端": "PC-1"},
    {"t": "2024-03-01 10:00:01", "操作": "打印面单", "ids": ["A1"], "who": "u1"},
    {"t": "2024-03-01 10:00:02", "操作": "打印面单", "ids": ["A2"], "who": "u2"},
    {"t": "not a time", "操作": "查看订单", "ids": [], "who": "u1"},
    {"t": "2024-03-01 10:00:03", "操作": "导出订单", "ids": ["A1", "A2"], "who": "u3"},
]


def setup(tmp_path: Path, lines: list[str] | None = None) -> tuple[Path, Path]:
    mapping = tmp_path / "shop2.toml"
    mapping.write_text(MAPPING, encoding="utf-8")
    log = tmp_path / "audit.jsonl"
    body = lines if lines is not None else [json.dumps(r, ensure_ascii=False) for r in LINES] + ["{broken"]
    log.write_text("\n".join(body) + "\n", encoding="utf-8")
    return mapping, log


def snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.read_bytes()) for p in root.rglob("*") if p.is_file()}


def test_report_shows_distribution_other_nulls_and_quarantine(tmp_path: Path) -> None:
    mapping, log = setup(tmp_path)
    report = try_mapping(mapping, log, TryOptions(lines=20))
    assert report.records == 6
    assert [r["line_no"] for r in report.rows] == [1, 2, 3, 5]
    assert report.rows[0]["ts"] == "2024-03-01T02:00:00+00:00"  # local time with the mapping's tz, shown in UTC
    assert report.rows[3]["order_ids"] == ["A1", "A2"]
    assert {(a["action_raw"], a["action"], a["count"]) for a in report.actions} == {
        ("打印面单", "other", 2),
        ("查看订单", "order.view", 1),
        ("导出订单", "order.export", 1),
    }
    assert report.fell_to_other == [{"action_raw": "打印面单", "count": 2}]
    assert report.unknown_values == {"actions": {"records": 2, "values": {"打印面单": 2}}}
    assert "actor_type" in report.null_columns and "actor_id" not in report.null_columns
    assert report.unmapped_fields == ["终端"]
    reasons = {q["line_no"]: q["reason"] for q in report.quarantined}
    assert set(reasons) == {4, 6}
    assert "not a time" in reasons[4] and "JSON" in reasons[6]


def test_lines_bounds_what_is_parsed(tmp_path: Path) -> None:
    row = json.dumps({"t": "2024-03-01 10:00:00", "操作": "查看订单", "ids": [], "who": "u"}, ensure_ascii=False)
    mapping, log = setup(tmp_path, [row] * 500)
    report = try_mapping(mapping, log, TryOptions(lines=7))
    assert report.records == 7 and len(report.rows) == 7


def test_cli_writes_nothing_anywhere(tmp_path: Path) -> None:
    mapping, log = setup(tmp_path)
    case = tmp_path / "case"
    assert CliRunner().invoke(main, ["init", str(case)]).exit_code == 0
    work = tmp_path / "cwd"
    work.mkdir()
    before = snapshot(tmp_path)
    old = Path.cwd()
    os.chdir(work)
    try:
        text = CliRunner().invoke(main, ["mapping", "try", str(mapping), str(log), "--lines", "6"])
        as_json = CliRunner().invoke(main, ["mapping", "try", str(mapping), str(log), "--json"])
    finally:
        os.chdir(old)
    assert text.exit_code == 0, text.output
    assert as_json.exit_code == 0, as_json.output
    assert snapshot(tmp_path) == before  # the case, the inputs and the working folder are untouched
    assert list(work.iterdir()) == []
    assert "打印面单 (2)" in text.stdout and "would be quarantined: 2" in text.stdout
    assert json.loads(as_json.stdout)["fell_to_other"] == [{"action_raw": "打印面单", "count": 2}]


def test_cli_bad_mapping_is_one_line_usage_error(tmp_path: Path) -> None:
    mapping, log = setup(tmp_path)
    mapping.write_text(MAPPING.replace('"order.export"', '"order.exported"'), encoding="utf-8")
    result = CliRunner().invoke(main, ["mapping", "try", str(mapping), str(log)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "order.exported" in result.stderr and str(mapping) in result.stderr


HOSTILE = ["\u202e", "\u2066", "\u200b", "\x1b[2J", "\x07", "\u2028", "\x00"]


def test_control_and_bidi_characters_never_reach_the_terminal(tmp_path: Path) -> None:
    rows = [
        json.dumps({"t": "2024-03-01 10:00:00", "操作": f"op{h}x", "ids": [f"A{h}"], "who": f"u{h}", f"k{h}": 1})
        for h in HOSTILE
    ]
    mapping, log = setup(tmp_path, rows)
    text = CliRunner().invoke(main, ["mapping", "try", str(mapping), str(log)])
    as_json = CliRunner().invoke(main, ["mapping", "try", str(mapping), str(log), "--json"])
    for out in (text.stdout, as_json.stdout):
        assert not [c for c in out if c != "\n" and unicodedata.category(c) in {"Cc", "Cf", "Zl", "Zp"}]
    assert "⟨U+202E⟩" in text.stdout
    data = json.loads(as_json.stdout)  # the JSON still carries the exact values
    assert {r["action_raw"] for r in data["rows"]} == {f"op{h}x" for h in HOSTILE}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=80))
def test_terminal_text_and_safe_json_are_total(value: str) -> None:
    shown = terminal_text(value, limit=30)
    assert len(shown) <= 30 or len(value) <= 30
    assert not [c for c in shown if unicodedata.category(c) in {"Cc", "Cf", "Cn", "Co", "Cs", "Zl", "Zp"}]
    out = safe_json({"v": value})
    assert json.loads(out) == {"v": value}
    assert not [c for c in out if c != "\n" and unicodedata.category(c) in {"Cc", "Cf", "Zl", "Zp"}]


def test_csv_gb18030_chinese_headers_skip_header_line(tmp_path: Path) -> None:
    mapping = tmp_path / "print.toml"
    mapping.write_text(
        'source = "p"\nformat = "csv"\nencoding = "gb18030"\n[timestamp]\nexpr = \'"时间"\'\nepoch = "ms"\n'
        "[columns]\naction = \"'waybill.print'\"\norder_ids = '[\"订单号\"]'\n",
        encoding="utf-8",
    )
    log = tmp_path / "print.csv"
    log.write_bytes("时间,订单号,快递公司\n1709258400000,J1,顺丰\n1709258401000,J2,中通\n".encode("gb18030"))
    report = try_mapping(mapping, log, TryOptions(lines=1))
    assert [r["order_ids"] for r in report.rows] == [["J1"]]
    assert report.rows[0]["ts"] == "2024-03-01T02:00:00+00:00"
    assert report.unmapped_fields == ["快递公司"]


def test_json_document_is_parsed_whole_and_counts_every_quarantined_record(tmp_path: Path) -> None:
    mapping = tmp_path / "doc.toml"
    mapping.write_text(MAPPING.replace('format = "jsonl"', 'format = "json"'), encoding="utf-8")
    good = {"t": "2024-03-01 10:00:00", "操作": "查看订单", "ids": ["A1"], "who": "u"}
    records = [good, 1, 2, 3, good, "x"]
    log = tmp_path / "doc.json"
    log.write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
    report = try_mapping(mapping, log, TryOptions(lines=2))
    assert report.document and report.records == 6
    assert len(report.rows) == 2 and len(report.quarantined) == 2 and report.quarantined_count == 4
    assert "would be quarantined: 4 (first 2 shown):" in report.summary()
