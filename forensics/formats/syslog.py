"""Syslog: RFC 5424 and RFC 3164 (BSD), recognised per line.

Each line is classified on its own, so a file may mix the two (relays often do):

* RFC 5424: ``<PRI>VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [MSG]``.
  The timestamp carries its offset. SD-ELEMENTs are parsed (``\\"``, ``\\\\`` and ``\\]`` are
  the only escapes) into ``attrs.sd`` as ``{sd_id: {param: value}}``; a parameter repeated
  inside an element (RFC 5424 6.3.3 allows it) becomes a list. A ``meta sequenceId`` fills ``seq``.
* RFC 3164: ``[<PRI>]Mmm dd hh:mm:ss[.frac] [HOSTNAME] TAG[PID]: MSG``, and the same layout
  with an RFC 3339 timestamp (rsyslog's file format, ChromeOS, whose hostname slot holds a
  severity word). A token ending in ``:`` right after the time is a tag, not a host (kernel
  lines written without a hostname). The PRI is optional, as in files written by syslogd.

Canonical columns: ts (UTC), ts_raw (the timestamp as written), ts_offset (as written, or the
--tz zone for RFC 3164), node (HOSTNAME), action 'other', action_raw (APP-NAME / TAG),
outcome 'unknown', seq (``[meta sequenceId=...]``), attrs (JSON: syntax, pri, facility,
severity, version, app, procid, msgid, msg, sd, repeat_count, year_inferred; absent values are
left out). Leading blanks and a UTF-8 BOM before MSG are layout, not content, and are dropped;
the exact bytes stay reachable through line_no/byte_offset.

Time zones. RFC 3164 timestamps have no zone: without --tz the file is refused
(timeparse.refuse_zoneless), because a guessed zone moves events across an incident window.

Year inference (RFC 3164 timestamps have no year). ``FormatOptions.year_hint`` is the year of
the file's *last* year-less record: ingest passes the year of the file's modification time,
and the user overrides it (``--year``) when the file was copied or touched later. A year written
in the header (``Mmm dd yyyy hh:mm:ss``) is used as written. The records are
walked backwards from the end, and the year drops by one at every *rollover point*: a record
whose month is earlier than the month of the record before it (Jan after Dec means the Dec
record belongs to the previous year). Vectorized: a flag per rollover point, a cumulative sum
of the flags in reverse, ``year = year_hint - rollovers after the record``. Two refinements:

* a backward step of less than ``REORDER_TOLERANCE`` (Apr 1 00:00:01 followed by Mar 31
  23:59:59) is writers racing each other at a month boundary, not eleven silent months; it is
  not a rollover;
* Feb 29 must land in a leap year. If it does not, the hint or the order of the file is wrong
  and nobody can say which year is meant: the record is quarantined with that reason instead
  of being shifted to some leap year (a guessed year is worse than no event).

Every ``Mmm dd`` event carries ``attrs.year_inferred = true``. A file larger than one batch
needs the whole file's rollover count before its first batch can be dated, so a caller that
reads a file in several batches first hands every batch, in order, to ``SyslogParser.prescan``
(cheap: one regex, no output), then to ``parse_lines``. Without a prescan the parser takes the
batch it sees to be the end of the file, and refuses (ParseError) a second batch of year-less
records rather than date it wrongly.

Irregular lines are never dropped, merged or guessed at; each goes to quarantine, verbatim:

* a line that does not start like a syslog record (a tab-indented continuation of a
  multi-line message, the second half of a message with an embedded newline):
  ``continuation line of the record at line N (no syslog header)``; with no record before it
  in the file: ``not a syslog record (...)``. Continuations are not merged into their record:
  the record's message would then depend on lines that are themselves unverified.
* several records glued together on one line with no newline between them (rsyslog's
  ForwardFormat / TraditionalForwardFormat written to a file): quarantined with the number of
  records found. Parsing only the first would hide the others inside its message, and the
  contract allows one event per line; the quarantine row keeps all of them for whoever splits
  the file. A glued header is ``<PRI>`` plus a timestamp directly after a non-blank character,
  so a message that quotes a syslog line after a space is not affected.
* an invalid month (``MMM 22 07:54:32``) or day: ``unparseable timestamp '...'``.

``last message repeated N times`` (syslogd) and ``message repeated N times: [...]`` (rsyslog)
are events: action_raw ``syslog.repeat``, ``attrs.repeat_count`` = N. They stand for N records
that were written once, which matters when counting.

Everything is vectorized over the batch (polars regexes and list expressions); there is no
per-line Python path. ``render_rfc5424`` / ``render_rfc3164`` (forensics.formats.syslog_render)
write valid lines (fuzzing, sample logs); parse_lines reads them back to the same fields.

With a mapping (``FormatOptions.mapping``), ``forensics.mapping.evaluate_columns`` receives
``line_no`` and these raw String fields: pri, facility, severity, version, timestamp, hostname,
app_name, procid, msgid, sd (JSON text), msg, and one column per SD parameter named
``<sd_id>.<param>`` (quote it in SQL: ``"meta.sequenceId"``, ``"fx@32473.node"``; a repeated
parameter gives a JSON array text). The mapped columns replace the parser's defaults; rows on
which an expression fails are quarantined with the mapping's reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final, Literal
from zoneinfo import ZoneInfo

import polars as pl

from forensics.formats.base import FormatOptions, ParseError, ParseResult, quarantine_rows
from forensics.timeparse import ALT_COLUMN, KIND_COLUMN, local_readings, normalize, refuse_zoneless

if TYPE_CHECKING:
    from forensics.mapping import Mapping

REORDER_TOLERANCE: Final[timedelta] = timedelta(days=1)
# How far the last year-less record may lie after FormatOptions.year_limit (the file's mtime, or now)
# before its year is taken to be the one before: a relay's clock running ahead of the file system's
# is not a year. Beyond it, a record cannot have been written before the file was last modified.
YEAR_LIMIT_TOLERANCE: Final[timedelta] = timedelta(hours=1)

MONTHS: Final[tuple[str, ...]] = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# RFC 5424 6.2.1 facility codes (13-15 named as in most syslog daemons).
FACILITIES: Final[tuple[str, ...]] = (
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp",
    "ntp", "audit", "alert", "clock", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
)  # fmt: skip
SEVERITIES: Final[tuple[str, ...]] = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")

# Severity words some writers (ChromeOS) put where the hostname goes.
_SEVERITY_WORDS: Final[dict[str, str]] = {
    "EMERG": "emerg", "ALERT": "alert", "CRIT": "crit", "ERR": "err", "ERROR": "err", "WARNING": "warning",
    "WARN": "warning", "NOTICE": "notice", "INFO": "info", "DEBUG": "debug",
}  # fmt: skip

REPEAT_ACTION: Final[str] = "syslog.repeat"

# ---------------------------------------------------------------- patterns (Rust regex: no look-around)
# [0-9] not \d: \d matches every Unicode digit, which the integer casts would then reject.
# Record patterns capture a *head* and stop at a blank (or the end); the rest of the line is then
# sliced off by length. Capturing a trailing ``.*`` made the regex engine several times slower.

_SD_PARAM: Final[str] = r'[^=\s\]"]+\s*=\s*"(?:[^"\\]|\\.)*"'  # spaces around '=' tolerated (VRL does too)
_SD_ELEMENT: Final[str] = r'\[[^\s\]"=]+(?:\s+' + _SD_PARAM + r")*\s*\]"

_ISO_TS: Final[str] = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?(?:[Zz]|[+-][0-9]{2}:?[0-9]{2})?"
)
_RFC5424_RE: Final[str] = (
    r"^(?P<f_head>(?:<(?P<f_pri>[0-9]{1,3})>)?(?P<f_version>[1-9][0-9]?) (?P<f_ts>\S+) (?P<f_host>\S+) "
    r"(?P<f_app>\S+) (?P<f_procid>\S+) (?P<f_msgid>\S+) (?P<f_sd>-|(?:" + _SD_ELEMENT + r")+))(?: |$)"
)
# RFC 5424 as files hold it without <PRI> and VERSION (rsyslog's RSYSLOG_FileFormat on a 5424 relay). Tried
# only on lines with an ISO timestamp. The timestamp must carry its offset and APP-NAME must not end with
# ':', or an RFC 3164 line with an ISO timestamp ("TS host tag: a b - msg") would read as one.
_RFC5424_BARE_RE: Final[str] = (
    r"^(?P<f_head>(?P<f_ts>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?"
    r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})) (?P<f_host>\S+) (?P<f_app>\S*[^\s:]) "
    r"(?P<f_procid>\S+) (?P<f_msgid>\S+) (?P<f_sd>-|(?:" + _SD_ELEMENT + r")+))(?: |$)"
)
_ISO_RE: Final[str] = r"^(?P<i_head>(?:<(?P<i_pri>[0-9]{1,3})>)?(?P<i_ts>" + _ISO_TS + r"))(?:[ \t]|$)"
_BSD_RE: Final[str] = (
    r"^(?P<b_head>(?:<(?P<b_pri>[0-9]{1,3})>)?(?P<b_ts>(?P<b_mon>[A-Za-z]{3}) {1,2}(?P<b_day>[0-9]{1,2}) "
    r"(?:(?P<b_year>[0-9]{4}) )?(?P<b_time>[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?))(?P<b_colon>:)?)(?:[ \t]|$)"
)

# "Looks like the start of a record" (even if the rest is broken): decides continuation vs bad record.
_PRI_START: Final[str] = r"^<[0-9]{1,3}>"
_RFC5424_START: Final[str] = r"^(?:<[0-9]{1,3}>)?[1-9][0-9]? (?:-|[0-9]{4}-[0-9]{2}-[0-9]{2}T)"
_RFC5424_FIELDS: Final[str] = r"^(?:<[0-9]{1,3}>)?[1-9][0-9]? \S+ \S+ \S+ \S+ \S+ "
_ISO_START: Final[str] = r"^(?:<[0-9]{1,3}>)?[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}"
_BSD_START: Final[str] = r"^(?:<[0-9]{1,3}>)?[A-Za-z]{3} {1,2}[0-9]{1,2} (?:[0-9]{4} )?[0-9]{2}:[0-9]{2}:[0-9]{2}"
# A BSD timestamp whose month is a word in another language (août, Mär., 十月 is not a word here).
_LOCALE_START: Final[str] = r"^(?:<[0-9]{1,3}>)?\p{L}{3,9}\.? {1,2}[0-9]{1,2} (?:[0-9]{4} )?[0-9]{2}:[0-9]{2}:[0-9]{2}"
_HEADER_START: Final[str] = "|".join(
    f"(?:{p})" for p in (_PRI_START, _RFC5424_START, _ISO_START, _BSD_START, _LOCALE_START)
)
LOCALE_REASON: Final[str] = (
    "unparseable timestamp '{}': month name '{}' is not an English abbreviation (Jan..Dec): syslog written "
    "in another locale is not read, since a translated month would be a guess; re-export it with LC_TIME=C "
    "or map the month names to English first (the line is kept here verbatim)"
)
# ASCII month abbreviations of other locales (de, fr, es, it, nl, pt); a word with a non-ASCII letter counts too.
FOREIGN_MONTHS: Final[tuple[str, ...]] = (
    "mai", "okt", "dez", "mrz", "janv", "fevr", "mars", "avr", "juin", "juil", "sept", "ene", "abr", "ago", "dic",
    "gen", "mag", "giu", "lug", "set", "ott", "mrt", "mei", "fev", "out",
)  # fmt: skip


def _foreign_month(word: pl.Expr) -> pl.Expr:
    bare = word.str.strip_suffix(".").str.to_lowercase()
    return bare.str.contains(r"[^\x00-\x7f]") | bare.is_in(list(FOREIGN_MONTHS))


# Another record's header glued to the text before it (no newline, no blank in between).
_GLUED_HEADER: Final[str] = (
    r"\S<[0-9]{1,3}>(?:[1-9][0-9]? )?"
    r"(?:[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}|[A-Z][a-z]{2} {1,2}[0-9]{1,2} [0-9]{2}:[0-9]{2}:[0-9]{2})"
)

# The part of an RFC 3164 line after the timestamp.
_REPEAT_RE: Final[str] = (
    r"^(?:(?P<host>[^\s:\-]\S*)[ \t]+)?(?P<phrase>(?:---[ \t]*)?last message repeated (?P<n>[0-9]{1,18}) times?"
    r"(?:[ \t]*---)?)[ \t]*$"
)
_TAG: Final[str] = r"(?P<tag>[^\s\[\]:]+)(?:\[(?P<pid>[^\]]*)\])?"
_NO_HOST_RE: Final[str] = r"^(?P<head>" + _TAG + r":)(?:[ \t]|$)"  # MSG: after head
_WITH_HOST_RE: Final[str] = r"^(?P<head>(?P<host>\S+)[ \t]+" + _TAG + r")(?P<sep>:|[ \t]|$)"  # MSG: after sep
_HOST_MSG_RE: Final[str] = r"^(?P<host>\S+)"  # MSG: after host
_RSYSLOG_REPEAT_RE: Final[str] = r"^message repeated ([0-9]{1,18}) times: \["

_ATTR_KEYS: Final[tuple[str, ...]] = (
    "syntax", "pri", "facility", "severity", "version", "app", "procid", "msgid", "msg", "repeat_count",
    "year_inferred",
)  # fmt: skip
# Null members of attrs are left out. ',"key":null' cannot occur inside a JSON string (quotes are escaped).
_NULL_ATTR_RE: Final[str] = r',"(?:' + "|".join(_ATTR_KEYS[1:]) + r')":null'

RAW_FIELDS: Final[tuple[str, ...]] = (
    "pri", "facility", "severity", "version", "timestamp", "hostname", "app_name", "procid", "msgid", "sd", "msg",
)  # fmt: skip


# ---------------------------------------------------------------- the format


class SyslogFormat:
    name = "syslog"
    kind: Literal["lines", "document"] = "lines"
    description = "Syslog RFC 5424 and RFC 3164 (BSD), per line; RFC 3164 needs --tz and a year hint"

    def parser(self, options: FormatOptions) -> SyslogParser:
        if options.year_hint is not None and not 1 <= options.year_hint <= 9999:
            raise ParseError(f"{options.path}: year hint {options.year_hint} is not a year (1..9999)")
        return SyslogParser(options)

    def sniff(self, sample: list[str]) -> float:
        """Share of the sample's lines that are whole syslog records (RFC 3339-only lines count less:
        plenty of application logs also start with an ISO timestamp)."""
        lines = [s for s in sample if s.strip()]
        if not lines:
            return 0.0
        frame = pl.DataFrame({"text": lines}, schema={"text": pl.String})
        score = frame.select(
            pl.when(pl.col("text").str.contains(_RFC5424_RE) | pl.col("text").str.contains(_BSD_RE))
            .then(1.0)
            .when(pl.col("text").str.contains(_ISO_RE))
            .then(0.6)
            .otherwise(0.0)
            .mean()
        ).item()
        return float(score or 0.0)


SYSLOG: Final[SyslogFormat] = SyslogFormat()


@dataclass
class _YearWalk:
    """Rollover bookkeeping carried from one batch to the next (in file order)."""

    rollovers: int = 0  # rollover points seen so far
    last_month: int | None = None
    last_point: datetime | None = None  # last year-less time, placed in leap year 2000
    group_max: datetime | None = None  # latest point since the last rollover (the year_limit check)


class SyslogParser:
    """One file's parser. Batches must arrive in file order (state: year walk, last record line)."""

    def __init__(self, options: FormatOptions) -> None:
        self.options = options
        self._total_rollovers: int | None = None  # set by prescan
        self._prescan_walk = _YearWalk()
        self._walk = _YearWalk()
        self._dated_unscanned_batch = False
        self._last_header_line: int | None = None

    # -- year inference, first pass

    def prescan(self, batch: pl.DataFrame) -> None:
        """First pass over the whole file (every batch, in order): count year rollovers.

        Needed before parse_lines when a file spans more than one batch (see the module docstring).
        """
        points = _yearless_points(_extract(batch))
        flags = _rollover_flags(points, self._prescan_walk)
        self._prescan_walk.rollovers += int(flags.sum())
        self._total_rollovers = self._prescan_walk.rollovers

    # -- the Parser protocol

    def parse_document(self, text: str) -> ParseResult:
        raise ParseError(f"{self.options.path}: syslog is a line format; it cannot be parsed as one document")

    def parse_lines(self, batch: pl.DataFrame) -> ParseResult:
        df = _extract(batch)
        df = self._with_continuations(df)
        df = _with_fields(df)
        df = self._with_years(df)
        df = _with_locale_reasons(df.with_columns(_header_reason().alias("reason")))
        df = self._with_timestamps(df)
        events = df.filter(pl.col("reason").is_null())
        quarantine = quarantine_rows(df.filter(pl.col("reason").is_not_null()), pl.col("reason"))
        sd_rows = _sd_rows(events)
        sd_long = _sd_long(sd_rows)
        events = events.join(_sd_json(sd_rows, sd_long), on="line_no", how="left")
        events = events.join(_sequence_ids(sd_long), on="line_no", how="left")
        if self.options.mapping is not None:
            events, failed = _apply_mapping(self.options.mapping, events, sd_long)
            quarantine = pl.concat([quarantine, failed]).sort("line_no")
        return ParseResult(events=_event_frame(events), quarantine=quarantine)

    # -- steps with state

    def _with_continuations(self, df: pl.DataFrame) -> pl.DataFrame:
        """Line number of the record each line belongs to (itself for a header line)."""
        header = pl.col("text").str.contains(_HEADER_START)
        df = df.with_columns(
            header.alias("is_header"),
            pl.when(header)
            .then(pl.col("line_no"))
            .otherwise(None)
            .forward_fill()
            .fill_null(pl.lit(self._last_header_line, dtype=pl.Int64))
            .alias("record_line"),
        )
        last = df.get_column("record_line").drop_nulls()
        if last.len():
            self._last_header_line = int(last[-1])
        return df

    def _with_years(self, df: pl.DataFrame) -> pl.DataFrame:
        """Fill b_year_used for year-less RFC 3164 rows: year_hint minus the rollovers after the row."""
        points = _yearless_points(df)
        if points.height == 0:
            return df.with_columns(pl.col("b_year_num").alias("b_year_used"), pl.lit(False).alias("year_inferred"))
        hint = self.options.year_hint
        if hint is None:
            raise ParseError(
                f"{self.options.path}:{points['line_no'][0]}: RFC 3164 timestamp has no year; pass --year, the year "
                "of the file's last record (by default ingest takes the file's modification time)"
            )
        flags = _rollover_flags(points, self._walk)
        in_batch = int(flags.sum())
        final = self._prescan_walk if self._total_rollovers is not None else self._walk
        hint = _limited_hint(hint, final.group_max, self.options)
        if self._total_rollovers is None:
            if self._dated_unscanned_batch:
                raise ParseError(
                    f"{self.options.path}:{points['line_no'][0]}: year-less syslog spans several batches; its years "
                    "need a first pass over the whole file (SyslogParser.prescan) before parsing"
                )
            self._dated_unscanned_batch = True
            later = 0  # without a prescan this batch is taken to be the end of the file
        else:
            later = self._total_rollovers - self._walk.rollovers - in_batch
        self._walk.rollovers += in_batch
        # Rollover points strictly after each row: a cumulative sum of the flags in reverse.
        after = flags.reverse().cum_sum().reverse() - flags
        years = points.select("line_no", (hint - later - after).cast(pl.Int32).alias("inferred_year"))
        df = df.join(years, on="line_no", how="left")
        return df.with_columns(
            pl.coalesce(pl.col("b_year_num"), pl.col("inferred_year")).alias("b_year_used"),
            pl.col("inferred_year").is_not_null().alias("year_inferred"),
        ).drop("inferred_year")

    def _with_timestamps(self, df: pl.DataFrame) -> pl.DataFrame:
        """ts/ts_offset for rows still without a reason; a zone-less time without --tz refuses the file."""
        bsd_text = pl.format(
            "{}-{}-{}T{}",
            pl.col("b_year_used").cast(pl.String).str.zfill(4),
            pl.col("b_month").cast(pl.String).str.zfill(2),
            pl.col("b_day_num").cast(pl.String).str.zfill(2),
            pl.col("b_time"),
        )
        df = df.with_columns(
            pl.when(pl.col("reason").is_not_null())
            .then(None)
            .when(pl.col("syntax_kind") == "bsd")
            .then(bsd_text)
            .otherwise(pl.col("ts_raw"))
            .alias("ts_text")
        )
        norm = normalize(df.get_column("ts_text"), formats=("%Y-%m-%dT%H:%M:%S%.f",), tz=self.options.tz)
        df = df.with_columns(ts=norm.ts, ts_offset=norm.ts_offset, ts_error=norm.error, **local_readings(norm))
        pending = pl.col("reason").is_null()
        pending_errors = df.select(pl.when(pending).then(pl.col("ts_error")).alias("e")).get_column("e")
        refuse_zoneless(pending_errors, df.get_column("line_no"), self.options.path)
        bad_ts = pending & pl.col("ts_error").is_not_null()
        message = (
            # a year-less time that is no real date (Feb 30, 25:00) never got a year: ts_text is null
            pl.when(pl.col("ts_error").str.starts_with("unparseable") | pl.col("ts_text").is_null())
            .then(pl.format("unparseable timestamp '{}'", pl.col("ts_raw")))
            .otherwise(pl.col("ts_error"))
        )
        return df.with_columns(pl.when(bad_ts).then(message).otherwise(pl.col("reason")).alias("reason"))


