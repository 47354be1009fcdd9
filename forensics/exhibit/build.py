"""Build an exhibit folder: exhibit.pdf, exhibit.html, exhibit.json, manifest.json (+ charts/ and typst/ sources).

The circularity of "every page shows the manifest hash" while "the manifest hashes the PDF" is broken with the
*exhibit digest* (seal.py): the SHA-256 over exhibit.json, the typst layout and every chart, i.e. every input of
the rendering. It is printed on every PDF page and in the HTML, and manifest.json records it (``exhibit_digest``)
next to the hashes of every file. exhibit.json also records the custody head the exhibit was built on, the
SHA-256 of case.toml and of the bound parameters. ``verify_exhibit`` re-derives exhibit.json, view.json, the PDF
and the HTML from the case and names every difference.

The case is verified first (``forensics.custody.verify_case``); a case that fails is refused unless
``allow_unverified``, and then every page says so. An exhibit folder is only ever replaced with ``replace=True``
(recorded in custody) and never when it holds files its manifest does not list.
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
from forensics.exhibit.pdf import FontChoice, compile_pdf, find_cjk_fonts, template_text, write_typst_sources
from forensics.exhibit.seal import LAYOUT, custody_head, exhibit_stamp, params_sha256
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
    src: RecordInputs,
    masker: Masker,
    out_dir: Path,
    fonts: FontChoice,
    links: dict[str, Any] | None = None,
    seal: dict[str, Any] | None = None,
) -> ExhibitResult:
    """Render one exhibit folder from a PackResult dict and the case data. out_dir must be empty or absent.

    seal: extra fields recorded in exhibit.json and manifest.json (case_toml_sha256, case_verification)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    chart_paths = write_charts(src.pack, out_dir)
    record = dict(build_record(_with_charts(src, chart_paths), masker), **seal_fields(src, seal or {}))
    record_bytes = dump_json(record)
    (out_dir / "exhibit.json").write_bytes(record_bytes)
    (out_dir / LAYOUT).parent.mkdir(parents=True, exist_ok=True)
    (out_dir / LAYOUT).write_text(template_text(), encoding="utf-8")
    digest = exhibit_stamp(out_dir)
    use_fonts(fonts.files)  # characters these fonts cannot draw are shown escaped, never a failed build
    view = exhibit_view(json.loads(record_bytes), digest)  # from exhibit.json exactly, as verify does
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


SEAL_KEYS = ("exhibit_format", "custody_head", "case_toml_sha256", "params_sha256", "case_verification")


def seal_fields(src: RecordInputs, seal: dict[str, Any]) -> dict[str, Any]:
    """What the exhibit was built on: the custody head, the parameters (and, from a case, case.toml's digest)."""
    return {
        "custody_head": custody_head(src.custody),
        "params_sha256": params_sha256(dict(src.pack.get("params", {}))),
        **seal,
    }


def exhibit_view(record: dict[str, Any], stamp: str) -> dict[str, Any]:
    """The view both renderers read; verify rebuilds it with this same function."""
    return dict(build_view(record, stamp), labels=LABELS, unverified=unverified_banner(record))


def unverified_banner(record: dict[str, Any]) -> str:
    """Printed on every page when the exhibit was built with --allow-unverified from a case that failed verify."""
    check = record.get("case_verification") or {}
    if check.get("ok", True):
        return ""
    n = len(check.get("problems") or [])
    return (
        f"案件未通过校验（{n} 项问题），本证据据此生成 · "
        f"CASE FAILED VERIFICATION ({n} problem(s)); built with --allow-unverified"
    )


def _zone(pack: dict[str, Any]) -> ZoneInfo:
    name = (pack.get("window") or {}).get("tz") or pack.get("params", {}).get("tz") or "UTC"
    try:
        return ZoneInfo(str(name))
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def write_charts(pack: dict[str, Any], out_dir: Path) -> dict[str, str]:
    """charts/coverage-NN.svg per source and charts/timeline.svg; names never derive from log content."""
    tz = _zone(pack)
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
        "exhibit_digest_of": "exhibit.json, typst/exhibit.typ and charts/*.svg (forensics-exhibit-stamp/1)",
        **{k: record[k] for k in SEAL_KEYS if k in record},
        "files": [{"path": p.relative_to(out_dir).as_posix(), **_hash_file(p)} for p in folder_files(out_dir)],
        "case_inputs": inputs,
        "case": dict(src.case_ref),
        **links,
    }


