"""`forensics retract`: take an input's rows out of the views, keep everything sealed.

An input ingested with the wrong format or mapping cannot be undone by deleting files (verify
would rightly fail). Retracting it marks its manifest entry `retracted` ({at, reason,
custody_seq}) and records that in custody; Case.connect then skips its outputs. Its Parquet and
raw copy stay in the case, listed and still verified, and the same file may be ingested again.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from forensics.case import Case, case_lock, refresh_catalog
from forensics.errors import ForensicsError, UsageError
from forensics.seal import append_custody, manifest_seal, now_iso, read_custody, write_manifest


def retract_input(case: Case, sha256: str, reason: str) -> dict[str, Any]:
    """Retract the live input whose SHA-256 is (or starts with, at least 8 hex digits) sha256."""
    if not reason.strip():
        raise UsageError("--reason must say why the input is retracted (it goes into the custody log)")
    with case_lock(case, "retract"):
        manifest = case.manifest()
        item = _find(manifest, sha256.lower())
        seq = len(read_custody(case)) + 1
        item["retracted"] = {"at": now_iso(), "reason": reason, "custody_seq": seq}
        before = case.manifest_path.read_bytes()
        size = case.custody_path.stat().st_size
        try:
            write_manifest(case, manifest)
            details = {
                "input_sha256": item["sha256"],
                "path": item.get("path"),
                "generation": int(item.get("generation", 1)),
                "reason": reason,
                "manifest_sha256": manifest_seal(manifest),
            }
            entry = append_custody(case, "retract", details)
        except BaseException:
            # all or nothing: the manifest and the log go back to what they were
            case.manifest_path.write_bytes(before)
            with contextlib.suppress(OSError):
                os.truncate(case.custody_path, size)
            raise
        if entry["seq"] != seq:
            raise ForensicsError(f"{case.custody_path}: custody log changed during retract (bug; report it)")
        refresh_catalog(case)
        return item


def _find(manifest: dict[str, Any], sha: str) -> dict[str, Any]:
    if len(sha) < 8 or any(ch not in "0123456789abcdef" for ch in sha):
        raise UsageError(f"give the input's SHA-256 (at least 8 hex digits; see `forensics verify`), not {sha!r}")
    live = [
        i
        for i in manifest.get("inputs", [])
        if str(i.get("sha256", "")).startswith(sha) and not i.get("retracted") and not i.get("skipped_duplicate")
    ]
    if not live:
        retracted = any(str(i.get("sha256", "")).startswith(sha) for i in manifest.get("inputs", []))
        why = "it is already retracted" if retracted else "no input of the case has this SHA-256"
        raise ForensicsError(f"cannot retract {sha}: {why}")
    if len(live) > 1:
        raise UsageError(f"{sha} matches {len(live)} inputs; give more digits")
    found: dict[str, Any] = live[0]
    return found