# ---------------------------------------------------------------- extraction


def _extract(batch: pl.DataFrame) -> pl.DataFrame:
    """Apply the three record patterns; one struct per pattern, unnested (prefixes f_, i_, b_)."""
    text = pl.col("text")
    df = batch.select(
        "line_no",
        "byte_offset",
        "raw",
        "text",
        text.str.extract_groups(_RFC5424_RE).alias("f"),
        text.str.extract_groups(_ISO_RE).alias("i"),
        text.str.extract_groups(_BSD_RE).alias("b"),
    ).unnest("f", "i", "b")
    df = _with_bare_rfc5424(df)
    df = df.with_columns(
        _after(text, pl.col("f_head"), 1).alias("f_msg"),
        _after(text, pl.col("i_head")).str.strip_chars_start(" \t").alias("i_rest"),
        _after(text, pl.col("b_head")).str.strip_chars_start(" \t").alias("b_rest"),
    )
    month = (
        pl.col("b_mon")
        .str.to_titlecase()
        .replace_strict(list(MONTHS), list(range(1, 13)), default=None, return_dtype=pl.Int32)
    )
    return df.with_columns(
        month.alias("b_month"),
        pl.col("b_day").cast(pl.Int32, strict=False).alias("b_day_num"),
        pl.col("b_year").cast(pl.Int32, strict=False).alias("b_year_num"),
        pl.when(pl.col("f_head").is_not_null())
        .then(pl.lit("rfc5424"))
        .when(pl.col("i_ts").is_not_null())
        .then(pl.lit("iso"))
        .when(pl.col("b_ts").is_not_null())
        .then(pl.lit("bsd"))
        .otherwise(None)
        .alias("syntax_kind"),
    )


