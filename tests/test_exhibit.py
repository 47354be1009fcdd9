"""The court exhibit: PDF/A-2b with embedded fonts, same content in HTML, masking, hostile content, verify.

Rendering tests start from tests/data/packresult_example.json (the PackResult contract) plus a case
configuration and manifest written here; the end-to-end tests build a small sample case and run the pack.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import markupsafe
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pypdf import PdfReader

from forensics.errors import ForensicsError
from forensics.exhibit.build import ExhibitResult, dump_json, render_exhibit
from forensics.exhibit.html import render_html
from forensics.exhibit.labels import LABELS
from forensics.exhibit.model import RecordInputs, build_record, build_view
from forensics.exhibit.pdf import FontChoice, find_cjk_fonts
from forensics.exhibit.seal import exhibit_stamp
from forensics.exhibit.verify import verify_exhibit
from forensics.masking import Masker, known_people

DATA = Path(__file__).parent / "data"
KEY = bytes(range(32))
PLAINTIFF = {"role": "plaintiff", "name": "测试用户甲", "phone": "13800131234"}
TYPST_ATTACK = '#set page(width: 1cm) #import "/etc/passwd" `raw` $x$ #pagebreak() *bold* <label>'
HTML_ATTACK = '<script>alert("x")</script><img src=x onerror=alert(1)>'
INPUT_SHA = ["4b5c" + "0" * 60, "9e1f" + "1" * 60]


def _pack() -> dict[str, Any]:
    pack: dict[str, Any] = json.loads((DATA / "packresult_example.json").read_text(encoding="utf-8"))
    trail = next(c for c in pack["checks"] if c["id"] == "order-trail")
    cols = trail["columns"]
    row = list(trail["results"][0])
    # Log-derived strings an attacker controls: the platform's raw action name and an IP that is the buyer's phone.
    row[cols.index("action_raw")] = TYPST_ATTACK
    row[cols.index("node")] = HTML_ATTACK
    row[cols.index("ip")] = "203.0.113.9"
    trail["results"][0] = row
    trail["results"].append([*row[:-1], 10413])
    trail["results"][-1][cols.index("action_raw")] = f"call {PLAINTIFF['phone']} for {PLAINTIFF['name']}"
    return pack


def _config() -> dict[str, Any]:
    return {
        "case": {
            "caption": "测试用户甲诉某平台个人信息保护纠纷",
            "court": "杭州互联网法院",
            "case_number": "(2024)浙0192民初0000号",
            "exhibit_number": "E-3",
            "submitting_party": "某平台公司",
        },
        "parties": [PLAINTIFF, {"role": "defendant", "name": "某平台公司", "type": "organization"}],
        "order": {"ids": ["O240301104512001"], "merchant_id": "S100233", "waybill_no": "YT0000000001"},
        "window": {"start": "2024-03-01T00:00:00", "end": "2024-03-05T00:00:00", "tz": "Asia/Shanghai"},
        "fraudster": {
            "knew": ["receiver_name", "receiver_phone", "receiver_address", "waybill_no", "item"],
            "did_not_know": ["order_no", "order_created_at", "order_amount"],
        },
        "examiner": {"name": "检验人乙", "organization": "某司法鉴定所"},
        "completeness": {"max_clock_skew": "5m"},
    }


# what `ingest --format auto` records for an nginx `main` log (forensics.formats.detect.Detection.to_json)
DETECTION = {"chosen": "nginx/main", "sample_lines": 40,
             "scores": {"nginx/main": 40, "apache/main": 40, "nginx/combined": 0, "nginx/common": 12.5, "jsonl": 0.0}}


def _manifest() -> dict[str, Any]:
    return {
        "inputs": [
            {"path": "merchant_backend/mb.jsonl.gz", "source": "merchant_backend", "format": "jsonl", "bytes": 1234,
             "sha256": INPUT_SHA[0], "sm3": "ab" * 32, "lines": 100, "events": 98, "quarantined": 2, "blank": 0,
             "tz": "Asia/Shanghai"},
            {"path": "logistics/print_access.log", "source": "logistics", "format": "nginx", "bytes": 555,
             "sha256": INPUT_SHA[1], "sm3": "cd" * 32, "lines": 40, "events": 39, "quarantined": 0, "blank": 0,
             "tz": None, "log_format": "main", "format_detection": DETECTION},
        ]
    }  # fmt: skip


def _inputs(lang: str = "zh-en") -> RecordInputs:
    return RecordInputs(
        pack=_pack(),
        config=_config(),
        manifest=_manifest(),
        custody=[
            {"seq": 1, "at": "2024-04-01T02:00:00Z", "action": "init", "command": "forensics init c", "user": "x"}
        ],
        case_ref={"absolute": "/nonexistent/case", "relative": "../no-case"},
        generated_at=datetime(2024, 4, 2, 3, 4, 5, tzinfo=UTC),
        versions={"forensics": "test"},
        number="E-3",
        lang=lang,
    )


def _masker(enabled: bool = True) -> Masker:
    return Masker(KEY, known_people(_config()["parties"]), enabled=enabled)


@pytest.fixture(scope="module")
def fonts(exhibit_fonts: FontChoice) -> FontChoice:
    return exhibit_fonts


@pytest.fixture(scope="module")
def exhibit(fixture_exhibit: Callable[[str], ExhibitResult]) -> ExhibitResult:
    return fixture_exhibit("zh-en")  # shared with test_exhibit_court.py: read only


@functools.lru_cache(maxsize=32)
def _extracted(path: str, sha256: str) -> tuple[str, ...]:
    return tuple(page.extract_text() or "" for page in PdfReader(path).pages)


def pdf_pages(pdf: Path) -> list[str]:
    """Each page's text as a reader copies it (nothing stripped), extracted once per PDF content: pypdf takes
    seconds for an exhibit, and most tests read the same shared one."""
    return list(_extracted(str(pdf), hashlib.sha256(pdf.read_bytes()).hexdigest()))


def _pdf_text(pdf: Path) -> list[str]:
    return [page.replace("\u200b", "") for page in pdf_pages(pdf)]


def _flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


# ---------------------------------------------------------------- PDF/A, fonts, contents


def test_pdf_declares_pdfa_2b(exhibit: ExhibitResult) -> None:
    reader = PdfReader(exhibit.pdf)
    xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data().decode("utf-8")
    assert re.search(r"pdfaid:part(>|=\")2", xmp)
    assert re.search(r"pdfaid:conformance(>|=\")B", xmp)


def test_all_fonts_embedded_and_subset(exhibit: ExhibitResult) -> None:
    if shutil.which("pdffonts") is None:
        pytest.skip("pdffonts (poppler-utils) is not installed")
    out = subprocess.run(["pdffonts", str(exhibit.pdf)], capture_output=True, text=True, check=True).stdout
    rows = [line for line in out.splitlines()[2:] if line.strip()]
    assert rows, out
    assert any("CJK" in r for r in rows), out
    for row in rows:
        emb, sub = row.split()[-5], row.split()[-4]
        assert (emb, sub) == ("yes", "yes"), row


def test_text_has_purpose_of_proof_and_every_input_hash(exhibit: ExhibitResult) -> None:
    text = _flat("".join(_pdf_text(exhibit.pdf)))
    assert "证明目的" in text and "Purposeofproof" in text
    for sha in INPUT_SHA:
        assert sha in text
    for check in _pack()["checks"]:
        assert check["result_sha256"] in text


def test_every_page_is_stamped(exhibit: ExhibitResult) -> None:
    pages = _pdf_text(exhibit.pdf)
    assert len(pages) > 5
    for n, page in enumerate(pages, 1):
        flat = _flat(page)
        assert exhibit.exhibit_digest in flat, f"page {n}"
        assert "E-3" in flat and f"{n}/{len(pages)}" in flat, f"page {n}"


def test_sections_in_order(exhibit: ExhibitResult) -> None:
    text = _flat("".join(_pdf_text(exhibit.pdf)))
    keys = ["s_purpose", "s_sources", "s_extraction", "s_time", "s_checks", "s_completeness", "s_exposure",
            "s_timeline", "s_limitations", "s_attestation", "s_appendix"]  # fmt: skip
    positions = [text.find(_flat(f"{LABELS[k]['zh']} {LABELS[k]['en']}")) for k in keys]
    assert -1 not in positions and positions == sorted(positions)


# ---------------------------------------------------------------- personal information


def _without_docket(text: str, config: dict[str, Any] | None = None) -> str:
    """The caption and the parties' names are the docket entry, shown as filed (caption_public, the default)."""
    config = config or _config()
    if text.lstrip().startswith("{"):
        data = json.loads(text)
        data.pop("cover", None)
        return json.dumps(data, ensure_ascii=False)
    text = _flat(text).replace(_flat(config["case"]["caption"]), "")
    for party in config.get("parties", []):
        text = re.sub(r"(原告|被告|第三人|Plaintiff|Defendant|Thirdparty)+：" + re.escape(party["name"]), "", text)
    return text


