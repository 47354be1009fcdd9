"""verify's row pass: every row digest recomputed, every input's Merkle root rebuilt, in bounded memory.

Memory holds one ingest block's rows at a time, never the case: the Parquet files of one input
are grouped by overlapping line ranges (read from the Parquet statistics; an ingest block's files
overlap each other and nothing else), and each group is read, re-digested and sorted on its own.
Rows are ordered by (line_no, byte_offset), ties in manifest order (the order they were written),
as at ingest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from forensics.schema import EVENT_COLUMNS
from forensics.seal import MerkleBuilder, row_digests

if TYPE_CHECKING:
    from forensics.case import Case

Progress = Callable[[int, int], None]  # (rows done, rows in all)
BATCH_ROWS = 16384  # rows hashed per call: the canonical text of a batch is all that is held at once
SHOWN = 20  # row mismatches named one by one; the rest are counted


@dataclass
class Problem:
    # custody | manifest | parquet | raw | rows | missing | unexpected | symlink | special | catalog
    # | case_toml | truncated | reparse
    kind: str
    path: str
    detail: str


def verify_rows(
    case: Case, manifest: dict[str, Any], problems: list[Problem], progress: Progress | None
) -> dict[tuple[str, int], tuple[str, int]]:
    """Returns {(sha256, generation): (Merkle root of the stored rows, row count)}."""
    files_of: dict[tuple[str, int], list[Path]] = {}
    total = 0
    for out in manifest.get("outputs", []):
        if out.get("kind") != "events":
            continue
        full = case.root / str(out.get("path"))
        if full.is_file() and not full.is_symlink():
            key = (str(out.get("input_sha256")), int(out.get("generation", 1)))
            files_of.setdefault(key, []).append(full)
            total += int(out.get("rows") or 0)
    tally = _Tally(case, problems, progress, total)
    roots: dict[tuple[str, int], tuple[str, int]] = {}
    for item in manifest.get("inputs", []):
        if item.get("skipped_duplicate"):
            continue
        key = (str(item.get("sha256")), int(item.get("generation", 1)))
        root, rows = tally.input_root(files_of.get(key, []))
        roots[key] = (root, rows)
        name = str(item.get("path"))
        if item.get("merkle_root") and root != item["merkle_root"]:
            problems.append(Problem("rows", name, "Merkle root of its stored rows differs from the manifest"))
        if rows != item.get("events", rows):
            problems.append(Problem("rows", name, f"manifest says {item['events']} events, store holds {rows}"))
    if tally.bad > SHOWN:
        problems.append(Problem("rows", "events", f"{tally.bad - SHOWN} more rows differ from their digests"))
    return roots


@dataclass
class _Tally:
    case: Case
    problems: list[Problem]
    progress: Progress | None
    total: int
    done: int = 0
    bad: int = 0
    _unreadable: set[Path] = field(default_factory=set)

    def input_root(self, files: list[Path]) -> tuple[str, int]:
        builder = MerkleBuilder()
        rows = 0
        for group in _overlapping_groups(files):
            keys = [k for f in group if (k := self._digest_file(f)) is not None]
            if not keys:
                continue
            ordered = pl.concat(keys).sort(["line_no", "byte_offset"], maintain_order=True)
            builder.add_packed(b"".join(ordered.get_column("digest").to_list()))
            rows += ordered.height
        return builder.root(), rows

    def _digest_file(self, path: Path) -> pl.DataFrame | None:
        """Re-digest one file batch by batch; its (line_no, byte_offset, 32-byte digest) rows."""
        try:
            frame = pl.read_parquet(path, columns=EVENT_COLUMNS, hive_partitioning=False)
        except Exception as exc:  # a corrupted or foreign file must be reported, not crash verify
            self.problems.append(Problem("parquet", self._rel(path), f"unreadable as events: {exc}"))
            return None
        for start in range(0, frame.height, BATCH_ROWS):
            self._compare(frame.slice(start, BATCH_ROWS))
        digests = frame.get_column("row_digest")
        if digests.null_count() or not digests.str.len_bytes().eq(64).all():
            self.problems.append(Problem("rows", self._rel(path), "a stored row digest is missing or malformed"))
            return None
        return frame.select("line_no", "byte_offset", pl.col("row_digest").str.decode("hex").alias("digest"))

    def _compare(self, frame: pl.DataFrame) -> None:
        recomputed = row_digests(frame)
        bad = frame.filter(recomputed != frame.get_column("row_digest"))
        for row in bad.head(max(0, SHOWN - self.bad)).iter_rows(named=True):
            where = f"{row['source']}:{str(row['src_sha256'])[:12]}:{row['line_no']}"
            self.problems.append(Problem("rows", where, "row content differs from its digest"))
        self.bad += bad.height
        self.done += frame.height
        if self.progress is not None:
            self.progress(self.done, self.total)

    def _rel(self, path: Path) -> str:
        return str(path.relative_to(self.case.root))


def _overlapping_groups(files: list[Path]) -> list[list[Path]]:
    """Files whose line ranges overlap, together (manifest order inside a group)."""
    spans = []
    for index, path in enumerate(files):
        low, high = _line_range(path)
        spans.append((low, index, high, path))
    spans.sort(key=lambda s: (s[0], s[1]))
    groups: list[list[tuple[int, Path]]] = []
    reach = None
    for low, index, high, path in spans:
        if groups and reach is not None and low <= reach:
            groups[-1].append((index, path))
            reach = max(reach, high)
        else:
            groups.append([(index, path)])
            reach = high
    return [[p for _, p in sorted(g)] for g in groups]


def _line_range(path: Path) -> tuple[int, int]:
    """min and max line_no from the Parquet statistics; the widest range when they are missing."""
    import pyarrow.parquet as pq

    widest = (-(2**63), 2**63 - 1)
    try:
        meta = pq.ParquetFile(path).metadata
        column = meta.schema.names.index("line_no")
        lows, highs = [], []
        for g in range(meta.num_row_groups):
            stats = meta.row_group(g).column(column).statistics
            if stats is None or not stats.has_min_max:
                return widest
            lows.append(int(stats.min))
            highs.append(int(stats.max))
    except Exception:  # unreadable here: _digest_file reports it
        return widest
    return (min(lows), max(highs)) if lows else widest
