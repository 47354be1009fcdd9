"""Vectorized timestamp normalization shared by every format.

Inside the product every time is UTC. A parser hands over the timestamp text as written;
this module splits off an explicit offset (Z, +08:00, +0800), parses the rest, and converts
to UTC. Text without an offset is only accepted when the user named the writer's zone
(--tz); otherwise ingest refuses the file, because guessing a zone silently moves events
in or out of an incident window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from forensics.formats.base import ParseError

# Tried in order when the caller gives no explicit format. Fractional seconds are optional.
DEFAULT_FORMATS: tuple[str, ...] = (
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y/%m/%d %H:%M:%S%.f",
    "%Y/%m/%d %H:%M:%S",
    "%d/%b/%Y:%H:%M:%S",
    "%d/%b/%Y:%H:%M:%S%.f",
)

_OFFSET_RE = r"(?:\s*)(Z|z|UTC|GMT|[+-]\d{2}:?\d{2})$"

NO_ZONE = "__no_zone__"  # marker in the error column: text parsed but carries no zone
AMBIGUOUS = "ambiguous"  # Normalized.local_kind: the zone's clock showed this time twice (DST ends)
SKIPPED = "nonexistent"  # ... never (DST starts: the clock jumped over it)


@dataclass
class Normalized:
    ts: pl.Series  # Datetime("us", "UTC"), null where error is set
    ts_offset: pl.Series  # String: offset as written, or the --tz zone name
    error: pl.Series  # String: null when fine, else why the text is not a time
    # A local time (--tz) that the zone's clock showed twice (the repeated hour) or never (the
    # skipped hour) has two readings: ts is the preferred one, alt the other, local_kind says which
    # case. File order decides between them later (resolve_local_times); null for every other row.
    alt: pl.Series | None = None
    local_kind: pl.Series | None = None


def _offset_minutes(offset: pl.Expr) -> pl.Expr:
    """'+08:00' / '+0800' / 'Z' -> signed minutes east of UTC."""
    digits = offset.str.replace_all(":", "")
    sign = pl.when(digits.str.starts_with("-")).then(-1).otherwise(1)
    hours = digits.str.slice(1, 2).cast(pl.Int32, strict=False)
    minutes = digits.str.slice(3, 2).cast(pl.Int32, strict=False)
    explicit = sign * (hours * 60 + minutes)
    return pl.when(offset.is_in(["Z", "z", "UTC", "GMT"])).then(0).otherwise(explicit)


def _parse_naive(body: pl.Series, formats: tuple[str, ...]) -> pl.Series:
    """The first format that parses each text wins (as a coalesce over all formats would say), but
    each later format only sees the texts still unparsed: a uniform log pays for one strptime."""
    parsed = body.str.strptime(pl.Datetime("us"), formats[0], strict=False, exact=True)
    for fmt in formats[1:]:
        todo = (parsed.is_null() & body.is_not_null()).arg_true()
        if todo.len() == 0:
            break
        retry = body.gather(todo).str.strptime(pl.Datetime("us"), fmt, strict=False, exact=True)
        parsed = parsed.scatter(todo, retry)
    return parsed


def normalize(
    texts: pl.Series,
    *,
    formats: tuple[str, ...] | None = None,
    tz: ZoneInfo | None = None,
    epoch_unit: str | None = None,
) -> Normalized:
    """Turn timestamp text into UTC. Never raises for bad data: errors are per row.

    epoch_unit ('s', 'ms', 'us') reads numeric text as a Unix epoch (always UTC).
    """
    frame = pl.DataFrame({"t": texts.cast(pl.String)})
    t = pl.col("t").str.strip_chars()
    if epoch_unit is not None:
        scale = {"s": 1_000_000, "ms": 1_000, "us": 1}[epoch_unit]
        micros = (t.cast(pl.Float64, strict=False) * scale).round(0).cast(pl.Int64, strict=False)
        out = frame.select(
            ts=micros.cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
            ts_offset=pl.lit("epoch"),
        )
        err = out.select(
            pl.when(pl.col("ts").is_null()).then(pl.lit("not a Unix epoch number")).otherwise(None).alias("error")
        )
        return Normalized(out["ts"], out["ts_offset"], err["error"])

    # Lazy, so the shared subexpressions (the stripped text, the offset digits) are computed once.
    out = (
        frame.lazy()
        .with_columns(off=t.str.extract(_OFFSET_RE, 1))
        .with_columns(
            body=pl.when(pl.col("off").is_not_null()).then(t.str.replace(_OFFSET_RE, "")).otherwise(t),
        )
        .collect()
    )
    lazy = out.with_columns(naive=_parse_naive(out.get_column("body"), formats or DEFAULT_FORMATS)).lazy()
    # A corrupted byte must not move an event silently: years outside 1..9999 (chrono reads a
    # year of any length) and offsets no zone has ever used (beyond ±14:00, minutes >= 60) are errors.
    year_ok = pl.col("naive").dt.year().is_between(1, 9999)
    off_digits = pl.col("off").str.replace_all(":", "")
    offset_ok = pl.col("off").is_in(["Z", "z", "UTC", "GMT"]) | (
        (off_digits.str.slice(1, 2).cast(pl.Int32, strict=False) <= 14)
        & (off_digits.str.slice(3, 2).cast(pl.Int32, strict=False) < 60)
    )
    explicit = (pl.col("naive") - pl.duration(minutes=_offset_minutes(pl.col("off")))).dt.replace_time_zone("UTC")
    if tz is not None:
        # One pass: a repeated or skipped local time comes out null here and gets both of its readings
        # in _with_local_readings, in Python (a few rows a year), not from a second pass over every row.
        zoned = (
            pl.col("naive")
            .dt.replace_time_zone(tz.key, ambiguous="null", non_existent="null")
            .dt.convert_time_zone("UTC")
        )
    else:
        zoned = pl.lit(None, dtype=pl.Datetime("us", "UTC"))
    lazy = lazy.with_columns(
        ts=pl.when(pl.col("off").is_not_null()).then(explicit).otherwise(zoned),
        ts_offset=pl.when(pl.col("off").is_not_null())
        .then(pl.col("off"))
        .otherwise(pl.lit(tz.key if tz else None, dtype=pl.String)),
    )
    lazy = lazy.with_columns(
        error=pl.when(pl.col("t").is_null() | (pl.col("t").str.strip_chars() == ""))
        .then(pl.lit("missing timestamp"))
        .when(pl.col("naive").is_null())
        .then(pl.lit("unparseable timestamp '") + pl.col("t") + pl.lit("'"))
        .when(~year_ok)
        .then(pl.lit("unparseable timestamp '") + pl.col("t") + pl.lit("': year outside 1..9999"))
        .when(pl.col("off").is_not_null() & ~offset_ok.fill_null(False))
        .then(pl.lit("unparseable timestamp '") + pl.col("t") + pl.lit("': impossible UTC offset"))
        .when(pl.col("off").is_null() & pl.lit(tz is None))
        .then(pl.lit(NO_ZONE))
        .otherwise(None)
    )
    done = lazy.with_columns(
        pl.when(pl.col("error").is_null() | pl.col("ts").is_null()).then(pl.col("ts")).otherwise(None).alias("ts")
    ).collect()
    ts = done["ts"].cast(pl.Datetime("us", "UTC"))
    if tz is None:
        return Normalized(ts, done["ts_offset"], done["error"])
    return _with_local_readings(done, ts, tz)


def _with_local_readings(done: pl.DataFrame, ts: pl.Series, tz: ZoneInfo) -> Normalized:
    """Both readings of repeated-hour and skipped-hour local times (see Normalized): the rows that
    parsed, carry no offset and still have no instant."""
    n = len(done)
    kind = pl.Series("k", [None] * n, dtype=pl.String)
    alt = pl.Series("a", [None] * n, dtype=pl.Datetime("us", "UTC"))
    pending = (
        done.select((pl.col("error").is_null() & pl.col("off").is_null() & pl.col("naive").is_not_null()).alias("p"))[
            "p"
        ]
        & ts.is_null()
    )
    if not pending.any():
        return Normalized(ts, done["ts_offset"], done["error"], alt=alt, local_kind=kind)
    idx = pending.arg_true()
    kinds: list[str] = []
    preferred: list[datetime] = []
    other: list[datetime] = []
    for naive in done["naive"].gather(idx).to_list():
        first, second = _utc(naive.replace(tzinfo=tz, fold=0)), _utc(naive.replace(tzinfo=tz, fold=1))
        # repeated hour: fold=0 is the first pass (the earlier instant); skipped hour: fold=0 reads the
        # clock as not yet moved on (the offset before the change), the preferred reading
        kinds.append(AMBIGUOUS if first.astimezone(tz).replace(tzinfo=None) == naive else SKIPPED)
        preferred.append(first)
        other.append(second)
    ts = ts.scatter(idx, pl.Series(preferred, dtype=pl.Datetime("us", "UTC")))
    alt = alt.scatter(idx, pl.Series(other, dtype=pl.Datetime("us", "UTC")))
    kind = kind.scatter(idx, pl.Series(kinds, dtype=pl.String))
    return Normalized(ts, done["ts_offset"], done["error"], alt=alt, local_kind=kind)


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def refuse_zoneless(errors: pl.Series, line_nos: pl.Series, path: str) -> None:
    """Raise the whole-file refusal when a timestamp carries no zone and no --tz was given."""
    mask = errors == NO_ZONE
    if mask.any():
        first = int(line_nos.filter(mask)[0])
        raise ParseError(
            f"{path}:{first}: timestamp has no UTC offset or zone; pass --tz ZONE (e.g. --tz Asia/Shanghai) "
            "to say which zone the source wrote in"
        )


# ---------------------------------------------------------------- repeated and skipped local times

ALT_COLUMN = "_ts_alt"  # event columns a parser passes on from Normalized.alt / .local_kind
KIND_COLUMN = "_ts_local"
# Records a few minutes out of order are writers racing each other, not a clock set back an hour.
ORDER_TOLERANCE = timedelta(minutes=15)
_FLAGS = {
    (AMBIGUOUS, 0): "repeated hour (DST end): first reading, by file order",
    (AMBIGUOUS, 1): "repeated hour (DST end): second reading, by file order",
    (SKIPPED, 0): "skipped hour (DST start): read with the offset before the change, by file order",
    (SKIPPED, 1): "skipped hour (DST start): read with the offset after the change, by file order",
}


def local_readings(norm: Normalized) -> dict[str, pl.Series]:
    """The columns a parser adds to its events so ingest can place repeated/skipped local times."""
    if norm.alt is None or norm.local_kind is None:
        return {}
    return {ALT_COLUMN: norm.alt.alias(ALT_COLUMN), KIND_COLUMN: norm.local_kind.alias(KIND_COLUMN)}


_CONTEXT = ("ts_raw", "ts_offset", "attrs")  # what a flag or a reason quotes


@dataclass
class LocalOrder:
    """Chooses between the two readings of repeated/skipped local times by file order (as lnav does).

    One per input file; batches must come in file order. A flagged record takes the first of its
    readings (the preferred one: see Normalized) that is not before the record above it, less
    ORDER_TOLERANCE; the choice is written into its attrs as ``local_time``. A record neither of
    whose readings keeps the order cannot be placed by it: it is quarantined with both readings."""

    prev: datetime | None = None  # ts of the last event so far, in file order

    def resolve(self, events: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """events in file order -> (events with ts chosen, attrs flagged and the helper columns
        dropped; line_no + byte_offset + reason of the records order cannot place)."""
        undecided = pl.DataFrame(schema={"line_no": pl.Int64, "byte_offset": pl.Int64, "reason": pl.String})
        if KIND_COLUMN not in events.columns or events.height == 0:
            self._remember(events)
            return events.drop([c for c in (ALT_COLUMN, KIND_COLUMN) if c in events.columns]), undecided
        flagged = events.get_column(KIND_COLUMN).is_not_null()
        if not flagged.any():
            self._remember(events)
            return events.drop(ALT_COLUMN, KIND_COLUMN), undecided
        # Python only for the flagged rows (a DST night's worth) and the row before each.
        idx = flagged.arg_true().to_list()
        ts_col = events.get_column("ts")
        picked = events.select(
            pl.col("ts").gather(idx),
            pl.col(ALT_COLUMN).gather(idx),
            pl.col(KIND_COLUMN).gather(idx),
            *[pl.col(c).gather(idx) if c in events.columns else pl.lit(None).alias(c) for c in _CONTEXT],
        )
        before = {i - 1: ts_col[i - 1] for i in idx if i > 0}
        flagged_at = set(idx)
        resolved: dict[int, datetime] = {}
        bad: list[int] = []
        reasons: list[str] = []
        attrs_out: list[str | None] = []
        prev = self.prev
        for k, row in enumerate(picked.iter_rows(named=True)):  # in file order
            i = idx[k]
            if i > 0 and (i - 1) in resolved:
                prev = resolved[i - 1]
            elif i > 0 and (i - 1) not in flagged_at:
                prev = before[i - 1]
            # else: the record above was flagged and quarantined; the one before it still stands
            readings = (row["ts"], row[ALT_COLUMN])
            floor = None if prev is None else prev - ORDER_TOLERANCE
            pick = next((n for n, r in enumerate(readings) if floor is None or r >= floor), None)
            if pick is None:
                bad.append(i)
                reasons.append(
                    f"{row[KIND_COLUMN]} local time '{row['ts_raw']}' in {row['ts_offset']}: neither reading "
                    f"({_iso(readings[0])} or {_iso(readings[1])}) keeps the file's order after the record before "
                    f"it ({_iso(prev)}); file order cannot decide"
                )
                attrs_out.append(row["attrs"])
                continue
            resolved[i] = readings[pick]
            prev = resolved[i]
            attrs_out.append(_with_flag(row["attrs"], _FLAGS[(row[KIND_COLUMN], pick)]))
        last = events.height - 1
        self.prev = resolved.get(last, prev) if flagged[last] else ts_col[last]
        new_ts = ts_col.scatter(list(resolved), pl.Series(list(resolved.values()), dtype=pl.Datetime("us", "UTC")))
        out = events.with_columns(new_ts.alias("ts"))
        if "attrs" in events.columns:
            out = out.with_columns(out.get_column("attrs").scatter(idx, pl.Series(attrs_out, dtype=pl.String)))
        if bad:
            mask = pl.Series([False] * events.height).scatter(bad, True)
            undecided = out.filter(mask).select("line_no", "byte_offset", pl.Series("reason", reasons, dtype=pl.String))
            out = out.filter(~mask)
        return out.drop(ALT_COLUMN, KIND_COLUMN), undecided

    def _remember(self, events: pl.DataFrame) -> None:
        if events.height:
            self.prev = events.get_column("ts")[-1]


def _iso(value: datetime | None) -> str:
    return "none" if value is None else value.strftime("%Y-%m-%dT%H:%M:%S.%fZ").replace(".000000Z", "Z")


def _with_flag(attrs: str | None, flag: str) -> str:
    import json

    data = json.loads(attrs) if attrs else {}
    if not isinstance(data, dict):
        data = {"attrs": data}
    data["local_time"] = flag
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))
