"""Writing: the sample's files appended chunk after chunk (gzip/zstd streams, GB18030 CSV), with their accounting."""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import polars as pl
import zstandard

from forensics.sample.render import LINE_SCHEMA, Quirks, _csv_headers


@dataclass
class WrittenFile:
    file: str  # relative to the sample folder
    path: Path
    counts: dict[str, int]  # lines, events, quarantined, blank, structural
    notable: pl.DataFrame  # tagged, order-touching and malformed lines, with their line_no


COUNT_KEYS: Final[tuple[str, ...]] = ("lines", "events", "quarantined", "blank", "structural")
NOTABLE: Final[pl.Expr] = pl.col("tag").is_not_null() | pl.col("touch").is_not_null() | (pl.col("kind") != "event")


class _Stream:
    """One output file being appended to: gzip (no name, mtime 0: same bytes every run) or zstd for files named
    .gz, plain otherwise; its accounting so far."""

    def __init__(self, out_dir: Path, file: str, zstd: bool) -> None:
        if file.endswith(".gz") and zstd:
            file = file.removesuffix(".gz") + ".zst"
        self.file = file
        self.path = out_dir / file
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = self.path.open("wb")
        self.packer: Any = None
        if file.endswith(".gz"):
            self.packer = zlib.compressobj(6, zlib.DEFLATED, 31)  # a gzip member, level 6 (the logrotate classic)
        elif file.endswith(".zst"):
            self.packer = zstandard.ZstdCompressor(level=1).compressobj()
        self.counts = dict.fromkeys(COUNT_KEYS, 0)
        self.notable: list[pl.DataFrame] = []

    def append(self, data: bytes) -> None:
        self.handle.write(self.packer.compress(data) if self.packer else data)

    def close(self) -> WrittenFile:
        if self.packer:
            self.handle.write(self.packer.flush())
        self.handle.close()
        notable = pl.concat(self.notable) if self.notable else pl.DataFrame(schema=NOTABLE_SCHEMA)
        return WrittenFile(self.file, self.path, self.counts, notable)


NOTABLE_SCHEMA: Final[dict[str, Any]] = {
    "file": pl.String,
    "line_no": pl.UInt32,
    "ts": pl.Int64,
    "kind": pl.String,
    "reason": pl.String,
    "touch": pl.String,
    "tag": pl.String,
}


class Sink:
    """The sample's files, written chunk after chunk: each call appends a time-ordered piece of lines.

    Callers hand over lines in file order across calls (every line of a file's earlier piece sorts before every
    line of its later one), so a file is the concatenation of its pieces. Files are written in threads
    (polars and zlib release the GIL), one job per file.
    """

    def __init__(self, out_dir: Path, zstd: bool, pool: ThreadPoolExecutor) -> None:
        self.out_dir, self.zstd, self.pool = out_dir, zstd, pool
        self.streams: dict[str, _Stream] = {}

    def write(self, lines: pl.DataFrame, quirk: Callable[[pl.DataFrame, Quirks], None] | None = None) -> None:
        """Place the quirks (when given) among these lines, then append each file's lines to it."""
        quirks = Quirks()
        if quirk is not None:
            quirk(lines, quirks)
        jobs = []
        for key, frame in sorted(lines.partition_by("file", as_dict=True).items(), key=lambda kv: str(kv[0][0])):
            file = str(key[0])
            if file not in self.streams:
                self.streams[file] = _Stream(self.out_dir, file, self.zstd)
                if file.endswith(".csv"):
                    frame = pl.concat([_csv_headers(frame), frame])
            jobs.append((self.streams[file], file, frame))
        del lines
        list(self.pool.map(lambda job: _append(job[0], job[1], job[2], quirks), jobs))

    def close(self) -> list[WrittenFile]:
        return sorted((s.close() for s in self.streams.values()), key=lambda w: w.file)


def _append(stream: _Stream, file: str, frame: pl.DataFrame, quirks: Quirks) -> None:
    """Order a piece of one file's lines, apply its quirks, append it (GB18030 for CSV) and account for it."""
    if file in quirks.rows:
        frame = pl.concat([frame, pl.DataFrame(quirks.rows[file], schema=LINE_SCHEMA)])
    frame = frame.sort(["ts", "tie"]).with_row_index("line_no", offset=stream.counts["lines"] + 1)
    for tie, values in quirks.replace.get(file, []):
        at = int(frame.select(pl.arg_where(pl.col("tie") == tie).first()).item())
        frame = frame.with_columns([frame[k].scatter(at, v) for k, v in values.items()])
    buffer = io.BytesIO()
    frame.select("line").write_csv(buffer, include_header=False, quote_style="never", line_terminator="\n")
    data = buffer.getvalue()
    for key, value in quirks.raw.get(file, {}).items():
        data = data.replace(key.encode("utf-8"), value)
    if file.endswith(".csv"):
        data = data.decode("utf-8").encode("gb18030")
    stream.append(data)
    kinds = frame["kind"].value_counts()
    count = dict(zip(kinds["kind"].to_list(), kinds["count"].to_list(), strict=True))
    stream.counts["lines"] += frame.height
    for name, kind in (
        ("events", "event"),
        ("quarantined", "quarantine"),
        ("blank", "blank"),
        ("structural", "structural"),
    ):
        stream.counts[name] += int(count.get(kind, 0))
    notable = frame.filter(NOTABLE).select(
        pl.lit(stream.file).alias("file"), "line_no", "ts", "kind", "reason", "touch", "tag"
    )
    if notable.height:
        stream.notable.append(notable)
