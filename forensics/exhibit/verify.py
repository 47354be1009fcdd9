"""`forensics verify EXHIBIT_DIR`: re-derive an exhibit and name every mismatch.

1. Every file listed in manifest.json is present with the same size, SHA-256 and SM3; no file was added.
2. The exhibit digest (printed on every PDF page) is the SHA-256 of exhibit.json, and the typst data carries it.
3. A sealed (unmasked) exhibit's link to its masked sibling still matches that sibling's manifest.
4. The case recorded in the exhibit is found (path relative to the exhibit first, then the absolute path), its
   own seals verify (forensics.custody.verify_case: raw files, Parquet, row digests, custody chain), and its
   inputs are the ones the exhibit lists.
5. Every check is re-run with the recorded pack and parameters; verdicts and result digests must match, so a
   changed event changes a digest even where a Parquet file was rewritten consistently.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from forensics.custody import Problem, VerifyReport, hash_file
from forensics.errors import ForensicsError
from forensics.exhibit.build import MANIFEST_FORMAT, folder_files


def verify_exhibit(exhibit_dir: Path) -> VerifyReport:
    problems: list[Problem] = []
    checked: dict[str, int] = {}
    manifest = _load_json(exhibit_dir / "manifest.json", "manifest", problems)
    if manifest is None:
        return VerifyReport(ok=False, problems=problems, checked=checked)
    if manifest.get("format") != MANIFEST_FORMAT:
        detail = f"not an exhibit manifest (format {manifest.get('format')!r})"
        problems.append(Problem("manifest", "manifest.json", detail))
        return VerifyReport(ok=False, problems=problems, checked=checked)
    checked["files"] = _verify_files(exhibit_dir, manifest, problems)
    record = _verify_digest(exhibit_dir, manifest, problems)
    checked["links"] = _verify_link(exhibit_dir, manifest, problems)
    if record is not None:
        case = _locate_case(exhibit_dir, record, problems)
        if case is not None:
            checked["case_problems"] = _verify_case(case, problems)
            checked["case_inputs"] = _verify_inputs(case, manifest, problems)
            checked["checks"] = _rerun_checks(case, record, problems)
    return VerifyReport(ok=not problems, problems=problems, checked=checked)


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
    digest = hashlib.sha256(raw).hexdigest()
    if digest != manifest.get("exhibit_digest"):
        problems.append(
            Problem("digest", "exhibit.json", "SHA-256 differs from the exhibit digest in manifest.json and on the PDF")
        )
    view = exhibit_dir / "typst" / "view.json"
    if view.exists():
        try:
            stamp = json.loads(view.read_text(encoding="utf-8")).get("stamp")
        except (OSError, ValueError):
            stamp = None
        if stamp != manifest.get("exhibit_digest"):
            problems.append(Problem("digest", "typst/view.json", "page stamp differs from the exhibit digest"))
    try:
        record: dict[str, Any] = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        problems.append(Problem("digest", "exhibit.json", f"not valid JSON: {exc}"))
        return None
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


def _locate_case(exhibit_dir: Path, record: dict[str, Any], problems: list[Problem]) -> Any:
    from forensics.case import Case

    ref = record.get("case_ref", {})
    candidates = []
    if ref.get("relative"):
        candidates.append((exhibit_dir / ref["relative"]).resolve())
    if ref.get("absolute"):
        candidates.append(Path(ref["absolute"]))
    for root in candidates:
        if (root / "case.toml").is_file() and (root / "manifest.json").is_file():
            return Case(root)
    shown = " or ".join(str(c) for c in candidates) or "(none recorded)"
    problems.append(Problem("case", shown, "case folder not found; put the case next to the exhibit as recorded"))
    return None


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


def _rerun_checks(case: Any, record: dict[str, Any], problems: list[Problem]) -> int:
    from forensics.packs import run_pack

    pack = record.get("pack", {})
    params = {str(k): str(v) for k, v in (pack.get("params") or {}).items() if v not in (None, "")}
    try:
        fresh = run_pack(case, pack.get("name"), params).to_json()
    except ForensicsError as exc:
        problems.append(Problem("rerun", str(pack.get("name")), f"could not re-run the pack: {exc}"))
        return 0
    except Exception as exc:  # a corrupted store (unreadable Parquet) must be reported, not crash verify
        problems.append(Problem("rerun", str(pack.get("name")), f"the case's events cannot be read: {exc}"))
        return 0
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
