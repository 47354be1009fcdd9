"""Strategies for W3C extended logs (IIS): a directive header and the records under its #Fields.

Written from the W3C working draft and what IIS writes (no quoting; '+' for a blank in the user
agent; times in UTC), independently of forensics.formats.w3c. Records carry the canonical values a
correct parse must return; the header lines are structural (kind "header").
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from hypothesis import strategies as st

from forensics.testing.common import GeneratedLine, ip_addresses, tokens, utc_timestamps

FIELD_VOCAB: tuple[str, ...] = (
    "s-ip", "cs-method", "cs-uri-stem", "cs-uri-query", "s-port", "cs-username", "c-ip", "cs(User-Agent)",
    "cs(Referer)", "sc-status", "sc-substatus", "sc-win32-status", "sc-bytes", "cs-bytes", "time-taken",
    "s-sitename", "s-computername", "cs-host",
)  # fmt: skip
METHODS = ("GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PROPFIND")
_INTS = {"s-port": (1, 65535), "sc-status": (100, 599), "sc-substatus": (0, 999), "sc-win32-status": (0, 2**31 - 1),
         "sc-bytes": (0, 10**12), "cs-bytes": (0, 10**12), "time-taken": (0, 10**7)}  # fmt: skip


@st.composite
def w3c_field_lists(draw: st.DrawFn) -> tuple[str, ...]:
    """A #Fields list: date and time first (as IIS writes them), then 1-10 other fields in any order."""
    rest = draw(st.lists(st.sampled_from(FIELD_VOCAB), min_size=1, max_size=10, unique=True))
    return ("date", "time", *rest)


def w3c_header(fields: tuple[str, ...], when: datetime) -> list[GeneratedLine]:
    """The directives IIS writes at the top of a file (structural lines)."""
    lines = [
        "#Software: Microsoft Internet Information Services 10.0",
        "#Version: 1.0",
        f"#Date: {when:%Y-%m-%d %H:%M:%S}",
        "#Fields: " + " ".join(fields),
    ]
    return [GeneratedLine(line.encode(), None, kind="header") for line in lines]


def _path() -> st.SearchStrategy[str]:
    return st.lists(tokens(1, 10, exclude='?#/ "%+&='), max_size=4).map(lambda s: "/" + "/".join(s))


@functools.cache
def _value(name: str) -> st.SearchStrategy[str]:
    if name in ("c-ip", "s-ip"):
        return ip_addresses()
    if name in _INTS:
        lo, hi = _INTS[name]
        return st.integers(lo, hi).map(str)
    if name == "cs-method":
        return st.sampled_from(METHODS)
    if name == "cs-uri-stem":
        return _path()
    if name == "cs-uri-query":
        pairs = st.lists(tokens(1, 8, exclude='?#&= "+'), min_size=1, max_size=3)
        return st.one_of(st.just("-"), pairs.map(lambda kv: "&".join(f"{k}={k[::-1]}" for k in kv)))
    if name == "cs-username":
        user = tokens(1, 12, exclude='\\ "#')
        return st.one_of(st.just("-"), user, st.builds(lambda d, u: f"{d}\\{u}", user, user))
    if name == "cs(User-Agent)":
        words = st.lists(tokens(1, 10, exclude=' "+#'), min_size=1, max_size=5)
        return st.one_of(st.just("-"), words.map("+".join))  # IIS writes a blank as '+'
    if name == "cs(Referer)":
        return st.one_of(st.just("-"), _path().map(lambda p: "https://example.com" + p))
    if name == "s-sitename":
        return st.integers(1, 99).map(lambda n: f"W3SVC{n}")
    return tokens(1, 16, exclude=' "#')


@st.composite
def w3c_records(draw: st.DrawFn, fields: tuple[str, ...]) -> GeneratedLine:
    """One IIS record under `fields`, with its expected canonical values (times are UTC)."""
    ts = draw(utc_timestamps(micros=False))
    values: dict[str, str] = {}
    for name in fields:
        if name == "date":
            values[name] = f"{ts:%Y-%m-%d}"
        elif name == "time":
            values[name] = f"{ts:%H:%M:%S}"
        else:
            values[name] = draw(_value(name))
    line = " ".join(values[n] for n in fields)
    return GeneratedLine(line.encode(), _expected(values, ts), meta={"fields": fields})


def _dash(value: str | None) -> str | None:
    return None if value in (None, "-") else value


def _expected(values: dict[str, str], ts: datetime) -> dict[str, Any]:
    exp: dict[str, Any] = {"ts": ts, "action": "http.request", "attrs": dict(values)}
    if "c-ip" in values:
        exp["ip"] = values["c-ip"]
    if "cs-username" in values:
        exp["actor_id"] = _dash(values["cs-username"])
        exp["actor_type"] = "anonymous" if values["cs-username"] == "-" else "account"
    if "cs-method" in values:
        exp["http_method"] = exp["action_raw"] = values["cs-method"]
    if "cs-uri-stem" in values:
        exp["url_path"] = values["cs-uri-stem"]
    if "sc-status" in values:
        status = int(values["sc-status"])
        exp["status"] = status
        exp["outcome"] = "success" if status < 400 else "failure"
    else:
        exp["outcome"] = "unknown"
    if "sc-bytes" in values:
        exp["bytes"] = int(values["sc-bytes"])
    ua = _dash(values.get("cs(User-Agent)"))
    if ua is not None:
        exp["user_agent"] = ua.replace("+", " ")
    node = next((values[n] for n in ("s-computername", "s-sitename", "s-ip") if _dash(values.get(n))), None)
    if node is not None:
        exp["node"] = node
    return exp
