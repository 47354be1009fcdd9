"""Vectorized timestamp normalization shared by every format.

Inside the product every time is UTC. A parser hands over the timestamp text as written;
this module splits off an explicit offset (Z, +08:00, +0800), parses the rest, and converts
to UTC. Text without an offset is only accepted when the user named the writer's zone
(--tz); otherwise ingest refuses the file, because guessing a zone silently moves events
in or out of an incident window.
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass
class Normalized:
    ts: pl.Series  # Datetime("us", "UTC"), null where error is set
    ts_offset: pl.Series  # String: offset as written, or the --tz zone name
    error: pl.Series  # String: null when fine, else why the text is not a time


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
        zoned = (
            pl.col("naive")
            .dt.replace_time_zone(tz.key, ambiguous="earliest", non_existent="null")
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
        .when(pl.col("ts").is_null())
        .then(pl.lit("local time '") + pl.col("t") + pl.lit(f"' does not exist in {tz.key if tz else ''} (DST gap)"))
        .otherwise(None)
    )
    done = lazy.with_columns(
        pl.when(pl.col("error").is_null()).then(pl.col("ts")).otherwise(None).alias("ts")
    ).collect()
    return Normalized(done["ts"].cast(pl.Datetime("us", "UTC")), done["ts_offset"], done["error"])


def refuse_zoneless(errors: pl.Series, line_nos: pl.Series, path: str) -> None:
    """Raise the whole-file refusal when a timestamp carries no zone and no --tz was given."""
    mask = errors == NO_ZONE
    if mask.any():
        first = int(line_nos.filter(mask)[0])
        raise ParseError(
            f"{path}:{first}: timestamp has no UTC offset or zone; pass --tz ZONE (e.g. --tz Asia/Shanghai) "
            "to say which zone the source wrote in"
        )
