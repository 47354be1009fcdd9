"""Building blocks shared by the per-format strategies: times, addresses, text, generated lines.

A generated line carries what a correct parser must make of it (``expected``), so a test can
check the round trip, not just that nothing crashed. Hostile lines carry ``expected=None``:
for them only "never crash, every line accounted for, a specific quarantine reason" applies.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

# Zones whose DST transitions make local times ambiguous or non-existent (and one without DST).
DST_ZONES: tuple[str, ...] = ("America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Shanghai")

MIN_TS = datetime(1971, 1, 1, tzinfo=UTC)
MAX_TS = datetime(2037, 12, 31, tzinfo=UTC)


@dataclass(frozen=True)
class GeneratedLine:
    """One raw line and, for well-formed lines, the canonical values a parser must return.

    expected maps canonical column -> value; ``attrs`` (if present) is a dict the event's attrs
    JSON must contain. ``ts_local`` = (zone, wall clock, year) marks RFC 3164 syslog, whose year
    is inferred from the other lines.
    """

    raw: bytes
    expected: dict[str, Any] | None = None
    kind: str = "valid"  # valid | hostile | mutated | corpus
    note: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------- timestamps


@functools.cache
def leap_day_timestamps() -> st.SearchStrategy[datetime]:
    """Instants on Feb 29 of a leap year (and the seconds around its midnights)."""
    years = st.sampled_from([y for y in range(1972, 2037) if y % 4 == 0 and y != 2100])
    return st.builds(
        lambda y, secs, us: datetime(y, 2, 29, tzinfo=UTC) + timedelta(seconds=secs, microseconds=us),
        years,
        st.integers(-2, 86401),
        st.integers(0, 999_999),
    )


def _transitions(zone: ZoneInfo, year: int) -> list[datetime]:
    """UTC instants in `year` where the zone's offset changes (found by daily scan, then bisection)."""
    found = []
    start = datetime(year, 1, 1, tzinfo=UTC)
    prev = start.astimezone(zone).utcoffset()
    for day in range(1, 367):
        t = start + timedelta(days=day)
        off = t.astimezone(zone).utcoffset()
        if off != prev:
            lo, hi = t - timedelta(days=1), t
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                if mid.astimezone(zone).utcoffset() == prev:
                    lo = mid
                else:
                    hi = mid
            found.append(hi.replace(microsecond=0))
            prev = off
    return found


_TRANSITION_CACHE: dict[tuple[str, int], list[datetime]] = {}


def dst_transitions(zone_name: str, year: int) -> list[datetime]:
    key = (zone_name, year)
    if key not in _TRANSITION_CACHE:
        _TRANSITION_CACHE[key] = _transitions(ZoneInfo(zone_name), year)
    return _TRANSITION_CACHE[key]


@functools.cache
def dst_edge_timestamps(zone_name: str = "America/New_York") -> st.SearchStrategy[datetime]:
    """UTC instants within two hours of a DST transition of `zone_name` (2000-2030)."""

    def near(year: int, which: int, delta: int) -> datetime:
        edges = dst_transitions(zone_name, year) or [datetime(year, 3, 1, tzinfo=UTC)]
        return edges[which % len(edges)] + timedelta(seconds=delta)

    return st.builds(near, st.integers(2000, 2030), st.integers(0, 1), st.integers(-7200, 7200))


@functools.cache
def utc_timestamps(*, micros: bool = True) -> st.SearchStrategy[datetime]:
    """Timezone-aware UTC instants, biased toward leap days and DST edges."""
    plain = st.datetimes(
        min_value=MIN_TS.replace(tzinfo=None), max_value=MAX_TS.replace(tzinfo=None), timezones=st.just(UTC)
    )
    edges = st.sampled_from(DST_ZONES[:3]).flatmap(dst_edge_timestamps)
    out = st.one_of(plain, plain, leap_day_timestamps(), edges)
    return out if micros else out.map(lambda t: t.replace(microsecond=0))


@functools.cache
def utc_offsets() -> st.SearchStrategy[timedelta]:
    """Offsets as written in logs: whole quarter hours from -12:00 to +14:00, biased to common ones."""
    common = st.sampled_from([0, 480, -300, -240, 60, 120, 330, 345, 540, -210])
    anything = st.integers(-48, 56).map(lambda q: q * 15)
    return st.one_of(common, anything).map(lambda m: timedelta(minutes=m))


def in_offset(ts: datetime, offset: timedelta) -> datetime:
    return ts.astimezone(timezone(offset))


def format_offset(offset: timedelta, colon: bool) -> str:
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    hh, mm = divmod(abs(minutes), 60)
    return f"{sign}{hh:02d}:{mm:02d}" if colon else f"{sign}{hh:02d}{mm:02d}"


# ---------------------------------------------------------------- addresses


@functools.cache
def ipv4_addresses() -> st.SearchStrategy[str]:
    return st.ip_addresses(v=4).map(str)


@functools.cache
def ipv6_addresses() -> st.SearchStrategy[str]:
    """IPv6 in compressed, full and IPv4-mapped spellings (all occur in real logs)."""
    addr = st.ip_addresses(v=6)
    return st.one_of(
        addr.map(str),
        addr.map(lambda a: a.exploded),
        ipv4_addresses().map(lambda v4: f"::ffff:{v4}"),
        st.sampled_from(["::1", "::", "fe80::1", "2001:db8::8a2e:370:7334"]),
    )


@functools.cache
def ip_addresses() -> st.SearchStrategy[str]:
    return st.one_of(ipv4_addresses(), ipv6_addresses())


@functools.cache
def xff_chains(max_hops: int = 5) -> st.SearchStrategy[str]:
    """X-Forwarded-For values: 'client, proxy1, proxy2' with the separators proxies actually write."""
    sep = st.sampled_from([", ", ",", " , "])
    return st.tuples(st.lists(ip_addresses(), min_size=1, max_size=max_hops), sep).map(lambda p: p[1].join(p[0]))


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


# ---------------------------------------------------------------- text

# Printable ASCII minus the characters that delimit fields in most formats.
_TOKEN_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-:/@+=~!*(),;&%"


@functools.cache
def tokens(min_size: int = 1, max_size: int = 16, exclude: str = "") -> st.SearchStrategy[str]:
    """A word without spaces, quotes, brackets or control characters."""
    alphabet = "".join(c for c in _TOKEN_ALPHABET if c not in exclude)
    return st.text(alphabet=alphabet, min_size=min_size, max_size=max_size)


@functools.cache
def chinese_text(min_size: int = 1, max_size: int = 12) -> st.SearchStrategy[str]:
    """CJK text (encodable in GB18030 as well as UTF-8), as in Chinese platform logs."""
    cjk = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)
    punct = st.sampled_from(list("，。：；（）【】、"))
    return st.text(alphabet=st.one_of(cjk, cjk, punct), min_size=min_size, max_size=max_size)


@functools.cache
def free_text(exclude: str = "", min_size: int = 0, max_size: int = 40) -> st.SearchStrategy[str]:
    """Human text: letters, spaces, punctuation, CJK and emoji; never control characters or `exclude`."""
    chars = st.characters(
        codec="utf-8",
        exclude_categories=("Cc", "Cs", "Co", "Cn", "Zl", "Zp"),
        exclude_characters=exclude + "\ufeff\x85",
    )
    # Parsers may trim a field's surrounding whitespace; generated values carry none.
    return st.text(alphabet=chars, min_size=min_size, max_size=max_size).map(str.strip)