def test_plaintiff_appears_nowhere_in_the_masked_exhibit(exhibit: ExhibitResult) -> None:
    texts = ["".join(_pdf_text(exhibit.pdf))]
    for path in exhibit.out_dir.rglob("*"):
        if path.is_file() and path.suffix != ".pdf":
            texts.append(path.read_text(encoding="utf-8"))
    texts = [_without_docket(t) for t in texts]
    for text in texts:
        assert PLAINTIFF["name"] not in text
        assert PLAINTIFF["phone"] not in re.sub(r"[\s-]", "", text)
    record = json.loads(exhibit.json.read_text(encoding="utf-8"))
    assert record["redactions"]["masked"] is True
    assert all("original" not in r for r in record["redactions"]["log"])
    assert any(r["kind"] == "phone" for r in record["redactions"]["log"])


def test_pseudonyms_join_across_tables(exhibit: ExhibitResult) -> None:
    record = json.loads(exhibit.json.read_text(encoding="utf-8"))
    actors = {}
    for check in record["checks"]:
        if "actor_id" in check["columns"]:
            i = check["columns"].index("actor_id")
            for row in check["results"]:
                actors.setdefault(check["id"], set()).add(row[i])
    # the shop account S100233 prints the waybill in both the trail and the waybill-print check
    assert actors["order-trail"] & actors["waybill-print"]
    assert all(a.startswith("acct-") for a in actors["waybill-print"])
    assert "S100233" not in {a for values in actors.values() for a in values}


