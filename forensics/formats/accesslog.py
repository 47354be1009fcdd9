"""nginx and Apache access logs, parsed from the server's own format string.

The user hands over what the server was configured with: an nginx ``log_format`` or an Apache
``LogFormat`` string, or a preset name (combined, common, vhost_combined, main). The string is
compiled once into a list of elements (literal text and fields) and from that into

* the vectorized fast path. A line with exactly as many double quotes as the format is cut at
  its quotes (``str.split_exact``): quoted fields are then read with no regex at all and the
  short unquoted stretches with small anchored regexes. Other lines (and formats without quotes)
  go through one Rust regex over the whole line (``str.extract_groups``), in which each field is
  a run of characters that cannot contain the literal that follows it. Batches of 64k lines
  and more are split in two halves parsed on two threads (polars releases the GIL);
* Python regexes and a left-to-right tokenizer for the few lines the fast path rejects:
  Apache-style escaped quotes (``\\"``), unescaped quotes written by old servers, truncated
  lines. The tokenizer is what produces the specific quarantine reasons.

Raw field names are a contract (mapping files reference them): nginx variable names without
``$``; Apache directives use the nginx-like name where one exists (``%h`` -> remote_addr).
Values are kept exactly as written: ``-`` stays ``-`` and ``\\xHH`` escapes are not decoded.
"""

from __future__ import annotations

import difflib
import re
import shlex
from collections.abc import Mapping as MappingABC
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from forensics.errors import ForensicsError, UsageError
from forensics.formats.base import FormatOptions, ParseError, ParseResult, quarantine_rows
from forensics.timeparse import ALT_COLUMN, KIND_COLUMN, NO_ZONE, local_readings, normalize, refuse_zoneless

if TYPE_CHECKING:
    from forensics.mapping import Mapping

Flavor = Literal["nginx", "apache"]
# How a server escapes a double quote inside a quoted field. nginx's default writes \x22, so a
# raw quote never appears inside a field; Apache and nginx escape=json write \" instead.
Escape = Literal["hex", "backslash", "none"]

# --------------------------------------------------------------------------------------------
# Presets
# --------------------------------------------------------------------------------------------

_NGINX_COMBINED = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"'
)
_APACHE_COMBINED = '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"'

PRESETS: dict[Flavor, dict[str, str]] = {
    "nginx": {
        "combined": _NGINX_COMBINED,
        "common": '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent',
        # nginx's own default example in nginx.conf
        "main": _NGINX_COMBINED + ' "$http_x_forwarded_for"',
        # the nginx spelling of Apache's vhost_combined
        "vhost_combined": "$server_name:$server_port " + _NGINX_COMBINED,
    },
    "apache": {
        "combined": _APACHE_COMBINED,
        "common": '%h %l %u %t "%r" %>s %b',
        "main": _APACHE_COMBINED + ' "%{X-Forwarded-For}i"',
        # Debian's vhost_combined
        "vhost_combined": '%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"',
    },
}
DEFAULT_PRESET = "combined"

# --------------------------------------------------------------------------------------------
# Compiled format
# --------------------------------------------------------------------------------------------

# Fields whose value is a free text that may contain spaces when written unquoted.
_FREE_TEXT = frozenset({"request", "http_user_agent", "http_referer", "request_uri", "args", "query_string"})
# A literal that starts with a column separator, like Bitbucket's ' | ': a punctuation mark between
# blanks (or blank + mark ending the format) that is not part of the common formats' own layout
# ('-' placeholders, brackets, quotes, '?' before a query string glued to its field).
_SEPARATOR = re.compile(r" +([^\w\s\-\[\]\"'(){}<>.:/])( |$)")


def _separator_mark(elements: Sequence[Element], index: int) -> str | None:
    """The separator's mark ('|' of ' | ') if the literal at index starts with a column separator."""
    element = elements[index] if index < len(elements) else None
    m = _SEPARATOR.match(element.text) if isinstance(element, Lit) else None
    if m is None or (m.group(2) == "" and index + 1 < len(elements)):
        return None  # no separator, or a mark glued to the next field (' ?$args')
    return m.group(1)


# Fields that hold an address list "a, b, c" (X-Forwarded-For chains, upstream lists).
_XFF_FIELDS = ("http_x_forwarded_for", "proxy_add_x_forwarded_for")
# Derived from `request` (only when the format does not carry the field itself).
DERIVED_FIELDS: tuple[str, ...] = ("request_method", "request_uri", "uri", "args", "server_protocol")


@dataclass(frozen=True)
class TimeSpec:
    """How a time field becomes UTC: chrono formats for the text, or a Unix epoch unit."""

    formats: tuple[str, ...] = ()
    epoch_unit: str | None = None
    regex: str | None = None  # exact shape, used when the field is not delimited by brackets or quotes
    # the server writes an offset (or epoch): a value without one is a malformed line, not a
    # reason to ask for --tz. Zone-less formats (%{%Y-%m-%d %H:%M:%S}t) need --tz instead.
    zoned: bool = True


@dataclass(frozen=True)
class Field:
    name: str  # raw field name (the contract)
    directive: str  # as written in the format string: "$remote_addr", "%>s", "%{Referer}i"
    time: TimeSpec | None = None


@dataclass(frozen=True)
class Lit:
    text: str


Element = Field | Lit


