"""exhibit verifies the case first, never deletes what it did not write, never silently replaces an exhibit, and
refuses a read-only case before writing anything (issue 10 build 6; issue 12 build 4; issue 11 item 5)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pypdf import PdfReader

from forensics.cli import main
from forensics.errors import ForensicsError
from forensics.exhibit import ExhibitResult, build_exhibit


@pytest.fixture(scope="module")
def built(guilty_exhibit: tuple[Any, ExhibitResult]) -> tuple[Any, ExhibitResult]:
    return guilty_exhibit  # built once per session (conftest.py): every test here works on a copy


def _copy(built: tuple[Any, ExhibitResult], tmp_path: Path) -> tuple[Any, Path]:
    from forensics.case import Case

    case, result = built
    shutil.copytree(case.root.parent, tmp_path / "c")
    return Case(tmp_path / "c" / case.root.name), tmp_path / "c" / result.out_dir.relative_to(case.root.parent)


def _tamper(case: Any) -> None:
    """Rewrite who ran the first custody step: the chain no longer verifies, the events still read."""
    lines = case.custody_path.read_text(encoding="utf-8").splitlines(keepends=True)
    first = json.loads(lines[0])
    first["user"] = "someone-else"
    lines[0] = json.dumps(first) + "\n"
    case.custody_path.write_text("".join(lines), encoding="utf-8")


def test_a_case_failing_verify_is_refused_before_anything_is_written(
    built: tuple[Any, ExhibitResult], tmp_path: Path
) -> None:
    case, _ = _copy(built, tmp_path)
    _tamper(case)
    log_before = case.custody_path.read_bytes()
    with pytest.raises(ForensicsError, match=r"fails verification.*--allow-unverified"):
        build_exhibit(case, None, number="E-9")
    assert not (case.exhibits_dir / "E-9").exists()
    assert case.custody_path.read_bytes() == log_before


def test_allow_unverified_says_so_on_every_page(built: tuple[Any, ExhibitResult], tmp_path: Path) -> None:
    case, _ = _copy(built, tmp_path)
    _tamper(case)
    result = build_exhibit(case, None, number="E-9", allow_unverified=True)
    pages = [page.extract_text() or "" for page in PdfReader(result.pdf).pages]
    assert pages and all("CASE FAILED VERIFICATION" in " ".join(p.split()) for p in pages)
    assert "CASE FAILED VERIFICATION" in result.html.read_text(encoding="utf-8")
    record = json.loads(result.json.read_text(encoding="utf-8"))
    assert record["case_verification"]["ok"] is False and record["case_verification"]["problems"]
    entry = json.loads(case.custody_path.read_text(encoding="utf-8").splitlines()[-1])
    assert entry["action"] == "exhibit" and entry["details"]["allow_unverified"] >= 1


def test_files_the_exhibit_did_not_write_are_never_deleted(built: tuple[Any, ExhibitResult], tmp_path: Path) -> None:
    case, folder = _copy(built, tmp_path)
    (folder / "notes.txt").write_text("my notes", encoding="utf-8")
    with pytest.raises(ForensicsError, match=r"did not write.*notes.txt"):
        build_exhibit(case, folder, replace=True)
    assert (folder / "notes.txt").read_text(encoding="utf-8") == "my notes"
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ForensicsError, match="not an exhibit folder"):
        build_exhibit(case, foreign)
    assert (foreign / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_an_earlier_exhibit_is_replaced_only_with_replace_and_custody_says_so(
    built: tuple[Any, ExhibitResult], tmp_path: Path
) -> None:
    case, folder = _copy(built, tmp_path)
    old = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    runner = CliRunner()
    refused = runner.invoke(main, ["exhibit", str(case.root)])
    assert refused.exit_code == 1 and "--replace" in refused.output
    assert json.loads((folder / "manifest.json").read_text(encoding="utf-8")) == old
    done = runner.invoke(main, ["exhibit", str(case.root), "--replace"])
    assert done.exit_code == 0, done.output
    assert f"verify with: forensics verify {folder}" in done.output
    entry = json.loads(case.custody_path.read_text(encoding="utf-8").splitlines()[-1])
    assert entry["details"]["replaced_exhibit_digest"] == old["exhibit_digest"]
    checked = runner.invoke(main, ["verify", str(folder), "--case", str(case.root)])
    assert checked.exit_code == 0, checked.output
    assert f"case: {case.root.resolve()}" in checked.output


def test_a_read_only_case_is_refused_before_anything_is_written(
    built: tuple[Any, ExhibitResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case, _ = _copy(built, tmp_path)
    real_access = os.access
    read_only = {case.custody_path, case.root}

    def access(path: Any, mode: int, **kw: Any) -> bool:  # root ignores chmod, so model a read-only mount
        return False if Path(path) in read_only and mode & os.W_OK else real_access(path, mode, **kw)

    monkeypatch.setattr(os, "access", access)
    log_before = case.custody_path.read_bytes()
    with pytest.raises(ForensicsError, match=r"not writable.*nothing was written"):
        build_exhibit(case, None, number="E-8")
    assert not (case.exhibits_dir / "E-8").exists()
    assert case.custody_path.read_bytes() == log_before
