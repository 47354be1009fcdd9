"""Re-derive what the court reads: exhibit.json from the case, then the charts, view.json, PDF and HTML from it.

verify_exhibit calls these after the pack has been re-run. Each difference is a Problem whose kind says which
document differs: ``record`` (exhibit.json vs the re-run), ``chart``, ``layout`` (typst template), ``view``
(typst/view.json), ``pdf`` (page text, or bytes when the same fonts are present) and ``html``.
"""

from __future__ import annotations

import json
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from forensics.custody import Problem
from forensics.display import use_fonts
from forensics.errors import ForensicsError
from forensics.exhibit.build import exhibit_view, seal_fields, write_charts
from forensics.exhibit.html import render_html
from forensics.exhibit.model import RecordInputs, build_record
from forensics.exhibit.pdf import compile_pdf, find_cjk_fonts, template_text, write_typst_sources
from forensics.exhibit.seal import LAYOUT
from forensics.masking import KEY_FILE, Masker, known_people

# Recorded at build time and not re-derivable from the case; verify checks them separately.
_CARRIED = ("case_toml_sha256", "case_verification")


def rederive_record(
    case: Any, record: dict[str, Any], fresh: dict[str, Any], custody: list[dict[str, Any]], notes: list[str]
) -> dict[str, Any] | None:
    """exhibit.json as the case says it should read: same pack re-run, custody up to the recorded head."""
    # the key lives outside the case (per-user folder, keyed by the case id); an old case may still hold it
    from forensics.masking import case_id, key_dir

    places = [key_dir() / f"{case_id(custody, case.root)}.key", case.root / KEY_FILE]
    key_path = next((p for p in places if p.is_file()), None)
    if key_path is None:
        notes.append(
            "the case's pseudonym key is not on this machine: masked rows cannot be re-derived; "
            "verdicts and digests were compared"
        )
        return None
    key = bytes.fromhex(key_path.read_text(encoding="ascii").strip())
    head = int((record.get("custody_head") or {}).get("seq") or len(custody))
    extraction = record.get("extraction") or {}
    src = RecordInputs(
        pack=fresh,
        config=case.config,
        manifest=case.manifest(),
        custody=[e for e in custody if int(e.get("seq") or 0) <= head],
        case_ref=dict(record.get("case_ref") or {}),
        generated_at=datetime.fromisoformat(str(record.get("generated_at"))),
        versions=dict(extraction.get("tool_versions") or {}),
        number=str(record.get("number")),
        lang=str(record.get("lang", "zh-en")),
        charts=dict(record.get("charts") or {}),
    )
    masker = Masker(key, known_people(case.config.get("parties", [])), enabled=not record.get("sealed"))
    carried = {k: record[k] for k in _CARRIED if k in record}
    derived = dict(build_record(src, masker), **seal_fields(src, carried))
    # JSON round trip so tuples/lists and number types compare the way exhibit.json stores them
    result: dict[str, Any] = json.loads(json.dumps(derived, ensure_ascii=False))
    return result


def compare_records(record: dict[str, Any], derived: dict[str, Any], problems: list[Problem]) -> None:
    for key in sorted(set(record) | set(derived)):
        if record.get(key) == derived.get(key):
            continue
        if key == "checks":
            _compare_checks(record.get("checks") or [], derived.get("checks") or [], problems)
        else:
            problems.append(Problem("record", f"exhibit.json:{key}", "differs from what the case re-derives"))


def _compare_checks(shown: list[dict[str, Any]], now: list[dict[str, Any]], problems: list[Problem]) -> None:
    by_id = {str(c.get("id")): c for c in now}
    for old in shown:
        cid = str(old.get("id"))
        new = by_id.pop(cid, None)
        if new is None:
            problems.append(Problem("record", f"exhibit.json:checks/{cid}", "check is not in the re-run"))
        elif old != new:
            problems.append(Problem("record", f"exhibit.json:checks/{cid}", _check_difference(old, new)))
    for cid in sorted(by_id):
        problems.append(Problem("record", f"exhibit.json:checks/{cid}", "the re-run has this check; exhibit does not"))


def _rows(check: dict[str, Any]) -> list[Any]:
    rows = check.get("results")
    return rows if isinstance(rows, list) else []


def _check_difference(old: dict[str, Any], new: dict[str, Any]) -> str:
    if old.get("verdict") != new.get("verdict"):
        return f"verdict differs: exhibit {old.get('verdict')}, re-run {new.get('verdict')}"
    old_rows, new_rows = _rows(old), _rows(new)
    if len(old_rows) != len(new_rows) or old.get("rows") != new.get("rows"):
        return f"rows differ: exhibit {old.get('rows')} ({len(old_rows)} shown), re-run {new.get('rows')}"
    for n, (a, b) in enumerate(zip(old_rows, new_rows, strict=True), 1):
        if a != b:
            return f"row {n} differs from the re-run"
    fields = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    return "differs from the re-run in " + ", ".join(fields)


# ---------------------------------------------------------------- documents


