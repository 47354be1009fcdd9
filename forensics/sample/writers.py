"""Assembly and writing: records of every source, rendered and written file by file (compressed, GB18030 CSV)."""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import polars as pl
import zstandard

from forensics.sample.constants import ALERT_HOST, GAP_NODE, MB_NODES, NODE_SYSTEM, SPAN_END, SPAN_START, WRITERS, _us
from forensics.sample.render import (
    API_DAY,
    LINE_SCHEMA,
    MB_DAY,
    Quirks,
    _api_lines,
    _mb_lines,
    _number_api,
    _number_mb,
    _quirks_api,
    _quirks_lg,
    _quirks_mb,
    _quirks_sec,
    _render_lg,
    _render_sec,
)
from forensics.sample.sources import (
    API_SCHEMA,
    LG_SCHEMA,
    MB_SCHEMA,
    SEC_SCHEMA,
    _api_background,
    _api_mirrors,
    _dlp_export_alerts,
    _dlp_stats,
    _heartbeats,
    _lg_background,
    _mb_background,
    _mb_exports,
)
from forensics.sample.variants import Script, _script_bulk, _script_case, _script_controls, _script_decoys
from forensics.sample.world import World

# Assembly


def _in_span(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter((pl.col("ts") >= _us(SPAN_START)) & (pl.col("ts") < _us(SPAN_END)))


@dataclass
class Records:
    """Every source's records before rendering, plus the counters' starting values."""

    mb: pl.DataFrame
    api: pl.DataFrame
    lg: pl.DataFrame
    sec: pl.DataFrame
    mb_bases: dict[str, int]
    sec_bases: dict[str, int]


def _build_records(world: World, rng: np.random.Generator, variant: str, events: int) -> Records:
    script = Script()
    _script_case(world, script, variant)
    _script_decoys(world, script)
    _script_controls(world, rng, script)
    _script_bulk(world, rng, script)
    api = _in_span(
        pl.concat([_api_background(world, rng, round(events * 0.25)), pl.DataFrame(script.api, schema=API_SCHEMA)])
    )
    mb = _in_span(
        pl.concat(
            [
                _mb_background(world, rng, round(events * 0.55)),
                _mb_exports(world, rng),
                _api_mirrors(api, rng),
                pl.DataFrame(script.mb, schema=MB_SCHEMA),
            ]
        )
    )
    lg = _in_span(
        pl.concat([_lg_background(world, rng, round(events * 0.06), mb), pl.DataFrame(script.lg, schema=LG_SCHEMA)])
    )
    sec = _in_span(
        pl.concat(
            [
                _heartbeats(rng),
                _dlp_stats(rng),
                _dlp_export_alerts(mb, rng),
                pl.DataFrame(script.sec, schema=SEC_SCHEMA),
            ]
        )
    )
    mb_bases = {n: int(rng.integers(10_000_000, 90_000_000)) for n in MB_NODES}
    sec_bases = {n: int(rng.integers(1, 5_000_000)) for n in [*NODE_SYSTEM, ALERT_HOST]}
    return Records(mb, api, lg, sec, mb_bases, sec_bases)


# Render and write the two big sources one day's files at a time: their rendered lines (several times the
# size of the records) then never exist for more than a day at once. Numbering (sequence numbers, file-order
# ties) is done over the whole span first, and every file lies within one day, so the bytes are the same as
# rendering a source at once (False; tests/test_sample.py compares both).
RENDER_BY_DAY: bool = True


def _by_day(frame: pl.DataFrame, day: pl.Expr) -> Iterator[pl.DataFrame]:
    """The frame's rows day by day, in day order (the whole frame once unless RENDER_BY_DAY)."""
    if not RENDER_BY_DAY:
        yield frame
        return
    keyed = frame.with_columns(day.alias("_day"))
    for value in sorted(keyed.get_column("_day").unique().to_list()):
        yield keyed.filter(pl.col("_day") == value).drop("_day")


def _emit_by_day(
    pool: ThreadPoolExecutor,
    out_dir: Path,
    chunks: Iterator[pl.DataFrame],
    quirk: Callable[[pl.DataFrame, Quirks], None],
    zstd: bool,
) -> list[WrittenFile]:
    """Write rendered chunks one after the other. Every quirk lies on the span's first day, so only the
    first chunk (all of it, when not by day) is searched for its quirk targets."""
    written: list[WrittenFile] = []
    for n, lines in enumerate(chunks):
        written += _emit(pool, out_dir, lines, quirk if n == 0 else _no_quirks, zstd)
    return written


def _no_quirks(lines: pl.DataFrame, quirks: Quirks) -> None:
    return None


def _write_world(out_dir: Path, records: Records, variant: str, zstd: bool) -> tuple[list[WrittenFile], dict[str, Any]]:
    """Render and write source by source (a back-office node, then the gateway, a day at a time), so memory
    stays bounded by a day's lines rather than a source's."""
    written: list[WrittenFile] = []
    info: dict[str, Any] = {}
    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        for node in MB_NODES:
            part = records.mb.filter(pl.col("node") == node)
            numbered, gap = _number_mb(part, {node: records.mb_bases[node]}, variant)
            del part
            if node == GAP_NODE:
                info["merchant_backend"] = gap
            chunks = (_mb_lines(day) for day in _by_day(numbered, MB_DAY))
            written += _emit_by_day(pool, out_dir, chunks, _quirks_mb, zstd)
            del numbered
        api_chunks = (_api_lines(day) for day in _by_day(_number_api(records.api), API_DAY))
        written += _emit_by_day(pool, out_dir, api_chunks, _quirks_api, zstd)
        written += _emit(pool, out_dir, _render_lg(records.lg), _quirks_lg, zstd)
        lines, info["security"] = _render_sec(records.sec, records.sec_bases, variant)
        written += _emit(pool, out_dir, lines, _quirks_sec, zstd)
    return sorted(written, key=lambda w: w.file), info


@dataclass
class WrittenFile:
    file: str  # relative to the sample folder
    path: Path
    counts: dict[str, int]  # lines, events, quarantined, blank, structural
    notable: pl.DataFrame  # tagged, order-touching and malformed lines, with their line_no


COUNT_KEYS: Final[tuple[str, ...]] = ("lines", "events", "quarantined", "blank", "structural")
NOTABLE: Final[pl.Expr] = pl.col("tag").is_not_null() | pl.col("touch").is_not_null() | (pl.col("kind") != "event")


def _compress(data: bytes, file: str, zstd: bool) -> tuple[bytes, str]:
    """gzip (no name, mtime 0: same bytes every run) or zstd for files named .gz; others stay plain."""
    if not file.endswith(".gz"):
        return data, file
    if zstd:
        return zstandard.ZstdCompressor(level=1).compress(data), file.removesuffix(".gz") + ".zst"
    return gzip.compress(data, compresslevel=6, mtime=0), file


def _write_file(out_dir: Path, file: str, frame: pl.DataFrame, quirks: Quirks, zstd: bool) -> WrittenFile:
    """Order one file's lines, apply its quirks, write it (GB18030 for CSV, compressed logs) and account for it."""
    if file in quirks.rows:
        frame = pl.concat([frame, pl.DataFrame(quirks.rows[file], schema=LINE_SCHEMA)])
    frame = frame.sort(["ts", "tie"]).with_row_index("line_no", offset=1)
    for tie, values in quirks.replace.get(file, []):
        at = int(frame.filter(pl.col("tie") == tie)["line_no"][0]) - 1
        frame = frame.with_columns([frame[k].scatter(at, v) for k, v in values.items()])
    buffer = io.BytesIO()
    frame.select("line").write_csv(buffer, include_header=False, quote_style="never", line_terminator="\n")
    data = buffer.getvalue()
    for key, value in quirks.raw.get(file, {}).items():
        data = data.replace(key.encode("utf-8"), value)
    if file.endswith(".csv"):
        data = data.decode("utf-8").encode("gb18030")
    data, file = _compress(data, file, zstd)
    path = out_dir / file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    kinds = frame["kind"].value_counts()
    count = dict(zip(kinds["kind"].to_list(), kinds["count"].to_list(), strict=True))
    counts = {"lines": frame.height} | {
        name: int(count.get(kind, 0))
        for name, kind in (
            ("events", "event"),
            ("quarantined", "quarantine"),
            ("blank", "blank"),
            ("structural", "structural"),
        )
    }
    notable = frame.filter(NOTABLE).select(
        pl.lit(file).alias("file"), "line_no", "ts", "kind", "reason", "touch", "tag"
    )
    return WrittenFile(file, path, counts, notable)


def _emit(
    pool: ThreadPoolExecutor,
    out_dir: Path,
    lines: pl.DataFrame,
    quirk: Callable[[pl.DataFrame, Quirks], None],
    zstd: bool,
) -> list[WrittenFile]:
    """Place a source's quirks, then write its files in threads (polars and zlib release the GIL)."""
    quirks = Quirks()
    quirk(lines, quirks)
    jobs = sorted((str(key[0]), frame) for key, frame in lines.partition_by("file", as_dict=True).items())
    del lines
    return list(pool.map(lambda job: _write_file(out_dir, job[0], job[1], quirks, zstd), jobs))
