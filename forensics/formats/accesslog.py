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

import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from forensics.errors import ForensicsError
from forensics.formats.base import FormatOptions, ParseError, ParseResult, quarantine_rows
from forensics.timeparse import ALT_COLUMN, KIND_COLUMN, NO_ZONE, local_readings, normalize, refuse_zoneless

if TYPE_CHECKING:
    from forensics.mapping import Mapping

# The format-string half of this module lives in logformat.py; its public names are re-exported here.
from forensics.formats.logformat import DEFAULT_PRESET as DEFAULT_PRESET
from forensics.formats.logformat import PRESETS as PRESETS
from forensics.formats.logformat import CompiledFormat as CompiledFormat
from forensics.formats.logformat import Field as Field
from forensics.formats.logformat import Flavor as Flavor
from forensics.formats.logformat import Lit as Lit
from forensics.formats.logformat import _field_pattern as _field_pattern
from forensics.formats.logformat import compile_log_format as compile_log_format
from forensics.formats.logformat import slow_parse as slow_parse

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
        # a request line of placeholders ("- - - " from an ELB TCP listener, "-") is no request at all
        .with_columns(pl.when(pl.col("_head") == "-").then(None).otherwise(pl.col("_rest")).alias("_rest"))
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
    """The connecting peer, always: a forwarded-for header is the client's to write (see forwarded_for).
    $proxy_add_x_forwarded_for ends with the peer ($remote_addr appended by nginx): its last hop."""
    addr = _first(names, "remote_addr", "remote_ip", "peer_ip")
    if addr:
        return _dash_null(pl.col(addr))
    if "proxy_add_x_forwarded_for" in names:
        return forwarded_for_expr(pl.col("proxy_add_x_forwarded_for")).list.last()
    return pl.lit(None, dtype=pl.String)


def forwarded_for_expr(value: pl.Expr) -> pl.Expr:
    """An X-Forwarded-For text as its list of hops (blanks around commas dropped); '-' or empty: null."""
    hops = (
        value.str.split(",")
        .list.eval(pl.element().str.strip_chars())
        .list.eval(pl.element().filter(pl.element() != ""))
    )
    return pl.when(value.is_in(["-", ""]) | value.is_null()).then(None).otherwise(hops)


def _forwarded_expr(names: Sequence[str]) -> pl.Expr:
    if "http_x_forwarded_for" in names:
        return forwarded_for_expr(pl.col("http_x_forwarded_for"))
    if "proxy_add_x_forwarded_for" in names:  # the header as received: every hop but the peer nginx appended
        hops = forwarded_for_expr(pl.col("proxy_add_x_forwarded_for"))
        return pl.when(hops.list.len() > 1).then(hops.list.head(hops.list.len() - 1))
    return pl.lit(None, dtype=pl.List(pl.String))


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
        _forwarded_expr(names).alias("forwarded_for"),
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
