"""The exhibit as opposing counsel reads it (issue 13): references, Chinese text, one time basis, consistent figures,
copyable text. Each test renders the fixture exhibit of test_exhibit.py and reads the PDF text back."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_exhibit import _inputs, _masker, pdf_pages

from forensics.exhibit.build import ExhibitResult
from forensics.exhibit.labels import LABELS
from forensics.exhibit.model import build_record, build_view
from forensics.exhibit.wording import SECTIONS

ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")


@pytest.fixture(scope="module")
def zh_en(fixture_exhibit: Callable[[str], ExhibitResult]) -> ExhibitResult:
    return fixture_exhibit("zh-en")  # rendered once per session, shared with test_exhibit.py: read only


@pytest.fixture(scope="module")
def zh(fixture_exhibit: Callable[[str], ExhibitResult]) -> ExhibitResult:
    return fixture_exhibit("zh")


def _raw_text(pdf: Path) -> str:
    """The text as a reader copies it: nothing stripped."""
    return "\n".join(pdf_pages(pdf))


def _flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _headings(flat: str) -> dict[int, str]:
    """Numbered top-level headings found in the flattened text: number -> zh title."""
    found: dict[int, str] = {}
    for n, key in enumerate(SECTIONS, 1):
        title = _flat(LABELS[key]["zh"])
        if f"{n}{title}" in flat:
            found[n] = LABELS[key]["zh"]
    return found


def test_every_reference_names_the_heading_it_points_to(zh_en: ExhibitResult) -> None:
    flat = _flat(_raw_text(zh_en.pdf))
    headings = _headings(flat)
    assert len(headings) == len(SECTIONS), f"headings found: {headings}"
    refs_zh = re.findall(r"第(\d+)节（([^）]+)）", flat)
    refs_en = re.findall(r"section(\d+)\(([^)]+)\)", flat)
    assert refs_zh and refs_en, "the exhibit holds cross-references"
    by_en = {_flat(LABELS[k]["en"]): n for n, k in enumerate(SECTIONS, 1)}
    for number, title in refs_zh:
        assert headings.get(int(number)) is not None and _flat(headings[int(number)]) == title, (number, title)
    for number, title in refs_en:
        assert by_en.get(title) == int(number), (number, title)


def test_html_references_use_the_same_section_numbers(zh_en: ExhibitResult) -> None:
    html = zh_en.html.read_text(encoding="utf-8")
    for key, number in re.findall(r'<a href="#(s_[a-z_]+)">第 (\d+) 节', html):
        assert re.search(rf'<h1 id="{key}">{number} ', html), (key, number)
    assert re.findall(r'<a href="#s_', html)


def test_zh_exhibit_holds_no_english_sentence(zh: ExhibitResult) -> None:
    text = _raw_text(zh.pdf)
    body = text.split(LABELS["s_appendix"]["zh"])[0]  # annexes (SQL, hashes) are code, not sentences
    # four English words in a row are a sentence (identifiers are joined by '_', '.' or '-', never by spaces)
    english = re.findall(r"\b[A-Za-z]{2,}(?:[ ,;:]+[A-Za-z]{2,}){3,}\b", body)
    assert english == []


def test_zh_check_questions_and_legal_elements_cite_prc_law_first(zh: ExhibitResult) -> None:
    body = _flat(_raw_text(zh.pdf).split(LABELS["s_appendix"]["zh"])[0])  # the SQL annex quotes the headers
    assert "《个人信息保护法》第六十九条" in body
    assert "FRE" not in body  # foreign rules appear only in the English text


def test_completeness_clean_says_what_was_proved(zh_en: ExhibitResult) -> None:
    flat = _flat(_raw_text(zh_en.pdf))
    assert "不存在“日志完整性”" not in flat
    if "completeness" in flat and "未发现（日志完整）" in flat:
        assert "日志在窗口内完整" in flat


def test_every_displayed_time_carries_its_offset(zh_en: ExhibitResult) -> None:
    text = _raw_text(zh_en.pdf)
    body = text.split(LABELS["s_appendix"]["zh"])[0]
    for match in re.finditer(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?", body):
        after = body[match.end() : match.end() + 8]
        assert re.match(r"\s?[+-]\d{2}:\d{2}", after), f"time without offset: {match.group(0)}{after!r}"
    assert not re.search(r"\d{2}:\d{2}(:\d{2})?(\.\d+)?Z\b", body), "UTC 'Z' times belong in exhibit.json only"


def test_no_machine_path_or_zero_width_character_in_the_text(zh_en: ExhibitResult) -> None:
    text = _raw_text(zh_en.pdf)
    assert not ZERO_WIDTH.search(text)
    assert "/nonexistent" not in text  # the case folder's absolute path of the fixture
    html = zh_en.html.read_text(encoding="utf-8")
    assert not ZERO_WIDTH.search(html) and "/nonexistent" not in html


def test_no_verbatim_sql_in_the_body(zh_en: ExhibitResult) -> None:
    text = _raw_text(zh_en.pdf)
    body, _, annex = text.partition(LABELS["s_appendix"]["zh"])
    assert "SELECT" not in body.upper().replace("SELECTED", "")
    assert "SELECT" in annex.upper()


def _with_export_rows(inputs: Any) -> Any:
    """An export-scope check that found two exports of the order, and an exposure map with an export channel
    whose count (from a different check) says 0: the situation of the guilty exhibit."""
    pack = copy.deepcopy(inputs.pack)
    cols = ["ts", "source", "action", "order_ids", "src_sha256", "line_no"]
    rows = [
        ["2024-03-02T01:00:00Z", "merchant_backend", "order.export", "O1", "ab" * 32, 7],
        ["2024-03-02T02:00:00Z", "merchant_backend", "order.export_download", "O1", "ab" * 32, 9],
    ]
    pack["checks"].append(
        {"id": "export-scope-found", "verdict": "flagged", "reason": "2 findings", "rows": 2, "columns": cols,
         "results": rows, "sql": "SELECT 1 WHERE order_id = $order_id", "expect": "none",
         "depends_on": {"sources": ["merchant_backend"], "actions": ["order.export", "order.export_download"]},
         "facts": {"kind": "findings", "n": 2, "cited": [{"sha256": "ab" * 32, "line": 7}]}}
    )  # fmt: skip
    pack["exposure"] = [
        {"channel": "export_file", "title_en": "Order export file", "title_zh": "订单导出文件",
         "fields": ["receiver_name"], "known_contained": False, "known_missing": [], "exposed_not_known": [],
         "events": 0}
    ]  # fmt: skip
    config = copy.deepcopy(inputs.config)
    config["exposure"] = {"export_file": {"actions": ["order.export", "order.export_download"]}}
    return inputs.__class__(**{**inputs.__dict__, "pack": pack, "config": config})


def test_exposure_counts_the_events_the_checks_found() -> None:
    record = build_record(_with_export_rows(_inputs()), _masker())
    channel = next(c for c in record["exposure"] if c["channel"] == "export_file")
    assert channel["events"] == 2
    view = build_view(record, "0" * 64)
    assert [c["events"] for c in view["exposure"]["channels"]] == [2]
    flagged = next(p for p in view["purposes"] if p["id"] == "export-scope-found")
    assert "共 2 条" in flagged["statement"]["zh"]


def test_caption_and_docket_names_are_shown_as_filed(zh_en: ExhibitResult) -> None:
    config = _inputs().config
    flat = _flat(_raw_text(zh_en.pdf))
    assert _flat(config["case"]["caption"]) in flat
    plaintiff = config["parties"][0]
    assert f"原告Plaintiff：{plaintiff['name']}" in flat
    body = flat.split(_flat(LABELS["s_purpose"]["zh"]), 1)[1].replace(_flat(config["case"]["caption"]), "")
    assert plaintiff["name"] not in body and plaintiff["phone"] not in body


def test_caption_public_false_masks_the_caption() -> None:
    inputs = _inputs()
    config = copy.deepcopy(inputs.config)
    config["case"]["caption_public"] = False
    record = build_record(inputs.__class__(**{**inputs.__dict__, "config": config}), _masker())
    assert config["parties"][0]["name"] not in record["cover"]["caption"]
    assert all(p["name"] != config["parties"][0]["name"] for p in record["cover"]["parties"])


_MEASURE = """<script>
window.addEventListener("load", () => {
  const width = document.documentElement.clientWidth;
  const cut = [];
  for (const cell of document.querySelectorAll("td, th")) {
    const box = cell.getBoundingClientRect();
    // a cell is cut when it reaches past the viewport and no scrolling container of its own holds it
    if (box.right > width + 1 && !cell.closest(".scroll")) cut.push(cell.textContent.slice(0, 40));
  }
  for (const s of document.querySelectorAll(".scroll")) {
    if (s.getBoundingClientRect().right > width + 1) cut.push("scroll container wider than the page");
  }
  const out = document.createElement("pre");
  out.id = "layout-result";
  out.textContent = JSON.stringify({page: document.documentElement.scrollWidth, width: width, cut: cut});
  document.body.appendChild(out);
});
</script>"""


def _chromium() -> str | None:
    import shutil

    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_html_tables_fit_a_1280_px_window(zh_en: ExhibitResult, tmp_path: Path) -> None:
    import json
    import subprocess

    browser = _chromium()
    if browser is None:
        pytest.skip("chromium is not installed (Debian package 'chromium'; scripts/setup.sh installs it)")
    html = zh_en.html.read_text(encoding="utf-8")
    # the shipped page forbids scripts (CSP); the measuring copy drops that meta and adds one script
    probe = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html)
    probe = probe.replace("</body>", _MEASURE + "</body>")
    page = tmp_path / "probe.html"
    page.write_text(probe, encoding="utf-8")
    profile = f"--user-data-dir={tmp_path / 'profile'}"
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,900", profile,
           "--virtual-time-budget=5000", "--dump-dom", page.as_uri()]  # fmt: skip
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"chromium could not start: {exc}")
    found = re.search(r'<pre id="layout-result">(.*?)</pre>', done.stdout, re.S)
    if found is None:
        pytest.skip(f"chromium did not render the page: {done.stderr.strip()[-300:]}")
    result = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert result["cut"] == [], result
    assert result["page"] <= result["width"], result


def test_no_number_in_the_document_contradicts_another() -> None:
    """Each count a claim states is the count of its check's result table, and each channel's event count is the
    number of distinct raw-log lines of the order's checks with that channel's actions."""
    inputs = _with_export_rows(_inputs())
    view = build_view(build_record(inputs, _masker()), "0" * 64)
    totals = {c["id"]: c["total"] for c in view["checks"]}
    for claim in view["purposes"]:
        for stated in re.findall(r"共 (\d+) 条", claim["statement"]["zh"]):
            assert int(stated) == totals[claim["id"]], claim
        for stated in re.findall(r"(\d+) (?:records?|events?) of", claim["statement"]["en"]):
            assert int(stated) == totals[claim["id"]], claim
    actions = inputs.config["exposure"]
    for channel in view["exposure"]["channels"]:
        lines = {
            (row[-2], row[-1])
            for check in inputs.pack["checks"]
            if "$order_id" in check.get("sql", "") and check.get("columns", [])[-2:] == ["src_sha256", "line_no"]
            for row in check["results"]
            if row[check["columns"].index("action")] in actions[channel["channel"]]["actions"]
        }
        assert channel["events"] == len(lines)


def test_a_cited_line_keeps_its_input_ref_even_when_its_hash_looks_like_a_phone() -> None:
    inputs = _inputs()
    pack = copy.deepcopy(inputs.pack)
    sha = "13800131234" + "a" * 53  # a digest whose digits a phone-number rule would otherwise mask
    inputs.manifest["inputs"][0]["sha256"] = sha
    check = next(c for c in pack["checks"] if c["id"] == "waybill-print")
    check["facts"] = {"kind": "found", "n": 1, "cited": [{"sha256": sha, "line": 36}]}
    record = build_record(inputs.__class__(**{**inputs.__dict__, "pack": pack}), _masker())
    assert record["extraction"]["inputs"][0]["sha256"] == sha  # the digest as the file has it, unmasked
    claim = next(p for p in build_view(record, "0" * 64)["purposes"] if p["id"] == "waybill-print")
    assert "I1:36" in claim["statement"]["zh"]


def test_check_json_and_the_exhibit_count_the_same_exposure_events(
    guilty_exhibit: tuple[Any, ExhibitResult], tmp_path: Path
) -> None:
    """The guilty sample exports the order's data (found by the export check through the export's filter): the
    exposure figures of `check --json` and of the exhibit's table are the same numbers, and not zero."""
    import json
    import shutil

    from click.testing import CliRunner

    from forensics.cli import main

    case, result = guilty_exhibit
    copy_root = tmp_path / "c"
    shutil.copytree(case.root, copy_root, ignore=shutil.ignore_patterns("exhibits"))  # check writes custody
    done = CliRunner().invoke(main, ["check", str(copy_root), "--json"])
    assert done.exit_code == 0, done.output
    checked = json.loads(done.stdout)
    record = json.loads(result.json.read_text(encoding="utf-8"))
    shown = {c["channel"]: c["events"] for c in record["exposure"]}
    assert checked["exposure_events"] == shown
    exports = next(c for c in record["checks"] if c["id"] == "export-scope")
    assert exports["verdict"] == "flagged" and shown["export_file"] > 0
    reason = next(c["reason"] for c in checked["checks"] if c["id"] == "field-exposure")
    for channel, events in shown.items():
        if f"{channel} (" in reason:
            assert f"{channel} ({events} event" in reason


