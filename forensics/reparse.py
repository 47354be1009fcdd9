"""verify --reparse: derive each input's rows again from its preserved raw file.

Row digests and Merkle roots are unkeyed: a forger who edits rows can recompute them, the
manifest and the custody chain. The preserved raw file (ingest --preserve) is the one thing such
a re-seal must leave alone (its SHA-256 is in the same manifest, and the dump's hash is usually
known to the other side): parsing it again with the recorded format, mapping and options must give
exactly the stored rows, or the rows were changed.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forensics.errors import ForensicsError, UsageError
from forensics.rowcheck import Problem

if TYPE_CHECKING:
    from forensics.case import Case


def verify_reparse(
    case: Case, manifest: dict[str, Any], roots: dict[tuple[str, int], tuple[str, int]], problems: list[Problem]
) -> int:
    """Re-ingest every preserved input in a scratch folder and compare; returns how many were."""
    count = 0
    for item in manifest.get("inputs", []):
        if not item.get("preserved_copy") or item.get("skipped_duplicate"):
            continue
        key = (str(item.get("sha256")), int(item.get("generation", 1)))
        name = str(item.get("path"))
        try:
            root, events = reparse_input(case, item)
        except ForensicsError as exc:
            problems.append(Problem("reparse", name, f"cannot parse the preserved raw file again: {exc}"))
            continue
        count += 1
        stored_root, stored_rows = roots.get(key, ("", 0))
        if root != stored_root or events != stored_rows:
            problems.append(
                Problem(
                    "reparse",
                    name,
                    f"parsing the preserved raw file again gives {events} rows (Merkle root {root[:16]}…), the "
                    f"store holds {stored_rows} (root {stored_root[:16]}…): the stored rows were changed",
                )
            )
        elif root != item.get("merkle_root"):
            problems.append(Problem("reparse", name, "the manifest's Merkle root differs from the re-parsed rows"))
    return count


def reparse_input(case: Case, item: dict[str, Any]) -> tuple[str, int]:
    """(Merkle root, event count) of the preserved raw file parsed with the input's recorded options."""
    from forensics.case import Case as CaseFolder
    from forensics.ingest import IngestOptions, ingest_file

    mapping = None
    if item.get("mapping_sha256") and item.get("format") != "cloudtrail":
        if not item.get("mapping_copy"):
            raise ForensicsError("its mapping file was not kept in the case (ingested by an older version)")
        mapping = case.root / str(item["mapping_copy"])
    encoding = str(item.get("encoding") or "auto")
    options = IngestOptions(
        source=item.get("source"),
        format=str(item.get("format") or "auto"),
        log_format=item.get("log_format"),
        mapping=mapping,
        tz=item.get("tz"),
        encoding=_known_encoding(encoding),
        year=item.get("year_hint"),
        max_line_bytes=_line_limit(item),
    )
    raw = case.root / str(item["preserved_copy"])
    with tempfile.TemporaryDirectory(prefix="forensics-reparse-") as scratch:
        scratch_case = CaseFolder(Path(scratch))
        _report, stored = ingest_file(scratch_case, raw, options, set(), staging=Path(scratch) / "staging")
        if stored is None:
            raise ForensicsError("the re-parse produced nothing (bug; report it)")
        stored.stager.discard()
        return str(stored.entry["merkle_root"]), int(stored.entry["events"])


def _line_limit(item: dict[str, Any]) -> int:
    """The --max-line-bytes the input was read with (recorded only when not the default)."""
    from forensics.reader import MAX_LINE_BYTES

    value = item.get("max_line_bytes")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else MAX_LINE_BYTES


def _known_encoding(name: str) -> str:
    """The encoding the input was read with, as recorded; an unreadable record falls back to auto."""
    from forensics.reader import check_encoding

    try:
        return check_encoding(name)
    except UsageError:
        return "auto"