def _with_bare_rfc5424(df: pl.DataFrame) -> pl.DataFrame:
    """Fill the f_ columns of ISO-timestamped lines that are RFC 5424 without <PRI> and VERSION (only
    those lines are tried: most files have none, and a third regex over every line costs)."""
    candidates = df.filter(pl.col("f_head").is_null() & pl.col("i_ts").is_not_null())
    if candidates.height == 0:
        return df
    bare = candidates.select("line_no", pl.col("text").str.extract_groups(_RFC5424_BARE_RE).alias("f")).unnest("f")
    bare = bare.filter(pl.col("f_head").is_not_null())
    if bare.height == 0:
        return df
    return df.update(bare, on="line_no", how="left")


def _after(text: pl.Expr, head: pl.Expr, skip: int | pl.Expr = 0) -> pl.Expr:
    """The text after a matched head (and `skip` more characters); null where the head did not match."""
    start = head.str.len_chars().cast(pl.Int64) + skip
    return pl.when(head.is_not_null()).then(text.str.slice(start))


def _yearless_points(df: pl.DataFrame) -> pl.DataFrame:
    """Year-less RFC 3164 rows whose month/day/time are valid, placed in leap year 2000 (so Feb 29 exists)."""
    point = pl.format(
        "2000-{}-{}T{}",
        pl.col("b_month").cast(pl.String).str.zfill(2),
        pl.col("b_day_num").cast(pl.String).str.zfill(2),
        pl.col("b_time"),
    ).str.strptime(pl.Datetime("us"), "%Y-%m-%dT%H:%M:%S%.f", strict=False, exact=True)
    rows = df.filter(
        pl.col("f_head").is_null() & pl.col("i_ts").is_null() & pl.col("b_ts").is_not_null()
        & pl.col("b_year").is_null()
    )  # fmt: skip
    return rows.select("line_no", pl.col("b_month").alias("month"), point.alias("point")).filter(
        pl.col("point").is_not_null()
    )


