"""The streaming generator: background records drawn, numbered, rendered and written one time chunk at a time.

Up front, from the one seeded Generator: the world, the scripted case (variants), each principal's events per
day (chunks.day_counts), the routine exports and the whole security log (heartbeats, DLP: bounded by the span,
not the events), the counters' starting values. Then chunk by chunk (chunks.plan_chunks), each from its own
Generator seeded [seed, 2, chunk no] (and a day's hours from [seed, 1, source, day]): gateway calls, the
back-office rows (background, exports, gateway mirrors, scripted rows of the chunk), prints. Records that fall
after the chunk's end (a mirror a few ms later, a print seconds later) are carried into the next chunk, so
sequence numbers stay in time order; gateway lines, logged at request end, are carried the same way.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import polars as pl

from forensics.sample import chunks
from forensics.sample.chunks import Chunk, day_counts, day_hours
from forensics.sample.constants import (
    ALERT_HOST,
    DAY_US,
    GAP_END,
    GAP_NODE,
    GAP_START,
    HOUR_US,
    MB_NODES,
    NODE_SYSTEM,
    WRITERS,
    _us,
)
from forensics.sample.render import (
    _api_lines,
    _in_gap,
    _iso,
    _lg_lines,
    _mb_lines,
    _quirks_api,
    _quirks_lg,
    _quirks_mb,
    _quirks_sec,
    _render_sec,
)
from forensics.sample.sources import (
    API_METHODS,
    API_SCHEMA,
    LG_SCHEMA,
    MB_LOGIN,
    MB_OPS,
    MB_SCHEMA,
    MIRRORED,
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
from forensics.sample.writers import Sink, WrittenFile

SHARES: Final[dict[str, float]] = {"mb": 0.55, "api": 0.25, "lg": 0.06}  # of the requested events, background


@dataclass
class Groups:
    """A source's background as groups (who does what) with their events per day (groups x days)."""

    source: int  # seeds the source's day hours
    principal: np.ndarray  # account (mb), shop (api, lg)
    kind: np.ndarray  # op (mb), method (api), 0 (lg)
    per_day: np.ndarray


def _groups(world: World, rng: np.random.Generator, events: int) -> dict[str, Groups]:
    """Each group's total is drawn once (multinomial: the same law as drawing every event on its own)."""
    n_shops, n_acc = len(world.shop_p), len(world.acc_name)
    acc_shop = np.repeat(np.arange(n_shops), world.acc_count)
    op_w = np.array([w for _, w in MB_OPS])
    m_w = np.array([w for _, w in API_METHODS])
    out: dict[str, Groups] = {}
    # back office: (account, op); an account's share is its shop's, split between the shop's accounts
    acc_p = world.shop_p[acc_shop] / world.acc_count[acc_shop]
    p = (acc_p[:, None] * op_w[None, :]).ravel()
    total = rng.multinomial(round(events * SHARES["mb"]), p / p.sum())
    acc, op = np.divmod(np.arange(n_acc * len(op_w)), len(op_w))
    out["mb"] = Groups(0, acc, op, day_counts(acc, op, np.zeros_like(acc), total))
    # gateway: (shop, method), spread per ERP app and method, shop by shop
    p = (world.shop_p[:, None] * m_w[None, :]).ravel()
    total = rng.multinomial(round(events * SHARES["api"]), p / p.sum())
    shop, m = np.divmod(np.arange(n_shops * len(m_w)), len(m_w))
    out["api"] = Groups(1, shop, m, day_counts(world.shop_app[shop], m, shop, total))
    # standalone prints: per shop
    total = rng.multinomial(round(events * SHARES["lg"]), world.shop_p / world.shop_p.sum())
    shop = np.arange(n_shops)
    out["lg"] = Groups(2, shop, np.zeros_like(shop), day_counts(shop, np.zeros_like(shop), shop, total))
    return out


@dataclass
class Upfront:
    """Everything bounded by the span rather than the events, drawn before the first chunk."""

    script_mb: pl.DataFrame
    script_api: pl.DataFrame
    script_lg: pl.DataFrame
    exports: pl.DataFrame
    sec: pl.DataFrame
    groups: dict[str, Groups]
    mb_bases: dict[str, int]
    sec_bases: dict[str, int]


