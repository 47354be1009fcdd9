"""Time chunks: the span cut into pieces whose background events are drawn, rendered and written together.

A chunk is a whole local day for small worlds and a few hours (down to one) of a day for big ones, chosen so
that no chunk's expected background events exceed CHUNK_EVENTS: memory then follows the chunk, not the world.

How many events each principal does on each day is fixed before any chunk is drawn (`day_counts`: a
principal's work of each kind is dealt out evenly over the span's days, counts differing by at most one), so
chunks need no knowledge of each other, and every chunk draws from its own seeded Generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from forensics.sample.constants import DAY_US, HOUR_US, HOUR_WEIGHTS, SPAN_DAYS, SPAN_END, SPAN_START, _us

CHUNK_EVENTS: int = 450_000  # bound on a chunk's expected background events (MAX_EVENTS needs one-hour chunks)
CHUNK_HOURS: Final[tuple[int, ...]] = (24, 12, 8, 6, 4, 3, 2, 1)  # divisors of a day, longest first
SPAN_START_US: Final[int] = _us(SPAN_START)
SPAN_END_US: Final[int] = _us(SPAN_END)
QUIRK_AT_US: Final[int] = SPAN_START_US + 9 * HOUR_US  # the malformed lines go into the chunk holding this


@dataclass(frozen=True)
class Chunk:
    no: int
    day: int  # local day of the span (SPAN_START is a local midnight; UTC+8 has no DST)
    first_hour: int  # local hours [first_hour, end_hour) of that day
    end_hour: int

    @property
    def start_us(self) -> int:
        return SPAN_START_US + self.day * DAY_US + self.first_hour * HOUR_US

    @property
    def end_us(self) -> int:
        return SPAN_START_US + self.day * DAY_US + self.end_hour * HOUR_US

    @property
    def holds_quirks(self) -> bool:
        return self.start_us <= QUIRK_AT_US < self.end_us


def _hour_share(first: int, end: int) -> float:
    return sum(HOUR_WEIGHTS[first:end]) / sum(HOUR_WEIGHTS)


def _expected(events: int, first: int, end: int) -> float:
    # Every requested event counted as background (the real draw is ~86% of them): a safe upper estimate.
    return events / SPAN_DAYS * _hour_share(first, end)


def expected_events(chunk: Chunk, events: int) -> float:
    return _expected(events, chunk.first_hour, chunk.end_hour)


def chunk_hours(events: int) -> int:
    """The longest chunk (hours, a divisor of 24) whose busiest instance stays within CHUNK_EVENTS."""
    for hours in CHUNK_HOURS:
        if max(_expected(events, h, h + hours) for h in range(0, 24, hours)) <= CHUNK_EVENTS:
            return hours
    return CHUNK_HOURS[-1]


def plan_chunks(events: int) -> list[Chunk]:
    hours = chunk_hours(events)
    starts = [(day, h) for day in range(SPAN_DAYS) for h in range(0, 24, hours)]
    return [Chunk(no, day, h, h + hours) for no, (day, h) in enumerate(starts)]


def day_counts(principal: np.ndarray, kind: np.ndarray, block: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Events per group and day (groups x SPAN_DAYS) when each group's `total` is dealt out over the days.

    A group is one (principal, kind, block). Real staff and ERP apps do about the same work every day; random
    days would make some principal's busiest day look like mass access against its own baseline. Inside a
    principal's work of a kind, blocks (the shops an app works for) take consecutive ranks, and rank r goes to
    day (r + 7 * key) % SPAN_DAYS, so every principal, kind and block is spread evenly (counts differ by at
    most one between days).
    """
    key = principal.astype(np.int64) * 64 + kind  # kinds < 64
    order = np.lexsort((block, key))
    sorted_key, sorted_total = key[order], total[order].astype(np.int64)
    first = np.r_[True, sorted_key[1:] != sorted_key[:-1]]
    cum = np.cumsum(sorted_total) - sorted_total  # ranks before this group, from the start
    group_start = np.maximum.accumulate(np.where(first, cum, 0))
    lo = cum - group_start + sorted_key * 7  # first rank of the block, shifted by the key's day offset
    hi = lo + sorted_total
    day = np.arange(SPAN_DAYS)
    # #{x in [lo, hi): x % D == d} = F(hi, d) - F(lo, d) with F(n, d) = #{x in [0, n): x % D == d}
    counts = _below(hi[:, None], day) - _below(lo[:, None], day)
    out = np.empty_like(counts)
    out[order] = counts
    return out


def _below(n: np.ndarray, day: np.ndarray) -> np.ndarray:
    out: np.ndarray = n // SPAN_DAYS + (n % SPAN_DAYS > day)
    return out


def day_hours(rng: np.random.Generator, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One day's events: the group of each (in group order) and its local hour (business-hours rhythm)."""
    group = np.repeat(np.arange(len(counts)), counts)
    p = np.array(HOUR_WEIGHTS, dtype=np.float64)
    hour = rng.choice(24, len(group), p=p / p.sum()).astype(np.int8)
    return group, hour
