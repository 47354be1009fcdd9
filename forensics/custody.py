"""verify: recompute every seal of a case and name each mismatch.

The seals themselves (hashes, row digests, Merkle roots, manifest, custody log) are made in
forensics.seal, their one home; the names are re-exported here for existing callers. What verify
checks, and what it cannot (see docs/threat-model.md):
- the custody chain, the manifest's seal, every listed Parquet file, raw copy and mapping copy;
- the case folder holds nothing else: no symlink, no special file, no unlisted file (DuckDB reads
  only listed files anyway, see Case.connect, but a stray file is a sign of tampering);
- case.duckdb's views are what the manifest implies; case.toml is unchanged since the last
  check/exhibit sealed it; every exhibit in the case is in the log, and the log still reaches the
  custody head each exhibit names (a truncated log is caught when an exhibit was built after it);
- deep (default): every row digest and each input's Merkle root, streamed file by file;
- reparse: each preserved raw file parsed again with its recorded options, compared with the rows.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from forensics.case import Case, expected_catalog_sql, stored_catalog_sql
from forensics.rowcheck import Problem, Progress, verify_rows
from forensics.seal import (
    CANONICAL_COLUMNS,
    GENESIS,
    LEAF_ROWS,
    BackgroundHasher,
    DualHasher,
    MerkleBuilder,
    _entry_hash,
    append_custody,
    canonical_json,
    canonical_row_text,
    canonical_text_expr,
    hash_file,
    manifest_seal,
    manifest_text,
    merkle_root,
    now_iso,
    packed_digests,
    read_custody,
    row_digests,
    row_digests_binary,
    sha256_file,
    tool_versions,
    with_row_digests,
    write_manifest,
)

__all__ = [
    "CANONICAL_COLUMNS",
    "GENESIS",
    "LEAF_ROWS",
    "BackgroundHasher",
    "DualHasher",
    "MerkleBuilder",
    "Problem",
    "VerifyReport",
    "append_custody",
    "canonical_json",
    "canonical_row_text",
    "canonical_text_expr",
    "hash_file",
    "manifest_seal",
    "manifest_text",
    "merkle_root",
    "now_iso",
    "packed_digests",
    "read_custody",
    "row_digests",
    "row_digests_binary",
    "sha256_file",
    "tool_versions",
    "verify_case",
    "with_row_digests",
    "write_manifest",
]



@dataclass
class VerifyReport:
    ok: bool
    problems: list[Problem] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)
    retracted: list[dict[str, Any]] = field(default_factory=list)  # {path, sha256, at, reason, custody_seq}
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problems": [asdict(p) for p in self.problems],
            "checked": self.checked,
            "retracted": self.retracted,
        }


def verify_case(
    case: Case, *, deep: bool = True, reparse: bool = False, progress: Progress | None = None
) -> VerifyReport:
    """Recompute every seal of the case and name each mismatch.

    deep=False is the fast path `check` runs first: custody chain, manifest, layout, catalog,
    case.toml, exhibit heads and file hashes, but not the row digests."""
    from forensics.layout import scan_layout

    clock = time.perf_counter()
    problems: list[Problem] = []
    checked: dict[str, int] = {}
    entries = _verify_custody(case, problems)
    checked["custody_entries"] = len(entries)
    manifest = _load_manifest(case, problems)
    retracted: list[dict[str, Any]] = []
    if manifest is not None:
        _verify_manifest_seal(entries, case, manifest, problems)
        checked["parquet_files"] = _verify_outputs(case, manifest, problems)
        checked["raw_files"] = _verify_preserved(case, manifest, problems)
        findings: list[tuple[str, str, str]] = []
        checked["layout_entries"] = scan_layout(case, manifest, findings)
        problems.extend(Problem(*f) for f in findings)
        _verify_catalog(case, manifest, problems)
        retracted = _retractions(manifest)
        if deep or reparse:
            roots = verify_rows(case, manifest, problems, progress)
            checked["inputs"] = len(manifest.get("inputs", []))
            checked["rows"] = sum(r[1] for r in roots.values())
            if reparse:
                from forensics.reparse import verify_reparse

                checked["reparsed_inputs"] = verify_reparse(case, manifest, roots, problems)
    _verify_case_toml(case, entries, problems)
    checked["exhibits"] = _verify_exhibits(case, entries, problems)
    return VerifyReport(not problems, problems, checked, retracted, time.perf_counter() - clock)


def _verify_custody(case: Case, problems: list[Problem]) -> list[dict[str, Any]]:
    """The entries that parse, after checking the chain (each damaged or altered line is named)."""
    path = str(case.custody_path)
    if not case.custody_path.exists():
        problems.append(Problem("custody", path, "custody.log is missing"))
        return []
    prev = GENESIS
    entries: list[dict[str, Any]] = []
    with case.custody_path.open(encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(Problem("custody", f"{path}:{n}", f"entry is not valid JSON ({exc.msg})"))
                prev = "?"
                continue
            if not isinstance(entry, dict):
                problems.append(Problem("custody", f"{path}:{n}", "entry is not a JSON object"))
                prev = "?"
                continue
            if entry.get("prev_hash") != prev and prev != "?":
                problems.append(Problem("custody", f"{path}:{n}", "prev_hash does not match the previous entry"))
            if entry.get("hash") != _entry_hash(entry):
                problems.append(Problem("custody", f"{path}:{n}", "entry was altered (its hash does not match)"))
            prev = entry.get("hash", "?")
            entries.append(entry)
    return entries


def _load_manifest(case: Case, problems: list[Problem]) -> dict[str, Any] | None:
    try:
        data = json.loads(case.manifest_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        problems.append(Problem("manifest", str(case.manifest_path), f"cannot read manifest: {exc}"))
        return None
    shape_ok = isinstance(data, dict) and all(
        isinstance(data.get(k, []), list) and all(isinstance(x, dict) for x in data.get(k, []))
        for k in ("inputs", "outputs")
    )
    if not shape_ok:
        problems.append(Problem("manifest", str(case.manifest_path), "manifest is not in the expected shape"))
        return None
    result: dict[str, Any] = data
    return result


def _details(entry: dict[str, Any]) -> dict[str, Any]:
    details = entry.get("details")
    return details if isinstance(details, dict) else {}


def _verify_manifest_seal(
    entries: list[dict[str, Any]], case: Case, manifest: dict[str, Any], problems: list[Problem]
) -> None:
    sealed = [e for e in entries if "manifest_sha256" in _details(e)]
    if not sealed:
        if manifest.get("inputs") or manifest.get("outputs"):
            problems.append(
                Problem("manifest", str(case.manifest_path), "manifest lists evidence but no custody entry seals it")
            )
        return
    expected = _details(sealed[-1])["manifest_sha256"]
    if manifest_seal(manifest) != expected:
        problems.append(
            Problem("manifest", str(case.manifest_path), "manifest content differs from the seal in custody.log")
        )


def _verify_outputs(case: Case, manifest: dict[str, Any], problems: list[Problem]) -> int:
    recorded = {str(o.get("path")): o for o in manifest.get("outputs", [])}
    for rel, out in sorted(recorded.items()):
        full = case.root / rel
        if not full.is_file() or full.is_symlink():
            problems.append(Problem("missing", rel, "Parquet file listed in the manifest is missing"))
            continue
        h = hash_file(full)
        if h.sha256 != out.get("sha256") or h.sm3 != out.get("sm3", h.sm3):
            problems.append(
                Problem("parquet", rel, f"hash changed: manifest {str(out.get('sha256'))[:16]}…, file {h.sha256[:16]}…")
            )
    return len(recorded)


def _verify_preserved(case: Case, manifest: dict[str, Any], problems: list[Problem]) -> int:
    """Raw copies (--preserve) and mapping copies, by their content address."""
    count = 0
    for item in manifest.get("inputs", []):
        for key, sha_key, what in (
            ("preserved_copy", "sha256", "preserved raw file"),
            ("mapping_copy", "mapping_sha256", "preserved mapping file"),
        ):
            copy = item.get(key)
            if not copy:
                continue
            count += 1
            full = case.root / str(copy)
            if not full.is_file() or full.is_symlink():
                problems.append(Problem("raw", str(copy), f"{what} is missing"))
            elif hash_file(full).sha256 != item.get(sha_key):
                problems.append(Problem("raw", str(copy), f"{what} changed (SHA-256 differs)"))
    return count


def _verify_catalog(case: Case, manifest: dict[str, Any], problems: list[Problem]) -> None:
    """case.duckdb is a convenience forensics never reads; a user who opens it must see the truth."""
    import duckdb

    from forensics.errors import ForensicsError

    try:
        stored = stored_catalog_sql(case)
        if stored is None:
            return
        expected = expected_catalog_sql(case, manifest)
    except (duckdb.Error, ForensicsError, OSError) as exc:
        problems.append(Problem("catalog", "case.duckdb", f"cannot compare the catalog with the manifest ({exc})"))
        return
    for name in sorted(set(stored) | set(expected)):
        if stored.get(name) != expected.get(name):
            problems.append(
                Problem(
                    "catalog",
                    "case.duckdb",
                    f"view {name} differs from what the manifest implies (forensics never reads it; "
                    "delete case.duckdb, the next ingest or retract writes it again)",
                )
            )


def _retractions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for item in manifest.get("inputs", []):
        info = item.get("retracted")
        if isinstance(info, dict):
            out.append({"path": item.get("path"), "sha256": item.get("sha256"), **info})
    return out


def _verify_case_toml(case: Case, entries: list[dict[str, Any]], problems: list[Problem]) -> None:
    """case.toml feeds every verdict: it must be the one the last check/exhibit sealed."""
    sealed = [e for e in entries if "case_toml_sha256" in _details(e)]
    if not sealed:
        return
    last = sealed[-1]
    current = sha256_file(case.toml_path) if case.toml_path.is_file() else None
    if current != _details(last)["case_toml_sha256"]:
        problems.append(
            Problem(
                "case_toml",
                "case.toml",
                f"changed since custody entry {last.get('seq')} ({last.get('action')} at {last.get('at')}) sealed it; "
                "results built before do not match it: run check/exhibit again",
            )
        )


def _verify_exhibits(case: Case, entries: list[dict[str, Any]], problems: list[Problem]) -> int:
    """Each exhibit folder of the case is in the log, and the log still reaches the head it names."""
    by_seq = {e.get("seq"): e.get("hash") for e in entries}
    logged = {
        _details(e).get(k) for e in entries for k in ("exhibit_manifest_sha256", "sealed_exhibit_manifest_sha256")
    }
    count = 0
    folders = sorted(case.exhibits_dir.iterdir()) if case.exhibits_dir.is_dir() else []
    for folder in folders:
        manifest_path = folder / "manifest.json"
        if folder.is_symlink() or not manifest_path.is_file():
            continue
        count += 1
        rel = str(manifest_path.relative_to(case.root))
        if sha256_file(manifest_path) not in logged:
            problems.append(
                Problem("truncated", rel, "this exhibit has no custody entry (the log was cut or the folder added)")
            )
        for record in (manifest_path, folder / "exhibit.json"):
            head = _custody_head(record)
            if head is not None and by_seq.get(head.get("seq")) != head.get("hash"):
                problems.append(
                    Problem(
                        "truncated",
                        str(record.relative_to(case.root)),
                        f"the exhibit was built on custody entry {head.get('seq')}, which the log no longer holds "
                        "(entries were removed or rewritten)",
                    )
                )
    return count


def _custody_head(path: Path) -> dict[str, Any] | None:
    """The {seq, hash} an exhibit record names (manifest.json or exhibit.json), if any."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # exhibit verify names an unreadable record; here only the head matters
    head = data.get("custody_head") if isinstance(data, dict) else None
    return head if isinstance(head, dict) else None
