"""Writing canonical events and quarantine rows to the case's hive-partitioned Parquet.

Files are written into a staging folder first and moved into place only once the whole input
passed its accounting check, so an aborted ingest leaves the case exactly as it was.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from forensics.errors import ForensicsError
from forensics.schema import EVENT_COLUMNS, EVENT_SCHEMA, QUARANTINE_COLUMNS
from forensics.seal import hash_file


def conform_events(events: pl.DataFrame, source: str, src_sha256: str) -> pl.DataFrame:
    """Add missing canonical columns as nulls, provenance, and cast to the schema's types."""
    frame = events.with_columns(pl.lit(source).alias("source"), pl.lit(src_sha256).alias("src_sha256"))
    target = pl.from_arrow(EVENT_SCHEMA.empty_table())
    assert isinstance(target, pl.DataFrame)
    exprs = []
    for name, dtype in target.schema.items():
        if name == "row_digest":
            exprs.append(pl.lit("", dtype=pl.String).alias(name))
        elif name in frame.columns:
            exprs.append(pl.col(name).cast(dtype, strict=False).alias(name))
        else:
            default = "unknown" if name == "outcome" else ("other" if name == "action" else None)
            exprs.append(pl.lit(default, dtype=dtype).alias(name))
    return frame.select(exprs)


@dataclass
class StagedOutput:
    path: Path  # final path relative to the case root
    kind: str  # events | quarantine
    rows: int
    entry: dict[str, object] = field(default_factory=dict)  # manifest entry, hashes taken when written


@dataclass
class Stager:
    """Collects one input's Parquet files in a staging folder inside the case."""

    case_root: Path
    src_sha256: str
    source: str
    staging_root: Path | None = None  # this run's staging folder (default CASE/.staging)
    generation: int = 1  # 2+ when a retracted input is ingested again: its files get new names
    staging: Path = field(init=False)
    outputs: list[StagedOutput] = field(default_factory=list)
    _part: int = 0

    def __post_init__(self) -> None:
        self.staging = (self.staging_root or self.case_root / ".staging") / self.src_sha256
        if self.staging.exists():
            shutil.rmtree(self.staging)
        self.staging.mkdir(parents=True)

    def _next_name(self) -> str:
        self._part += 1
        generation = f"-g{self.generation}" if self.generation > 1 else ""
        return f"{self.src_sha256[:16]}{generation}-{self._part:05d}.parquet"

    def write_events(self, events: pl.DataFrame) -> None:
        if events.height == 0:
            return
        dated = events.with_columns(pl.col("ts").dt.date().cast(pl.String).alias("_date"))
        for (day,), part in dated.group_by("_date", maintain_order=True):
            rel = Path("events") / f"source={self.source}" / f"date={day}" / self._next_name()
            self._write(rel, "events", part.drop("_date").select(EVENT_COLUMNS))

    def write_quarantine(self, rows: pl.DataFrame) -> None:
        if rows.height == 0:
            return
        rel = Path("quarantine") / f"source={self.source}" / self._next_name()
        self._write(rel, "quarantine", rows.select(QUARANTINE_COLUMNS).cast({"raw": pl.Binary, "line_no": pl.Int64}))

    def _write(self, rel: Path, kind: str, frame: pl.DataFrame) -> None:
        # polars' writer is multi-threaded and skips the Arrow conversion; zstd level 1 costs a
        # little size for a lot of speed on the wide attrs column.
        target = self.staging / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            frame.write_parquet(target, compression="zstd", compression_level=1, statistics=True)
        except pl.exceptions.PolarsError as exc:  # a full disk surfaces as polars' ComputeError
            raise ForensicsError(
                f"{target}: cannot write Parquet ({exc}); the input in progress was discarded"
            ) from exc
        # hashed now, on the store thread, so sealing only has to rename files
        h = hash_file(target)
        entry: dict[str, object] = {
            "path": rel.as_posix(),
            "kind": kind,
            "rows": frame.height,
            "bytes": h.size,
            "sha256": h.sha256,
            "sm3": h.sm3,
            "input_sha256": self.src_sha256,
        }
        if self.generation > 1:
            entry["generation"] = self.generation
        self.outputs.append(StagedOutput(rel, kind, frame.height, entry))

    def commit(self) -> list[dict[str, object]]:
        """Move the staged files into the case, all or none; return their manifest entries."""
        moved: list[StagedOutput] = []
        try:
            for out in self.outputs:
                dst = self.case_root / out.path
                dst.parent.mkdir(parents=True, exist_ok=True)
                (self.staging / out.path).replace(dst)
                moved.append(out)
        except BaseException:
            self._move_back(moved)
            raise
        return [dict(out.entry) for out in self.outputs]

    def uncommit(self) -> None:
        """Undo commit(): the files go back to staging (sealing them failed)."""
        self._move_back(self.outputs)

    def _move_back(self, outputs: list[StagedOutput]) -> None:
        for out in outputs:
            dst = self.case_root / out.path
            if dst.exists():
                (self.staging / out.path).parent.mkdir(parents=True, exist_ok=True)
                dst.replace(self.staging / out.path)

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)
        parent = self.staging.parent
        if parent.exists() and not any(parent.iterdir()):
            parent.rmdir()
