"""Apache and nginx error logs, per line.

Apache httpd (2.2 and 2.4 ErrorLogFormat default)::

    [Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok /etc/httpd/conf/workers2.properties
    [Sun Dec 04 04:47:44 2005] [error] [client 10.0.0.1] File does not exist: /var/www/html/robots.txt
    [Wed Oct 11 14:32:52.123456 2000] [core:error] [pid 35708:tid 4328636416] [client 72.15.99.187:57218] \
AH00128: File does not exist: /usr/local/apache2/htdocs/favicon.ico, referer: http://example.com/

nginx::

    2019/01/22 03:58:26 [error] 1234#0: *5 open() "/srv/x" failed (2: No such file or directory), \
client: 1.2.3.4, server: shop, request: "GET /x?a=1 HTTP/1.1", host: "shop.example"

Both write local wall-clock time without a zone: without --tz the file is refused (timeparse), and
times in a repeated or skipped DST hour are placed by file order like every other local time.

Canonical columns: ts, ts_raw, ts_offset (the --tz zone), action ``other``, action_raw (Apache
``module:level`` or ``level``; nginx ``level``), outcome ``unknown``, ip (the client the server
names: ``[client a:port]`` / ``client: a``; the connecting peer of that request), http_method and
url_path (nginx ``request:``), node (nginx ``server:``), attrs (JSON: level, module, pid, tid,
connection, client, client_port, code (Apache AHnnnnn), msg, referer, server, request, upstream,
host; absent values are left out). A line that is not a record (a stack trace continuing the
record above, a truncated header) is quarantined with the reason, verbatim.

Raw field names for a mapping: the attrs keys above (all String) plus ``timestamp``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Literal

import polars as pl

from forensics.formats.base import FormatOptions, ParseError, ParseResult, quarantine_rows
from forensics.timeparse import ALT_COLUMN, KIND_COLUMN, local_readings, normalize, refuse_zoneless

if TYPE_CHECKING:
    from hypothesis import strategies as st

    from forensics.mapping import Mapping
    from forensics.testing.common import GeneratedLine

# ---------------------------------------------------------------- Apache

_APACHE_TS: Final[str] = r"[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})? [0-9]{4}"
_APACHE_RE: Final[str] = (
    r"^\[(?P<timestamp>" + _APACHE_TS + r")\] \[(?:(?P<module>[A-Za-z0-9_.-]+):)?(?P<level>[a-z]+[0-9]?)\]"
    r"(?: \[pid (?P<pid>[0-9]+)(?::tid (?P<tid>[0-9]+))?\])?"
    r"(?: \[client (?P<client_text>\[[^\]\s]*\](?::[0-9]+)?|[^\]\s]+)\])?"
    r"(?: \[remote [^\]]*\])?"
    r"(?: (?P<msg>.*))?$"
)
_APACHE_START: Final[str] = r"^\[[A-Z][a-z]{2} [A-Z][a-z]{2} "
_APACHE_TIME_FORMATS: Final[tuple[str, ...]] = ("%a %b %d %H:%M:%S %Y", "%a %b %d %H:%M:%S%.f %Y")
_AH_CODE: Final[str] = r"^(AH[0-9]{5}): "
_REFERER: Final[str] = r", referer: (\S*)$"

# ---------------------------------------------------------------- nginx

_NGINX_RE: Final[str] = (
    r"^(?P<timestamp>[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}) \[(?P<level>[a-z]+)\] "
    r"(?P<pid>[0-9]+)#(?P<tid>[0-9]+): (?:\*(?P<connection>[0-9]+) )?(?P<msg>.*)$"
)
_NGINX_START: Final[str] = r"^[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} "
_NGINX_TIME_FORMATS: Final[tuple[str, ...]] = ("%Y/%m/%d %H:%M:%S",)
# The context nginx appends to a message: ", client: a, server: b, request: "...", upstream: "...", host: "..."".
_QUOTED: Final[str] = r'"((?:[^"\\]|\\.)*)"'
_NGINX_CONTEXT: Final[dict[str, str]] = {
    "client": r", client: ([^,\s]+)",
    "server": r", server: ([^,]*?)(?:, [a-z]+: |$)",
    "request": r", request: " + _QUOTED,
    "upstream": r", upstream: " + _QUOTED,
    "host": r", host: " + _QUOTED,
    "referrer": r", referrer: " + _QUOTED,
}

ATTR_KEYS: Final[tuple[str, ...]] = (
    "level", "module", "pid", "tid", "connection", "client", "client_port", "code", "msg", "referer",
    "server", "request", "upstream", "host",
)  # fmt: skip
_NULL_ATTR_RE: Final[str] = r',"(?:' + "|".join(ATTR_KEYS[1:]) + r')":null'  # level (first) is never null

Flavor = Literal["apache", "nginx"]


class ErrorLogFormat:
    kind: Literal["lines", "document"] = "lines"

    def __init__(self, name: str, flavor: Flavor, description: str) -> None:
        self.name = name
        self.flavor: Flavor = flavor
        self.description = description
        self.zone_for_generated = "UTC"  # forensics fuzz: generated lines are written in this zone

    def parser(self, options: FormatOptions) -> ErrorLogParser:
        if options.log_format is not None:
            raise ParseError(f"{options.path}: --log-format does not apply to {self.name} logs (drop it)")
        return ErrorLogParser(self.flavor, options)

    def sniff(self, sample: list[str]) -> float:
        """Share of the sample's lines that are whole records of this error log."""
        lines = [s for s in sample if s.strip()]
        if not lines:
            return 0.0
        pattern = _APACHE_RE if self.flavor == "apache" else _NGINX_RE
        frame = pl.DataFrame({"text": lines}, schema={"text": pl.String})
        return float(frame.select(pl.col("text").str.contains(pattern).mean()).item() or 0.0)

    def generated_lines(self) -> st.SearchStrategy[GeneratedLine]:
        """Well-formed lines with their expected values (forensics fuzz, tests)."""
        from forensics.testing.errorlog import apache_error_lines, nginx_error_lines

        return apache_error_lines() if self.flavor == "apache" else nginx_error_lines()


