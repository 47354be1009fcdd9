"""W3C extended log format (IIS 6/7/8.5/10 and other W3C writers), per line.

A W3C log is a sequence of directives and records::

    #Software: Microsoft Internet Information Services 10.0
    #Version: 1.0
    #Date: 2021-04-01 00:00:21
    #Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) sc-status
    2021-04-01 00:00:21 10.0.0.1 GET /a.asp - 80 - 10.0.0.2 Mozilla/5.0+(Windows+NT+5.1) 200

* Directives (``#Name: value``) are structural lines, not events. ``#Fields`` names the columns of
  the records that follow it; it may be written again mid-file (IIS does so when the server
  restarts or the logged fields change), and every record is read with the ``#Fields`` in force at
  its line. ``#Date`` / ``#Start-Date`` give the date of records whose ``#Fields`` has ``time`` but
  no ``date`` (W3C allows it; plaso's iis_without_date.log is such a file).
* Records are fields separated by runs of blanks (IIS writes two spaces around an empty
  cs-username on some builds, and plaso counts such lines as ordinary records). ``-`` means "no
  value". A field that starts with ``"`` is a W3C quoted string (``""`` inside stands for one
  quote) and may hold blanks; IIS itself never quotes and writes ``+`` for a blank instead.
* Times are UTC by definition of the format (IIS writes UTC whatever the server's zone; only the
  file *name* may use local time). ``--tz`` is honoured for the few non-IIS writers that log local
  wall-clock time, and the zone is then recorded in ``ts_offset``; without it ``ts_offset`` is ``UTC``.

Irregular lines are quarantined verbatim with a specific reason, never skipped or guessed at:
a record before any ``#Fields`` (or after a refused one), a record whose field count differs from
its ``#Fields``, an unterminated quoted string, a bad date/time, a status or byte count that is
not a number, a client/server address that is not an IP address, and directives that are
malformed, unknown (``#Foo: Bar``), a ``#Version`` other than 1.0, a ``#Date`` that is not a date,
or a ``#Fields`` that is empty or names a field twice (which field would be the client?).

Raw field names (the mapping contract) are the W3C identifiers as written in ``#Fields``
(``date``, ``time``, ``c-ip``, ``cs-uri-stem``, ``cs(User-Agent)``, ...; quote them in SQL:
``"cs-uri-stem"``). Every raw field goes into ``attrs`` as written (``-`` stays ``-``, ``+`` stays
``+``). Canonical columns: ts, ts_raw (``date time`` as written), ts_offset, ip (c-ip), actor_id
(cs-username), actor_type (account / anonymous), action ``http.request``, action_raw and
http_method (cs-method), url_path (cs-uri-stem), status (sc-status), bytes (sc-bytes), user_agent
(cs(User-Agent) with ``+`` read as a blank), node (s-computername, else s-sitename, else s-ip),
outcome from the status. With a mapping, the mapped columns replace these (not ts).

Records are split vectorized per ``#Fields`` section; only lines holding a quoted string take a
per-line Python path. Directives are read in Python (a file has a handful).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping as AbcMapping
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Final, Literal

import polars as pl

from forensics.errors import UsageError
from forensics.formats.base import FormatOptions, ParseError, ParseResult, quarantine_rows
from forensics.timeparse import ALT_COLUMN, KIND_COLUMN, Normalized, local_readings, normalize, refuse_zoneless

if TYPE_CHECKING:
    from forensics.mapping import Mapping

KNOWN_DIRECTIVES: Final[tuple[str, ...]] = (
    "Version", "Fields", "Software", "Start-Date", "End-Date", "Date", "Remark", "GMT-Offset",
)  # fmt: skip
_GMT_OFFSET_RE: Final[re.Pattern[str]] = re.compile(r"^[+-](?:0\d|1[0-4]):?[0-5]\d$")
SUPPORTED_VERSION: Final[str] = "1.0"
_DIRECTIVE_RE: Final[re.Pattern[str]] = re.compile(r"^#([A-Za-z][A-Za-z0-9-]*):[ \t]*(.*?)[ \t]*$")
_DATE_RE: Final[re.Pattern[str]] = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")
_FIELD_NAME_RE: Final[re.Pattern[str]] = re.compile(r"^[A-Za-z0-9()_.,:/-]+$")
_TIME_FORMATS: Final[tuple[str, ...]] = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M")
# A token that starts with a quote (at the line start or after a blank): the slow path reads it.
_QUOTED_TOKEN: Final[str] = r'(?:^|[ \t])"'
_BLANKS: Final[str] = r"[ \t]+"
_IP_FIELDS: Final[tuple[str, ...]] = ("c-ip", "s-ip")
_OCTET: Final[str] = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4_RE: Final[str] = rf"^{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}$"
# Canonical column <- the W3C fields that carry it, first present wins. W3C defines prefix-less `bytes`;
# writers differ on the rest (Incapsula, ISA, Advanced Logging). Every field stays in attrs as written.
FIELD_VARIANTS: Final[dict[str, tuple[str, ...]]] = {
    "status": ("sc-status", "s-status", "c-status", "status"),
    "bytes": ("sc-bytes", "bytes", "s-bytes"),
    "url_path": ("cs-uri-stem", "cs-uri", "c-uri", "uri-stem", "uri"),
    "ip": ("c-ip", "cs-ip", "c-addr"),
    "http_method": ("cs-method", "c-method", "method"),
    "actor_id": ("cs-username", "c-username", "username"),
    "user_agent": ("cs(User-Agent)", "c-useragent", "useragent"),
    "forwarded_for": ("cs(X-Forwarded-For)", "x-forwarded-for", "c-forwarded-for"),
}
_INT_COLUMNS: Final[tuple[str, ...]] = ("status", "bytes")
# (date, time) field pairs, in order of preference; the last holds the server's local time (IIS
# Advanced Logging), which needs --tz or a #GMT-Offset.
_TIME_PAIRS: Final[tuple[tuple[str, str, bool], ...]] = (
    ("date", "time", False), ("date-utc", "time-utc", False), ("date-local", "time-local", True),
)  # fmt: skip
_EMPTY: Final[str] = "-"


# ---------------------------------------------------------------- directive state


@dataclass(frozen=True)
class _Section:
    """What a record needs from the directives before it."""

    fields: tuple[str, ...] | None
    fields_line: int | None  # line of the #Fields in force (for messages)
    no_fields_reason: str  # why there is no usable #Fields, when fields is None
    date: str | None  # from #Date / #Start-Date, for records without a date field
    offset: str | None = None  # from #GMT-Offset: the records' times are local at this UTC offset


@dataclass
class _DirectiveOutcome:
    structural: list[int] = field(default_factory=list)
    bad_lines: list[int] = field(default_factory=list)
    bad_reasons: list[str] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)  # line where a section begins
    section_ids: list[int] = field(default_factory=list)


def _fields_problem(names: list[str]) -> str | None:
    if not names:
        return "#Fields directive names no fields"
    bad = [n for n in names if not _FIELD_NAME_RE.match(n)]
    if bad:
        return f"#Fields directive has an invalid field name {bad[0]!r}"
    seen: set[str] = set()
    for n in names:
        if n.lower() in seen:
            return f"#Fields directive names field {n!r} twice (which one is meant is ambiguous)"
        seen.add(n.lower())
    return None


# ---------------------------------------------------------------- the format


class W3CFormat:
    name = "w3c"
    kind: Literal["lines", "document"] = "lines"
    description = "W3C extended log format (IIS 6/7/10): #Fields directives, space-separated fields, UTC times"

    def parser(self, options: FormatOptions) -> W3CParser:
        if options.log_format is not None:
            raise ParseError(
                f"{options.path}: --log-format does not apply to W3C logs; the #Fields directive in the file names "
                "the fields (drop --log-format)"
            )
        return W3CParser(options)

    def sniff(self, sample: list[str]) -> float:
        """1.0 when the sample has a #Fields directive and another W3C directive, else 0."""
        names = {m.group(1) for s in sample if (m := _DIRECTIVE_RE.match(s))}
        if "Fields" in names and names & {"Version", "Software", "Date", "Start-Date"}:
            return 1.0
        return 0.0


