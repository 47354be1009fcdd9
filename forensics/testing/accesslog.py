"""Strategies for nginx / Apache access logs, rendered from any format string.

The format string is tokenized here, independently of forensics.formats.accesslog, so a
rendered line and its expected values are a second opinion on the parser, not a copy of it.
Raw field names follow the parser's contract (nginx variable names; Apache directives mapped to
the nginx-like names, see docs/internals.md); ``expected['attrs']`` holds every raw field as
written, and the canonical columns a correct parse must fill.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from hypothesis import strategies as st

from forensics.testing.common import (
    GeneratedLine,
    format_offset,
    free_text,
    in_offset,
    ip_addresses,
    tokens,
    utc_offsets,
    utc_timestamps,
    xff_chains,
)

Flavor = Literal["nginx", "apache"]

NGINX_PRESETS: dict[str, str] = {
    "combined": '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent"',
    "common": '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent',
    "vhost_combined": '$server_name:$server_port $remote_addr - $remote_user [$time_local] "$request" $status '
    '$body_bytes_sent "$http_referer" "$http_user_agent"',
    "main": '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent" "$http_x_forwarded_for"',
}
APACHE_PRESETS: dict[str, str] = {
    "common": '%h %l %u %t "%r" %>s %b',
    "combined": '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"',
    "vhost_combined": '%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"',
    "main": '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" "%{X-Forwarded-For}i"',
}

# Apache directive -> the raw field name the parser exposes (its contract).
APACHE_NAMES: dict[str, str] = {
    "h": "remote_addr",
    "l": "remote_logname",
    "u": "remote_user",
    "t": "time_local",
    "r": "request",
    "s": "status",
    ">s": "status",
    "b": "body_bytes_sent",
    "B": "body_bytes_sent",
    "v": "server_name",
    "D": "request_time_us",
}

TIME_FIELDS = ("time_local", "time_iso8601")
METHODS = ("GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "PROPFIND")
PROTOCOLS = ("HTTP/1.0", "HTTP/1.1", "HTTP/2.0")

_NGINX_VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
_APACHE_DIRECTIVE = re.compile(r"%(?:%|[<>]?(?:!?\d{3}(?:,\d{3})*)?(?:\{([^}]*)\})?([<>]?[a-zA-Z]))")


@dataclass(frozen=True)
class Piece:
    """A literal run of text, or a field with its raw name and the directive as written."""

    literal: str = ""
    name: str = ""
    directive: str = ""

    @property
    def is_field(self) -> bool:
        return bool(self.name)


def resolve_format(fmt: str | None, flavor: Flavor) -> str:
    """A preset name or a literal format string -> the literal format string."""
    presets = NGINX_PRESETS if flavor == "nginx" else APACHE_PRESETS
    if fmt is None:
        return presets["combined"]
    return presets.get(fmt, fmt)


def tokenize(fmt: str, flavor: Flavor) -> list[Piece]:
    """Split a format string into literal and field pieces (adjacent literals merged)."""
    fmt = resolve_format(fmt, flavor)
    pieces: list[Piece] = []
    pattern = _NGINX_VAR if flavor == "nginx" else _APACHE_DIRECTIVE
    pos = 0
    for m in pattern.finditer(fmt):
        _add_literal(pieces, fmt[pos : m.start()])
        pos = m.end()
        if m.group(0) == "%%":
            _add_literal(pieces, "%")
            continue
        name = (m.group(1) or m.group(2)) if flavor == "nginx" else _apache_name(m.group(1), m.group(2))
        pieces.append(Piece(name=name, directive=m.group(0)))
    _add_literal(pieces, fmt[pos:])
    return pieces


def _add_literal(pieces: list[Piece], text: str) -> None:
    if not text:
        return
    if pieces and not pieces[-1].is_field:
        pieces[-1] = Piece(literal=pieces[-1].literal + text)
    else:
        pieces.append(Piece(literal=text))


def _apache_name(arg: str | None, letter: str) -> str:
    if arg is not None and letter == "i":
        return "http_" + arg.lower().replace("-", "_")
    if arg is not None and letter in "neoC":
        return {"n": "note_", "e": "env_", "o": "sent_http_", "C": "cookie_"}[letter] + arg.lower().replace("-", "_")
    if arg is not None and letter == "t":
        return "time_local"  # only the default %t shape is rendered by this module
    return APACHE_NAMES.get(letter, APACHE_NAMES.get(letter.lstrip("<>"), f"apache_{letter.lstrip('<>')}"))


# ---------------------------------------------------------------- values per field


@dataclass(frozen=True)
class Context:
    """What surrounds a field: inside quotes, and the character that ends it."""

    quoted: bool
    stop: str  # first character of the following literal ('' at end of line)


def _context(pieces: list[Piece], i: int) -> Context:
    before = pieces[i - 1].literal if i > 0 else ""
    after = pieces[i + 1].literal if i + 1 < len(pieces) else ""
    return Context(quoted=before.endswith('"') and after.startswith('"'), stop=after[:1])


@functools.cache
def _word(ctx: Context) -> st.SearchStrategy[str]:
    return tokens(1, 16, exclude=ctx.stop + '"[]')


@functools.cache
def _quoted_text(ctx: Context) -> st.SearchStrategy[str]:
    """Free text for a quoted field: no raw quote or backslash; sometimes an escaped quote as nginx/Apache write it."""
    plain = free_text(exclude='"\\' + ctx.stop, max_size=60).filter(bool)
    escaped = st.builds(lambda a, e, b: a + e + b, plain, st.sampled_from(["\\x22", '\\"']), plain)
    return st.one_of(plain, plain, plain, escaped)


@functools.cache
def _uri_paths() -> st.SearchStrategy[str]:
    segment = tokens(1, 10, exclude='?#/ "%')
    path = st.lists(segment, min_size=0, max_size=4).map(lambda s: "/" + "/".join(s))
    query = st.one_of(
        st.just(""),
        st.lists(tokens(1, 8, exclude='?#&= "%'), min_size=1, max_size=3).map(
            lambda kv: "?" + "&".join(f"{k}={k[::-1]}" for k in kv)
        ),
    )
    return st.tuples(path, query).map("".join)


@st.composite
def _request(draw: st.DrawFn) -> dict[str, str]:
    method = draw(st.sampled_from(METHODS))
    uri = draw(_uri_paths())
    proto = draw(st.sampled_from(PROTOCOLS))
    return {"request": f"{method} {uri} {proto}", "method": method, "uri": uri, "path": uri.split("?", 1)[0]}


_REQUEST = _request()


_APACHE_TIME_ARG = re.compile(r"%\{(?:begin:|end:)?([^}]*)\}t")
_EPOCH_SCALE = {"sec": 1, "msec": 1000, "usec": 1_000_000}


def time_arg(directive: str) -> str | None:
    """The strftime (or sec/msec/usec) argument of an Apache %{...}t directive."""
    m = _APACHE_TIME_ARG.fullmatch(directive)
    return m.group(1) if m else None


def is_time_piece(piece: Piece) -> bool:
    if piece.name in TIME_FIELDS and not time_arg(piece.directive):
        return True
    arg = time_arg(piece.directive)
    return arg is not None and arg not in ("msec_frac", "usec_frac")


def time_is_zoned(directive: str) -> bool:
    """Whether the server writes an offset (or an epoch) with this time field."""
    arg = time_arg(directive)
    return arg is None or arg in _EPOCH_SCALE or "%z" in arg or "%Z" in arg


def _time_text(name: str, ts: datetime, offset: timedelta, directive: str) -> tuple[str, datetime]:
    """(the time as the server writes it, the instant that text denotes)."""
    arg = time_arg(directive)
    if arg in _EPOCH_SCALE:
        return str(int(ts.timestamp()) * _EPOCH_SCALE[arg]), ts
    if arg is not None:
        # A custom strftime: zone-less ones are written (and fuzzed, with --tz UTC) in UTC.
        local = in_offset(ts, offset) if time_is_zoned(directive) else ts.astimezone(UTC)
        text = local.strftime(arg)
        # Read back what the text says (a format without seconds drops them); zone-less means UTC here.
        back = datetime.strptime(text, arg)  # noqa: DTZ007
        return text, (back if back.tzinfo else back.replace(tzinfo=UTC)).astimezone(UTC)
    local = in_offset(ts, offset)
    if name == "time_iso8601":
        return local.strftime("%Y-%m-%dT%H:%M:%S") + format_offset(offset, colon=True), ts
    text = local.strftime("%d/%b/%Y:%H:%M:%S ") + format_offset(offset, colon=False)
    return (f"[{text}]" if directive == "%t" else text), ts


@functools.cache
def _value(name: str, directive: str, ctx: Context, flavor: Flavor) -> st.SearchStrategy[str]:
    """A rendered value for one raw field (the time and request fields are handled by the caller)."""
    base = re.sub(r"_\d+$", "", name)  # a repeated field is suffixed _2, _3 by the parser
    letter = directive[-1] if flavor == "apache" else ""
    if base == "remote_addr":
        return ip_addresses()
    if base in ("remote_user", "remote_logname"):
        return st.one_of(st.just("-"), _word(ctx)) if base == "remote_user" else st.just("-")
    if base == "status":
        return st.integers(100, 599).map(str)
    if base in ("body_bytes_sent", "bytes_sent", "bytes_received") or letter in ("b", "B", "I", "O"):
        number = st.integers(0, 10**12).map(str)
        return st.one_of(number, st.just("-")) if letter == "b" else number  # Apache %b writes 0 as '-'
    if base in ("request_time", "upstream_response_time"):
        return st.integers(0, 10**6).map(lambda ms: f"{ms // 1000}.{ms % 1000:03d}")
    if base.startswith("request_time_") or letter in ("D", "T"):
        return st.integers(0, 10**9).map(str)
    if base == "msec":
        return st.integers(0, 2**31 * 1000).map(lambda ms: f"{ms // 1000}.{ms % 1000:03d}")
    if base == "http_x_forwarded_for":
        return st.one_of(st.just("-"), xff_chains())
    if base == "http_referer":
        return st.one_of(st.just("-"), _uri_paths().map(lambda p: "https://example.com" + p))
    if base in ("server_port", "remote_port") or letter == "p":
        return st.integers(1, 65535).map(str)
    if base == "request_id":
        return st.text(alphabet="0123456789abcdef", min_size=32, max_size=32)
    if ctx.quoted:
        return st.one_of(st.just("-"), _quoted_text(ctx))
    if base in TOKEN_FIELDS:
        return _word(ctx)
    # Header, cookie and custom variables are written verbatim (nginx and Apache escape only '"',
    # '\\' and non-printable bytes): unquoted, they may hold spaces and any punctuation, and a
    # format that relies on them not doing so is ambiguous. Modelled as written.
    return st.one_of(st.just("-"), _verbatim_text())


# Variables whose values never hold spaces or quotes (addresses, numbers, names, ids).
TOKEN_FIELDS = frozenset(
    {
        "remote_addr",
        "remote_port",
        "server_addr",
        "server_port",
        "server_name",
        "host",
        "hostname",
        "upstream_addr",
        "upstream_status",
        "upstream_response_time",
        "upstream_connect_time",
        "request_length",
        "connection",
        "connection_requests",
        "pipe",
        "pid",
        "scheme",
        "server_protocol",
        "request_method",
        "ssl_protocol",
        "ssl_cipher",
        "remote_logname",
        "remote_user",
        "request_uri",
        "peer_ip",
        "log_id",
        "bytes_received",
        "keepalive_requests",
        "connection_status",
        "handler",
        "tid",
        "request_id",
    }
)


@functools.cache
def _verbatim_text() -> st.SearchStrategy[str]:
    printable = "".join(chr(c) for c in range(32, 127) if chr(c) not in '"\\')
    plain = st.text(alphabet=printable, min_size=1, max_size=30).map(str.strip).filter(bool)
    hexed = st.builds(lambda a, zh, b: a + "".join(f"\\x{x:02X}" for x in zh.encode()) + b, plain, st.just("中"), plain)
    return st.one_of(plain, plain, plain, hexed)


@dataclass(frozen=True)
class AccessLogShape:
    """A tokenized format string plus what the parser can be expected to derive from it."""

    flavor: Flavor
    fmt: str
    pieces: tuple[Piece, ...]

    @property
    def fields(self) -> list[str]:
        return [p.name for p in self.pieces if p.is_field]

    @property
    def time_field(self) -> str | None:
        return next((p.name for p in self.pieces if p.is_field and is_time_piece(p)), None)

    @property
    def zoned(self) -> bool:
        """False when a time field carries no offset: the parser then needs --tz (fuzzed as UTC)."""
        return all(time_is_zoned(p.directive) for p in self.pieces if p.is_field and is_time_piece(p))

    @property
    def checkable(self) -> bool:
        """Round trip is only decidable when no two fields touch (``$a$b`` has no boundary)."""
        return all(not (a.is_field and b.is_field) for a, b in zip(self.pieces, self.pieces[1:], strict=False))


@functools.cache
def shape(fmt: str | None, flavor: Flavor) -> AccessLogShape:
    resolved = resolve_format(fmt, flavor)
    pieces = tokenize(resolved, flavor)
    names = _parser_names(resolved, flavor)
    fields = [i for i, p in enumerate(pieces) if p.is_field]
    if names is not None and len(names) == len(fields):
        # Names outside the fixed contract (%p, %O, repeated fields) are the parser's to choose.
        for i, name in zip(fields, names, strict=True):
            pieces[i] = Piece(name=name, directive=pieces[i].directive)
    return AccessLogShape(flavor, resolved, tuple(pieces))


def _parser_names(fmt: str, flavor: Flavor) -> list[str] | None:
    try:
        from forensics.formats.accesslog import compile_log_format
    except ImportError:
        return None
    try:
        return list(compile_log_format(fmt, flavor).field_names)
    except Exception:  # a format the parser refuses: keep our own names, the fuzz run will say why
        return None


@st.composite
def access_log_lines(draw: st.DrawFn, fmt: str | None = None, flavor: Flavor = "nginx") -> GeneratedLine:
    """One well-formed line of `fmt` (a preset name or a format string) with its expected values."""
    sh = shape(fmt, flavor)
    ts = draw(utc_timestamps(micros=False))
    offset = draw(utc_offsets())
    req = draw(_REQUEST)
    values: dict[str, str] = {}
    out: list[str] = []
    written: datetime | None = None
    pieces = list(sh.pieces)
    for i, piece in enumerate(pieces):
        if not piece.is_field:
            out.append(piece.literal)
            continue
        if piece.name in values:  # a field written twice holds the same value both times
            out.append(values[piece.name])
            continue
        if is_time_piece(piece):
            text, when = _time_text(piece.name, ts, offset, piece.directive)
            written = written or when  # the first time field is the event's time
        elif piece.name == "request":
            text = req["request"]
        else:
            text = draw(_value(piece.name, piece.directive, _context(pieces, i), flavor))
        values[piece.name] = text
        out.append(text)
    line = "".join(out)
    expected = _expected(sh, values, written, req) if sh.checkable and written is not None else None
    return GeneratedLine(line.encode("utf-8"), expected, meta={"format": sh.fmt, "flavor": flavor})


def _expected(sh: AccessLogShape, values: dict[str, str], ts: datetime, req: dict[str, str]) -> dict[str, Any]:
    """The canonical columns the parser's contract derives from the raw fields."""
    attrs = dict(values)
    for piece in sh.pieces:
        if piece.directive == "%t":  # Apache's brackets are the directive's shape, not the value
            attrs[piece.name] = attrs[piece.name][1:-1]
    exp: dict[str, Any] = {"ts": ts, "action": "http.request", "attrs": attrs}
    if "request" in values:
        exp.update(http_method=req["method"], action_raw=req["method"], url_path=req["path"])
        attrs.update(request_method=req["method"], request_uri=req["uri"], uri=req["path"])
    if "status" in values:
        status = int(values["status"])
        exp.update(status=status, outcome="success" if status < 400 else "failure")
    else:
        exp["outcome"] = "unknown"
    size = values.get("body_bytes_sent", values.get("bytes_sent"))
    if size is not None:
        exp["bytes"] = None if size == "-" else int(size)
    exp.update(_who(values))
    ua = values.get("http_user_agent")
    if ua is not None and "\\" not in ua and ua != "-":
        exp["user_agent"] = ua
    if "request_id" in values:
        exp["request_id"] = values["request_id"]
    return exp