# ---------------------------------------------------------------- hostile content is data


def test_typst_markup_in_a_log_renders_literally(exhibit: ExhibitResult) -> None:
    reader = PdfReader(exhibit.pdf)
    sizes = {(round(float(p.mediabox.width)), round(float(p.mediabox.height))) for p in reader.pages}
    assert sizes == {(595, 842)}  # A4 everywhere: '#set page(width: 1cm)' did nothing
    text = _flat("".join(_pdf_text(exhibit.pdf)))
    assert _flat(TYPST_ATTACK) in text
    assert _flat(HTML_ATTACK) in text


def test_html_escapes_log_content(exhibit: ExhibitResult) -> None:
    page = exhibit.html.read_text(encoding="utf-8")
    assert "<script>alert" not in page and "onerror=alert(1)>" not in page
    assert str(markupsafe.escape(HTML_ATTACK)) in page
    assert "Content-Security-Policy" in page and "http://" not in page.split("</head>")[1]


@given(st.text(min_size=1, max_size=40).filter(lambda s: s.strip()))
@settings(max_examples=60, deadline=None)
def test_any_cell_text_reaches_html_escaped(value: str) -> None:
    src = _inputs()
    trail = next(c for c in src.pack["checks"] if c["id"] == "order-trail")
    trail["results"][0][trail["columns"].index("action_raw")] = value
    record = build_record(src, _masker())
    view = dict(build_view(record, "0" * 64), labels=LABELS)
    shown = next(c for c in view["checks"] if c["id"] == "order-trail")["rows"][0]
    page = render_html(view, Path("."))
    for cell in shown:
        assert str(markupsafe.escape(cell)) in page


# ---------------------------------------------------------------- manifest, digest, determinism


