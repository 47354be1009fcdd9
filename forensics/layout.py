"""What may be inside a case folder, for verify: nothing but what the manifest lists.

A symlink (e.g. `date=2024-03-10 -> date=2024-03-05`), a special file (FIFO, device, socket) or a
file the manifest does not list is reported wherever it is, except inside the folders other tools
own: exhibits/ (checked by exhibit verify), witnesses/ (signatures and timestamps), and the
scratch folders .staging/ (a running ingest) and .tmp/ (DuckDB's spill folder).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from forensics.case import Case

Finding = tuple[str, str, str]  # (kind, path relative to the case, detail); verify makes Problems of them

# .pseudonym_key: the per-case secret the exhibit masks names with (forensics.masking), not evidence
TOP_FILES = {"case.toml", "manifest.json", "custody.log", "case.duckdb", ".lock", ".pseudonym_key"}
SEALED_DIRS = {"events", "quarantine", "raw", "mappings"}  # every file inside must be listed
OWNED_DIRS = {"exhibits", "witnesses", ".staging", ".tmp"}  # their contents are not ours to judge


def scan_layout(case: Case, manifest: dict[str, Any], problems: list[Finding]) -> int:
    """Walk the case without following symlinks; returns the number of entries looked at."""
    listed = {str(o.get("path")) for o in manifest.get("outputs", [])}
    for item in manifest.get("inputs", []):
        listed.update(str(item[k]) for k in ("preserved_copy", "mapping_copy") if item.get(k))
    seen = 0
    with os.scandir(case.root) as it:
        top = sorted(it, key=lambda e: e.name)
    for entry in top:
        seen += 1
        if _odd(entry, entry.name, problems):
            continue
        if entry.is_dir(follow_symlinks=False):
            if entry.name in SEALED_DIRS:
                seen += _walk(case.root, Path(entry.path), listed, problems)
            elif entry.name not in OWNED_DIRS:
                problems.append(("unexpected", entry.name, "folder that is not part of a case"))
        elif entry.name not in TOP_FILES:
            problems.append(("unexpected", entry.name, "file that is not part of a case"))
    return seen


def _walk(root: Path, folder: Path, listed: set[str], problems: list[Finding]) -> int:
    seen = 0
    with os.scandir(folder) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        seen += 1
        rel = Path(entry.path).relative_to(root).as_posix()
        if _odd(entry, rel, problems):
            continue
        if entry.is_dir(follow_symlinks=False):
            seen += _walk(root, Path(entry.path), listed, problems)
        elif rel not in listed:
            problems.append(("unexpected", rel, "file not listed in the manifest"))
    return seen


def _odd(entry: os.DirEntry[str], rel: str, problems: list[Finding]) -> bool:
    """Report a symlink or special file; True when it was one (never followed)."""
    if entry.is_symlink():
        target = os.readlink(entry.path)
        problems.append(("symlink", rel, f"symbolic link to {target} (a case holds no links)"))
        return True
    mode = entry.stat(follow_symlinks=False).st_mode
    if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
        problems.append(("special", rel, "special file (FIFO, socket or device) in the case"))
        return True
    return False
