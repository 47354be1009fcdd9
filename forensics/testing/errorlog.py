"""Strategies for Apache and nginx error logs (forensics.formats.errorlog), written from the servers'
documented layouts, not from the parser: a rendered line and its expected values are a second
opinion on it. Times are written in UTC wall-clock time (parse them with --tz UTC)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hypothesis import strategies as st

from forensics.testing.common import GeneratedLine, ipv4_addresses, ipv6_addresses, utc_timestamps

APACHE_LEVELS = ("emerg", "alert", "crit", "error", "warn", "notice", "info", "debug", "trace1", "trace8")
NGINX_LEVELS = ("emerg", "alert", "crit", "error", "warn", "notice", "info", "debug")
MODULES = ("core", "ssl", "authz_core", "proxy", "mpm_event", "php7")
_WORD = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./()-", min_size=1, max_size=12
)
# Messages: words and blanks; no comma (nginx's context separator) and no line break.
MESSAGES = st.lists(_WORD, min_size=1, max_size=8).map(" ".join)
_PATHS = st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=8), max_size=3).map(
    lambda parts: "/" + "/".join(parts)
)


def _apache_time(ts: datetime, micros: bool) -> str:
    frac = f".{ts.microsecond:06d}" if micros else ""
    return ts.strftime("%a %b %d %H:%M:%S") + frac + ts.strftime(" %Y")


@st.composite
def apache_error_lines(draw: st.DrawFn) -> GeneratedLine:
    """One Apache error log line, 2.2 (``[time] [level] ...``) or 2.4 (``[time] [module:level] [pid n:tid m]``)."""
    modern = draw(st.booleans())
    ts = draw(utc_timestamps(micros=modern))
    level = draw(st.sampled_from(APACHE_LEVELS))
    module = draw(st.sampled_from(MODULES)) if modern else None
    attrs: dict[str, Any] = {"level": level}
    parts = [f"[{_apache_time(ts, modern)}]", f"[{module}:{level}]" if module else f"[{level}]"]
    if module:
        attrs["module"] = module
    if modern and draw(st.booleans()):
        pid, tid = draw(st.integers(1, 99999)), draw(st.integers(1, 2**40))
        parts.append(f"[pid {pid}:tid {tid}]")
        attrs.update(pid=str(pid), tid=str(tid))
    client = draw(st.one_of(st.none(), ipv4_addresses(), ipv6_addresses()))
    if client is not None:
        port = draw(st.integers(10000, 65535)) if modern else None
        written = client if port is None else (f"{client}:{port}" if "." in client else f"[{client}]:{port}")
        parts.append(f"[client {written}]")
        attrs["client"] = client
        if port is not None:
            attrs["client_port"] = str(port)
    msg = draw(MESSAGES)
    text = msg
    if modern and draw(st.booleans()):
        code = f"AH{draw(st.integers(0, 99999)):05d}"
        text = f"{code}: {msg}"
        attrs["code"] = code
    if client is not None and draw(st.booleans()):
        referer = "http://shop.example" + draw(_PATHS)
        text += f", referer: {referer}"
        attrs["referer"] = referer
    attrs["msg"] = msg
    line = " ".join(parts) + " " + text
    action_raw = f"{module}:{level}" if module else level
    expected = {"ts": ts, "ip": client, "action": "other", "action_raw": action_raw, "attrs": attrs}
    return GeneratedLine(line.encode("utf-8"), expected, meta={"format": "apache_error"})


@st.composite
def nginx_error_lines(draw: st.DrawFn) -> GeneratedLine:
    """One nginx error log line, with or without a connection number and the request context."""
    ts = draw(utc_timestamps(micros=False))
    level = draw(st.sampled_from(NGINX_LEVELS))
    pid, tid = draw(st.integers(1, 99999)), draw(st.integers(0, 64))
    attrs: dict[str, Any] = {"level": level, "pid": str(pid), "tid": str(tid)}
    head = f"{ts:%Y/%m/%d %H:%M:%S} [{level}] {pid}#{tid}: "
    connection = draw(st.one_of(st.none(), st.integers(1, 10**9)))
    if connection is not None:
        head += f"*{connection} "
        attrs["connection"] = str(connection)
    msg = draw(MESSAGES)
    attrs["msg"] = msg
    expected: dict[str, Any] = {"ts": ts, "action": "other", "action_raw": level, "ip": None}
    context = ""
    if draw(st.booleans()):
        client = draw(st.one_of(ipv4_addresses(), ipv6_addresses()))
        server = draw(st.text(alphabet="abcdefghijklmnopqrstuvwxyz.-", min_size=1, max_size=16))
        method = draw(st.sampled_from(("GET", "POST", "HEAD")))
        path = draw(_PATHS)
        request = f"{method} {path}?q=1 HTTP/1.1"
        context = f', client: {client}, server: {server}, request: "{request}", host: "shop.example"'
        attrs.update(client=client, server=server, request=request, host="shop.example")
        expected.update(ip=client, node=server, http_method=method, url_path=path)
    expected["attrs"] = attrs
    line = head + msg + context
    return GeneratedLine(line.encode("utf-8"), expected, meta={"format": "nginx_error"})