def test_manifest_hashes_every_file_and_input(exhibit: ExhibitResult) -> None:
    manifest = json.loads(exhibit.manifest.read_text(encoding="utf-8"))
    listed = {f["path"]: f for f in manifest["files"]}
    on_disk = {p.relative_to(exhibit.out_dir).as_posix() for p in exhibit.out_dir.rglob("*") if p.is_file()}
    assert set(listed) == on_disk - {"manifest.json"}
    assert {"exhibit.pdf", "exhibit.html", "exhibit.json", "typst/view.json", "charts/timeline.svg"} <= set(listed)
    for rel, entry in listed.items():
        data = (exhibit.out_dir / rel).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["sm3"] == hashlib.new("sm3", data).hexdigest()
    assert [i["sha256"] for i in manifest["case_inputs"]] == INPUT_SHA
    assert manifest["exhibit_digest"] == exhibit_stamp(exhibit.out_dir)  # exhibit.json, layout and charts
    assert exhibit.manifest_sha256 == hashlib.sha256(exhibit.manifest.read_bytes()).hexdigest()


def test_rebuild_is_reproducible(tmp_path: Path, exhibit: ExhibitResult, fonts: FontChoice) -> None:
    again = render_exhibit(_inputs(), _masker(), tmp_path / "E-3", fonts)
    assert again.exhibit_digest == exhibit.exhibit_digest
    assert again.pdf.read_bytes() == exhibit.pdf.read_bytes()


def test_record_is_what_the_json_holds(exhibit: ExhibitResult) -> None:
    record = json.loads(exhibit.json.read_text(encoding="utf-8"))
    assert exhibit.json.read_bytes() == dump_json(record)
    assert {c["id"]: c["verdict"] for c in record["checks"]} == {c["id"]: c["verdict"] for c in _pack()["checks"]}
    assert record["digests"]["unmasked-view"]["result_sha256"] == _pack()["checks"][1]["result_sha256"]


# ---------------------------------------------------------------- languages, sealed version, fonts


@pytest.mark.parametrize(
    ("lang", "present", "absent"), [("en", "Purpose of proof", "证明目的"), ("zh", "证明目的", "Purpose of proof")]
)
def test_single_language(fixture_exhibit: Callable[[str], ExhibitResult], lang: str, present: str, absent: str) -> None:
    result = fixture_exhibit(lang)
    text = _flat("".join(_pdf_text(result.pdf)))
    assert _flat(present) in text and _flat(absent) not in text


def test_sealed_version_links_to_the_masked_one(tmp_path: Path, exhibit: ExhibitResult, fonts: FontChoice) -> None:
    link = {"masked_exhibit": {"path": str(exhibit.out_dir), "manifest_sha256": exhibit.manifest_sha256,
                               "exhibit_digest": exhibit.exhibit_digest}}  # fmt: skip
    sealed = render_exhibit(_inputs(), _masker(enabled=False), tmp_path / "E-3-unmasked", fonts, link)
    text = _flat("".join(_pdf_text(sealed.pdf)))
    assert PLAINTIFF["phone"] in text and _flat(LABELS["sealed_banner"]["zh"]) in text
    record = json.loads(sealed.json.read_text(encoding="utf-8"))
    assert record["sealed"] is True
    assert {"13800131234", PLAINTIFF["name"]} <= {r.get("original") for r in record["redactions"]["log"]}
    kinds = {p.kind for p in verify_exhibit(sealed.out_dir).problems}
    assert "link" not in kinds and "file" not in kinds
    moved = tmp_path / "other"
    shutil.copytree(exhibit.out_dir, moved)
    (moved / "manifest.json").write_text("{}", encoding="utf-8")
    sealed_manifest = json.loads(sealed.manifest.read_text(encoding="utf-8"))
    sealed_manifest["masked_exhibit"]["path"] = str(moved)
    # editing the link breaks the sealed manifest's own file list too; both are named
    (sealed.out_dir / "manifest.json").write_text(json.dumps(sealed_manifest), encoding="utf-8")
    kinds = {p.kind for p in verify_exhibit(sealed.out_dir).problems}
    assert "link" in kinds


def test_missing_cjk_font_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ForensicsError, match="fonts-noto-cjk"):
        find_cjk_fonts(tmp_path)
    dejavu = Path("/usr/share/fonts/truetype/dejavu")
    if dejavu.is_dir():
        with pytest.raises(ForensicsError, match="no font there has Chinese glyphs"):
            find_cjk_fonts(dejavu)