def rerender(
    exhibit_dir: Path, record: dict[str, Any], fresh: dict[str, Any], stamp: str, problems: list[Problem]
) -> dict[str, int]:
    """Re-render charts, view.json, PDF and HTML from exhibit.json into a scratch folder and compare."""
    checked: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="forensics-verify-") as tmp:
        scratch = Path(tmp)
        checked["charts"] = _compare_charts(exhibit_dir, scratch, fresh, problems)
        _compare_layout(exhibit_dir, problems)
        try:
            fonts = find_cjk_fonts(None)
        except ForensicsError as exc:
            problems.append(Problem("render", "exhibit.pdf", f"cannot re-render the PDF to compare it: {exc}"))
            return checked
        use_fonts(fonts.files)  # the same escapes for characters the fonts cannot draw, as at build time
        view = exhibit_view(record, stamp)
        _compare_html(exhibit_dir, scratch, view, problems)
        main = write_typst_sources(scratch, view, fonts)
        _compare_view(exhibit_dir, scratch, problems)
        when = datetime.fromisoformat(str(record.get("generated_at")))
        try:
            compile_pdf(main, scratch, scratch / "exhibit.pdf", fonts, when)
        except ForensicsError as exc:
            problems.append(Problem("render", "exhibit.pdf", f"cannot re-render the PDF to compare it: {exc}"))
            return checked
        checked["pdf_pages"] = _compare_pdf(exhibit_dir / "exhibit.pdf", scratch / "exhibit.pdf", problems)
    return checked


def _compare_charts(exhibit_dir: Path, scratch: Path, fresh: dict[str, Any], problems: list[Problem]) -> int:
    paths = write_charts(fresh, scratch)
    names = set(paths.values()) | {p.relative_to(exhibit_dir).as_posix() for p in (exhibit_dir / "charts").glob("*")}
    for rel in sorted(names):
        mine, theirs = scratch / rel, exhibit_dir / rel
        if not theirs.is_file() or not mine.is_file() or mine.read_bytes() != theirs.read_bytes():
            problems.append(Problem("chart", rel, "chart differs from the one the re-run draws"))
    return len(names)


def _compare_layout(exhibit_dir: Path, problems: list[Problem]) -> None:
    try:
        same = (exhibit_dir / LAYOUT).read_text(encoding="utf-8") == template_text()
    except (OSError, UnicodeDecodeError):
        same = False
    if not same:
        detail = "typst layout differs from this tool's template (edited, or built by another version)"
        problems.append(Problem("layout", LAYOUT, detail))


def _compare_view(exhibit_dir: Path, scratch: Path, problems: list[Problem]) -> None:
    def load(folder: Path) -> Any:
        try:
            data = json.loads((folder / "typst" / "view.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if isinstance(data, dict):
            data.pop("fonts", None)  # the font family names of the machine that rendered it
        return data

    if load(exhibit_dir) != load(scratch):
        problems.append(Problem("view", "typst/view.json", "differs from the view exhibit.json gives"))


def _compare_html(exhibit_dir: Path, scratch: Path, view: dict[str, Any], problems: list[Problem]) -> None:
    for rel in (view.get("trail_chart"), *(s.get("chart") for s in view.get("completeness", {}).get("sources", []))):
        if rel and not (scratch / rel).is_file():
            return  # charts missing from the re-run: already reported as chart problems
    try:
        shown = (exhibit_dir / "exhibit.html").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        shown = None
    expected = render_html(view, scratch)
    if shown != expected:
        problems.append(Problem("html", "exhibit.html", _first_difference(shown or "", expected)))


def _compare_pdf(shown: Path, expected: Path, problems: list[Problem]) -> int:
    if shown.is_file() and shown.read_bytes() == expected.read_bytes():
        return _page_count(expected)  # same bytes: nothing to compare page by page (text extraction is slow)
    try:
        have = _pages(shown)
    except Exception as exc:  # a damaged PDF is a finding, not a crash
        problems.append(Problem("pdf", "exhibit.pdf", f"cannot read the PDF's text: {exc}"))
        return 0
    want = _pages(expected)
    if len(have) != len(want):
        problems.append(Problem("pdf", "exhibit.pdf", f"{len(have)} pages; exhibit.json renders {len(want)}"))
    for n, (a, b) in enumerate(zip(have, want, strict=False), 1):
        if a != b:
            problems.append(Problem("pdf", f"exhibit.pdf:page {n}", _first_difference(a, b)))
    return len(want)


def _page_count(pdf: Path) -> int:
    from pypdf import PdfReader

    return len(PdfReader(pdf).pages)


def _pages(pdf: Path) -> list[str]:
    from pypdf import PdfReader

    return [" ".join((page.extract_text() or "").split()) for page in PdfReader(pdf).pages]


def _first_difference(shown: str, expected: str) -> str:
    pairs = enumerate(zip(shown, expected, strict=False))
    at = next((i for i, (a, b) in pairs if a != b), min(len(shown), len(expected)))
    return (
        f"text differs from what exhibit.json renders at character {at}: "
        f"shows {shown[at : at + 40]!r}, expected {expected[at : at + 40]!r}"
    )