def _section(flat: str, key: str) -> str:
    """The flattened text of one numbered section of a zh-en exhibit, up to the next section's heading."""
    n = SECTIONS.index(key)
    heads = [f"{i + 1}{_flat(LABELS[k]['zh'])}{_flat(LABELS[k]['en'])}" for i, k in enumerate(SECTIONS)]
    start = flat.rindex(heads[n])
    end = flat.index(heads[n + 1], start) if n + 1 < len(heads) else len(flat)
    return flat[start:end]


def test_time_and_address_basis_states_the_address_rule(zh_en: ExhibitResult) -> None:
    basis = _section(_flat(_raw_text(zh_en.pdf)), "s_time")
    assert "IP地址一律为服务器记录的直接连接方（对端）地址" in basis
    assert "本案未设定任何可信代理" in basis  # the fixture case.toml has no [addresses]
    assert "IPaddressesaretheconnectingpeerrecordedbytheserver" in basis and "Thiscasetrustsnoproxy" in basis


def test_trusted_proxies_are_named_as_the_case_sets_them() -> None:
    from forensics.exhibit.html import render_html

    inputs = _inputs()
    config = copy.deepcopy(inputs.config)
    config["addresses"] = {"trusted_proxies": ["10.0.0.0/8", "203.0.113.7"]}
    record = build_record(inputs.__class__(**{**inputs.__dict__, "config": config}), _masker())
    # the platform's own proxies, as case.toml gives them: not masked like a log's addresses
    assert record["address_basis"] == {"trusted_proxies": ["10.0.0.0/8", "203.0.113.7/32"]}
    view = dict(build_view(record, "0" * 64), labels=LABELS)
    words = view["time_basis"]["addresses"]
    assert "可信代理（10.0.0.0/8、203.0.113.7/32）" in words["zh"] and "未设定" not in words["zh"]
    assert "proxies this case trusts (10.0.0.0/8, 203.0.113.7/32)" in words["en"] and "no proxy" not in words["en"]
    assert words["zh"] in render_html(view, Path("."))


