"""Build an exhibit folder: exhibit.pdf, exhibit.html, exhibit.json, manifest.json (+ charts/ and typst/ sources).

The circularity of "every page shows the manifest hash" while "the manifest hashes the PDF" is broken with the
*exhibit digest*: the SHA-256 of exhibit.json. exhibit.json holds every finding, verdict, parameter, result digest
and the SHA-256/SM3 of every case input, so the digest pins the content; it is printed on every PDF page and in
the HTML, and manifest.json records it (``exhibit_digest``) next to the hashes of every file, the PDF included.
``verify_exhibit`` checks that the digest matches exhibit.json and that manifest.json matches the files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from forensics.custody import hash_file
from forensics.display import use_fonts
from forensics.errors import ForensicsError, UsageError
from forensics.exhibit import charts
from forensics.exhibit.html import render_html
from forensics.exhibit.labels import LABELS
from forensics.exhibit.model import LANGS, RecordInputs, build_record, build_view
from forensics.exhibit.pdf import FontChoice, compile_pdf, find_cjk_fonts, write_typst_sources
from forensics.masking import Masker, case_id, case_key, known_people

if TYPE_CHECKING:
    from forensics.case import Case

MANIFEST_FORMAT = "forensics-exhibit-manifest/1"
SEALED_SUFFIX = "-unmasked"


@dataclass
class ExhibitResult:
    out_dir: Path
    pdf: Path
    html: Path
    json: Path
    manifest: Path
    manifest_sha256: str
    exhibit_digest: str
    summary: list[str] = field(default_factory=list)
    sealed: ExhibitResult | None = None  # the --unmask version, when written


# ---------------------------------------------------------------- hashing


def _hash_file(path: Path) -> dict[str, Any]:
    h = hash_file(path)
    return {"bytes": h.size, "sha256": h.sha256, "sm3": h.sm3}


def folder_files(folder: Path) -> list[Path]:
    """Every file of an exhibit folder except manifest.json itself, in a stable order."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.relative_to(folder).as_posix() != "manifest.json")