def _upfront(world: World, rng: np.random.Generator, variant: str, events: int) -> Upfront:
    script = Script()
    _script_case(world, script, variant)
    _script_decoys(world, script)
    _script_controls(world, rng, script)
    _script_bulk(world, rng, script)
    script_mb = _in_span(pl.DataFrame(script.mb, schema=MB_SCHEMA))
    groups = _groups(world, rng, events)
    exports = _in_span(_mb_exports(world, rng))
    sec = _in_span(
        pl.concat(
            [
                _heartbeats(rng),
                _dlp_stats(rng),
                _dlp_export_alerts(pl.concat([exports, script_mb]), rng),
                pl.DataFrame(script.sec, schema=SEC_SCHEMA),
            ]
        )
    )
    mb_bases = {n: int(rng.integers(10_000_000, 90_000_000)) for n in MB_NODES}
    sec_bases = {n: int(rng.integers(1, 5_000_000)) for n in [*NODE_SYSTEM, ALERT_HOST]}
    return Upfront(
        script_mb=script_mb,
        script_api=_in_span(pl.DataFrame(script.api, schema=API_SCHEMA)),
        script_lg=_in_span(pl.DataFrame(script.lg, schema=LG_SCHEMA)),
        exports=exports,
        sec=sec,
        groups=groups,
        mb_bases=mb_bases,
        sec_bases=sec_bases,
    )


