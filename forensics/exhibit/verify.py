"""`forensics verify EXHIBIT_DIR`: re-derive an exhibit and name every mismatch.

1. Every file listed in manifest.json is present with the same size, SHA-256 and SM3; no file was added.
   An exhibit of another exhibit format (model.EXHIBIT_FORMAT; none recorded = 1) stops here with one problem
   that says to re-build it: this version's layout cannot re-derive it.
2. The exhibit digest (printed on every page) is recomputed over exhibit.json, the typst layout and the charts.
3. A sealed (unmasked) exhibit's link to its masked sibling still matches that sibling's manifest.
4. The case (``--case DIR``, else the path recorded relative to the exhibit, else the absolute path, said so) is
   found, its own seals verify (forensics.custody.verify_case), and its inputs are the ones the exhibit lists.
5. The custody head the exhibit was built on is still in the case's log, the log still records this exhibit, and
   case.toml is the one the exhibit was built from.
6. The pack is re-run with the recorded parameters; verdicts and result digests must match, exhibit.json is
   re-derived (rows included) and compared, and the charts, view.json, PDF and HTML are re-rendered from it and
   compared (PDF bytes, or page-by-page text where this machine's fonts differ). See rederive.py.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forensics.custody import GENESIS, Problem, VerifyReport, hash_file, read_custody
from forensics.engines.base import open_engine
from forensics.errors import ForensicsError, UsageError
from forensics.exhibit.build import MANIFEST_FORMAT, SEAL_KEYS, folder_files
from forensics.exhibit.model import EXHIBIT_FORMAT
from forensics.exhibit.seal import bytes_sha256, exhibit_stamp


@dataclass
class ExhibitVerifyReport(VerifyReport):
    case: str | None = None  # the case folder that was used
    notes: list[str] = field(default_factory=list)  # what was done differently, e.g. where the case was found

    def to_json(self) -> dict[str, Any]:
        return dict(super().to_json(), case=self.case, notes=list(self.notes))


def verify_exhibit(
    exhibit_dir: Path,
    case_dir: Path | None = None,
    engine: str | None = None,
    master: str | None = None,
    tables: dict[str, str] | None = None,
) -> ExhibitVerifyReport:
    """engine/master/tables: how to re-run an exhibit whose source is a warehouse table (Spark, the recorded
    table unless --table names another); without --engine spark such an exhibit cannot be re-derived, which
    is reported as a problem (table_rerun)."""
    if (master or tables) and engine != "spark":
        raise UsageError("--master and --table need --engine spark")
    problems: list[Problem] = []
    checked: dict[str, int] = {}
    report = ExhibitVerifyReport(ok=False, problems=problems, checked=checked)
    manifest = _load_json(exhibit_dir / "manifest.json", "manifest", problems)
    if manifest is None:
        return report
    if manifest.get("format") != MANIFEST_FORMAT:
        detail = f"not an exhibit manifest (format {manifest.get('format')!r})"
        problems.append(Problem("manifest", "manifest.json", detail))
        return report
    checked["files"] = _verify_files(exhibit_dir, manifest, problems)
    if _other_format(manifest, problems):
        return report  # re-deriving it with this version's layout would only list differences of format
    record = _verify_digest(exhibit_dir, manifest, problems)
    checked["links"] = _verify_link(exhibit_dir, manifest, problems)
    if record is not None:
        case = _locate_case(exhibit_dir, record, case_dir, report)
        if case is not None:
            report.case = str(case.root)
            checked["case_problems"] = _verify_case(case, problems)
            checked["case_inputs"] = _verify_inputs(case, manifest, problems)
            custody = _custody(case)
            checked["custody"] = _verify_custody(case, record, manifest, custody, problems)
            runner = {"engine": engine, "master": master, "tables": tables}
            checked.update(_rerun(exhibit_dir, case, record, manifest, custody, report, runner))
    report.ok = not problems
    return report


def _other_format(manifest: dict[str, Any], problems: list[Problem]) -> bool:
    """An exhibit made by another version of the exhibit format cannot be re-derived by this one: say so."""
    made = manifest.get("exhibit_format", 1)  # no marker: made before format 2 introduced it
    if made == EXHIBIT_FORMAT:
        return False
    if not isinstance(made, int) or isinstance(made, bool) or made < 1:
        detail = f"exhibit_format {made!r} is not an exhibit format number"
    elif made < EXHIBIT_FORMAT:
        detail = (
            f"made by an older forensics (format {made}; this version verifies format {EXHIBIT_FORMAT}); "
            "re-build it with `forensics exhibit CASE --replace`"
        )
    else:
        detail = (
            f"made by a newer forensics (format {made}; this version verifies format {EXHIBIT_FORMAT}); "
            "verify it with that version or later"
        )
    problems.append(Problem("format", "manifest.json", detail))
    return True


def _load_json(path: Path, kind: str, problems: list[Problem]) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.append(Problem(kind, path.name, f"{path.name} is missing"))
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        problems.append(Problem(kind, path.name, f"cannot read {path.name}: {exc}"))
        return None
    if not isinstance(data, dict):
        problems.append(Problem(kind, path.name, f"{path.name} is not a JSON object"))
        return None
    return data


def _verify_files(exhibit_dir: Path, manifest: dict[str, Any], problems: list[Problem]) -> int:
    listed = {str(f.get("path")): f for f in manifest.get("files", [])}
    for rel, entry in sorted(listed.items()):
        path = exhibit_dir / rel
        if not path.is_file():
            problems.append(Problem("missing", rel, "file listed in manifest.json is missing"))
            continue
        h = hash_file(path)
        size, sha, sm3 = h.size, h.sha256, h.sm3
        if sha != entry.get("sha256"):
            detail = f"SHA-256 differs: manifest {str(entry.get('sha256'))[:16]}…, file {sha[:16]}…"
            problems.append(Problem("file", rel, detail))
        if sm3 != entry.get("sm3"):
            problems.append(Problem("file", rel, "SM3 differs from manifest.json"))
        if size != entry.get("bytes"):
            problems.append(Problem("file", rel, f"size differs: manifest {entry.get('bytes')} bytes, file {size}"))
    on_disk = {p.relative_to(exhibit_dir).as_posix() for p in folder_files(exhibit_dir)}
    for rel in sorted(on_disk - set(listed)):
        problems.append(Problem("unexpected", rel, "file is not listed in manifest.json"))
    return len(listed)


def _verify_digest(exhibit_dir: Path, manifest: dict[str, Any], problems: list[Problem]) -> dict[str, Any] | None:
    path = exhibit_dir / "exhibit.json"
    try:
        raw = path.read_bytes()
    except OSError:
        return None  # already reported as missing
    stamp = manifest.get("exhibit_digest")
    if exhibit_stamp(exhibit_dir) != stamp:
        detail = "the digest of exhibit.json, layout and charts differs from the exhibit digest on every page"
        problems.append(Problem("digest", "exhibit.json", detail))
    view = exhibit_dir / "typst" / "view.json"
    if view.exists():
        try:
            shown = json.loads(view.read_text(encoding="utf-8")).get("stamp")
        except (OSError, ValueError, AttributeError):
            shown = None
        if shown != stamp:
            problems.append(Problem("digest", "typst/view.json", "page stamp differs from the exhibit digest"))
    try:
        record: dict[str, Any] = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        problems.append(Problem("digest", "exhibit.json", f"not valid JSON: {exc}"))
        return None
    if not isinstance(record, dict):
        problems.append(Problem("digest", "exhibit.json", "not a JSON object"))
        return None
    for key in SEAL_KEYS:
        if key in manifest and manifest.get(key) != record.get(key):
            problems.append(Problem("manifest", "manifest.json", f"{key} differs from exhibit.json"))
    return record


def _verify_link(exhibit_dir: Path, manifest: dict[str, Any], problems: list[Problem]) -> int:
    link = manifest.get("masked_exhibit")
    if not link:
        return 0
    masked = (exhibit_dir / str(link.get("path", ""))).resolve()
    try:
        actual = hashlib.sha256((masked / "manifest.json").read_bytes()).hexdigest()
    except OSError:
        problems.append(Problem("link", str(masked), "the masked exhibit this sealed version links to is missing"))
        return 1
    if actual != link.get("manifest_sha256"):
        problems.append(Problem("link", str(masked), "masked exhibit's manifest.json differs from the linked hash"))
    return 1


def _locate_case(exhibit_dir: Path, record: dict[str, Any], case_dir: Path | None, report: ExhibitVerifyReport) -> Any:
    """--case first; else the recorded relative path; else the recorded absolute path, said out loud."""
    from forensics.case import Case

    if case_dir is not None:
        if _is_case(case_dir):
            return Case(case_dir.resolve())
        report.problems.append(Problem("case", str(case_dir), "--case: not a case folder (no case.toml/manifest.json)"))
        return None
    ref = record.get("case_ref", {}) if isinstance(record.get("case_ref"), dict) else {}
    relative = (exhibit_dir / ref["relative"]).resolve() if ref.get("relative") else None
    if relative is not None and _is_case(relative):
        return Case(relative)
    absolute = Path(ref["absolute"]) if ref.get("absolute") else None
    if absolute is not None and _is_case(absolute):
        report.notes.append(
            f"case not found at the recorded relative path ({relative}); used the recorded absolute path "
            f"{absolute}; pass --case DIR to choose the case"
        )
        return Case(absolute)
    shown = " or ".join(str(c) for c in (relative, absolute) if c is not None) or "(none recorded)"
    report.problems.append(Problem("case", shown, "case folder not found; pass --case DIR"))
    return None


def _is_case(root: Path) -> bool:
    return (root / "case.toml").is_file() and (root / "manifest.json").is_file()


def _verify_case(case: Any, problems: list[Problem]) -> int:
    from forensics.custody import verify_case

    report = verify_case(case)
    for p in report.problems:
        problems.append(Problem(f"case-{p.kind}", p.path, p.detail))
    return len(report.problems)


def _verify_inputs(case: Any, manifest: dict[str, Any], problems: list[Problem]) -> int:
    now = {(i.get("path"), i.get("sha256")) for i in case.manifest().get("inputs", [])}
    listed = manifest.get("case_inputs", [])
    for item in listed:
        if (item.get("path"), item.get("sha256")) not in now:
            problems.append(Problem("input", str(item.get("path")), "the case no longer holds this input and SHA-256"))
    return len(listed)


def _custody(case: Any) -> list[dict[str, Any]]:
    try:
        return read_custody(case)
    except ForensicsError:
        return []  # a damaged log is reported by verify_case; the head check then reports it missing


def _verify_custody(
    case: Any, record: dict[str, Any], manifest: dict[str, Any], custody: list[dict[str, Any]], problems: list[Problem]
) -> int:
    """The head the exhibit was built on is still in the log, the log records this exhibit, case.toml unchanged."""
    log = str(case.custody_path)
    head = record.get("custody_head")
    if not isinstance(head, dict):
        problems.append(Problem("custody-head", "exhibit.json", "the exhibit records no custody head"))
        return 0
    seq, want = int(head.get("seq") or 0), head.get("hash")
    have = GENESIS if seq == 0 else next((e.get("hash") for e in custody if e.get("seq") == seq), None)
    if have != want:
        detail = (
            f"the exhibit was built on custody entry {seq} ({str(want)[:16]}…), which the case's log no longer holds"
        )
        problems.append(Problem("custody-head", log, detail))
    digest = manifest.get("exhibit_digest")
    logged = [
        e
        for e in custody
        if e.get("action") == "exhibit"
        and int(e.get("seq") or 0) > seq
        and digest
        in ((e.get("details") or {}).get("exhibit_digest"), (e.get("details") or {}).get("sealed_exhibit_digest"))
    ]
    if not logged:
        detail = f"the case's custody log has no entry for this exhibit (digest {str(digest)[:16]}…): truncated log?"
        problems.append(Problem("custody-exhibit", log, detail))
    now = bytes_sha256(case.toml_path)
    if now != record.get("case_toml_sha256"):
        problems.append(Problem("case-toml", str(case.toml_path), "case.toml changed since the exhibit was built"))
    return len(custody)


def _names(entry: dict[str, Any], digest: Any) -> bool:
    details = entry.get("details") or {}
    return digest in (details.get("exhibit_digest"), details.get("sealed_exhibit_digest"))


def _rerun(
    exhibit_dir: Path,
    case: Any,
    record: dict[str, Any],
    manifest: dict[str, Any],
    custody: list[dict[str, Any]],
    report: ExhibitVerifyReport,
    runner: dict[str, Any],
) -> dict[str, int]:
    from forensics.exhibit.rederive import compare_records, rederive_record, rerender
    from forensics.exhibit.table_source import is_table
    from forensics.packs import run_pack

    problems = report.problems
    pack = record.get("pack", {})
    params = {str(k): str(v) for k, v in (pack.get("params") or {}).items() if v not in (None, "")}
    source = record.get("source")
    try:
        if is_table(source):
            fresh = _rerun_on_table(case, pack, params, source, runner, problems)
            if fresh is None:
                return {}
        else:
            engine = open_engine(case, runner.get("engine") or "duckdb", runner.get("master"), runner.get("tables"))
            fresh = run_pack(case, pack.get("name"), params, engine=engine).to_json(full=True)
    except UsageError:
        raise  # a wrong option (e.g. --table without --engine spark) is the user's to fix, not a finding
    except ForensicsError as exc:
        problems.append(Problem("rerun", str(pack.get("name")), f"could not re-run the pack: {exc}"))
        return {}
    except Exception as exc:  # a corrupted store (unreadable Parquet) must be reported, not crash verify
        problems.append(Problem("rerun", str(pack.get("name")), f"the case's events cannot be read: {exc}"))
        return {}
    checked = {"checks": _compare_digests(record, fresh, problems)}
    derived = rederive_record(case, record, fresh, custody, report.notes)
    if derived is not None:
        compare_records(record, derived, problems)
    checked.update(rerender(exhibit_dir, record, fresh, str(manifest.get("exhibit_digest")), problems))
    return checked


def _rerun_on_table(
    case: Any,
    pack: dict[str, Any],
    params: dict[str, str],
    source: dict[str, Any],
    runner: dict[str, Any],
    problems: list[Problem],
) -> dict[str, Any] | None:
    """Re-read the warehouse table the exhibit was built from; None when it cannot be (no Spark asked for)."""
    from forensics.exhibit.table_source import changed
    from forensics.packs import run_pack

    table = str(source.get("table"))
    if runner.get("engine") != "spark":
        detail = (
            f"the findings were NOT re-derived: the exhibit's source is the warehouse table {table}, not sealed "
            f"files; only the exhibit's own files and seals were checked. Re-run: forensics verify EXHIBIT "
            f"--engine spark [--master URL] [--table events={table}]"
        )
        problems.append(Problem("table_rerun", table, detail))
        return None
    tables = runner.get("tables") or {"events": table}
    engine = open_engine(case, "spark", runner.get("master"), tables)
    fresh: dict[str, Any] = run_pack(case, pack.get("name"), params, engine=engine).to_json(full=True)
    differences = changed(source, fresh.get("source") or {})
    if differences:
        detail = "the table changed since the exhibit was built: " + "; ".join(differences)
        problems.append(Problem("table", str(tables.get("events")), detail))
    fresh["source"] = dict(source)  # when and by which Spark it was read is the exhibit's record, not re-derived
    return fresh


def _compare_digests(record: dict[str, Any], fresh: dict[str, Any], problems: list[Problem]) -> int:
    pack = record.get("pack", {})
    if fresh.get("version") != pack.get("version"):
        problems.append(
            Problem("rerun", str(pack.get("name")), f"pack version {fresh.get('version')} != {pack.get('version')}")
        )
    recorded = record.get("digests", {})
    now = {c["id"]: c for c in fresh.get("checks", [])}
    for cid, old in recorded.items():
        new = now.get(cid)
        if new is None:
            problems.append(Problem("check", cid, "check is no longer in the pack"))
            continue
        for key in ("verdict", "sql_sha256", "result_sha256"):
            if new.get(key) != old.get(key):
                problems.append(Problem("check", cid, f"{key} differs: exhibit {old.get(key)}, now {new.get(key)}"))
    for cid in sorted(set(now) - set(recorded)):
        problems.append(Problem("check", cid, "check was not in the exhibit"))
    return len(recorded)