def _rollover_flags(points: pl.DataFrame, walk: _YearWalk) -> pl.Series:
    """1 where a record starts a new year relative to the record before it (see module docstring)."""
    if points.height == 0:
        return pl.Series("flag", [], dtype=pl.Int64)
    prev_month = pl.col("month").shift(1).fill_null(pl.lit(walk.last_month, dtype=pl.Int32))
    prev_point = pl.col("point").shift(1).fill_null(pl.lit(walk.last_point, dtype=pl.Datetime("us")))
    flag = (pl.col("month") < prev_month) & ((prev_point - pl.col("point")) > pl.lit(REORDER_TOLERANCE))
    flags = points.select(flag.fill_null(False).cast(pl.Int64).alias("flag"))["flag"]
    walk.last_month = int(points["month"][-1])
    walk.last_point = points["point"][-1]
    starts = (flags > 0).arg_true()
    since = points["point"] if starts.len() == 0 else points["point"].slice(int(starts[-1]))
    latest: datetime = since.max()  # type: ignore[assignment]
    keep = walk.group_max if starts.len() == 0 and walk.group_max is not None else latest
    walk.group_max = max(keep, latest)
    return flags


def _limited_hint(hint: int, group_max: datetime | None, options: FormatOptions) -> int:
    """The last records' year under year_limit: the limit's year in the writer's zone, or the year
    before when the latest of them (month, day, time) lies after the limit's. Without a limit
    (--year given) the hint is the user's word."""
    limit = options.year_limit
    if limit is None or group_max is None:
        return hint
    local = limit.astimezone(options.tz or ZoneInfo("UTC")).replace(tzinfo=None)
    in_2000 = local.replace(year=2000) + YEAR_LIMIT_TOLERANCE  # the points live in leap year 2000
    return local.year - 1 if group_max > in_2000 and local.year - 1 >= 1 else local.year