W3C: Final[W3CFormat] = W3CFormat()


class W3CParser:
    """One file's parser; batches must arrive in file order (the directives in force carry over)."""

    def __init__(self, options: FormatOptions) -> None:
        self.options = options
        self._sections: list[_Section] = [
            _Section(None, None, "record before any #Fields directive (the fields cannot be named)", None)
        ]

    def parse_document(self, text: str) -> ParseResult:
        raise ParseError(f"{self.options.path}: W3C logs are read line by line, not as one document")

    def parse_lines(self, batch: pl.DataFrame) -> ParseResult:
        is_directive = pl.col("text").str.starts_with("#")
        directives = batch.filter(is_directive)
        data = batch.filter(~is_directive)
        first_section = len(self._sections) - 1
        outcome = self._read_directives(directives)
        structural = quarantine_rows(
            directives.filter(pl.col("line_no").is_in(outcome.structural)), pl.lit("W3C directive")
        )
        reasons = pl.DataFrame(
            {"line_no": outcome.bad_lines, "reason": outcome.bad_reasons},
            schema={"line_no": pl.Int64, "reason": pl.String},
        )
        quarantine = [quarantine_rows(directives.join(reasons, on="line_no", how="inner"), pl.col("reason"))]
        events: list[pl.DataFrame] = []
        for section_id, group in _by_section(data, outcome, first_section):
            good, bad = self._parse_section(self._sections[section_id], group)
            events.append(good)
            quarantine.append(bad)
        event_frame = pl.concat(events, how="diagonal_relaxed") if events else pl.DataFrame()
        if event_frame.height and self.options.mapping is not None:
            event_frame, failed = _apply_mapping(self.options.mapping, event_frame)
            quarantine.append(quarantine_rows(data.join(failed, on="line_no", how="inner"), pl.col("reason")))
        event_frame = _drop_raw(event_frame)
        return ParseResult(
            events=event_frame.sort("line_no") if event_frame.height else _empty_events(),
            quarantine=pl.concat(quarantine).sort("line_no"),
            structural=structural,
        )

    # -- directives (few per file: plain Python)

    def _read_directives(self, directives: pl.DataFrame) -> _DirectiveOutcome:
        out = _DirectiveOutcome()
        for line_no, text in zip(directives["line_no"].to_list(), directives["text"].to_list(), strict=True):
            problem = self._apply_directive(int(line_no), text)
            if problem is None:
                out.structural.append(line_no)
            else:
                out.bad_lines.append(line_no)
                out.bad_reasons.append(problem)
            out.starts.append(line_no)
            out.section_ids.append(len(self._sections) - 1)
        return out

    def _apply_directive(self, line_no: int, text: str) -> str | None:
        """Update the section state; return why the directive is refused, or None."""
        m = _DIRECTIVE_RE.match(text)
        if m is None:
            return "malformed W3C directive (expected '#Name: value')"
        name, value = m.group(1), m.group(2)
        canonical = next((k for k in KNOWN_DIRECTIVES if k.lower() == name.lower()), None)
        current = self._sections[-1]
        if canonical is None:
            return f"unknown W3C directive #{name} (known: {', '.join('#' + k for k in KNOWN_DIRECTIVES)})"
        if canonical == "Version" and value != SUPPORTED_VERSION:
            return f"unsupported W3C log version {value!r} (only {SUPPORTED_VERSION} is defined)"
        if canonical in ("Date", "Start-Date", "End-Date"):
            dm = _DATE_RE.match(value)
            if dm is None:
                return f"#{canonical} directive is not a date and time {value!r}"
            if canonical != "End-Date":
                self._sections.append(replace(current, date=dm[1]))
            return None
        if canonical == "GMT-Offset":
            if not _GMT_OFFSET_RE.match(value):
                return f"#GMT-Offset directive is not a UTC offset {value!r} (expected e.g. -0800 or +05:30)"
            self._sections.append(replace(current, offset=value))
            return None
        if canonical == "Fields":
            names = value.split()
            problem = _fields_problem(names)
            if problem is not None:
                # records after a refused #Fields cannot be read with the previous one: that would be a guess
                reason = f"no usable #Fields directive (the one at line {line_no} was refused: {problem})"
                self._sections.append(_Section(None, None, reason, current.date, current.offset))
                return problem
            self._sections.append(_Section(tuple(names), line_no, "", current.date, current.offset))
        return None

    # -- records of one #Fields section

    def _parse_section(self, section: _Section, group: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        if section.fields is None:
            return _empty_events(), quarantine_rows(group, section.no_fields_reason)
        names = section.fields
        fields, bad = _split_records(group, names, section.fields_line)
        events, bad_values = _canonical(fields, names, section, self.options)
        rows = group.join(bad_values, on="line_no", how="inner")
        events = events.join(group.select("line_no", "byte_offset"), on="line_no", how="left")
        return events, pl.concat([bad, quarantine_rows(rows, pl.col("reason"))])


def _by_section(data: pl.DataFrame, outcome: _DirectiveOutcome, first: int) -> list[tuple[int, pl.DataFrame]]:
    """Data lines grouped by the #Fields section in force at their line (in file order)."""
    if data.height == 0:
        return []
    starts = pl.DataFrame(
        {"line_no": outcome.starts, "section": outcome.section_ids}, schema={"line_no": pl.Int64, "section": pl.Int64}
    )
    tagged = data.sort("line_no").join_asof(starts, on="line_no", strategy="backward")
    tagged = tagged.with_columns(pl.col("section").fill_null(first))
    return [
        (int(sid), tagged.filter(pl.col("section") == sid).drop("section"))
        for sid in tagged["section"].unique(maintain_order=True).to_list()
    ]


# ---------------------------------------------------------------- record splitting


def tokenize(text: str) -> list[str] | str:
    """Split one record, reading W3C quoted strings. Returns the tokens, or why the line is malformed."""
    out: list[str] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in " \t":
            i += 1
        if i >= n:
            return out
        if text[i] != '"':
            j = i
            while j < n and text[j] not in " \t":
                j += 1
            out.append(text[i:j])
            i = j
            continue
        start, parts, j = i, [], i + 1
        while True:
            k = text.find('"', j)
            if k < 0:
                return f"unterminated quoted string starting at column {start + 1}"
            if k + 1 < n and text[k + 1] == '"':
                parts.append(text[j : k + 1])
                j = k + 2
                continue
            parts.append(text[j:k])
            i = k + 1
            break
        if i < n and text[i] not in " \t":
            return f"text right after the closing quote at column {i + 1} (a quoted string ends at a blank)"
        out.append("".join(parts))


def _count_reason(count: pl.Expr, expected: int, fields_line: int | None) -> pl.Expr:
    return pl.format(f"record has {{}} fields but #Fields (line {fields_line}) declares {expected}", count)


def _split_records(
    group: pl.DataFrame, names: tuple[str, ...], fields_line: int | None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(line_no + one String column per field, quarantine rows for lines that do not split)."""
    quoted = group.get_column("text").str.contains(_QUOTED_TOKEN)
    plain, slow = group.filter(~quoted), group.filter(quoted)
    parts = plain.select(
        "line_no", pl.col("text").str.replace_all(_BLANKS, " ").str.strip_chars(" ").str.split(" ").alias("p")
    )
    fits = pl.col("p").list.len() == len(names)
    good = parts.filter(fits).select("line_no", *[pl.col("p").list.get(i).alias(n) for i, n in enumerate(names)])
    miscount = parts.filter(~fits).select("line_no", _count_reason(pl.col("p").list.len(), len(names), fields_line))
    rows: list[dict[str, str | int]] = []
    bad_lines: list[int] = []
    bad_reasons: list[str] = []
    for line_no, text in zip(slow["line_no"].to_list(), slow["text"].to_list(), strict=True):
        tokens = tokenize(text)
        if isinstance(tokens, str):
            bad_lines.append(line_no)
            bad_reasons.append(tokens)
        elif len(tokens) != len(names):
            bad_lines.append(line_no)
            bad_reasons.append(
                f"record has {len(tokens)} fields but #Fields (line {fields_line}) declares {len(names)}"
            )
        else:
            rows.append({"line_no": line_no, **dict(zip(names, tokens, strict=True))})
    schema = {"line_no": pl.Int64, **{n: pl.String for n in names}}
    good = pl.concat([good, pl.DataFrame(rows, schema=schema)]) if rows else good
    reasons = pl.concat(
        [
            miscount.rename({miscount.columns[1]: "reason"}),
            pl.DataFrame(
                {"line_no": bad_lines, "reason": bad_reasons}, schema={"line_no": pl.Int64, "reason": pl.String}
            ),
        ]
    )
    return good, quarantine_rows(group.join(reasons, on="line_no", how="inner"), pl.col("reason"))


# ---------------------------------------------------------------- canonical columns


def _value(names: Sequence[str], name: str) -> pl.Expr:
    """A field with '-' read as null; null when the section does not log the field."""
    actual = next((n for n in names if n.lower() == name.lower()), None)
    if actual is None:
        return pl.lit(None, dtype=pl.String)
    # only '-' means "no value": an empty quoted string ("") is a value the writer chose to log
    return pl.when(pl.col(actual) == _EMPTY).then(None).otherwise(pl.col(actual))


def _time_text(names: Sequence[str], section: _Section) -> tuple[pl.Expr, bool] | str:
    """The 'date time' text of each record and whether it is local time, or why no record of this
    section can be placed in time."""
    lower = {n.lower(): n for n in names}
    pair = next((p for p in _TIME_PAIRS if p[1] in lower), None)
    if pair is None:
        known = ", ".join(t for _d, t, _l in _TIME_PAIRS)
        return f"#Fields (line {section.fields_line}) has no time field ({known}); records cannot be placed in time"
    date_name, time_name, local = pair
    time = pl.col(lower[time_name])
    if date_name in lower:
        return pl.col(lower[date_name]) + pl.lit(" ") + time, local
    if section.date is None:
        return f"#Fields (line {section.fields_line}) has no date field and no #Date directive gives the date"
    return pl.lit(section.date + " ") + time, local


def _variant(names: Sequence[str], column: str) -> str | None:
    """The W3C field this section carries for a canonical column (FIELD_VARIANTS), as written."""
    lower = {n.lower(): n for n in names}
    return next((lower[v.lower()] for v in FIELD_VARIANTS[column] if v.lower() in lower), None)


def _column(names: Sequence[str], column: str) -> pl.Expr:
    name = _variant(names, column)
    return _value(names, name) if name is not None else pl.lit(None, dtype=pl.String)


@lru_cache(maxsize=4096)
def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value.split("%", 1)[0] if ":" in value else value)  # fe80::1%eth0: zone id
    except ValueError:
        return False
    return True


def _bad_ips(fields: pl.DataFrame, names: Sequence[str]) -> pl.Expr:
    """Reason for the first IP field that is not an IP address (IIS never writes a host name there)."""
    checks: list[pl.Expr] = []
    for name in _IP_FIELDS:
        value = _value(names, name)
        if name not in {n.lower() for n in names}:
            continue
        uniq = fields.select(value.alias("v")).get_column("v").drop_nulls().unique()
        # dotted quads are settled by a regex; only the rest (IPv6, garbage) is asked of ipaddress
        bad = [v for v in uniq.filter(~uniq.str.contains(_IPV4_RE)).to_list() if not _is_ip(v)]
        if bad:
            checks.append(
                pl.when(value.is_in(bad)).then(pl.lit(f"{name} is not an IP address '") + value + pl.lit("'"))
            )
    return pl.coalesce(checks) if checks else pl.lit(None, dtype=pl.String)


def _number_reasons(names: Sequence[str]) -> list[pl.Expr]:
    out: list[pl.Expr] = []
    for column in _INT_COLUMNS:
        name = _variant(names, column)
        if name is None:
            continue
        value = _number_text(names, name)
        dtype = pl.Int32 if column == "status" else pl.Int64
        out.append(
            pl.when(value.is_not_null() & value.cast(dtype, strict=False).is_null()).then(
                pl.lit(f"{name} is not a number '") + value + pl.lit("'")
            )
        )
    return out


def _canonical(
    fields: pl.DataFrame, names: tuple[str, ...], section: _Section, options: FormatOptions
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(events, line_no + reason for records whose values are malformed)."""
    found = _time_text(names, section)
    if isinstance(found, str):
        return _empty_events(), fields.select("line_no", pl.lit(found).alias("reason"))
    time_text, local = found
    stamps = fields.select(time_text.alias("t")).get_column("t")
    norm = _normalize_times(stamps, fields.get_column("line_no"), local, section, options)
    status = _numbers(names, "status").cast(pl.Int32, strict=False)
    node = pl.coalesce(_value(names, "s-computername"), _value(names, "s-sitename"), _value(names, "s-ip"))
    actor = _column(names, "actor_id")
    framed = fields.with_columns(
        ts=norm.ts,
        ts_raw=stamps,
        ts_offset=norm.ts_offset,
        _ts_error=norm.error,
        **local_readings(norm),
    )
    time_reason = pl.when(pl.col("_ts_error").is_not_null()).then(pl.lit("bad date/time: ") + pl.col("_ts_error"))
    checked = framed.with_columns(
        pl.coalesce(time_reason, *_number_reasons(names), _bad_ips(fields, names)).alias("_reason")
    )
    bad = checked.filter(pl.col("_reason").is_not_null()).select("line_no", pl.col("_reason").alias("reason"))
    good = checked.filter(pl.col("_reason").is_null())
    events = good.select(
        "line_no",
        pl.col("ts").cast(pl.Datetime("us", "UTC")),
        "ts_raw",
        "ts_offset",
        actor.alias("actor_id"),
        pl.when(actor.is_null()).then(pl.lit("anonymous")).otherwise(pl.lit("account")).alias("actor_type"),
        pl.lit("http.request").alias("action"),
        _column(names, "http_method").alias("action_raw"),
        _outcome(status).alias("outcome"),
        _column(names, "ip").alias("ip"),
        _forwarded(names).alias("forwarded_for"),
        _column(names, "user_agent").str.replace_all("+", " ", literal=True).alias("user_agent"),
        _column(names, "http_method").alias("http_method"),
        _url_path(names).alias("url_path"),
        status.alias("status"),
        _numbers(names, "bytes").cast(pl.Int64, strict=False).alias("bytes"),
        node.alias("node"),
        pl.struct(list(names)).struct.json_encode().alias("attrs"),
        *[pl.col(c) for c in (ALT_COLUMN, KIND_COLUMN) if c in checked.columns],
        *[pl.col(n).alias(_raw_name(n)) for n in names],  # the raw fields, for a mapping
    )
    return events, bad


def _normalize_times(
    stamps: pl.Series, line_nos: pl.Series, local: bool, section: _Section, options: FormatOptions
) -> Normalized:
    """UTC per record. A #GMT-Offset says the times are local at that offset (and wins over --tz:
    the file says so itself); local-time fields without one need --tz; plain date/time are UTC
    (--tz is honoured for non-IIS writers that log local wall-clock time)."""
    if section.offset is not None:
        return normalize(stamps + " " + section.offset, formats=_TIME_FORMATS)
    if options.tz is None and not local:
        return normalize(stamps + " UTC", formats=_TIME_FORMATS)
    norm = normalize(stamps, formats=_TIME_FORMATS, tz=options.tz)
    refuse_zoneless(norm.error, line_nos, options.path)  # date-local/time-local without --tz: refuse the file
    return norm


def _number_text(names: Sequence[str], name: str) -> pl.Expr:
    """A numeric field's text; '-' and an empty quoted string ("") are both "no number" (null)."""
    value = _value(names, name)
    return pl.when(value == "").then(None).otherwise(value)


def _numbers(names: Sequence[str], column: str) -> pl.Expr:
    name = _variant(names, column)
    return _number_text(names, name) if name is not None else pl.lit(None, dtype=pl.String)


def _url_path(names: Sequence[str]) -> pl.Expr:
    """cs-uri-stem as written; a whole cs-uri loses its query (and scheme and host, if absolute)."""
    name = _variant(names, "url_path")
    value = _column(names, "url_path")
    if name is None or name.lower() in ("cs-uri-stem", "uri-stem"):
        return value
    return value.str.replace(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*", "").str.splitn("?", 2).struct.field("field_0")


def _forwarded(names: Sequence[str]) -> pl.Expr:
    """cs(X-Forwarded-For) as its list of hops: the client's own claim, never the ip column."""
    name = _variant(names, "forwarded_for")
    if name is None:
        return pl.lit(None, dtype=pl.List(pl.String))
    value = _value(names, name)
    hops = value.str.split(",").list.eval(pl.element().str.strip_chars().filter(pl.element().str.strip_chars() != ""))
    return pl.when(value.is_null() | (value == "")).then(None).otherwise(hops)


def _outcome(status: pl.Expr) -> pl.Expr:
    return (
        pl.when(status.is_null())
        .then(pl.lit("unknown"))
        .when(status < 400)
        .then(pl.lit("success"))
        .otherwise(pl.lit("failure"))
    )


_RAW_PREFIX: Final[str] = "raw__"


def _raw_name(name: str) -> str:
    return _RAW_PREFIX + name


def _drop_raw(events: pl.DataFrame) -> pl.DataFrame:
    return events.drop([c for c in events.columns if c.startswith(_RAW_PREFIX)])


def _empty_events() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "line_no": pl.Int64,
            "byte_offset": pl.Int64,
            "ts": pl.Datetime("us", "UTC"),
            "action": pl.String,
            "outcome": pl.String,
        }
    )


def _apply_mapping(mapping: Mapping, events: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Mapped columns replace the parser's (never ts: W3C times are the file's own); failing rows leave."""
    from forensics.mapping import evaluate_columns

    raw = events.select(
        "line_no", *[pl.col(c).alias(c.removeprefix(_RAW_PREFIX)) for c in events.columns if c.startswith(_RAW_PREFIX)]
    )
    values, failures = evaluate_columns(mapping, raw)
    override = [c for c in values.columns if c not in ("line_no", "ts", "ts_raw", "ts_offset")]
    kept = events.join(failures.select("line_no"), on="line_no", how="anti")
    kept = kept.drop([c for c in override if c in kept.columns]).join(
        values.select("line_no", *override), on="line_no", how="left"
    )
    return kept, failures.select(pl.col("line_no").cast(pl.Int64), pl.col("reason").cast(pl.String))


# ---------------------------------------------------------------- rendering (fuzzing, tests)


def render_value(value: str | None) -> str:
    """One field as a W3C writer would: None as '-'; a value that is empty, holds a blank, or starts with a
    quote or '#' (which would make the record read as a directive) as a quoted string, an inner quote
    doubled. Raises UsageError for line breaks."""
    if value is None:
        return _EMPTY
    if "\n" in value or "\r" in value:
        raise UsageError("a W3C field cannot hold a line break (the reader splits lines on it)")
    if value == "" or value[0] in '"#' or any(c in value for c in " \t"):
        return '"' + value.replace('"', '""') + '"'
    return value


def render_record(names: Sequence[str], values: AbcMapping[str, str | None]) -> str:
    """One record line (no newline) for a #Fields list; parse_lines reads each field back as given
    (None comes back as '-')."""
    return " ".join(render_value(values.get(n)) for n in names)


def render_fields(names: Sequence[str]) -> str:
    problem = _fields_problem(list(names))
    if problem is not None:
        raise UsageError(problem)
    return "#Fields: " + " ".join(names)
