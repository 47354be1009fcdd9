"""Strategies for syslog lines, RFC 5424 and RFC 3164 (BSD), rendered with their expected values.

The renderers here are written from the RFCs, not taken from forensics.formats.syslog, so the
round trip compares two readings of the standard. RFC 3164 carries neither year nor zone: the
expected value keeps the wall-clock time in the zone the test passes as --tz, and the year is
only checked to be no later than the year hint (ingest infers it, see formats/syslog.py).
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from forensics.testing.common import GeneratedLine, format_offset, free_text, in_offset, utc_offsets, utc_timestamps

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_PRINTUSASCII = "".join(chr(c) for c in range(33, 127))
_SD_NAME = "".join(c for c in _PRINTUSASCII if c not in '= ]"')


@functools.cache
def _printusascii(min_size: int, max_size: int, exclude: str = "") -> st.SearchStrategy[str]:
    alphabet = "".join(c for c in _PRINTUSASCII if c not in exclude)
    return st.text(alphabet=alphabet, min_size=min_size, max_size=max_size)


@functools.cache
def _nil_or(value: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(st.just("-"), value)


def sd_escape(value: str) -> str:
    """RFC 5424 PARAM-VALUE escaping: '"', '\\' and ']' are preceded by a backslash."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


_SD_IDS = st.text(alphabet=_SD_NAME.replace("@", ""), min_size=1, max_size=10)
_SD_PARAMS = st.dictionaries(
    st.text(alphabet=_SD_NAME.replace("@", ""), min_size=1, max_size=8), free_text(max_size=20), max_size=3
)


@st.composite
def structured_data(draw: st.DrawFn) -> tuple[str, dict[str, dict[str, str]], int | None]:
    """(SD text as written, {sd_id: {param: value}}, meta sequenceId or None)."""
    elements: dict[str, dict[str, str]] = {}
    seq = draw(st.one_of(st.none(), st.integers(1, 2**31 - 1)))
    if seq is not None:
        elements["meta"] = {"sequenceId": str(seq)}
    for _ in range(draw(st.integers(0, 2))):
        sd_id = draw(_SD_IDS) + "@32473"
        elements.setdefault(sd_id, draw(_SD_PARAMS))
    if not elements:
        return "-", {}, None
    text = "".join(
        "[" + sd_id + "".join(f' {k}="{sd_escape(v)}"' for k, v in params.items()) + "]"
        for sd_id, params in elements.items()
    )
    return text, elements, seq


_STRUCTURED_DATA = structured_data()


def _rfc5424_time(ts: datetime, offset: timedelta, digits: int) -> tuple[str, datetime]:
    """Text with `digits` fractional digits, and the instant that text denotes."""
    scale = 10 ** (6 - digits)
    ts = ts.replace(microsecond=ts.microsecond // scale * scale)
    local = in_offset(ts, offset)
    frac = f".{local.microsecond:06d}"[: digits + 1] if digits else ""
    zone = "Z" if offset == timedelta(0) and digits % 2 == 0 else format_offset(offset, colon=True)
    return local.strftime("%Y-%m-%dT%H:%M:%S") + frac + zone, ts


@st.composite
def rfc5424_lines(draw: st.DrawFn) -> GeneratedLine:
    """A well-formed RFC 5424 line with its expected canonical values."""
    pri = draw(st.integers(0, 191))
    text_ts, ts = _rfc5424_time(draw(utc_timestamps()), draw(utc_offsets()), draw(st.integers(0, 6)))
    host = draw(_nil_or(_printusascii(1, 40)))
    app = draw(_nil_or(_printusascii(1, 48)))
    procid = draw(_nil_or(_printusascii(1, 12)))
    msgid = draw(_nil_or(_printusascii(1, 32)))
    sd_text, sd, seq = draw(_STRUCTURED_DATA)
    msg = draw(free_text(max_size=80))
    line = f"<{pri}>1 {text_ts} {host} {app} {procid} {msgid} {sd_text}" + (f" {msg}" if msg else "")
    expected: dict[str, Any] = {
        "ts": ts,
        "node": None if host == "-" else host,
        "action_raw": None if app == "-" else app,
        "outcome": "unknown",
        "attrs": {"pri": pri},
    }
    if msg:
        expected["attrs"]["msg"] = msg
    if app != "-":
        expected["attrs"]["app"] = app
    if seq is not None:
        expected["seq"] = seq
    return GeneratedLine(line.encode("utf-8"), expected, meta={"rfc": 5424, "sd": sd})


def rfc3164_time(local: datetime) -> str:
    """'Mar  1 09:05:07': month name, space-padded day, no year, no zone."""
    return f"{MONTHS[local.month - 1]} {local.day:>2} {local:%H:%M:%S}"


def local_time_exists(naive: datetime, zone: ZoneInfo) -> bool:
    """False in a DST gap (the wall clock skipped it)."""
    aware = naive.replace(tzinfo=zone)
    back = aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    return back == naive


@st.composite
def rfc3164_lines(draw: st.DrawFn, tz: str = "UTC", year: int = 2024) -> GeneratedLine:
    """A well-formed RFC 3164 line written in zone `tz` during `year` (the last record's year).

    Expected ts is the earlier instant for an ambiguous wall-clock time (DST fall-back). Times in
    a DST gap are moved an hour on: whether one is a gap depends on the year the parser infers,
    which depends on the other lines of the file. ``expected['ts_local']`` = (zone, wall clock,
    year) lets a check compare the wall clock when the inferred year differs.
    """
    zone = ZoneInfo(tz)
    base = datetime(year, 1, 1) + timedelta(seconds=draw(st.integers(0, 365 * 86400 - 1)))  # noqa: DTZ001
    near_dst = draw(st.booleans())
    if near_dst:
        from forensics.testing.common import dst_transitions

        edges = dst_transitions(tz, year)
        if edges:
            edge = edges[draw(st.integers(0, len(edges) - 1))].astimezone(zone).replace(tzinfo=None)
            base = edge + timedelta(seconds=draw(st.integers(-5400, 5400)))
    base = base.replace(microsecond=0)
    if not local_time_exists(base, zone):  # the wall clock skipped this minute; see the docstring
        base += timedelta(hours=1)
    pri = draw(st.one_of(st.none(), st.integers(0, 191)))
    host = draw(_printusascii(1, 24, exclude=":[]"))
    tag = draw(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-./", min_size=1, max_size=16))
    pid = draw(st.one_of(st.none(), st.integers(1, 99999)))
    msg = draw(free_text(max_size=80))
    head = "" if pri is None else f"<{pri}>"
    tag_text = tag + (f"[{pid}]" if pid is not None else "")
    line = f"{head}{rfc3164_time(base)} {host} {tag_text}: {msg}".rstrip()
    expected: dict[str, Any] = {
        "node": host,
        "action_raw": tag,
        "outcome": "unknown",
        "ts": base.replace(tzinfo=zone, fold=0).astimezone(UTC),
        "ts_local": (tz, base, year),
    }
    if msg:
        expected["attrs"] = {"msg": msg}
    return GeneratedLine(line.encode("utf-8"), expected, meta={"rfc": 3164, "tz": tz, "year": year})


def syslog_lines(tz: str = "UTC", year: int = 2024) -> st.SearchStrategy[GeneratedLine]:
    """Either RFC, as a mixed file has them."""
    return st.one_of(rfc5424_lines(), rfc3164_lines(tz=tz, year=year))