def _in_span(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter((pl.col("ts") >= chunks.SPAN_START_US) & (pl.col("ts") < chunks.SPAN_END_US))


def _within(frame: pl.DataFrame, chunk: Chunk) -> pl.DataFrame:
    return frame.filter((pl.col("ts") >= chunk.start_us) & (pl.col("ts") < chunk.end_us))


@dataclass
class ChunkRecords:
    """One chunk's records of the streamed sources (plus what earlier chunks carried over)."""

    mb: pl.DataFrame
    api: pl.DataFrame
    lg: pl.DataFrame

    def rows(self) -> int:
        return self.mb.height + self.api.height + self.lg.height


@dataclass
class Days:
    """The current day's events of each source: group and hour (small arrays), shared by the day's chunks."""

    day: int = -1
    hours: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def of(self, seed: int, groups: dict[str, Groups], day: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        if day != self.day:
            self.day, self.hours = day, {}
            for name, g in groups.items():
                group, hour = day_hours(np.random.default_rng([seed, 1, g.source, day]), g.per_day[:, day])
                if name == "mb":  # staff start their day in the morning: a night login is what anomaly checks seek
                    night_login = (g.kind[group] == MB_LOGIN) & (hour < 7)
                    hour = np.where(night_login, hour + 8, hour).astype(np.int8)
                self.hours[name] = (group, hour)
        return self.hours


def _drawn(
    rng: np.random.Generator, chunk: Chunk, g: Groups, day: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The chunk's events of a source: principal, kind, instant (in arrival order)."""
    group, hour = day
    mine = group[(hour >= chunk.first_hour) & (hour < chunk.end_hour)]
    hours = hour[(hour >= chunk.first_hour) & (hour < chunk.end_hour)].astype(np.int64)
    day_start = chunks.SPAN_START_US + chunk.day * DAY_US
    ts = day_start + hours * HOUR_US + rng.integers(0, HOUR_US, len(mine))
    order = np.argsort(ts, kind="stable")
    return g.principal[mine][order], g.kind[mine][order], ts[order]


def _chunk_records(world: World, up: Upfront, days: Days, seed: int, chunk: Chunk, carry: ChunkRecords) -> ChunkRecords:
    """A chunk's gateway, back-office and print records from the chunk's own Generator."""
    rng = np.random.default_rng([seed, 2, chunk.no])
    today = days.of(seed, up.groups, chunk.day)
    shop, m, ts = _drawn(rng, chunk, up.groups["api"], today["api"])
    api = pl.concat([carry.api, _api_background(world, rng, shop, m, ts), _within(up.script_api, chunk)])
    acc, op, ts = _drawn(rng, chunk, up.groups["mb"], today["mb"])
    mb_bg, prints = _mb_background(world, rng, acc, op, ts)
    mb = pl.concat([carry.mb, mb_bg, _within(up.exports, chunk), _api_mirrors(api, rng), _within(up.script_mb, chunk)])
    shop, _, ts = _drawn(rng, chunk, up.groups["lg"], today["lg"])
    lg = pl.concat([carry.lg, _lg_background(world, rng, shop, ts, prints), _within(up.script_lg, chunk)])
    return ChunkRecords(_in_span(mb), api, _in_span(lg))


def _split(frame: pl.DataFrame, end_us: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows before end_us, rows from it on)."""
    before = pl.col("ts") < end_us
    return frame.filter(before), frame.filter(~before)


@dataclass
class Counters:
    """What numbering and ground truth need from earlier chunks."""

    uid: dict[str, int] = field(default_factory=lambda: {"mb": 0, "api": 0, "lg": 0})
    seq: dict[str, int] = field(default_factory=dict)  # records numbered so far per back-office node
    shared_request_ids: int = 0
    gap_before: tuple[int, int] | None = None  # (ts, seq) of the gap node's last record before the gap
    gap_after: tuple[int, int] | None = None
    gap_missing: int = 0

    def with_uid(self, name: str, frame: pl.DataFrame) -> pl.DataFrame:
        """File-order ties over the whole span: a running row number per source."""
        out = frame.with_row_index("uid", offset=self.uid[name]).with_columns(pl.col("uid").cast(pl.Int64))
        self.uid[name] += frame.height
        return out

    def gap_info(self) -> dict[str, Any]:
        """What the gap looks like from outside: the last record before it and the first after, with their seqs."""
        before, after = self.gap_before, self.gap_after
        return {
            "last_before": _iso(before[0]) if before else None,
            "seq_before": before[1] if before else None,
            "first_after": _iso(after[0]) if after else None,
            "seq_after": after[1] if after else None,
            "missing_records": self.gap_missing,
        }


def _number_mb(frame: pl.DataFrame, bases: dict[str, int], counters: Counters, variant: str) -> pl.DataFrame:
    """Per-node sequence numbers in time order, continuing the earlier chunks' (the counter each node keeps).
    The gap variant drops the gap node's records in the gap after numbering them."""
    start = {n: bases[n] + counters.seq.get(n, 0) for n in bases}
    frame = frame.sort([pl.col("node").cast(pl.Enum(list(bases))), "ts", "uid"]).with_columns(
        seq=pl.col("node").replace_strict(start, return_dtype=pl.Int64) + pl.int_range(pl.len()).over("node")
    )
    for node, n in frame.group_by("node").len().iter_rows():
        counters.seq[node] = counters.seq.get(node, 0) + n
    if variant != "gap":
        return frame
    node = frame.filter(pl.col("node") == GAP_NODE)
    before = node.filter(pl.col("ts") < _us(GAP_START)).tail(1)
    if before.height:
        counters.gap_before = (int(before["ts"][0]), int(before["seq"][0]))
    after = node.filter(pl.col("ts") >= _us(GAP_END)).head(1)
    if after.height and counters.gap_after is None:
        counters.gap_after = (int(after["ts"][0]), int(after["seq"][0]))
    counters.gap_missing += node.filter(_in_gap("node")).height
    return frame.filter(~_in_gap("node"))


def write_world(
    out_dir: Path, world: World, rng: np.random.Generator, variant: str, events: int, seed: int, zstd: bool
) -> tuple[list[WrittenFile], dict[str, Any]]:
    """Draw and write every source chunk by chunk; returns the files written and the ground truth's extra facts."""
    up = _upfront(world, rng, variant, events)
    counters, days = Counters(), Days()
    empty = ChunkRecords(up.script_mb.clear(), up.script_api.clear(), up.script_lg.clear())
    carry, api_lines = empty, None
    plan = chunks.plan_chunks(events)
    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        sink = Sink(out_dir, zstd, pool)
        for chunk in plan:
            records = _chunk_records(world, up, days, seed, chunk, carry)
            last = chunk.no == len(plan) - 1
            mb, mb_next = _split(records.mb, chunk.end_us)
            lg, lg_next = _split(records.lg, chunk.end_us)
            carry = ChunkRecords(mb_next, records.api.clear(), lg_next)
            api = records.api
            del records
            counters.shared_request_ids += api.filter(
                pl.col("method").is_in(list(MIRRORED)) & (pl.col("status") == 200)
            ).height
            mb = _number_mb(counters.with_uid("mb", mb), up.mb_bases, counters, variant)
            sink.write(_mb_lines(mb), _quirks_mb if chunk.holds_quirks else None)
            del mb
            # nginx logs a request when it ends, seconds later: lines logged after the chunk wait for the next one
            lines = _api_lines(counters.with_uid("api", api))
            if api_lines is not None:
                lines = pl.concat([api_lines, lines])
            now, api_lines = (lines, None) if last else _split(lines, chunk.end_us)
            sink.write(now, _quirks_api if chunk.holds_quirks else None)
            sink.write(_lg_lines(counters.with_uid("lg", lg)), _quirks_lg if chunk.holds_quirks else None)
        lines, sec_gap = _render_sec(up.sec, up.sec_bases, variant)
        sink.write(lines, _quirks_sec)
        written = sink.close()
    info: dict[str, Any] = {
        "merchant_backend": counters.gap_info() if variant == "gap" else {},
        "security": sec_gap,
        "shared_request_ids": counters.shared_request_ids,
    }
    return written, info
