"""nginx log_format / Apache LogFormat strings: presets, compilation, and the per-line slow path.

A format string is compiled once into a list of elements (literal text and fields) and from them
into the regexes the vectorized pipeline (forensics.formats.accesslog) and the careful per-line
reader below use. See forensics.formats.accesslog for the whole picture; this module was split
from it to keep each under ~800 lines. Raw field names are a contract (mapping files reference
them): nginx variable names without ``$``; Apache directives use the nginx-like name where one
exists (``%h`` -> remote_addr).
"""

from __future__ import annotations

import difflib
import re
import shlex
from collections.abc import Mapping as MappingABC
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from forensics.errors import UsageError

if TYPE_CHECKING:
    pass

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
