"""The contract between ingest and a format parser.

Ingest reads a file, hashes it, splits it into lines, decodes them and sets aside blank
and undecodable lines. A *line* format then receives batches of the remaining lines as a
polars DataFrame with columns:

    line_no: Int64      1-based physical line number in the decompressed stream
    byte_offset: Int64  offset of the line's first byte in the decompressed stream
    raw: Binary         the line's exact bytes, without the trailing newline
    text: String        the decoded line, trailing CR and a leading UTF-8 BOM removed

and must return a ParseResult in which *every* input line_no appears exactly once,
as an event, in quarantine, or as a structural line such as a CSV header (ingest checks
this and aborts otherwise).

A *document* format (JSON array, CloudTrail envelope) receives the whole decoded file once
through ``parse_document`` and reports one event or quarantine row per record; the
line_no of a record is the physical line where it starts.

Events carry any subset of forensics.schema.EVENT_COLUMNS except source, src_sha256
and row_digest (ingest adds them and fills absent columns with nulls). ``ts`` must be a
UTC Datetime("us", "UTC"); a record whose time cannot be established goes to quarantine.
Unmapped raw fields go into ``attrs`` as a JSON object string.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal, Protocol
from zoneinfo import ZoneInfo

import polars as pl

if TYPE_CHECKING:
    from forensics.mapping import Mapping


class ParseError(Exception):
    """A problem with the input or options that stops a whole file (not one line).

    Raised e.g. for zone-less timestamps without --tz. The message names the file and line.
    """


@dataclass(frozen=True)
class FormatOptions:
    source: str
    path: str  # display path of the input, for messages
    log_format: str | None = None  # nginx/apache format string or preset name
    mapping: Mapping | None = None
    tz: ZoneInfo | None = None  # zone of zone-less timestamps (--tz); None means refuse them
    year_hint: int | None = None  # syslog 3164: year of the file's last record, see formats/syslog.py
    # syslog 3164 without --year: the file's mtime (or now, if earlier). No inferred date lands after it
    # (beyond YEAR_LIMIT_TOLERANCE); year_hint is then the year of this instant in the --tz zone.
    year_limit: datetime | None = None
    extra: dict[str, str] = field(default_factory=dict)


QUARANTINE_FRAME_SCHEMA: dict[str, pl.DataType] = {
    "line_no": pl.Int64(),
    "byte_offset": pl.Int64(),
    "raw": pl.Binary(),
    "reason": pl.String(),
}


@dataclass
class ParseResult:
    events: pl.DataFrame
    quarantine: pl.DataFrame  # columns of QUARANTINE_FRAME_SCHEMA
    # Lines that are neither events nor bad data: a CSV header, a W3C #Fields directive.
    # Same columns as quarantine; ingest counts them and keeps them in the manifest.
    structural: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=QUARANTINE_FRAME_SCHEMA))

    @staticmethod
    def empty_quarantine() -> pl.DataFrame:
        return pl.DataFrame(schema=QUARANTINE_FRAME_SCHEMA)


class Parser(Protocol):
    def parse_lines(self, batch: pl.DataFrame) -> ParseResult: ...

    def parse_document(self, text: str) -> ParseResult: ...


class Format(Protocol):
    name: str
    kind: Literal["lines", "document"]
    description: str

    def parser(self, options: FormatOptions) -> Parser:
        """Validate options (raise ParseError with a clear message) and return a parser."""
        ...

    def sniff(self, sample: list[str]) -> float:
        """Confidence 0..1 that these first decoded lines are in this format (for --format auto)."""
        ...


def quarantine_rows(batch: pl.DataFrame, reason: pl.Expr | str) -> pl.DataFrame:
    """Build quarantine rows for (a filtered part of) a line batch."""
    reason_expr = pl.lit(reason) if isinstance(reason, str) else reason
    return batch.select(
        pl.col("line_no"), pl.col("byte_offset"), pl.col("raw"), reason_expr.cast(pl.String).alias("reason")
    )