APACHE_ERROR: Final[ErrorLogFormat] = ErrorLogFormat(
    "apache_error", "apache", "Apache httpd error log (2.2 and 2.4 layouts), local time: needs --tz"
)
NGINX_ERROR: Final[ErrorLogFormat] = ErrorLogFormat(
    "nginx_error", "nginx", "nginx error log (client, server and request context read), local time: needs --tz"
)


class ErrorLogParser:
    def __init__(self, flavor: Flavor, options: FormatOptions) -> None:
        self.flavor = flavor
        self.options = options

    def parse_document(self, text: str) -> ParseResult:
        raise ParseError(f"{self.options.path}: error logs are read line by line, not as one document")

    def parse_lines(self, batch: pl.DataFrame) -> ParseResult:
        fields = _apache_fields(batch) if self.flavor == "apache" else _nginx_fields(batch)
        matched = fields.filter(pl.col("timestamp").is_not_null())
        formats = _APACHE_TIME_FORMATS if self.flavor == "apache" else _NGINX_TIME_FORMATS
        stamps = matched.get_column("timestamp").str.replace_all("  ", " ")  # Apache pads the day: "Dec  4"
        norm = normalize(stamps, formats=formats, tz=self.options.tz)
        refuse_zoneless(norm.error, matched.get_column("line_no"), self.options.path)
        timed = matched.with_columns(ts=norm.ts, ts_offset=norm.ts_offset, ts_error=norm.error, **local_readings(norm))
        bad_time = timed.filter(pl.col("ts_error").is_not_null()).select("line_no", reason=pl.col("ts_error"))
        good = timed.filter(pl.col("ts_error").is_null())
        events = _events(good, self.flavor)
        failures = pl.DataFrame(schema={"line_no": pl.Int64, "reason": pl.String})
        if self.options.mapping is not None:
            events, failures = _apply_mapping(self.options.mapping, good, events)
        unmatched = _unmatched_reasons(batch, fields, self.flavor)
        reasons = pl.concat([unmatched, bad_time, failures])
        quarantine = quarantine_rows(batch.join(reasons, on="line_no", how="inner"), pl.col("reason"))
        events = events.join(batch.select("line_no", "byte_offset"), on="line_no", how="left")
        return ParseResult(events=events.sort("line_no"), quarantine=quarantine.sort("line_no"))


def _unmatched_reasons(batch: pl.DataFrame, fields: pl.DataFrame, flavor: Flavor) -> pl.DataFrame:
    """line_no + reason for lines the record pattern did not read."""
    start = _APACHE_START if flavor == "apache" else _NGINX_START
    name = "Apache" if flavor == "apache" else "nginx"
    lines = batch.join(fields.filter(pl.col("timestamp").is_null()).select("line_no"), on="line_no", how="semi")
    return lines.select(
        "line_no",
        reason=pl.when(pl.col("text").str.contains(start))
        .then(pl.lit(f"malformed {name} error log header (time, [level], then the message)"))
        .otherwise(pl.lit(f"not an {name} error log record (a continuation of the record above, or another format)")),
    )