def _with_fields(df: pl.DataFrame) -> pl.DataFrame:
    """Unified header fields over the three syntaxes (RFC 3164 rest split into host/tag/pid/msg)."""
    rest = pl.coalesce(pl.col("i_rest"), pl.col("b_rest"))
    df = df.with_columns(
        rest.str.extract_groups(_REPEAT_RE).alias("rep"),
        rest.str.extract_groups(_NO_HOST_RE).alias("nh"),
        rest.str.extract_groups(_WITH_HOST_RE).alias("wh"),
        rest.str.extract_groups(_HOST_MSG_RE).alias("hm"),
    )
    rep, nh, wh, hm = (pl.col(c).struct for c in ("rep", "nh", "wh", "hm"))
    msg_only = pl.col("b_colon").is_not_null()  # "Mmm dd hh:mm:ss: text": no host, no tag
    is_rep = rep.field("n").is_not_null()
    use_nh = ~msg_only & ~is_rep & nh.field("tag").is_not_null()
    use_wh = ~msg_only & ~is_rep & ~use_nh & wh.field("tag").is_not_null()
    use_hm = ~msg_only & ~is_rep & ~use_nh & ~use_wh & hm.field("host").is_not_null()
    host_3164 = (
        pl.when(is_rep)
        .then(rep.field("host"))
        .when(use_wh)
        .then(wh.field("host"))
        .when(use_hm)
        .then(hm.field("host"))
        .otherwise(None)
    )
    # ChromeOS writes a severity word where the hostname goes.
    sev_word = pl.when(pl.col("i_ts").is_not_null()).then(
        host_3164.replace_strict(_SEVERITY_WORDS, default=None, return_dtype=pl.String)
    )
    msg_3164 = (
        pl.when(is_rep)
        .then(rep.field("phrase"))
        .when(msg_only)
        .then(rest)
        .when(use_nh)
        .then(_after(rest, nh.field("head")))
        .when(use_wh)
        .then(_after(rest, wh.field("head"), wh.field("sep").str.len_chars().cast(pl.Int64)))
        .when(use_hm)
        .then(_after(rest, hm.field("host")))
    )
    is_5424 = pl.col("syntax_kind") == "rfc5424"
    nil = ["-"]
    df = df.with_columns(
        sev_word.alias("sev_word"),
        pl.when(is_5424).then(pl.col("f_ts")).when(pl.col("i_ts").is_not_null()).then(pl.col("i_ts"))
        .otherwise(pl.col("b_ts")).alias("ts_raw"),
        pl.coalesce(pl.col("f_pri"), pl.col("i_pri"), pl.col("b_pri")).cast(pl.Int64, strict=False).alias("pri"),
        pl.when(is_5424).then(pl.col("f_host").replace(nil, None)).otherwise(host_3164).alias("hostname"),
        pl.when(is_5424).then(pl.col("f_app").replace(nil, None))
        .when(use_nh).then(nh.field("tag")).when(use_wh).then(wh.field("tag")).alias("app_name"),
        pl.when(is_5424).then(pl.col("f_procid").replace(nil, None))
        .when(use_nh).then(nh.field("pid")).when(use_wh).then(wh.field("pid")).alias("procid"),
        pl.when(is_5424).then(pl.col("f_msgid").replace(nil, None)).alias("msgid"),
        pl.when(is_5424).then(pl.col("f_msg")).otherwise(msg_3164).alias("msg_text"),
        pl.when(is_rep).then(rep.field("n")).alias("repeat_n"),
    ).drop("rep", "nh", "wh", "hm")  # fmt: skip
    msg = pl.col("msg_text").str.strip_prefix("\ufeff").str.strip_chars_start(" \t").fill_null("")
    rsyslog_repeat = msg.str.extract(_RSYSLOG_REPEAT_RE, 1)
    return df.with_columns(
        pl.when(pl.col("sev_word").is_not_null()).then(None).otherwise(pl.col("hostname")).alias("hostname"),
        msg.alias("msg"),
        pl.coalesce(pl.col("repeat_n"), rsyslog_repeat).cast(pl.Int64, strict=False).alias("repeat_count"),
        pl.col("f_version").cast(pl.Int64, strict=False).alias("version"),
        pl.col("text").str.count_matches(_GLUED_HEADER).alias("glued"),
    )