def test_each_input_says_how_it_was_read_and_why(zh_en: ExhibitResult) -> None:
    flat = _flat(_raw_text(zh_en.pdf))
    assert "logistics·nginx·main" in _section(flat, "s_extraction")  # the input table: source · format · preset
    annex = _section(flat, "s_appendix")
    assert "读取格式Readas：nginx·main" in annex
    assert "格式由自动识别（--formatauto）确定：在前40行样本中，nginx/main可读取40行，故采用" in annex
    assert "其他候选可读行数：apache/main40/40、nginx/common12.5/40、jsonl0/40、nginx/combined0/40" in annex
    assert "--formatautochosenginx/main:itreads40ofthefirst40lines" in annex
    assert annex.count("读取格式Readas") == 2 and annex.count("--formatauto") == 2  # the jsonl input: no detection
    html = zh_en.html.read_text(encoding="utf-8")
    assert "--format auto chose nginx/main: it reads 40 of the first 40 lines" in html


def _lowest_body_text(page: Any) -> float:
    """The height (PDF points from the bottom) of a page's lowest line of body text, running header and footer
    (the top and bottom 70 points) left out."""
    heights: list[float] = []

    def visit(text: str, cm: list[float], tm: list[float], font: Any, size: Any) -> None:
        y = cm[5] + tm[5]
        if text.strip() and 70 < y < float(page.mediabox.height) - 70:
            heights.append(y)

    page.extract_text(visitor_text=visit)
    return min(heights, default=float(page.mediabox.height))


def test_a_short_section_leaves_no_mostly_blank_page(zh_en: ExhibitResult) -> None:
    """Only the purposes of proof, the checks and the annex start on a new page; a page whose text ends in its top
    half must be followed by one of those."""
    from pypdf import PdfReader

    pages = PdfReader(zh_en.pdf).pages
    texts = [_flat(t) for t in pdf_pages(zh_en.pdf)]
    new_page = [
        f"{SECTIONS.index(k) + 1}{_flat(LABELS[k]['zh'])}{_flat(LABELS[k]['en'])}"
        for k in ("s_purpose", "s_checks", "s_appendix")
    ]
    for n in range(1, len(pages) - 1):  # the cover and the last page may be short
        if _lowest_body_text(pages[n]) > float(pages[n].mediabox.height) / 2:
            following = texts[n + 1][:200]
            assert any(h in following for h in new_page), f"page {n + 1} is mostly blank: {texts[n][-80:]}"
