"""Duplicates at three levels, so one event is never counted twice.

1. Same file: the raw SHA-256 is already in the case (ingest skips it).
2. Same content: the SHA-256 of the decompressed stream matches an earlier input's (``x.jsonl`` and
   ``x.jsonl.gz``); ingest skips it and names the earlier input (``duplicate_of``).
3. Overlapping rows across different files (an export that repeats another's records): the pack's
   completeness check reports them as a defect, and the runner collapses a check's rows so one event
   is one finding, listing every copy (file:line) as provenance.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from forensics.reader import ReadStats, detect_compression, iter_blocks

# Columns that say where a row came from rather than what happened: two copies of one event differ only here.
PROVENANCE_COLUMNS = frozenset(
    {"src_sha256", "line_no", "byte_offset", "src_path", "row_digest", "date", "raw", "copies"}
)


def content_sha256(path: Path, raw_sha256: str) -> str:
    """SHA-256 of the decompressed stream (the raw hash for a plain file): what the log says, not how it is packed."""
    if detect_compression(path) == "none":
        return raw_sha256
    stats = ReadStats()
    for _ in iter_blocks(path, stats):
        pass
    return stats.decompressed.sha256


def known_contents(inputs: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """Raw and decompressed SHA-256 of every (not retracted) input -> the input it identifies."""
    out: dict[str, dict[str, str]] = {}
    for entry in inputs:
        if entry.get("retracted"):
            continue
        add_content(out, entry)
    return out


def add_content(known: dict[str, dict[str, str]], entry: Mapping[str, Any]) -> None:
    earlier = {"path": str(entry["path"]), "sha256": str(entry["sha256"])}
    for key in (entry.get("sha256"), entry.get("decompressed_sha256")):
        if key:
            known.setdefault(str(key), earlier)


# ---------------------------------------------------------------- level 3: one event, one finding


def _event_key(columns: Sequence[str], row: Sequence[Any]) -> tuple[Any, ...]:
    """Same source, node and seq when the row has a seq; else the row's text without its provenance."""
    named = dict(zip(columns, row, strict=True))
    if named.get("seq") is not None and "source" in named:
        return ("seq", named.get("source"), named.get("node"), named.get("seq"))
    return ("row", *(repr(v) for c, v in named.items() if c not in PROVENANCE_COLUMNS))


def _where(columns: Sequence[str], row: Sequence[Any], paths: Mapping[str, str]) -> str:
    named = dict(zip(columns, row, strict=True))
    sha = str(named.get("src_sha256") or "")
    return f"{paths.get(sha) or 'sha256:' + sha[:12]}:{named.get('line_no')}"


def collapse_copies(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], paths: Mapping[str, str]
) -> tuple[list[str], list[list[Any]]]:
    """Merge rows that are copies of one event (from different files); add a `copies` column listing each copy.

    Rows from the same input are never merged: two identical lines in one file are two records.
    Returns the rows unchanged (no extra column) when nothing was merged, so results stay comparable."""
    groups: dict[tuple[Any, ...], list[Sequence[Any]]] = {}
    for row in rows:
        groups.setdefault(_event_key(columns, row), []).append(row)
    sha_at = columns.index("src_sha256")
    merged: list[list[Any]] = []
    any_merged = False
    for copies in groups.values():
        firsts: dict[Any, Sequence[Any]] = {}
        for row in copies:
            firsts.setdefault(row[sha_at], row)
        if len(firsts) < 2:
            merged.extend([*r, None] for r in copies)  # one file: each line is its own record
            continue
        any_merged = True
        ordered = sorted(copies, key=lambda r: (str(r[sha_at]), r[columns.index("line_no")] or 0))
        merged.append([*copies[0], ", ".join(_where(columns, r, paths) for r in ordered)])
    if not any_merged:
        return list(columns), [list(r) for r in rows]
    return [*columns, "copies"], merged