def _with_locale_reasons(df: pl.DataFrame) -> pl.DataFrame:
    """Say so when a refused line's month is a word of another locale (checked on refused lines only)."""
    refused = df.filter(pl.col("reason").is_not_null() & pl.col("is_header"))
    if refused.height == 0:
        return df
    word = pl.col("text").str.extract(r"^(?:<[0-9]{1,3}>)?(\p{L}{3,9}\.?) {1,2}[0-9]", 1)
    start_ts = pl.col("text").str.extract(r"^(?:<[0-9]{1,3}>)?(\S+(?: +\S+){0,2})", 1)
    foreign = refused.filter(pl.col("text").str.contains(_LOCALE_START) & _foreign_month(word)).select(
        "line_no", pl.format(LOCALE_REASON, start_ts, word).alias("reason")
    )
    return df.update(foreign, on="line_no", how="left") if foreign.height else df


def _header_reason() -> pl.Expr:
    """Why a line is not an event, for everything decidable before the timestamp is converted."""
    text = pl.col("text")
    parsed = pl.col("syntax_kind").is_not_null()
    leap = (pl.col("b_year_used") % 4 == 0) & ((pl.col("b_year_used") % 100 != 0) | (pl.col("b_year_used") % 400 == 0))
    feb29 = (pl.col("b_month") == 2) & (pl.col("b_day_num") == 29)
    start_ts = text.str.extract(r"^(?:<[0-9]{1,3}>)?(\S+(?: +\S+){0,2})", 1)
    return (
        pl.when(~pl.col("is_header") & pl.col("record_line").is_not_null())
        .then(pl.format("continuation line of the record at line {} (no syslog header)", pl.col("record_line")))
        .when(~pl.col("is_header"))
        .then(pl.lit("not a syslog record (no <PRI>, RFC 3164 or RFC 5424 header, and no record before it)"))
        .when(pl.col("glued") > 0)
        .then(
            pl.format(
                "{} syslog records concatenated on one line without newlines (rsyslog ForwardFormat written to a "
                "file?); split them one record per line to ingest them",
                pl.col("glued") + 1,
            )
        )
        .when(~parsed & text.str.contains(_RFC5424_FIELDS) & text.str.contains(_RFC5424_START))
        .then(pl.lit("malformed RFC 5424 structured data"))
        .when(~parsed & text.str.contains(_RFC5424_START))
        .then(pl.lit("malformed RFC 5424 header (want <PRI>VERSION TIMESTAMP HOST APP PROCID MSGID SD [MSG])"))
        .when(~parsed & (text.str.contains(_BSD_START) | text.str.contains(_ISO_START)))
        .then(pl.format("unparseable timestamp '{}'", start_ts))
        .when(~parsed)
        .then(pl.lit("no RFC 3164 or RFC 5424 timestamp after the <PRI>"))
        .when(pl.col("pri") > 191)
        .then(pl.format("invalid PRI <{}> (must be 0..191)", pl.col("pri")))
        .when((pl.col("syntax_kind") == "bsd") & (pl.col("b_month").is_null() | (pl.col("b_day_num") < 1)))
        .then(pl.format("unparseable timestamp '{}'", pl.col("ts_raw")))
        .when((pl.col("syntax_kind") == "rfc5424") & (pl.col("ts_raw") == "-"))
        .then(pl.lit("RFC 5424 record without a timestamp (NILVALUE '-'): its time cannot be established"))
        .when((pl.col("syntax_kind") == "bsd") & pl.col("year_inferred") & feb29 & ~leap)
        .then(
            pl.format(
                "Feb 29 in inferred year {}, which is not a leap year: the year hint (--year) or the order of the "
                "file is wrong (see year inference in forensics/formats/syslog.py)",
                pl.col("b_year_used"),
            )
        )
        .otherwise(None)
    )