def _who(values: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    xff = values.get("http_x_forwarded_for")
    if xff is not None:
        hops = [h.strip() for h in xff.split(",") if h.strip()]
        out["forwarded_for"] = None if xff in ("-", "") else hops
    if "remote_addr" in values:  # the connecting peer, whatever the client wrote in a header
        out["ip"] = values["remote_addr"] if values["remote_addr"] != "-" else None
    if "remote_user" in values:
        user = values["remote_user"]
        out["actor_id"] = None if user == "-" else user
        out["actor_type"] = "anonymous" if user == "-" else "account"
    return out


# ---------------------------------------------------------------- random format strings

_NGINX_VOCAB = (
    "remote_addr",
    "remote_user",
    "request",
    "status",
    "body_bytes_sent",
    "bytes_sent",
    "http_referer",
    "http_user_agent",
    "http_x_forwarded_for",
    "request_time",
    "request_id",
    "host",
    "upstream_addr",
)
_APACHE_VOCAB = (
    "%h",
    "%l",
    "%u",
    '"%r"',
    "%>s",
    "%b",
    "%B",
    '"%{Referer}i"',
    '"%{User-Agent}i"',
    "%v",
    "%D",
    '"%{X-Forwarded-For}i"',
)
_QUOTED_BY_DEFAULT = {"request", "http_referer", "http_user_agent", "http_x_forwarded_for"}


@st.composite
def nginx_log_formats(draw: st.DrawFn) -> str:
    """A random nginx log_format: one time field plus 1-8 variables, bare, quoted or bracketed."""
    names = draw(st.lists(st.sampled_from(_NGINX_VOCAB), min_size=1, max_size=8, unique=True))
    time_name = draw(st.sampled_from(TIME_FIELDS))
    names.insert(draw(st.integers(0, len(names))), time_name)
    parts = []
    for name in names:
        if name in _QUOTED_BY_DEFAULT:
            wrap = '"'
        elif name == "time_local":  # holds a space: nginx configs always bracket it
            wrap = "["
        else:
            wrap = draw(st.sampled_from(["", '"', "["]))
        var = f"${name}"
        parts.append({"": var, '"': f'"{var}"', "[": f"[{var}]"}[wrap])
    seps = draw(st.lists(st.sampled_from([" ", " - ", " | ", "\t"]), min_size=len(parts), max_size=len(parts)))
    return "".join(p + s for p, s in zip(parts, seps, strict=True)).rstrip(" |-\t") or parts[0]


@st.composite
def apache_log_formats(draw: st.DrawFn) -> str:
    """A random Apache LogFormat: %t plus 1-8 directives separated by spaces."""
    parts = draw(st.lists(st.sampled_from(_APACHE_VOCAB), min_size=1, max_size=8, unique=True))
    parts.insert(draw(st.integers(0, len(parts))), "%t")
    return " ".join(parts)


@functools.cache
def log_formats(flavor: Flavor) -> st.SearchStrategy[str]:
    presets = NGINX_PRESETS if flavor == "nginx" else APACHE_PRESETS
    random = nginx_log_formats() if flavor == "nginx" else apache_log_formats()
    return st.one_of(st.sampled_from(sorted(presets)), random)