@dataclass(frozen=True)
class CompiledFormat:
    """A format string compiled for parsing and rendering. ``fields`` are in line order."""

    flavor: Flavor
    format_string: str  # after preset expansion and config unquoting
    preset: str | None
    escape: Escape
    elements: tuple[Element, ...]
    fast_regex: str  # Rust regex syntax, for polars
    strict_regex: re.Pattern[str]  # escape-aware (Apache \")
    lazy_regex: re.Pattern[str]  # quoted fields may hold raw quotes: shortest reading
    greedy_regex: re.Pattern[str]  # ... longest reading; both must agree to accept a line

    @property
    def fields(self) -> tuple[Field, ...]:
        return tuple(e for e in self.elements if isinstance(e, Field))

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def time_field(self) -> Field | None:
        return next((f for f in self.fields if f.time is not None), None)

    def is_quoted(self, index: int) -> bool:
        """Whether the element at ``index`` is a field enclosed in double quotes."""
        return _is_quoted(self.elements, index)

    def render(self, values: MappingABC[str, str]) -> str:
        """Write one line as the server would, from raw field values (the fuzz helper's inverse)."""
        return "".join(e.text if isinstance(e, Lit) else values[e.name] for e in self.elements)


def _is_quoted(elements: Sequence[Element], index: int) -> bool:
    if index == 0 or index + 1 >= len(elements):
        return False
    before, after = elements[index - 1], elements[index + 1]
    return (
        isinstance(before, Lit) and isinstance(after, Lit) and before.text.endswith('"') and after.text.startswith('"')
    )


def _rust_escape(text: str) -> str:
    return "".join("\\" + c if c in "\\.+*?()|[]{}^$#&-~" else c for c in text)


def _class_escape(char: str) -> str:
    return "\\" + char if char in "\\]^-[&~" else char


# ---- strftime (Apache %{...}t) --------------------------------------------------------------

_STRFTIME_REGEX: dict[str, str] = {
    "Y": r"\d{4}",
    "y": r"\d{2}",
    "m": r"\d{2}",
    "d": r"\d{2}",
    "e": r"[ \d]\d",
    "H": r"\d{2}",
    "I": r"\d{2}",
    "M": r"\d{2}",
    "S": r"\d{2}",
    "j": r"\d{3}",
    "b": r"[A-Za-z]{3}",
    "h": r"[A-Za-z]{3}",
    "B": r"[A-Za-z]+",
    "a": r"[A-Za-z]{3}",
    "A": r"[A-Za-z]+",
    "p": r"[AP]M",
    "T": r"\d{2}:\d{2}:\d{2}",
    "R": r"\d{2}:\d{2}",
    "D": r"\d{2}/\d{2}/\d{2}",
    "F": r"\d{4}-\d{2}-\d{2}",
    "z": r"[+-]\d{4}",
    "%": "%",
}
_ZONE_SUFFIX = re.compile(r"\s*(?:%z|Z)$")  # timeparse reads a trailing offset or 'Z' itself


def _strftime_spec(fmt: str, directive: str) -> TimeSpec:
    """Apache %{fmt}t: a regex for the exact shape and the chrono format without the zone."""
    parts: list[str] = []
    i = 0
    while i < len(fmt):
        if fmt[i] == "%" and i + 1 < len(fmt):
            code = fmt[i + 1]
            if code not in _STRFTIME_REGEX:
                raise UsageError(f"log format: unsupported strftime code %{code} in {directive}")
            if code == "z" and not _ZONE_SUFFIX.search(fmt[i:]):
                raise UsageError(f"log format: %z must come last in {directive} to be read as the UTC offset")
            parts.append(_STRFTIME_REGEX[code])
            i += 2
        else:
            parts.append(_rust_escape(fmt[i]))
            i += 1
    # timeparse splits a trailing offset off itself; the body keeps everything before it
    body = _ZONE_SUFFIX.sub("", fmt)
    return TimeSpec(formats=(body,), regex="".join(parts), zoned=body != fmt)


_CLF_TIME = TimeSpec(formats=("%d/%b/%Y:%H:%M:%S",), regex=r"\d{1,2}/[A-Za-z]{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}")
_ISO_TIME = TimeSpec(
    formats=("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%.f"),
    regex=r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?",
)
_EPOCH_REGEX = r"\d+(?:\.\d+)?"

# ---- nginx ----------------------------------------------------------------------------------

_NGINX_TIME: dict[str, TimeSpec] = {
    "time_local": _CLF_TIME,
    "time_iso8601": _ISO_TIME,
    "msec": TimeSpec(epoch_unit="s", regex=_EPOCH_REGEX),
}
_NGINX_VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def _parse_nginx(fmt: str) -> list[Element]:
    elements: list[Element] = []
    pos = 0
    for m in _NGINX_VAR.finditer(fmt):
        if m.start() > pos:
            elements.append(Lit(fmt[pos : m.start()]))
        name = m.group(1) or m.group(2)
        elements.append(Field(name=name, directive=m.group(0), time=_NGINX_TIME.get(name)))
        pos = m.end()
    if pos < len(fmt):
        elements.append(Lit(fmt[pos:]))
    if any(isinstance(e, Lit) and "$" in e.text for e in elements):
        raise UsageError(f"log format: a '$' is not followed by a variable name in {fmt!r}")
    return elements


_NGINX_ESCAPES: dict[str, Escape] = {"default": "hex", "json": "backslash", "none": "none"}