# ---------------------------------------------------------------- structured data


def _json_string(col: pl.Expr) -> pl.Expr:
    """JSON-encode a String column (polars has no direct string encoder; a one-field struct does it)."""
    return pl.struct(col.alias("v")).struct.json_encode().str.strip_prefix('{"v":').str.strip_suffix("}")


_SD_ID_PREFIX: Final[str] = r'^\[([^\s\]"=]+)'


def _sd_id(element: pl.Expr) -> pl.Expr:
    return element.str.extract(_SD_ID_PREFIX, 1)


def _sd_params(element: pl.Expr) -> pl.Expr:
    """List of the element's 'name="value"' texts (the SD-ID is cut off first: it may look like a name)."""
    return element.str.replace(_SD_ID_PREFIX, "").str.extract_all(_SD_PARAM)


def _param_name(param: pl.Expr) -> pl.Expr:
    return param.str.extract(r'^([^=\s\]"]+)', 1)


def _param_value(param: pl.Expr) -> pl.Expr:
    """Text between the quotes, unescaped: RFC 5424 knows only \\" \\\\ and \\] (other backslashes are literal)."""
    inner = param.str.replace(r'^[^"]*"', "").str.strip_suffix('"')
    return inner.str.replace_all(r'\\(["\\\]])', "$1")


def _sd_rows(events: pl.DataFrame) -> pl.DataFrame:
    """line_no + the list of SD-ELEMENT texts, for events that carry structured data."""
    rows = events.filter(pl.col("f_sd").is_not_null() & (pl.col("f_sd") != "-"))
    return rows.select("line_no", pl.col("f_sd").str.extract_all(_SD_ELEMENT).alias("elements"))


def _sd_long(sd_rows: pl.DataFrame) -> pl.DataFrame:
    """One row per SD-PARAM in order (line_no, sd_id, name, value); an element without params has name null."""
    elements = sd_rows.explode("elements").select(
        "line_no", _sd_id(pl.col("elements")).alias("sd_id"), _sd_params(pl.col("elements")).alias("param")
    )
    params = elements.explode("param", empty_as_null=True)  # an element without params ([empty]) must survive
    return params.select(
        "line_no", "sd_id", _param_name(pl.col("param")).alias("name"), _param_value(pl.col("param")).alias("value")
    )


def _sd_json(sd_rows: pl.DataFrame, long: pl.DataFrame) -> pl.DataFrame:
    """line_no + sd_json ({sd_id: {name: value}}).

    Most rows have unique SD-IDs and unique names per element: their JSON is built inside the
    list columns (no group-by, which is what made this slow). Rows with a repeated SD-ID or
    PARAM-NAME take the grouping path, which merges them into lists.
    """
    element = pl.element()
    unique_names = _sd_params(element).list.eval(_param_name(pl.element())).list.n_unique()
    repeats = (pl.col("elements").list.eval(_sd_id(element)).list.n_unique() < pl.col("elements").list.len()) | pl.col(
        "elements"
    ).list.eval(unique_names < _sd_params(element).list.len()).list.any()
    flagged = sd_rows.with_columns(repeats.alias("repeats"))
    pair = _json_string(_param_name(pl.element())) + pl.lit(":") + _json_string(_param_value(pl.element()))
    obj = _json_string(_sd_id(element)) + pl.lit(":{") + _sd_params(element).list.eval(pair).list.join(",") + "}"
    simple = flagged.filter(~pl.col("repeats")).select(
        "line_no", (pl.lit("{") + pl.col("elements").list.eval(obj).list.join(",") + pl.lit("}")).alias("sd_json")
    )
    merged_lines = flagged.filter(pl.col("repeats")).get_column("line_no")
    if merged_lines.len() == 0:
        return simple
    return pl.concat([simple, _sd_json_merged(long.filter(pl.col("line_no").is_in(merged_lines.implode())))])


def _sd_json_merged(long: pl.DataFrame) -> pl.DataFrame:
    """sd_json for rows with repeats: a repeated name (in one element, or across two elements with one SD-ID)
    becomes a list of its values in order."""
    grouped = _grouped_params(long)
    pair = pl.when(pl.col("name").is_not_null()).then(_json_string(pl.col("name")) + pl.lit(":") + pl.col("value_json"))
    per_element = grouped.group_by("line_no", "sd_id", maintain_order=True).agg(pair.alias("pairs"))
    per_element = per_element.select(
        "line_no",
        (_json_string(pl.col("sd_id")) + pl.lit(":{") + pl.col("pairs").list.drop_nulls().list.join(",") + "}").alias(
            "obj"
        ),
    )
    per_row = per_element.group_by("line_no", maintain_order=True).agg(pl.col("obj").alias("objs"))
    return per_row.select("line_no", (pl.lit("{") + pl.col("objs").list.join(",") + pl.lit("}")).alias("sd_json"))