def test_font_path_selects_the_given_font(fonts: FontChoice) -> None:
    folder = fonts.files[0].parent
    chosen = find_cjk_fonts(folder)
    assert chosen.files and all(f.parent == folder for f in chosen.files)


# ---------------------------------------------------------------- verify (file level; the case is not there)


def test_verify_names_a_changed_byte(tmp_path: Path, exhibit: ExhibitResult) -> None:
    copy_dir = tmp_path / "E-3"
    shutil.copytree(exhibit.out_dir, copy_dir)
    before = verify_exhibit(copy_dir)
    assert [p.kind for p in before.problems] == ["case"]  # only the absent case folder
    data = bytearray((copy_dir / "exhibit.json").read_bytes())
    data[data.index(b"clean")] = ord("C")
    (copy_dir / "exhibit.json").write_bytes(bytes(data))
    (copy_dir / "extra.txt").write_text("x", encoding="utf-8")
    report = verify_exhibit(copy_dir)
    assert not report.ok
    named = {(p.kind, p.path) for p in report.problems}
    assert ("file", "exhibit.json") in named
    assert ("digest", "exhibit.json") in named
    assert ("unexpected", "extra.txt") in named


def _as_format(folder: Path, made: int | None) -> None:
    """Turn a copy into what another version wrote: exhibit.json and manifest.json carry format `made` (None: no
    marker, as before format 2), with the stamp and every file hash consistent, as that version made them."""
    from forensics.exhibit.build import folder_files
    from forensics.exhibit.model import EXHIBIT_FORMAT

    record = json.loads((folder / "exhibit.json").read_text(encoding="utf-8"))
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert record["exhibit_format"] == manifest["exhibit_format"] == EXHIBIT_FORMAT
    for data in (record, manifest):
        data.pop("exhibit_format")
        if made is not None:
            data["exhibit_format"] = made
    record["format"] = f"forensics-exhibit/{made or 1}"
    (folder / "exhibit.json").write_bytes(dump_json(record))
    manifest["exhibit_digest"] = exhibit_stamp(folder)
    manifest["files"] = [
        {"path": p.relative_to(folder).as_posix(), "bytes": p.stat().st_size,
         "sha256": hashlib.sha256(p.read_bytes()).hexdigest(), "sm3": hashlib.new("sm3", p.read_bytes()).hexdigest()}
        for p in folder_files(folder)
    ]  # fmt: skip
    (folder / "manifest.json").write_bytes(dump_json(manifest))


@pytest.mark.parametrize("made", [None, 1])
def test_an_exhibit_of_an_older_format_is_named_as_such(tmp_path: Path, exhibit: ExhibitResult, made: Any) -> None:
    folder = tmp_path / "E-3"
    shutil.copytree(exhibit.out_dir, folder)
    _as_format(folder, made)
    report = verify_exhibit(folder)
    assert [(p.kind, p.path) for p in report.problems] == [("format", "manifest.json")]  # no stamp or render noise
    assert "made by an older forensics (format 1;" in report.problems[0].detail
    assert "re-build it with `forensics exhibit CASE --replace`" in report.problems[0].detail


def test_an_exhibit_of_a_newer_format_says_which_version_verifies_it(tmp_path: Path, exhibit: ExhibitResult) -> None:
    from forensics.exhibit.model import EXHIBIT_FORMAT

    folder = tmp_path / "E-3"
    shutil.copytree(exhibit.out_dir, folder)
    _as_format(folder, EXHIBIT_FORMAT + 1)
    [problem] = verify_exhibit(folder).problems
    assert problem.kind == "format" and f"made by a newer forensics (format {EXHIBIT_FORMAT + 1};" in problem.detail
    (folder / "exhibit.json").write_text("{}", encoding="utf-8")  # a changed file is still named beside it
    assert {p.kind for p in verify_exhibit(folder).problems} == {"format", "file"}


def test_verify_refuses_a_folder_without_manifest(tmp_path: Path) -> None:
    report = verify_exhibit(tmp_path)
    assert not report.ok and report.problems[0].kind == "manifest"


# ---------------------------------------------------------------- end to end on a sample case


@pytest.fixture(scope="module")
def built(guilty_exhibit: tuple[Any, ExhibitResult]) -> tuple[Any, ExhibitResult]:
    return guilty_exhibit  # the session's guilty sample case and its --unmask exhibit: read only, copy to change