def _unwrap_nginx(fmt: str) -> tuple[str, Escape]:
    """Accept a format pasted from nginx.conf: `log_format main escape=json '...' '...';`."""
    text = fmt.strip()
    if not (text.startswith("log_format") or text.startswith("'")):
        return fmt, "hex"
    try:
        tokens = shlex.split(text.rstrip(";"), posix=True)
    except ValueError as exc:
        raise UsageError(f"log format: cannot read the nginx log_format directive ({exc})") from exc
    if tokens and tokens[0] == "log_format":
        tokens = tokens[2:]  # the directive and the format's name
    escape: Escape = "hex"
    if tokens and tokens[0].startswith("escape="):
        value = tokens.pop(0).removeprefix("escape=")
        if value not in ("default", "json", "none"):
            raise UsageError(f"log format: unknown nginx escape={value} (use default, json or none)")
        escape = _NGINX_ESCAPES[value]
    return "".join(tokens), escape


# ---- Apache ---------------------------------------------------------------------------------

_APACHE_SIMPLE: dict[str, str] = {
    "a": "remote_ip",
    "A": "server_addr",
    "b": "body_bytes_sent",
    "B": "body_bytes_sent",
    "D": "request_time_us",
    "f": "request_filename",
    "h": "remote_addr",
    "H": "server_protocol",
    "I": "bytes_received",
    "k": "keepalive_requests",
    "l": "remote_logname",
    "L": "log_id",
    "m": "request_method",
    "O": "bytes_sent",
    "p": "server_port",
    "P": "pid",
    "q": "query_string",
    "r": "request",
    "R": "handler",
    "s": "status",
    "S": "bytes_transferred",
    "T": "request_time_s",
    "u": "remote_user",
    "U": "uri",
    "v": "server_name",
    "V": "host",
    "X": "connection_status",
}
# %{name}X with an argument: prefix for the lower-cased, underscored argument
_APACHE_ARG_PREFIX: dict[str, str] = {
    "i": "http_",
    "o": "sent_http_",
    "n": "note_",
    "e": "env_",
    "C": "cookie_",
    "x": "",  # mod_ssl variables: %{SSL_PROTOCOL}x -> ssl_protocol
    "c": "ssl_c_",
    "^ti": "trailer_in_",
    "^to": "trailer_out_",
}
_APACHE_ARG_SPECIAL: dict[tuple[str, str], str] = {
    ("a", "c"): "peer_ip",
    ("h", "c"): "peer_host",
    ("p", "canonical"): "server_port",
    ("p", "local"): "server_port",
    ("p", "remote"): "remote_port",
    ("P", "pid"): "pid",
    ("P", "tid"): "tid",
    ("P", "hextid"): "tid",
    ("T", "s"): "request_time_s",
    ("T", "ms"): "request_time_ms",
    ("T", "us"): "request_time_us",
}
_APACHE_EPOCH: dict[str, tuple[str, str | None]] = {
    "sec": ("time_sec", "s"),
    "msec": ("time_msec", "ms"),
    "usec": ("time_usec", "us"),
    "msec_frac": ("time_msec_frac", None),
    "usec_frac": ("time_usec_frac", None),
}
_APACHE_DIRECTIVE = re.compile(r"%((?:[!<>,0-9]|\{[^}]*\})*)(\^t[io]|[A-Za-z%])")


def _apache_name(letter: str, arg: str | None, directive: str) -> tuple[str, TimeSpec | None]:
    if letter == "t":
        return _apache_time(arg, directive)
    if arg is not None and (letter, arg) in _APACHE_ARG_SPECIAL:
        return _APACHE_ARG_SPECIAL[(letter, arg)], None
    if letter in _APACHE_ARG_PREFIX:
        if not arg:
            raise UsageError(f"log format: {directive} needs a name in braces, e.g. %{{User-Agent}}i")
        return _APACHE_ARG_PREFIX[letter] + re.sub(r"[^0-9a-z]+", "_", arg.lower()).strip("_"), None
    if letter in _APACHE_SIMPLE:
        return _APACHE_SIMPLE[letter], None
    raise UsageError(f"log format: unknown Apache directive {directive}")


def _apache_time(arg: str | None, directive: str) -> tuple[str, TimeSpec | None]:
    if arg is None:
        return "time_local", _CLF_TIME
    fmt = arg.removeprefix("begin:").removeprefix("end:")
    if fmt in _APACHE_EPOCH:
        name, unit = _APACHE_EPOCH[fmt]
        return name, (TimeSpec(epoch_unit=unit, regex=r"\d+") if unit else None)
    return "time_local", _strftime_spec(fmt, directive)


def _unescape_apache(fmt: str) -> str:
    """Apache reads C-style escapes in LogFormat; accept the string as pasted from httpd.conf."""
    text = fmt.strip()
    inner = text[1:-1]
    if len(text) >= 2 and text[0] == text[-1] == '"' and inner.count('"') == inner.count('\\"'):
        text = inner  # "%h \"%r\"" -> %h \"%r\"
    return re.sub(r"\\(.)", lambda m: {"t": "\t", "n": "\n"}.get(m.group(1), m.group(1)), text)


def _parse_apache(fmt: str) -> list[Element]:
    elements: list[Element] = []
    pos = 0
    for m in _APACHE_DIRECTIVE.finditer(fmt):
        _append_literal(elements, fmt[pos : m.start()], fmt)
        pos = m.end()
        modifiers, letter = m.group(1), m.group(2)
        if letter == "%":
            elements.append(Lit("%"))
            continue
        arg_match = re.search(r"\{([^}]*)\}", modifiers)
        name, time = _apache_name(letter, arg_match.group(1) if arg_match else None, m.group(0))
        if letter == "t" and arg_match is None:
            # %t writes its own brackets; keep them as literals so the field is the time alone
            elements += [Lit("["), Field(name, m.group(0), time), Lit("]")]
        else:
            elements.append(Field(name, m.group(0), time))
    _append_literal(elements, fmt[pos:], fmt)
    return _merge_literals(elements)