def _grouped_params(long: pl.DataFrame) -> pl.DataFrame:
    """(line_no, sd_id, name) -> values list and its JSON (a string, or an array when repeated)."""
    grouped = long.group_by("line_no", "sd_id", "name", maintain_order=True).agg(pl.col("value"))
    as_array = (
        pl.struct(pl.col("value").alias("v")).struct.json_encode().str.strip_prefix('{"v":').str.strip_suffix("}")
    )
    return grouped.with_columns(
        pl.when(pl.col("value").list.len() > 1)
        .then(as_array)
        .otherwise(_json_string(pl.col("value").list.first()))
        .alias("value_json"),
    )


def _sequence_ids(long: pl.DataFrame) -> pl.DataFrame:
    """line_no + seq from [meta sequenceId="N"] (RFC 5424 7.3.1); the first one when repeated."""
    meta = long.filter((pl.col("sd_id") == "meta") & (pl.col("name") == "sequenceId"))
    first = meta.unique(subset="line_no", keep="first", maintain_order=True)
    return first.select("line_no", pl.col("value").cast(pl.Int64, strict=False).alias("seq"))


# ---------------------------------------------------------------- output


def _names(codes: pl.Expr, names: tuple[str, ...]) -> pl.Expr:
    return codes.replace_strict(list(range(len(names))), list(names), default=None, return_dtype=pl.String)


def _raw_field_exprs() -> dict[str, pl.Expr]:
    """The raw fields as named for a mapping, all String (the mapping contract)."""
    severity = pl.coalesce(_names(pl.col("pri") % 8, SEVERITIES), pl.col("sev_word"))
    return {
        "pri": pl.col("pri").cast(pl.String),
        "facility": _names(pl.col("pri") // 8, FACILITIES),
        "severity": severity,
        "version": pl.col("version").cast(pl.String),
        "timestamp": pl.col("ts_raw"),
        "hostname": pl.col("hostname"),
        "app_name": pl.col("app_name"),
        "procid": pl.col("procid"),
        "msgid": pl.col("msgid"),
        "sd": pl.col("sd_json"),
        "msg": pl.col("msg"),
    }


def _attrs_expr() -> pl.Expr:
    raw = _raw_field_exprs()
    scalars = pl.struct(
        pl.when(pl.col("syntax_kind") == "rfc5424")
        .then(pl.lit("rfc5424"))
        .otherwise(pl.lit("rfc3164"))
        .alias("syntax"),
        pl.col("pri"),
        raw["facility"].alias("facility"),
        raw["severity"].alias("severity"),
        pl.col("version"),
        pl.col("app_name").alias("app"),
        pl.col("procid"),
        pl.col("msgid"),
        pl.col("msg"),
        pl.col("repeat_count"),
        pl.when(pl.col("year_inferred")).then(pl.lit(True)).otherwise(None).alias("year_inferred"),
    ).struct.json_encode()
    compact = scalars.str.replace_all(_NULL_ATTR_RE, "")
    with_sd = compact.str.strip_suffix("}") + pl.lit(',"sd":') + pl.col("sd_json") + pl.lit("}")
    return pl.when(pl.col("sd_json").is_not_null()).then(with_sd).otherwise(compact)


def _event_frame(events: pl.DataFrame) -> pl.DataFrame:
    mapped = [c for c in events.columns if c.startswith("map__")]
    is_repeat = pl.col("repeat_count").is_not_null()
    base = events.select(
        "line_no",
        "byte_offset",
        pl.col("ts").cast(pl.Datetime("us", "UTC")),
        "ts_raw",
        "ts_offset",
        pl.col("hostname").alias("node"),
        pl.lit("other").alias("action"),
        pl.when(is_repeat).then(pl.lit(REPEAT_ACTION)).otherwise(pl.col("app_name")).alias("action_raw"),
        pl.lit("unknown").alias("outcome"),
        pl.col("seq").cast(pl.Int64),
        _attrs_expr().alias("attrs"),
        *[c for c in (ALT_COLUMN, KIND_COLUMN) if c in events.columns],
        *mapped,
    )
    # Mapped columns replace the parser's defaults.
    renamed = {c: c.removeprefix("map__") for c in mapped}
    return base.drop([v for v in renamed.values() if v in base.columns]).rename(renamed)


def raw_fields(events: pl.DataFrame, sd_long: pl.DataFrame) -> pl.DataFrame:
    """line_no + the raw String fields a mapping sees (see the module docstring), one row per event.

    ``sd_long`` is the batch's SD parameters (``_sd_long``): one column ``<sd_id>.<param>`` each,
    a repeated parameter as JSON array text."""
    base = events.select("line_no", *[e.alias(n) for n, e in _raw_field_exprs().items()])
    named = _grouped_params(sd_long.filter(pl.col("name").is_not_null()))
    if named.height == 0:
        return base
    flat = named.select(
        "line_no",
        pl.format("{}.{}", pl.col("sd_id"), pl.col("name")).alias("key"),
        pl.when(pl.col("value").list.len() > 1)
        .then(pl.col("value_json"))
        .otherwise(pl.col("value").list.first())
        .alias("value"),
    )
    wide = flat.pivot(on="key", index="line_no", values="value", aggregate_function="first")
    return base.join(wide, on="line_no", how="left")


def _apply_mapping(mapping: Mapping, events: pl.DataFrame, sd_long: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Mapped canonical columns (as map__<col>) for rows that evaluate; the others as quarantine rows."""
    from forensics.mapping import evaluate_columns

    values, failures = evaluate_columns(mapping, raw_fields(events, sd_long))
    values = values.rename({c: f"map__{c}" for c in values.columns if c != "line_no"})
    failed_lines = failures.get_column("line_no").implode()
    failed = events.drop("reason").filter(pl.col("line_no").is_in(failed_lines))
    bad = failed.join(failures, on="line_no", how="left")
    good = events.filter(~pl.col("line_no").is_in(failed_lines)).join(values, on="line_no", how="inner")
    return good, quarantine_rows(bad, pl.col("reason"))