def _apache_fields(batch: pl.DataFrame) -> pl.DataFrame:
    parts = batch.select("line_no", pl.col("text").str.extract_groups(_APACHE_RE).alias("g")).unnest("g")
    msg = pl.col("msg").fill_null("")
    client = _client_and_port(pl.col("client_text"))
    return parts.with_columns(
        client.struct.field("c").alias("client"),
        client.struct.field("p").alias("client_port"),
        msg.str.extract(_AH_CODE, 1).alias("code"),
        msg.str.extract(_REFERER, 1).alias("referer"),
        pl.lit(None, dtype=pl.String).alias("connection"),
        pl.lit(None, dtype=pl.String).alias("server"),
        pl.lit(None, dtype=pl.String).alias("request"),
        pl.lit(None, dtype=pl.String).alias("upstream"),
        pl.lit(None, dtype=pl.String).alias("host"),
    ).with_columns(msg.str.replace(_AH_CODE, "").str.replace(_REFERER, "").alias("msg"))


def _client_and_port(text: pl.Expr) -> pl.Expr:
    """Apache's client: 'a.b.c.d[:port]', '[v6][:port]', or a bare IPv6 address, whose last group is
    taken for the port only when it has five digits (2.4 writes '::1:58619'; no IPv6 group has five
    digits, and ephemeral ports do). Struct c (address), p (port)."""
    v4 = text.str.extract_groups(r"^([0-9]{1,3}(?:\.[0-9]{1,3}){3})(?::([0-9]+))?$")
    v6 = text.str.extract_groups(r"^\[([^\]]*)\](?::([0-9]+))?$")
    bare = text.str.extract_groups(r"^(.*:.*):([0-9]{5})$")
    address = pl.coalesce(v4.struct.field("1"), v6.struct.field("1"), bare.struct.field("1"), text)
    port = pl.coalesce(v4.struct.field("2"), v6.struct.field("2"), bare.struct.field("2"))
    return pl.struct(address.alias("c"), port.alias("p"))


def _nginx_fields(batch: pl.DataFrame) -> pl.DataFrame:
    parts = batch.select("line_no", pl.col("text").str.extract_groups(_NGINX_RE).alias("g")).unnest("g")
    msg = pl.col("msg").fill_null("")
    context = {name: msg.str.extract(pattern, 1).alias(name) for name, pattern in _NGINX_CONTEXT.items()}
    return (
        parts.with_columns(
            *context.values(),
            pl.lit(None, dtype=pl.String).alias("module"),
            pl.lit(None, dtype=pl.String).alias("client_port"),
            pl.lit(None, dtype=pl.String).alias("code"),
        )
        .with_columns(pl.col("referrer").alias("referer"))
        .drop("referrer")
        # the message proper ends where nginx's context begins
        .with_columns(pl.coalesce(msg.str.extract(r"^(.*?), client: ", 1), msg).alias("msg"))
    )


def _request_parts(request: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(method, path) of a request line "GET /p?q HTTP/1.1"; nulls when it is not one."""
    m = request.str.extract_groups(r"^([A-Z]+) (\S+)(?: HTTP/[0-9.]+)?$")
    target = m.struct.field("2").str.replace(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*", "")
    return m.struct.field("1"), target.str.splitn("?", 2).struct.field("field_0")


def _events(good: pl.DataFrame, flavor: Flavor) -> pl.DataFrame:
    method, path = _request_parts(pl.col("request"))
    action_raw = (
        pl.when(pl.col("module").is_not_null()).then(pl.col("module") + ":" + pl.col("level")).otherwise("level")
    )
    attrs = pl.struct([pl.col(k) for k in ATTR_KEYS]).struct.json_encode().str.replace_all(_NULL_ATTR_RE, "")
    return good.select(
        "line_no",
        pl.col("ts").cast(pl.Datetime("us", "UTC")),
        pl.col("timestamp").alias("ts_raw"),
        "ts_offset",
        pl.lit("other").alias("action"),
        action_raw.alias("action_raw"),
        pl.lit("unknown").alias("outcome"),
        pl.col("client").alias("ip"),
        method.alias("http_method"),
        path.alias("url_path"),
        pl.col("server").alias("node"),
        attrs.alias("attrs"),
        *[c for c in (ALT_COLUMN, KIND_COLUMN) if c in good.columns],
    )


def _apply_mapping(mapping: Mapping, good: pl.DataFrame, events: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    from forensics.mapping import evaluate_columns

    raw = good.select("line_no", *[pl.col(k).cast(pl.String) for k in ATTR_KEYS], pl.col("timestamp"))
    values, failures = evaluate_columns(mapping, raw)
    override = [c for c in values.columns if c not in ("line_no", "ts", "ts_raw", "ts_offset")]
    kept = events.join(failures.select("line_no"), on="line_no", how="anti")
    kept = kept.drop([c for c in override if c in kept.columns]).join(
        values.select("line_no", *override), on="line_no", how="left"
    )
    return kept, failures.select(pl.col("line_no").cast(pl.Int64), pl.col("reason").cast(pl.String))