def dump_json(data: Any) -> bytes:
    return (json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode("utf-8")


# ---------------------------------------------------------------- rendering (fixtures enter here)


def render_exhibit(
    src: RecordInputs, masker: Masker, out_dir: Path, fonts: FontChoice, links: dict[str, Any] | None = None
) -> ExhibitResult:
    """Render one exhibit folder from a PackResult dict and the case data. out_dir must be empty or absent."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tz = _zone(src.pack)
    chart_paths = _write_charts(src.pack, out_dir, tz)
    record = build_record(_with_charts(src, chart_paths), masker)
    record_bytes = dump_json(record)
    (out_dir / "exhibit.json").write_bytes(record_bytes)
    digest = hashlib.sha256(record_bytes).hexdigest()
    use_fonts(fonts.files)  # hostile: characters these fonts cannot draw are shown escaped, never a failed build
    view = dict(build_view(record, digest), labels=LABELS)
    main = write_typst_sources(out_dir, view, fonts)
    compile_pdf(main, out_dir, out_dir / "exhibit.pdf", fonts, src.generated_at)
    (out_dir / "exhibit.html").write_text(render_html(view, out_dir), encoding="utf-8")
    manifest = _manifest(out_dir, src, record, digest, links or {})
    manifest_bytes = dump_json(manifest)
    (out_dir / "manifest.json").write_bytes(manifest_bytes)
    return ExhibitResult(
        out_dir=out_dir,
        pdf=out_dir / "exhibit.pdf",
        html=out_dir / "exhibit.html",
        json=out_dir / "exhibit.json",
        manifest=out_dir / "manifest.json",
        manifest_sha256=hashlib.sha256(manifest_bytes).hexdigest(),
        exhibit_digest=digest,
        summary=_summary(record),
    )


def _zone(pack: dict[str, Any]) -> ZoneInfo:
    name = (pack.get("window") or {}).get("tz") or pack.get("params", {}).get("tz") or "UTC"
    try:
        return ZoneInfo(str(name))
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def _write_charts(pack: dict[str, Any], out_dir: Path, tz: ZoneInfo) -> dict[str, str]:
    """charts/coverage-NN.svg per source and charts/timeline.svg; names never derive from log content."""
    folder = out_dir / "charts"
    folder.mkdir(exist_ok=True)
    window = pack.get("window") or {}
    paths: dict[str, str] = {}
    for n, source in enumerate(pack.get("completeness", {}).get("sources", []), 1):
        key = f"coverage-{n:02d}"
        (folder / f"{key}.svg").write_text(charts.coverage_chart(source, window, tz), encoding="utf-8")
        paths[key] = f"charts/{key}.svg"
    trail = charts.trail_events(pack.get("checks", []))
    (folder / "timeline.svg").write_text(charts.timeline_chart(trail, window, tz), encoding="utf-8")
    paths["timeline"] = "charts/timeline.svg"
    return paths


def _with_charts(src: RecordInputs, chart_paths: dict[str, str]) -> RecordInputs:
    return dataclasses.replace(src, charts=chart_paths)


def _manifest(
    out_dir: Path, src: RecordInputs, record: dict[str, Any], digest: str, links: dict[str, Any]
) -> dict[str, Any]:
    inputs = [
        {k: i.get(k) for k in ("path", "source", "bytes", "sha256", "sm3")} for i in src.manifest.get("inputs", [])
    ]
    return {
        "format": MANIFEST_FORMAT,
        "number": src.number,
        "sealed": record["sealed"],
        "generated_at": src.generated_at.isoformat(),
        "exhibit_digest": digest,
        "exhibit_digest_of": "exhibit.json",
        "files": [{"path": p.relative_to(out_dir).as_posix(), **_hash_file(p)} for p in folder_files(out_dir)],
        "case_inputs": inputs,
        "case": dict(src.case_ref),
        **links,
    }


def _summary(record: dict[str, Any]) -> list[str]:
    checks = record.get("checks", [])
    counts: dict[str, int] = {}
    for c in checks:
        counts[c["verdict"]] = counts.get(c["verdict"], 0) + 1
    verdicts = ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
    inputs = record.get("extraction", {}).get("inputs", [])
    events = sum(int(i.get("events") or 0) for i in inputs)
    flagged = [c["id"] for c in checks if c["verdict"] in ("flagged", "inconclusive", "missing")]
    return [
        f"{len(checks)} checks: {verdicts}" if checks else "no checks",
        f"{len(inputs)} inputs, {events:,} events, {len(record.get('redactions', {}).get('log', []))} masked values",
        ("attention: " + ", ".join(flagged)) if flagged else "no check flagged or inconclusive",
    ]


# ---------------------------------------------------------------- from a case


def tool_versions() -> dict[str, str]:
    """Versions of this tool and every engine that shaped the exhibit."""
    out: dict[str, str] = {}
    try:
        from forensics.custody import tool_versions as case_versions

        out.update(case_versions())
    except ImportError:
        pass
    for dist in ("typst", "matplotlib", "jinja2"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "unknown"
    return out


def _read_custody(case: Case) -> list[dict[str, Any]]:
    if not case.custody_path.exists():
        return []
    entries = []
    for n, line in enumerate(case.custody_path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ForensicsError(f"{case.custody_path}:{n}: not JSON ({exc.msg}); run `forensics verify`") from exc
    return entries


def case_reference(case: Case, exhibit_dir: Path) -> dict[str, str]:
    """Where verify finds the case: absolute path, and the path relative to the exhibit (survives moving both)."""
    root = case.root.resolve()
    return {"absolute": str(root), "relative": os.path.relpath(root, exhibit_dir.resolve())}


def _prepare_out_dir(out_dir: Path) -> None:
    """Refuse to overwrite a folder that is not an earlier exhibit."""
    if out_dir.exists() and any(out_dir.iterdir()):
        manifest = out_dir / "manifest.json"
        try:
            is_exhibit = json.loads(manifest.read_text(encoding="utf-8")).get("format") == MANIFEST_FORMAT
        except (OSError, ValueError):
            is_exhibit = False
        if not is_exhibit:
            raise ForensicsError(f"{out_dir} exists and is not an exhibit folder; choose another -o DIR")


def _staging_dir(out_dir: Path) -> Path:
    """A fresh sibling folder to render into, so a failed build never leaves half an exhibit behind."""
    staged = Path(tempfile.mkdtemp(prefix=".exhibit-", dir=out_dir.parent))
    staged.chmod(0o755)  # mkdtemp makes it owner-only; the exhibit is meant to be handed over
    return staged


def _swap_in(staged: Path, out_dir: Path) -> None:
    if out_dir.exists():
        shutil.rmtree(out_dir)
    staged.replace(out_dir)


def build_exhibit(
    case: Case,
    out_dir: Path | None,
    lang: str = "zh-en",
    unmask: bool = False,
    number: str | None = None,
    font_path: Path | None = None,
    key_file: Path | None = None,
) -> ExhibitResult:
    """Run the case's query pack and render the exhibit (and, with unmask, a sealed unmasked sibling)."""
    from forensics.packs import run_pack

    if lang not in LANGS:
        raise UsageError(f"--lang {lang!r}: choose one of {', '.join(LANGS)}")
    fonts = find_cjk_fonts(font_path)  # fail before the slow part
    config = case.config
    number = number or str(config.get("case", {}).get("exhibit_number") or "E-1")
    out_dir = out_dir or case.exhibits_dir / number
    _prepare_out_dir(out_dir)
    pack = run_pack(case, None, {}).to_json(full=True)
    key, key_note = case_key(case.root, case_id(_read_custody(case), case.root), key_file)  # hostile: key off-case
    if key_note:
        logging.getLogger("forensics").warning(key_note)
    people = known_people(config.get("parties", []))
    now = datetime.now(UTC).replace(microsecond=0)
    custody = _read_custody(case)

    def inputs_for(target: Path) -> RecordInputs:
        return RecordInputs(
            pack=pack,
            config=config,
            manifest=case.manifest(),
            custody=custody,
            case_ref=case_reference(case, target),
            generated_at=now,
            versions=tool_versions(),
            number=number,
            lang=lang,
        )

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staged = _staging_dir(out_dir)
    try:
        result = render_exhibit(inputs_for(out_dir), Masker(key, people), staged, fonts)
        _swap_in(staged, out_dir)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    result = _relocated(result, out_dir)
    if unmask:
        result.sealed = _build_sealed(case, inputs_for, key, people, fonts, result)
    _log_custody(case, result)
    return result


def _relocated(result: ExhibitResult, out_dir: Path) -> ExhibitResult:
    return ExhibitResult(
        out_dir=out_dir,
        pdf=out_dir / result.pdf.name,
        html=out_dir / result.html.name,
        json=out_dir / result.json.name,
        manifest=out_dir / result.manifest.name,
        manifest_sha256=result.manifest_sha256,
        exhibit_digest=result.exhibit_digest,
        summary=result.summary,
    )


def _build_sealed(
    case: Case, inputs_for: Any, key: bytes, people: Any, fonts: FontChoice, masked: ExhibitResult
) -> ExhibitResult:
    """The unmasked version in a sibling folder; its manifest links to the masked exhibit by hash."""
    sealed_dir = masked.out_dir.with_name(masked.out_dir.name + SEALED_SUFFIX)
    _prepare_out_dir(sealed_dir)
    link = {
        "masked_exhibit": {
            "path": os.path.relpath(masked.out_dir.resolve(), sealed_dir.resolve()),
            "manifest_sha256": masked.manifest_sha256,
            "exhibit_digest": masked.exhibit_digest,
        }
    }
    staged = _staging_dir(sealed_dir)
    try:
        result = render_exhibit(inputs_for(sealed_dir), Masker(key, people, enabled=False), staged, fonts, link)
        _swap_in(staged, sealed_dir)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    return _relocated(result, sealed_dir)


def _log_custody(case: Case, result: ExhibitResult) -> None:
    """Record the exhibit in the case's custody log (key names avoid the case-manifest seal's 'manifest_sha256')."""
    try:
        from forensics.custody import append_custody
    except ImportError:
        return
    details: dict[str, Any] = {
        "out_dir": str(result.out_dir),
        "exhibit_digest": result.exhibit_digest,
        "exhibit_manifest_sha256": result.manifest_sha256,
    }
    if result.sealed is not None:
        details["sealed_out_dir"] = str(result.sealed.out_dir)
        details["sealed_exhibit_manifest_sha256"] = result.sealed.manifest_sha256
    append_custody(case, "exhibit", details)
