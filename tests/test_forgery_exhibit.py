"""Forgeries of an exhibit that an opposing expert can script (issue 10, reproduced 1 and 2): each must be named.

A genuine exhibit is built once per session from a small guilty sample case (conftest.py); every test copies case
and exhibit, forges with the project's own functions (compile_pdf, render_html, the stamp formula), refreshes
manifest.json so every file hash matches again, and asserts verify names the forgery by kind.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from forensics.exhibit import ExhibitResult
from forensics.exhibit.build import exhibit_view, folder_files
from forensics.exhibit.html import render_html
from forensics.exhibit.pdf import FontChoice, compile_pdf, write_typst_sources
from forensics.exhibit.seal import exhibit_stamp
from forensics.exhibit.verify import verify_exhibit


def _restamp(folder: Path, record: dict[str, Any], fonts: FontChoice) -> None:
    """Write a forged record and re-render every document from it with the public stamp formula."""
    (folder / "exhibit.json").write_text(
        json.dumps(record, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8"
    )
    stamp = exhibit_stamp(folder)
    view = exhibit_view(record, stamp)
    main = write_typst_sources(folder, view, fonts)
    compile_pdf(main, folder, folder / "exhibit.pdf", fonts, datetime.fromisoformat(record["generated_at"]))
    (folder / "exhibit.html").write_text(render_html(view, folder), encoding="utf-8")
    _refresh_manifest(folder, exhibit_digest=stamp)


@pytest.fixture(scope="module")
def fonts(exhibit_fonts: FontChoice) -> FontChoice:
    return exhibit_fonts


@pytest.fixture(scope="module")
def built(guilty_exhibit: tuple[Any, ExhibitResult]) -> tuple[Any, ExhibitResult]:
    return guilty_exhibit  # built once per session (conftest.py): read only, each forgery works on a copy


def _copy(built: tuple[Any, ExhibitResult], tmp_path: Path) -> tuple[Any, Path]:
    from forensics.case import Case

    case, result = built
    root = tmp_path / "c"
    shutil.copytree(case.root.parent, root)
    return Case(root / case.root.name), root / result.out_dir.relative_to(case.root.parent)


def _refresh_manifest(folder: Path, **changes: Any) -> None:
    """What a forger does last: re-hash every file so the manifest matches again."""
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    files = []
    for p in folder_files(folder):
        data = p.read_bytes()
        from forensics.custody import hash_file

        files.append(
            {
                "path": p.relative_to(folder).as_posix(),
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "sm3": hash_file(p).sm3,
            }
        )
    manifest.update(files=files, **changes)
    (folder / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")


def _kinds(folder: Path) -> set[tuple[str, str]]:
    report = verify_exhibit(folder)
    assert not report.ok
    return {(p.kind, p.path.split(":")[0]) for p in report.problems}


def test_genuine_exhibit_verifies_and_records_its_custody_head(built: tuple[Any, ExhibitResult]) -> None:
    case, result = built
    report = verify_exhibit(result.out_dir)
    assert report.ok, report.problems
    assert report.case == str(case.root.resolve())
    record = json.loads(result.json.read_text(encoding="utf-8"))
    manifest = json.loads(result.manifest.read_text(encoding="utf-8"))
    log = [json.loads(line) for line in case.custody_path.read_text(encoding="utf-8").splitlines()]
    exhibit_entry = log[-1]
    assert exhibit_entry["action"] == "exhibit"
    head = {"seq": log[-2]["seq"], "hash": log[-2]["hash"]}
    assert record["custody_head"] == manifest["custody_head"] == exhibit_entry["details"]["custody_head"] == head
    toml_sha = hashlib.sha256(case.toml_path.read_bytes()).hexdigest()
    assert record["case_toml_sha256"] == exhibit_entry["details"]["case_toml_sha256"] == toml_sha
    assert exhibit_entry["details"]["exhibit_digest"] == result.exhibit_digest == exhibit_stamp(result.out_dir)
    assert len(record["params_sha256"]) == 64


def test_forged_view_pdf_and_html_are_named(
    built: tuple[Any, ExhibitResult], tmp_path: Path, fonts: FontChoice
) -> None:
    _, folder = _copy(built, tmp_path)
    view_path = folder / "typst" / "view.json"
    text = view_path.read_text(encoding="utf-8")
    assert "FLAGGED" in text
    view_path.write_text(text.replace("FLAGGED", "CLEAN").replace("发现记录", "未发现记录"), encoding="utf-8")
    record = json.loads((folder / "exhibit.json").read_text(encoding="utf-8"))
    compile_pdf(
        view_path.with_name("exhibit.typ"),
        folder,
        folder / "exhibit.pdf",
        fonts,
        datetime.fromisoformat(record["generated_at"]),
    )
    html = folder / "exhibit.html"
    html.write_text(html.read_text(encoding="utf-8").replace("FLAGGED", "CLEAN"), encoding="utf-8")
    _refresh_manifest(folder)
    named = _kinds(folder)
    assert {("view", "typst/view.json"), ("pdf", "exhibit.pdf"), ("html", "exhibit.html")} <= named, named


def test_forged_findings_with_digests_kept_and_restamped(
    built: tuple[Any, ExhibitResult], tmp_path: Path, fonts: FontChoice
) -> None:
    _, folder = _copy(built, tmp_path)
    record = json.loads((folder / "exhibit.json").read_text(encoding="utf-8"))
    flagged = [c for c in record["checks"] if c["verdict"] == "flagged" and c.get("results")]
    assert flagged
    flagged[0].update(results=[], rows=0, verdict="clean")
    (folder / "exhibit.json").write_text(
        json.dumps(record, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8"
    )
    # re-stamp with the public formula and re-render every document from the forged record
    stamp = exhibit_stamp(folder)
    view = exhibit_view(record, stamp)
    main = write_typst_sources(folder, view, fonts)
    compile_pdf(main, folder, folder / "exhibit.pdf", fonts, datetime.fromisoformat(record["generated_at"]))
    (folder / "exhibit.html").write_text(render_html(view, folder), encoding="utf-8")
    _refresh_manifest(folder, exhibit_digest=stamp)
    report = verify_exhibit(folder)
    assert not report.ok
    named = {(p.kind, p.path) for p in report.problems}
    assert ("record", f"exhibit.json:checks/{flagged[0]['id']}") in named, report.problems
    assert ("custody-exhibit", str(report.case) + "/custody.log") in named  # the log recorded the genuine digest


def test_edited_layout_with_the_stamp_kept_is_named(
    built: tuple[Any, ExhibitResult], tmp_path: Path, fonts: FontChoice
) -> None:
    _, folder = _copy(built, tmp_path)
    layout = folder / "typst" / "exhibit.typ"
    layout.write_text(layout.read_text(encoding="utf-8") + "\n#text[ADDED BY A FORGER]\n", encoding="utf-8")
    record = json.loads((folder / "exhibit.json").read_text(encoding="utf-8"))
    compile_pdf(layout, folder, folder / "exhibit.pdf", fonts, datetime.fromisoformat(record["generated_at"]))
    _refresh_manifest(folder)
    named = _kinds(folder)
    assert ("digest", "exhibit.json") in named and ("layout", "typst/exhibit.typ") in named, named
    assert ("pdf", "exhibit.pdf") in named, named


def test_truncated_custody_log_is_named(built: tuple[Any, ExhibitResult], tmp_path: Path) -> None:
    case, folder = _copy(built, tmp_path)
    lines = case.custody_path.read_text(encoding="utf-8").splitlines(keepends=True)
    case.custody_path.write_text("".join(lines[:-1]), encoding="utf-8")  # sed -i '$d' custody.log
    assert ("custody-exhibit", str(case.custody_path.resolve())) in _kinds(folder)
    case.custody_path.write_text("".join(lines[:-2]), encoding="utf-8")  # and the entry it was built on
    assert ("custody-head", str(case.custody_path.resolve())) in _kinds(folder)


def test_case_toml_changed_after_the_exhibit_is_named(built: tuple[Any, ExhibitResult], tmp_path: Path) -> None:
    case, folder = _copy(built, tmp_path)
    case.toml_path.write_text(case.toml_path.read_text(encoding="utf-8") + "\n# edited later\n", encoding="utf-8")
    assert ("case-toml", str(case.toml_path.resolve())) in _kinds(folder)


def test_verify_uses_case_option_and_says_which_case(built: tuple[Any, ExhibitResult], tmp_path: Path) -> None:
    case, result = built
    moved = tmp_path / "moved"
    shutil.copytree(result.out_dir, moved)  # the relative path no longer reaches the case; the absolute one does
    report = verify_exhibit(moved)
    assert report.case == str(case.root.resolve())
    assert any("absolute path" in n and "--case" in n for n in report.notes), report.notes
    other_case, _ = _copy(built, tmp_path / "copy")
    chosen = verify_exhibit(moved, case_dir=other_case.root)
    assert chosen.case == str(other_case.root.resolve()) and not chosen.notes


def test_a_row_removed_with_the_verdict_kept_is_named(
    built: tuple[Any, ExhibitResult], tmp_path: Path, fonts: FontChoice
) -> None:
    _, folder = _copy(built, tmp_path)
    record = json.loads((folder / "exhibit.json").read_text(encoding="utf-8"))
    target = next(c for c in record["checks"] if len(c.get("results") or []) > 1)
    target["results"] = target["results"][1:]
    target["rows"] -= 1
    _restamp(folder, record, fonts)
    report = verify_exhibit(folder)
    named = {(p.kind, p.path): p.detail for p in report.problems}
    assert "rows differ" in named[("record", f"exhibit.json:checks/{target['id']}")], report.problems