def test_end_to_end_exhibit_and_verify(built: tuple[Any, ExhibitResult]) -> None:
    case, result = built
    assert result.out_dir == case.exhibits_dir / str(case.config["case"].get("exhibit_number") or "E-1")
    report = verify_exhibit(result.out_dir)
    assert report.ok, report.problems
    assert result.sealed is not None
    sealed_report = verify_exhibit(result.sealed.out_dir)
    assert sealed_report.ok, sealed_report.problems
    text = _flat("".join(_pdf_text(result.pdf)))
    for item in case.manifest()["inputs"]:
        assert item["sha256"] in text
    ground = json.loads((case.root.parent / "logs" / "ground_truth.json").read_text(encoding="utf-8"))
    secrets = [v for k, v in _walk_items(ground) if k in {"phone", "name", "receiver_phone", "receiver_name"}]
    assert secrets
    corpus = [result.html.read_text(encoding="utf-8"), result.json.read_text(encoding="utf-8")]
    corpus = [_without_docket(doc, case.config) for doc in [text, *corpus]]
    for secret in secrets:
        for doc in corpus:
            assert _flat(str(secret)) not in _flat(doc)


def _copy_case(built: tuple[Any, ExhibitResult], tmp_path: Path) -> tuple[Path, Path]:
    case, result = built
    copy_root = tmp_path / "c"
    shutil.copytree(case.root.parent, copy_root)
    return copy_root / case.root.name, copy_root / result.out_dir.relative_to(case.root.parent)


def test_end_to_end_verify_catches_a_changed_event(built: tuple[Any, ExhibitResult], tmp_path: Path) -> None:
    import polars as pl

    case, _ = built
    case_copy, exhibit_copy = _copy_case(built, tmp_path)
    order_id = str(case.config["order"]["ids"][0])
    for parquet in sorted((case_copy / "events").rglob("*.parquet")):
        frame = pl.read_parquet(parquet, hive_partitioning=False)
        touched = frame.get_column("order_ids").list.contains(order_id)
        if touched.any():
            # a well-formed, consistently rewritten file: only re-running the checks can notice
            frame = frame.with_columns(
                action_raw=pl.when(touched).then(pl.lit("EDITED")).otherwise(pl.col("action_raw"))
            )
            frame.write_parquet(parquet)
            break
    else:
        pytest.fail("no stored event touches the order")
    report = verify_exhibit(exhibit_copy)
    assert not report.ok
    named = {(p.kind, p.path) for p in report.problems}
    assert ("check", "order-trail") in named, report.problems
    assert any(kind.startswith("case-") for kind, _ in named), report.problems


def test_end_to_end_verify_reports_a_corrupt_store(built: tuple[Any, ExhibitResult], tmp_path: Path) -> None:
    case_copy, exhibit_copy = _copy_case(built, tmp_path)
    parquet = sorted((case_copy / "events").rglob("*.parquet"))[0]
    data = bytearray(parquet.read_bytes())
    data[len(data) // 2] ^= 0xFF
    parquet.write_bytes(bytes(data))
    report = verify_exhibit(exhibit_copy)
    assert not report.ok
    assert any(p.kind.startswith("case-") or p.kind == "rerun" for p in report.problems)


def test_end_to_end_verify_catches_a_changed_exhibit_byte(built: tuple[Any, ExhibitResult], tmp_path: Path) -> None:
    _, exhibit_copy = _copy_case(built, tmp_path)
    path = exhibit_copy / "exhibit.json"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x01
    path.write_bytes(bytes(data))
    named = {(p.kind, p.path) for p in verify_exhibit(exhibit_copy).problems}
    assert ("file", "exhibit.json") in named and ("digest", "exhibit.json") in named


def _walk_items(value: Any) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        for k, v in value.items():
            out += [(k, v)] if isinstance(v, str) else _walk_items(v)
    elif isinstance(value, list):
        for v in value:
            out += _walk_items(v)
    return out


def test_copy_of_pack_is_not_mutated() -> None:
    src = _inputs()
    before = copy.deepcopy(src.pack)
    build_record(src, _masker())
    assert src.pack == before