def _append_literal(elements: list[Element], text: str, fmt: str) -> None:
    if "%" in text:
        raise UsageError(f"log format: a '%' does not start a known Apache directive in {fmt!r}")
    if text:
        elements.append(Lit(text))


def _merge_literals(elements: list[Element]) -> list[Element]:
    out: list[Element] = []
    for e in elements:
        if isinstance(e, Lit) and out and isinstance(out[-1], Lit):
            out[-1] = Lit(out[-1].text + e.text)
        else:
            out.append(e)
    return out


def _dedupe_names(elements: list[Element]) -> list[Element]:
    """A name may appear twice (%h and %{c}h mapping alike, $status twice): suffix _2, _3."""
    seen: dict[str, int] = {}
    out: list[Element] = []
    for e in elements:
        if isinstance(e, Field):
            seen[e.name] = seen.get(e.name, 0) + 1
            if seen[e.name] > 1:
                e = Field(f"{e.name}_{seen[e.name]}", e.directive, e.time)
        out.append(e)
    return out


# ---- regex construction ---------------------------------------------------------------------

Mode = Literal["fast", "strict", "lazy", "greedy", "diagnose"]


def _field_pattern(elements: Sequence[Element], index: int, mode: Mode, escape: Escape) -> str:
    field = elements[index]
    assert isinstance(field, Field)
    nxt = elements[index + 1] if index + 1 < len(elements) else None
    if _is_quoted(elements, index):
        if mode == "lazy":
            return ".*?"
        if mode == "greedy":
            return ".*"
        if mode == "strict":
            # \" is an escaped quote (Apache, nginx escape=json). nginx's default escaping writes
            # a backslash as \x5C, so reading \x as an escape pair changes nothing there.
            return r'(?:[^"\\]|\\.)*'
        return '[^"]*'
    if isinstance(nxt, Field) and nxt.name == "query_string":
        return "[^? ]*"  # Apache %U%q: the query string starts at the '?'
    if field.name == "query_string" and (nxt is None or isinstance(nxt, Lit)) and _is_apache_directive(field):
        return r"(?:\?[^ \t]*)?"  # %q is empty or "?..."
    stop = nxt.text[0] if isinstance(nxt, Lit) else None
    delimited = stop is not None and stop in "]\"'"
    if field.time is not None and field.time.regex and not delimited:
        return field.time.regex
    if nxt is None:
        if field.name in _FREE_TEXT:
            return ".*"
        # the last field otherwise stops at a space, so a line with extra trailing fields
        # (combined read as common) is rejected instead of glued onto it
        stop = " "
    elif stop is None or field.name in _FREE_TEXT:  # free text, or two fields back to back: shortest reading
        return ".*?"
    s = _class_escape(stop)
    if field.name in _XFF_FIELDS or field.name.startswith("upstream_"):
        # items never hold a comma, so "a, b c" reads as the chain "a, b" and then c, not "a," and "b c"
        return f"[^{s},]*(?:(?:, ?| : )[^{s},]*)*"
    mark = _separator_mark(elements, index + 1)
    if mark is not None:
        # ' | '-style columns (Bitbucket): a value may hold blanks ('refs, cache:hit') and the mark
        # itself ('a|b'), but never the separator (the mark alone between blanks). So a line with an
        # extra column is refused rather than read across it, and matching stays linear.
        # Trailing blanks belong to the value only when the separator needs them back, which needs
        # backtracking: _diagnose, walking forward without it, reads the value without them.
        tail = "" if mode == "diagnose" else " *"
        return f"[^ ]*(?: +(?:[^ {_class_escape(mark)}][^ ]*|{_rust_escape(mark)}[^ ]+))*{tail}"
    if stop == ":":
        return "[^ ]*"  # greedy: an IPv6 host keeps its colons, the last ':' starts the port
    return f"[^{s}]*"


def _is_apache_directive(field: Field) -> bool:
    return field.directive.startswith("%")


def _build_regex(elements: Sequence[Element], mode: Mode, escape: Escape, lit_escape: Any) -> str:
    parts = ["^"]
    for i, e in enumerate(elements):
        parts.append(lit_escape(e.text) if isinstance(e, Lit) else f"({_field_pattern(elements, i, mode, escape)})")
    parts.append("$")
    return "".join(parts)