def _summary(record: dict[str, Any]) -> list[str]:
    from forensics.exhibit.table_source import summary_line

    table = summary_line(record)
    return ([table] if table else []) + _verdict_summary(record)


def _verdict_summary(record: dict[str, Any]) -> list[str]:
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


def prepare_out_dir(out_dir: Path, replace: bool) -> dict[str, Any] | None:
    """Check out_dir may receive the exhibit; returns the earlier exhibit's manifest when it will be replaced.

    Never deletes what the exhibit did not write: a non-empty folder that is not an exhibit, or an exhibit folder
    holding files its manifest does not list, is refused; an earlier exhibit is replaced only with replace=True."""
    if not out_dir.exists():
        return None
    if not out_dir.is_dir():
        raise ForensicsError(f"{out_dir} exists and is not a folder; choose another -o DIR")
    if not any(out_dir.iterdir()):
        return None
    try:
        manifest = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise ForensicsError(f"{out_dir} exists and is not an exhibit folder; choose another -o DIR")
    listed = {str(f.get("path")) for f in manifest.get("files", []) if isinstance(f, dict)} | {"manifest.json"}
    foreign = sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*") if not p.is_dir())
    foreign = [rel for rel in foreign if rel not in listed]
    if foreign:
        shown = ", ".join(foreign[:5]) + (" …" if len(foreign) > 5 else "")
        raise ForensicsError(
            f"{out_dir} holds files the exhibit did not write ({shown}); move them away or choose another -o DIR"
        )
    if not replace:
        raise ForensicsError(
            f"{out_dir} already holds exhibit {manifest.get('number')} (digest "
            f"{str(manifest.get('exhibit_digest'))[:16]}…); pass --number N for a new exhibit or --replace"
        )
    return manifest


def _require_writable(case: Case, out_dir: Path) -> None:
    """Refuse a read-only case (or output folder) before anything is written."""
    targets = [case.custody_path if case.custody_path.exists() else case.root]
    parent = out_dir
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    targets.append(parent)
    for target in targets:
        if not os.access(target, os.W_OK) or _read_only_fs(target):
            raise ForensicsError(f"{target} is not writable; the exhibit needs a writable case (nothing was written)")


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _verify_first(case: Case, allow_unverified: bool) -> dict[str, Any]:
    """Run the case's own verification; refuse a case that fails unless the user accepts it explicitly."""
    from forensics.custody import verify_case

    report = verify_case(case)
    problems = [f"{p.kind}: {p.path}: {p.detail}" for p in report.problems]
    if problems and not allow_unverified:
        raise ForensicsError(
            f"{case.root} fails verification ({len(problems)} problem(s); first: {problems[0]}); "
            f"run `forensics verify {case.root}`, or pass --allow-unverified to build an exhibit marked as such"
        )
    return {"ok": not problems, "problems": problems[:50]}


def _staging_dir(out_dir: Path) -> Path:
    """A fresh sibling folder to render into, so a failed build never leaves half an exhibit behind."""
    staged = Path(tempfile.mkdtemp(prefix=".exhibit-", dir=out_dir.parent))
    staged.chmod(0o755)  # mkdtemp makes it owner-only; the exhibit is meant to be handed over
    return staged


