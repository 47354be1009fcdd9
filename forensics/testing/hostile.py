"""Hostile input: the bytes real dumps contain and parsers get wrong.

Every strategy here yields ``bytes`` for one physical line (no LF inside; CR is allowed, as
CRLF files have it). None of them promises the line is invalid: a mutation can leave a line
well-formed. What a parser owes them is to not crash, account for the line, and give a
specific reason when it quarantines it.
"""

from __future__ import annotations

import functools
import re

from hypothesis import strategies as st

from forensics.testing.common import chinese_text, free_text, tokens

UTF8_BOM = b"\xef\xbb\xbf"

# Byte sequences that are not UTF-8: lone continuation, overlong, surrogate, truncated, > U+10FFFF.
INVALID_UTF8 = (b"\x80", b"\xff", b"\xc3\x28", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe6\x97", b"\xf4\x90\x80\x80", b"\xfe")

# Dates that look right and are not (or are only sometimes): parsers must quarantine, not guess.
BAD_DATES = (
    "29/Feb/2023:10:00:00 +0000",
    "31/Apr/2024:10:00:00 +0800",
    "30/Feb/2024:00:00:00 +0000",
    "01/Jan/2024:24:00:00 +0000",
    "31/Dec/2016:23:59:60 +0000",
    "2023-02-29T10:00:00Z",
    "2024-13-01T00:00:00+08:00",
    "2024-03-10T02:30:00",
    "2024-00-10 12:00:00",
    "Feb 30 12:00:00",
    "MMM 10 12:00:00",
    "1970-01-01T00:00:00+25:00",
    "9999-12-31T23:59:59.999999999Z",
    "-0001-01-01T00:00:00Z",
)


@functools.cache
def invalid_utf8_lines() -> st.SearchStrategy[bytes]:
    """Text with an invalid UTF-8 sequence somewhere (start, middle, end)."""
    return st.builds(
        lambda head, bad, tail: head.encode() + bad + tail.encode(),
        tokens(0, 20),
        st.sampled_from(INVALID_UTF8),
        tokens(0, 20),
    )


@functools.cache
def gb18030_lines() -> st.SearchStrategy[bytes]:
    """Chinese text encoded in GB18030 (undecodable as UTF-8 in a UTF-8 file)."""
    return st.builds(lambda a, zh: (a + " " + zh).encode("gb18030"), tokens(1, 10), chinese_text())


@functools.cache
def nul_lines() -> st.SearchStrategy[bytes]:
    return st.builds(
        lambda a, n, b: a.encode() + b"\x00" * n + b.encode(), tokens(0, 12), st.integers(1, 3), tokens(0, 12)
    )


@functools.cache
def huge_lines(max_size: int = 1 << 16) -> st.SearchStrategy[bytes]:
    """A long line (up to max_size bytes; keep it moderate in CI) of one repeated token."""
    return st.builds(lambda t, n: (t.encode() * n)[:max_size], tokens(1, 8), st.integers(1000, max(1000, max_size)))


@functools.cache
def control_character_lines() -> st.SearchStrategy[bytes]:
    controls = st.sampled_from(["\t", "\x0b", "\x0c", "\x1b[31m", "\x7f", "\u2028", "\u2029", "\x85"])
    return st.builds(lambda a, c, b: (a + c + b).encode(), tokens(0, 12), controls, tokens(0, 12))


@functools.cache
def quote_lines() -> st.SearchStrategy[bytes]:
    """Unterminated, escaped (\\" and \\x22) and doubled quotes."""
    shapes = st.sampled_from(['"{a}', '{a} "{b}', '"{a}\\"', '"{a}\\" {b}"', '"{a}\\x22{b}"', '"{a}""{b}"', '{a}"'])
    return st.builds(lambda s, a, b: s.format(a=a, b=b).encode(), shapes, tokens(0, 12), tokens(0, 12))


@functools.cache
def bad_date_lines() -> st.SearchStrategy[bytes]:
    return st.builds(lambda d, a: f"{a} [{d}] {a}".encode(), st.sampled_from(BAD_DATES), tokens(1, 8))


@functools.cache
def random_bytes_lines(max_size: int = 200) -> st.SearchStrategy[bytes]:
    return st.binary(max_size=max_size).map(lambda b: b.replace(b"\n", b" "))


@functools.cache
def random_text_lines(max_size: int = 200) -> st.SearchStrategy[bytes]:
    return free_text(max_size=max_size).map(lambda s: s.encode("utf-8"))


@functools.cache
def hostile_lines(*, huge: int = 1 << 14) -> st.SearchStrategy[bytes]:
    """Any of the hostile shapes above."""
    return st.one_of(
        invalid_utf8_lines(),
        gb18030_lines(),
        nul_lines(),
        control_character_lines(),
        quote_lines(),
        bad_date_lines(),
        random_bytes_lines(),
        random_text_lines(),
        huge_lines(huge),
        st.sampled_from([b"-", b'""', b"[]", b"{}", b"\t", b" x", b"\r"]),
    )


# ---------------------------------------------------------------- mutations of a real or rendered line


def _flip(line: bytes, pos: int, mask: int) -> bytes:
    if not line:
        return bytes([mask])
    i = pos % len(line)
    value = line[i] ^ mask
    if value == 0x0A:  # a LF would make two lines; keep the mutation inside one line
        value = 0x0B
    return line[:i] + bytes([value]) + line[i + 1 :]


def _truncate(line: bytes, pos: int) -> bytes:
    return line[: pos % (len(line) + 1)]


def _insert(line: bytes, pos: int, what: bytes) -> bytes:
    i = pos % (len(line) + 1)
    return line[:i] + what + line[i:]


def _duplicate_field(line: bytes, pos: int) -> bytes:
    parts = line.split(b" ")
    i = pos % len(parts)
    return b" ".join([*parts[: i + 1], parts[i], *parts[i + 1 :]])


def _drop_field(line: bytes, pos: int) -> bytes:
    parts = line.split(b" ")
    if len(parts) < 2:
        return b""
    i = pos % len(parts)
    return b" ".join(parts[:i] + parts[i + 1 :])


_DIGITS = re.compile(rb"\d+")


def _bump_number(line: bytes, pos: int, value: int) -> bytes:
    """Replace one run of digits with another number (dates, status codes, sizes out of range)."""
    runs = list(_DIGITS.finditer(line))
    if not runs:
        return line
    m = runs[pos % len(runs)]
    return line[: m.start()] + str(value).encode() + line[m.end() :]


# Strategies built once: hypothesis objects are immutable, and building them per draw is slow.
_POSITIONS = st.integers(0, 1 << 16)
_KINDS = st.integers(0, 9)
_MASKS = st.integers(1, 255)
_NUMBERS = st.sampled_from([0, 13, 24, 29, 30, 31, 60, 99, 999, 2**31, 10**20])
_INVALID = st.sampled_from(INVALID_UTF8)
_UNICODE = st.sampled_from(["\u00e9", "中文", "\U0001f600", "\u200b"]).map(str.encode)
INSERTS = (b'"', b'\\"', b"\\x22", b"\\", b"[", b"]", b"{", b"}", b",", b"\t", b"\x00", b"\r", b" ", b"-", b"'")
_INSERTS = st.sampled_from(INSERTS)


@st.composite
def mutations(draw: st.DrawFn, line: bytes) -> bytes:
    """One mutation of `line`: byte flip, truncation, quote/escape insertion, field duplication or
    removal, a number out of range, a CR or BOM, or an invalid UTF-8 sequence."""
    pos = draw(_POSITIONS)
    kind = draw(_KINDS)
    if kind == 0:
        return _flip(line, pos, draw(_MASKS))
    if kind == 1:
        return _truncate(line, pos)
    if kind == 2:
        return _insert(line, pos, draw(_INSERTS))
    if kind == 3:
        return _duplicate_field(line, pos)
    if kind == 4:
        return _drop_field(line, pos)
    if kind == 5:
        return _bump_number(line, pos, draw(_NUMBERS))
    if kind == 6:
        return line + b"\r"
    if kind == 7:
        return UTF8_BOM + line
    if kind == 8:
        return _insert(line, pos, draw(_INVALID))
    return _insert(line, pos, draw(_UNICODE))


def mutated(lines: st.SearchStrategy[bytes], max_mutations: int = 3) -> st.SearchStrategy[bytes]:
    """Lines drawn from `lines`, each mutated one to `max_mutations` times."""

    @st.composite
    def chain(draw: st.DrawFn) -> bytes:
        line = draw(lines)
        for _ in range(draw(st.integers(1, max_mutations))):
            line = draw(mutations(line))
        return line

    return chain()