def _resolve_preset(fmt: str, flavor: Flavor) -> tuple[str, str | None]:
    """Preset name -> its format string; a lone word that is not a preset is a usage error."""
    name = fmt.strip()
    presets = PRESETS[flavor]
    if name in presets:
        return presets[name], name
    if re.fullmatch(r"[A-Za-z][\w-]*", name):
        close = difflib.get_close_matches(name, list(presets), n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"known presets: {', '.join(sorted(presets))}"
        raise UsageError(f"unknown {flavor} log format preset '{name}'; {hint} (or pass the format string itself)")
    return fmt, None


@lru_cache(maxsize=64)
def compile_log_format(fmt: str, flavor: Literal["nginx", "apache"]) -> CompiledFormat:
    """Compile a preset name or an nginx log_format / Apache LogFormat string."""
    text, preset = _resolve_preset(fmt, flavor)
    escape: Escape
    if flavor == "nginx":
        text, escape = _unwrap_nginx(text)
        elements = _parse_nginx(text)
    else:
        text, escape = _unescape_apache(text), "backslash"
        elements = _parse_apache(text)
    elements = _dedupe_names(elements)
    if not any(isinstance(e, Field) for e in elements):
        raise UsageError(f"log format {fmt!r} has no fields")
    compiled = CompiledFormat(
        flavor=flavor,
        format_string=text,
        preset=preset,
        escape=escape,
        elements=tuple(elements),
        fast_regex=_build_regex(elements, "fast", escape, pl.escape_regex),
        strict_regex=re.compile(_build_regex(elements, "strict", escape, re.escape), re.DOTALL),
        lazy_regex=re.compile(_build_regex(elements, "lazy", escape, re.escape), re.DOTALL),
        greedy_regex=re.compile(_build_regex(elements, "greedy", escape, re.escape), re.DOTALL),
    )
    if compiled.time_field is None:
        raise UsageError(
            f"log format {fmt!r} has no time field ($time_local, $time_iso8601, $msec, %t, %{{...}}t); "
            "events cannot be placed in time"
        )
    return compiled


# --------------------------------------------------------------------------------------------
# Slow path: one Python line at a time, only for lines the fast path rejected
# --------------------------------------------------------------------------------------------

# Unescaped-quote readings backtrack: they are only tried on lines with few quotes and of sane length.
_MAX_LENIENT_QUOTES = 12
_MAX_LENIENT_CHARS = 16_384


def _closing_quote(text: str, pos: int, escape: Escape) -> int:
    """Index of the quote that closes a field starting at pos, or -1 if the line ends first."""
    i = pos
    while i < len(text):
        c = text[i]
        if c == "\\" and escape != "none":
            i += 2
            continue
        if c == '"':
            return i
        i += 1
    return -1


def _next_field_name(elements: Sequence[Element], index: int) -> str:
    return next((e.name for e in elements[index:] if isinstance(e, Field)), "end of line")


def _diagnose(cf: CompiledFormat, text: str) -> str:
    """Walk the format left to right and say where the line stops matching."""
    pos = 0
    elements = cf.elements
    for i, e in enumerate(elements):
        if isinstance(e, Lit):
            k = 0
            while k < len(e.text) and pos + k < len(text) and text[pos + k] == e.text[k]:
                k += 1
            if k == len(e.text):
                pos += k
                continue
            where = f"expected {e.text[k]!r} at column {pos + k + 1}"
            if pos + k >= len(text):
                return f"truncated line: ends before {_next_field_name(elements, i)} ({where})"
            return f"line does not match log format ({where})"
        if cf.is_quoted(i):
            end = _closing_quote(text, pos, cf.escape)
            if end < 0:
                return f"truncated line: unterminated quoted field {e.name}"
            pos = end
            continue
        m = re.compile(_field_pattern(elements, i, "diagnose", cf.escape)).match(text, pos)
        pos = m.end() if m else pos
    if pos < len(text):
        return f"line does not match log format (unexpected text at column {pos + 1} after the last field)"
    return "line does not match log format"


def slow_parse(cf: CompiledFormat, text: str) -> dict[str, str] | str:
    """Parse one irregular line: the field values, or the quarantine reason."""
    names = cf.field_names
    m = cf.strict_regex.match(text)
    if m:
        return dict(zip(names, m.groups(), strict=True))
    quoted = sum(1 for i in range(len(cf.elements)) if cf.is_quoted(i))
    if quoted and text.count('"') <= 2 * quoted + _MAX_LENIENT_QUOTES and len(text) <= _MAX_LENIENT_CHARS:
        lazy, greedy = cf.lazy_regex.match(text), cf.greedy_regex.match(text)
        if lazy and greedy:
            if lazy.groups() == greedy.groups():
                return dict(zip(names, lazy.groups(), strict=True))
            differing = next(n for n, a, b in zip(names, lazy.groups(), greedy.groups(), strict=True) if a != b)
            return f"{_diagnose(cf, text)}; ambiguous: field {differing} reads differently if it holds a raw '\"'"
    return _diagnose(cf, text)


# --------------------------------------------------------------------------------------------
# Vectorized pipeline
# --------------------------------------------------------------------------------------------

_SESSION_NAME = re.compile(r"^(?:cookie_|http_x_|sent_http_)?(?:session_?id|sid|jsessionid|phpsessid)$")
_PARALLEL_MIN_ROWS = 64_000  # below this, splitting the batch costs more than it gains
_WORKERS = 2


@dataclass(frozen=True)
class _Segment:
    """The part of a line between two literal quotes of the format: its fields and how to read them."""

    fields: tuple[str, ...]
    regex: str | None  # None: a lone field (the whole segment is its value) or pure literal text
    literal: str  # the expected text when the segment has no field


def _quote_segments(cf: CompiledFormat) -> list[_Segment] | None:
    """Cut the format at every literal '"' (None if it has none).

    A line with exactly as many quotes as the format cannot have a quote inside any field, so
    its quotes line up with the format's and each segment can be read on its own: quoted
    fields need no regex at all and the rest are short strings. That is about twice as fast as
    one regex over the whole line. Lines with any other number of quotes take the full regex."""
    if not any(isinstance(e, Lit) and '"' in e.text for e in cf.elements):
        return None
    pieces: list[list[tuple[int, str]]] = [[]]  # (element index or -1 for literal text, text)
    for i, e in enumerate(cf.elements):
        if isinstance(e, Field):
            pieces[-1].append((i, ""))
            continue
        parts = e.text.split('"')
        for k, part in enumerate(parts):
            if k:
                pieces.append([])
            if part:
                pieces[-1].append((-1, part))
    segments = []
    for seg in pieces:
        fields = tuple(cf.elements[i].name for i, _ in seg if i >= 0)  # type: ignore[union-attr]
        if not fields or (len(seg) == 1 and cf.is_quoted(seg[0][0])):
            segments.append(_Segment(fields, None, "".join(t for _, t in seg)))
            continue
        regex = "".join(
            pl.escape_regex(t) if i < 0 else f"({_field_pattern(cf.elements, i, 'fast', cf.escape)})" for i, t in seg
        )
        segments.append(_Segment(fields, f"^{regex}$", ""))
    return segments


def _split_by_quotes(cf: CompiledFormat, segments: list[_Segment], batch: pl.DataFrame) -> pl.DataFrame:
    """line_no, one column per field (null for lines that did not split cleanly), `ok`."""
    nq = len(segments) - 1
    text = pl.col("text")
    parts = batch.select(
        "line_no",
        # splitn keeps the remainder in the last part, so a line with more quotes than the format
        # fails the check below (split_exact would silently drop everything after the nq-th quote)
        text.str.splitn('"', nq + 1).alias("_s"),
        text.str.contains('\\"', literal=True).alias("_escaped"),  # escaped quotes: the careful path
    ).unnest("_s")
    cols: list[pl.Expr] = []
    checks: list[pl.Expr] = [
        pl.col(f"field_{nq}").is_not_null(),  # not fewer quotes than the format
        ~pl.col(f"field_{nq}").str.contains('"', literal=True),  # nor more
        ~pl.col("_escaped"),
    ]
    for k, seg in enumerate(segments):
        part = pl.col(f"field_{k}")
        if not seg.fields:
            checks.append(part == seg.literal)
        elif seg.regex is None:
            cols.append(part.alias(seg.fields[0]))
        else:
            cols.append(part.str.extract_groups(seg.regex).struct.rename_fields(list(seg.fields)).alias(f"_g{k}"))
    out = parts.select("line_no", *cols, pl.all_horizontal(checks).fill_null(False).alias("ok"))
    out = out.unnest([c for c in out.columns if c.startswith("_g")])
    return out.select("line_no", *cf.field_names, "ok")


def _fast_fields(cf: CompiledFormat, batch: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(fields of the lines the vectorized pass split, the lines it did not)."""
    names = cf.field_names
    segments = _quote_segments(cf)
    if segments is not None:
        extracted = _split_by_quotes(cf, segments, batch)
        matched = extracted.select(pl.all_horizontal(pl.col(names).is_not_null()) & pl.col("ok")).to_series()
    else:
        text = pl.col("text")
        extracted = batch.select(
            "line_no",
            text.str.extract_groups(cf.fast_regex).struct.rename_fields(names).alias("f"),
            ok=text.str.contains('\\"', literal=True).not_(),  # escaped quotes: the careful path
        ).unnest("f")
        matched = extracted.select(pl.col(names[0]).is_not_null() & pl.col("ok")).to_series()
    if matched.all():  # the usual batch: skip copying every column through a filter
        return extracted.drop("ok"), batch.clear()
    return extracted.filter(matched).drop("ok"), batch.filter(~matched)


def _slow_fields(cf: CompiledFormat, rest: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    names = cf.field_names
    rows: list[dict[str, Any]] = []
    bad_lines: list[int] = []
    reasons: list[str] = []
    for line_no, text in zip(rest["line_no"].to_list(), rest["text"].to_list(), strict=True):
        parsed = slow_parse(cf, text or "")
        if isinstance(parsed, str):
            bad_lines.append(line_no)
            reasons.append(parsed)
        else:
            rows.append({"line_no": line_no, **parsed})
    schema = {"line_no": pl.Int64, **{n: pl.String for n in names}}
    good = pl.DataFrame(rows, schema=schema)
    reason_frame = pl.DataFrame(
        {"line_no": bad_lines, "reason": reasons}, schema={"line_no": pl.Int64, "reason": pl.String}
    )
    bad = rest.join(reason_frame, on="line_no", how="inner", maintain_order="left")
    return good, quarantine_rows(bad, pl.col("reason"))


def _protocol_suffix(rest: pl.Expr) -> pl.Expr:
    """The " HTTP/x.y" (or " HTTP/x") at the end of a request line. Fixed-width slices, not an
    end-anchored regex: this runs on every line and slices of string views cost nothing."""
    long, short = rest.str.slice(-9), rest.str.slice(-7)
    return (
        pl.when(long.str.starts_with(" HTTP/"))
        .then(long.str.slice(1))
        .when(short.str.starts_with(" HTTP/"))
        .then(short.str.slice(1))
    )


def derive_request(fields: pl.DataFrame) -> pl.DataFrame:
    """Add request_method / request_uri / uri / args / server_protocol, split from "$request" as
    written, unless the format carries the field itself. A request line without a space ("-",
    "", garbage) yields nulls. Staged with_columns so each split runs once."""
    names = fields.columns
    if "request" not in names:
        return fields
    staged = (
        fields.with_columns(pl.col("request").str.splitn(" ", 2).struct.rename_fields(["_head", "_rest"]).alias("_r"))
        .unnest("_r")
        .with_columns(_protocol_suffix(pl.col("_rest")).alias("_proto"))
        .with_columns(
            pl.when(pl.col("_proto").is_null())
            .then(pl.col("_rest"))
            .otherwise(pl.col("_rest").str.head(-(pl.col("_proto").str.len_chars().cast(pl.Int64) + 1)))
            .alias("_target")
        )
        # absolute-form targets (proxies: "GET http://host/p HTTP/1.1") lose scheme and authority for `uri`
        .with_columns(
            pl.col("_target")
            .str.replace(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*", "")
            .str.splitn("?", 2)
            .struct.rename_fields(["_uri", "_args"])
            .alias("_q")
        )
        .unnest("_q")
    )
    derived = {
        "request_method": pl.when(pl.col("_rest").is_not_null()).then(pl.col("_head")),
        "request_uri": pl.col("_target"),
        "uri": pl.col("_uri"),
        "args": pl.col("_args"),
        "server_protocol": pl.col("_proto"),
    }
    return staged.select(*names, *[expr.alias(n) for n, expr in derived.items() if n not in names])


def _dash_null(expr: pl.Expr) -> pl.Expr:
    return pl.when(expr.is_in(["-", ""])).then(None).otherwise(expr)


def _first(names: Sequence[str], *candidates: str) -> str | None:
    return next((c for c in candidates if c in names), None)


def _ip_expr(names: Sequence[str]) -> pl.Expr:
    addr = _first(names, "remote_addr", "remote_ip", "peer_ip")
    fallback = pl.col(addr) if addr else pl.lit(None, dtype=pl.String)
    xff = _first(names, *_XFF_FIELDS)
    if xff is None:
        return _dash_null(fallback)
    first = pl.col(xff).str.splitn(",", 2).struct.field("field_0").str.strip_chars()
    return _dash_null(pl.when(pl.col(xff).is_in(["-", ""])).then(fallback).otherwise(first))


def _timestamps(cf: CompiledFormat, fields: pl.DataFrame, options: FormatOptions) -> pl.DataFrame:
    """ts / ts_raw / ts_offset / ts_error per row. Normalizes each distinct text once: log lines
    share their second with their neighbours, so this is ~100x fewer timestamps to parse."""
    tf = cf.time_field
    assert tf is not None and tf.time is not None
    uniq = fields.get_column(tf.name).unique()
    tz = None if tf.time.zoned else options.tz
    norm = normalize(uniq, formats=tf.time.formats or None, tz=tz, epoch_unit=tf.time.epoch_unit)
    error = norm.error
    if tf.time.zoned:
        missing = pl.lit("timestamp has no UTC offset '") + pl.col("t") + pl.lit("' although the log format writes one")
        error = (
            pl.DataFrame({"e": error, "t": uniq})
            .select(pl.when(pl.col("e") == NO_ZONE).then(missing).otherwise(pl.col("e")))
            .to_series()
        )
    table = pl.DataFrame({"ts_raw": uniq, "ts": norm.ts, "ts_offset": norm.ts_offset, "ts_error": error}).with_columns(
        **local_readings(norm)
    )
    raw = fields.select("line_no", pl.col(tf.name).alias("ts_raw"))
    return raw.join(table, on="ts_raw", how="left", maintain_order="left", nulls_equal=True)


def _canonical(cf: CompiledFormat, fields: pl.DataFrame, times: pl.DataFrame) -> pl.DataFrame:
    """Canonical columns + a `reason` column (null when the row is a good event).

    Two stages: the first computes each value once, the second the columns that depend on
    them (eager polars does not share common subexpressions)."""
    names = fields.columns
    user = _first(names, "remote_user")
    status_name = _first(names, "status")
    bytes_name = _first(names, "body_bytes_sent", "bytes_sent")
    method = _first(names, "request_method")
    sid = next((n for n in names if _SESSION_NAME.match(n)), None)

    def text(name: str | None) -> pl.Expr:
        return _dash_null(pl.col(name)) if name else pl.lit(None, dtype=pl.String)

    first = pl.concat([fields, times.drop("line_no")], how="horizontal").select(
        "line_no",
        "ts",
        "ts_raw",
        "ts_offset",
        "ts_error",
        *[c for c in (ALT_COLUMN, KIND_COLUMN) if c in times.columns],
        text(user).alias("actor_id"),
        pl.lit("http.request").alias("action"),
        text(method).alias("action_raw"),
        _ip_expr(names).alias("ip"),
        text(_first(names, "http_user_agent")).alias("user_agent"),
        text(sid).alias("session_id"),
        text(_first(names, "request_id", "http_x_request_id")).alias("request_id"),
        text(method).alias("http_method"),
        text(_first(names, "uri")).alias("url_path"),
        text(status_name).alias("_status_text"),
        text(bytes_name).alias("_bytes_text"),
        pl.struct([c for c in names if c != "line_no"]).struct.json_encode().alias("attrs"),
    )
    second = first.with_columns(
        pl.col("_status_text").cast(pl.Int32, strict=False).alias("status"),
        pl.col("_bytes_text").cast(pl.Int64, strict=False).alias("bytes"),
        _actor_type(pl.col("actor_id"), has_user=user is not None).alias("actor_type"),
    )
    time_name = cf.time_field.name if cf.time_field else ""
    reason = (
        pl.when(pl.col("ts_error").is_not_null())
        .then(pl.col("ts_error") + pl.lit(f" in field {time_name}"))
        .when(pl.col("status").is_null() & pl.col("_status_text").is_not_null())
        .then(pl.lit("status is not a number '") + pl.col("_status_text") + pl.lit("'"))
        .when(pl.col("bytes").is_null() & pl.col("_bytes_text").is_not_null())
        .then(pl.lit(f"{bytes_name} is not a number '") + pl.col("_bytes_text") + pl.lit("'"))
    )
    outcome = (
        pl.when(pl.col("status").is_null())
        .then(pl.lit("unknown"))
        .when(pl.col("status") < 400)
        .then(pl.lit("success"))
        .otherwise(pl.lit("failure"))
    )
    return second.with_columns(outcome.alias("outcome"), reason.alias("reason")).drop(
        "ts_error", "_status_text", "_bytes_text"
    )


def _actor_type(actor: pl.Expr, *, has_user: bool) -> pl.Expr:
    if not has_user:
        return pl.lit("unknown")
    # an authenticated HTTP user ($remote_user) is an account; "-" means nobody logged in
    return pl.when(actor.is_not_null()).then(pl.lit("account")).otherwise(pl.lit("anonymous"))


def _apply_mapping(
    mapping: Mapping, fields: pl.DataFrame, events: pl.DataFrame, path: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Mapping columns override ours; rows the mapping fails on leave the events (line_no, reason)."""
    try:
        from forensics.mapping import evaluate_columns
    except ImportError as exc:  # mapping.py is written in parallel; say so instead of crashing
        raise ForensicsError(f"{path}: a mapping was given but forensics.mapping is not available ({exc})") from exc
    mapped, failures = evaluate_columns(mapping, fields.join(events.select("line_no"), on="line_no", how="semi"))
    override = [c for c in mapped.columns if c != "line_no"]
    events = events.drop([c for c in override if c in events.columns]).join(
        mapped, on="line_no", how="left", maintain_order="left"
    )
    return events, failures.select(pl.col("line_no").cast(pl.Int64), pl.col("reason").cast(pl.String))


@dataclass
class AccessLogParser:
    compiled: CompiledFormat
    options: FormatOptions

    def parse_lines(self, batch: pl.DataFrame) -> ParseResult:
        if batch.height >= _PARALLEL_MIN_ROWS:
            half = batch.height // 2
            with ThreadPoolExecutor(_WORKERS) as pool:  # polars releases the GIL: two cores, two halves
                parts = list(pool.map(self._parse_chunk, [batch.slice(0, half), batch.slice(half)]))
            return ParseResult(
                events=pl.concat([p.events for p in parts]), quarantine=pl.concat([p.quarantine for p in parts])
            )
        return self._parse_chunk(batch)

    def parse_document(self, text: str) -> ParseResult:
        raise ParseError(
            f"{self.options.path}: {self.compiled.flavor} access logs are read line by line, not as a document"
        )

    def _parse_chunk(self, batch: pl.DataFrame) -> ParseResult:
        cf = self.compiled
        fields, rest = _fast_fields(cf, batch)
        quarantine = [ParseResult.empty_quarantine()]
        if rest.height:
            slow_good, slow_bad = _slow_fields(cf, rest)
            fields = pl.concat([fields, slow_good]).sort("line_no")
            quarantine.append(slow_bad)
        fields = derive_request(fields)
        times = _timestamps(cf, fields, self.options)
        refuse_zoneless(times["ts_error"], times["line_no"], self.options.path)
        events = _canonical(cf, fields, times)
        events = events.join(batch.select("line_no", "byte_offset"), on="line_no", how="left", maintain_order="left")
        bad = events.filter(pl.col("reason").is_not_null()).select("line_no", "reason")
        events = events.filter(pl.col("reason").is_null()).drop("reason")
        if self.options.mapping is not None:
            events, failures = _apply_mapping(self.options.mapping, fields, events, self.options.path)
            events = events.join(failures.select("line_no"), on="line_no", how="anti", maintain_order="left")
            no_time = events.filter(pl.col("ts").is_null()).select(
                "line_no", pl.lit("mapping gave no timestamp").alias("reason")
            )
            events = events.filter(pl.col("ts").is_not_null())
            bad = pl.concat([bad, failures, no_time])
        if bad.height:
            rows = batch.join(bad, on="line_no", how="inner", maintain_order="left")
            quarantine.append(quarantine_rows(rows, pl.col("reason")))
        return ParseResult(events=events, quarantine=pl.concat(quarantine).sort("line_no"))


# --------------------------------------------------------------------------------------------
# Format objects
# --------------------------------------------------------------------------------------------


class AccessLogFormat:
    """The nginx or Apache access-log format (kind "lines"), driven by --log-format."""

    kind: Literal["lines", "document"] = "lines"

    def __init__(self, name: str, flavor: Flavor, description: str) -> None:
        self.name = name
        self.flavor: Flavor = flavor
        self.description = description

    def parser(self, options: FormatOptions) -> AccessLogParser:
        return AccessLogParser(compile_log_format(options.log_format or DEFAULT_PRESET, self.flavor), options)

    def sniff(self, sample: list[str]) -> float:
        """Share of non-blank sample lines that match one of the presets exactly.

        nginx and Apache write combined/common identically; the escape style breaks the tie:
        Apache writes a quote inside a field as \\", nginx as \\x22.
        """
        lines = [s for s in sample if s.strip()]
        if not lines:
            return 0.0
        patterns = [compile_log_format(p, self.flavor) for p in ("combined", "common", "main", "vhost_combined")]
        hits = sum(1 for s in lines if any(isinstance(slow_parse(p, s), dict) for p in patterns))
        score = hits / len(lines)
        apache_style = any('\\"' in s for s in lines)
        own_style = apache_style if self.flavor == "apache" else not apache_style
        return score if own_style else score * 0.98


NGINX = AccessLogFormat("nginx", "nginx", "nginx access log, parsed from its log_format string (default: combined)")
APACHE = AccessLogFormat("apache", "apache", "Apache access log, parsed from its LogFormat string (default: combined)")