def _swap_in(staged: Path, out_dir: Path) -> None:
    """Replace an earlier exhibit (checked by prepare_out_dir: only files its manifest lists) with the new one."""
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
    allow_unverified: bool = False,
    replace: bool = False,
    key_file: Path | None = None,
    engine: str = "duckdb",
    master: str | None = None,
    tables: dict[str, str] | None = None,
) -> ExhibitResult:
    """Run the case's query pack and render the exhibit (and, with unmask, a sealed unmasked sibling).

    engine/master/tables as for `forensics check`: with tables={"events": "DB.TABLE"} the pack runs on Spark
    over that warehouse table, and the exhibit says so (exhibit.json ``source``, table_source.py)."""

    if lang not in LANGS:
        raise UsageError(f"--lang {lang!r}: choose one of {', '.join(LANGS)}")
    fonts = find_cjk_fonts(font_path)  # fail before the slow part
    config = case.config
    number = number or str(config.get("case", {}).get("exhibit_number") or "E-1")
    out_dir = out_dir or case.exhibits_dir / number
    sealed_dir = out_dir.with_name(out_dir.name + SEALED_SUFFIX)
    _require_writable(case, out_dir)
    replaced = {"": prepare_out_dir(out_dir, replace)}
    if unmask:
        replaced["sealed_"] = prepare_out_dir(sealed_dir, replace)
    verification = _verify_first(case, allow_unverified)
    pack = run_pack_on(case, engine, master, tables)
    key, key_note = case_key(case.root, case_id(_read_custody(case), case.root), key_file)  # hostile: key off-case
    if key_note:
        logging.getLogger("forensics").warning(key_note)
    people = known_people(config.get("parties", []))
    now = datetime.now(UTC).replace(microsecond=0)
    custody = _read_custody(case)
    seal: dict[str, Any] = {
        "case_toml_sha256": hashlib.sha256(case.toml_path.read_bytes()).hexdigest(),
        "case_verification": verification,
    }

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
        result = render_exhibit(inputs_for(out_dir), Masker(key, people), staged, fonts, seal=seal)
        _swap_in(staged, out_dir)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    result = _relocated(result, out_dir)
    if unmask:
        result.sealed = _build_sealed(inputs_for, key, people, fonts, result, seal)
    _log_custody(case, result, custody_head(custody), seal, replaced)
    return result


def run_pack_on(case: Case, engine: str, master: str | None, tables: dict[str, str] | None) -> dict[str, Any]:
    """The case's pack on the chosen engine; a warehouse source also names the engine that read it, and when."""
    from forensics.engines.base import open_engine
    from forensics.packs import run_pack

    runner = open_engine(case, engine, master, tables)  # as check_case: run_pack owns it from here
    pack: dict[str, Any] = run_pack(case, None, {}, engine=runner).to_json(full=True)
    if "source" in pack:
        pack["source"] = dict(pack["source"], **engine_facts(runner))
    return pack


def engine_facts(runner: Any) -> dict[str, Any]:
    """Which Spark read the table, on which master, and when (UTC)."""
    spark = getattr(runner, "spark", None)
    return {
        "engine": "spark",
        "spark_version": str(getattr(spark, "version", "unknown")),
        "master": str(spark.sparkContext.master) if spark is not None else "unknown",
        "read_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
    }


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
    inputs_for: Any, key: bytes, people: Any, fonts: FontChoice, masked: ExhibitResult, seal: dict[str, Any]
) -> ExhibitResult:
    """The unmasked version in a sibling folder; its manifest links to the masked exhibit by hash."""
    sealed_dir = masked.out_dir.with_name(masked.out_dir.name + SEALED_SUFFIX)
    link = {
        "masked_exhibit": {
            "path": os.path.relpath(masked.out_dir.resolve(), sealed_dir.resolve()),
            "manifest_sha256": masked.manifest_sha256,
            "exhibit_digest": masked.exhibit_digest,
        }
    }
    staged = _staging_dir(sealed_dir)
    try:
        unmasked = Masker(key, people, enabled=False)
        result = render_exhibit(inputs_for(sealed_dir), unmasked, staged, fonts, link, seal=seal)
        _swap_in(staged, sealed_dir)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    return _relocated(result, sealed_dir)


def _log_custody(
    case: Case,
    result: ExhibitResult,
    head: dict[str, Any],
    seal: dict[str, Any],
    replaced: dict[str, dict[str, Any] | None],
) -> None:
    """Record the exhibit in the case's custody log (key names avoid the case-manifest seal's 'manifest_sha256')."""
    from forensics.custody import append_custody

    details: dict[str, Any] = {
        "out_dir": str(result.out_dir),
        "exhibit_digest": result.exhibit_digest,
        "exhibit_manifest_sha256": result.manifest_sha256,
        "custody_head": head,
        "case_toml_sha256": seal["case_toml_sha256"],
    }
    if not seal["case_verification"]["ok"]:
        details["allow_unverified"] = len(seal["case_verification"]["problems"])
    if result.sealed is not None:
        details["sealed_out_dir"] = str(result.sealed.out_dir)
        details["sealed_exhibit_digest"] = result.sealed.exhibit_digest
        details["sealed_exhibit_manifest_sha256"] = result.sealed.manifest_sha256
    for prefix, old in replaced.items():
        if old is not None:
            details[f"{prefix}replaced_exhibit_digest"] = old.get("exhibit_digest")
    append_custody(case, "exhibit", details)
