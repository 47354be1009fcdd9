"""`forensics mapping try MAPPING FILE`: see what a mapping makes of a platform's first records.

Mapping a new platform is trial and error: which operation names fell to `other`, which canonical
columns stayed empty, which lines would be quarantined and why. This runs the same parser and the
same mapping evaluation ingest runs, on the first N records of one file, and writes nothing: no
case, no staging folder, no file next to the input (the DuckDB connection is in memory).

Every log-derived string in the text summary passes `terminal_text` (controls, bidi overrides and
zero-width characters shown as ⟨U+XXXX⟩ escapes, long values cut), and the JSON form escapes the
same characters as JSON `\\uXXXX` escapes, so a hostile record cannot rewrite the user's terminal.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import polars as pl

from forensics.display import escape_char
from forensics.errors import ForensicsError, UsageError
from forensics.formats import get_format
from forensics.formats.base import FormatOptions, ParseError, ParseResult
from forensics.mapping import MAPPABLE_COLUMNS, Mapping, load_mapping
from forensics.mapping_lookups import collecting_unknown
from forensics.reader import ReadStats, check_encoding, iter_line_blocks, read_document, require_regular_file
from forensics.store import conform_events

DEFAULT_LINES: Final[int] = 20
CELL: Final[int] = 40  # characters of one value in the text summary
ROW_COLUMNS: Final[tuple[str, ...]] = ("line_no", "ts", "action", "action_raw", "actor_id", "actor_type", "outcome")
_ESCAPED: Final[frozenset[str]] = frozenset({"Cc", "Cf", "Cn", "Co", "Cs", "Zl", "Zp"})  # as forensics.display


@dataclass(frozen=True)
class TryOptions:
    lines: int = DEFAULT_LINES
    tz: str | None = None
    encoding: str | None = None  # default: the mapping's
    log_format: str | None = None  # access-log mappings: the server's format string or preset


@dataclass
class TryReport:
    mapping: str
    file: str
    format: str
    source: str
    document: bool  # a JSON document is parsed whole; rows shown are its first N records
    records: int  # records parsed (events + quarantined)
    rows: list[dict[str, Any]]  # canonical rows (mapped columns, non-null only), first N
    actions: list[dict[str, Any]]  # {action_raw, action, count}
    fell_to_other: list[dict[str, Any]]  # {action_raw, count}
    unknown_values: dict[str, Any]  # lookup-table values not listed (as ingest reports them)
    null_columns: list[str]  # mappable columns with no value in any row
    unmapped_fields: list[str]  # raw fields no expression reads (they go to attrs)
    quarantined: list[dict[str, Any]]  # {line_no, reason}, the first N
    quarantined_count: int = 0  # all of them (a JSON document is parsed whole)

    def to_json(self) -> dict[str, Any]:
        return {
            "mapping": self.mapping,
            "file": self.file,
            "format": self.format,
            "source": self.source,
            "document": self.document,
            "records": self.records,
            "rows": self.rows,
            "actions": self.actions,
            "fell_to_other": self.fell_to_other,
            "unknown_values": self.unknown_values,
            "null_columns": self.null_columns,
            "unmapped_fields": self.unmapped_fields,
            "quarantined": self.quarantined,
            "quarantined_count": self.quarantined_count,
        }

    def summary(self) -> list[str]:
        """The text form, every log-derived value escaped and cut (see module docstring)."""
        return list(_summary(self))


def try_mapping(mapping_path: Path, file: Path, options: TryOptions) -> TryReport:
    """Parse the first `options.lines` records of `file` with the mapping; nothing is written anywhere."""
    if options.lines < 1:
        raise UsageError("--lines must be at least 1")
    mapping = load_mapping(mapping_path)
    require_regular_file(file)
    fmt = get_format(mapping.format)
    encoding = check_encoding(options.encoding or mapping.encoding)
    fmt_opts = FormatOptions(
        source=mapping.source, path=str(file), log_format=options.log_format, mapping=mapping, tz=_zone(options.tz)
    )
    try:
        parser = fmt.parser(fmt_opts)
        with collecting_unknown() as tally:
            if fmt.kind == "document":
                result = parser.parse_document(read_document(file, encoding, ReadStats()))
            else:
                result = _parse_head(parser, file, encoding, _line_budget(mapping, options.lines))
    except ParseError as exc:
        raise ForensicsError(str(exc)) from exc
    events = conform_events(result.events, mapping.source, "").sort("line_no", "byte_offset")
    return _report(mapping, file, fmt.kind == "document", events, result, tally.to_json(), options.lines)


def _zone(tz: str | None) -> Any:
    if tz is None:
        return None
    from forensics.ingest import _zone as ingest_zone  # the same zone rules as ingest --tz

    return ingest_zone(tz, None)


def _line_budget(mapping: Mapping, records: int) -> int:
    header = mapping.format in ("csv", "tsv") and mapping.csv.header
    return records + int(header)


def _parse_head(parser: Any, file: Path, encoding: str, budget: int) -> ParseResult:
    """Parse lines 1..budget in one batch (the CSV header, if any, is among them); undecodable lines
    among them are reported as ingest would quarantine them."""
    good: list[pl.DataFrame] = []
    bad: list[pl.DataFrame] = []
    for block in iter_line_blocks(file, encoding, ReadStats()):
        good.append(block.good.filter(pl.col("line_no") <= budget))
        bad.append(block.undecodable.filter(pl.col("line_no") <= budget).select("line_no", "reason"))
        if _reached(block.good, block.undecodable, budget):
            break
    lines = pl.concat(good) if good else pl.DataFrame()
    if not lines.height:
        result = ParseResult(events=pl.DataFrame(schema={"line_no": pl.Int64()}), quarantine=_reasons([]))
    else:
        result = parser.parse_lines(lines)
    result.quarantine = _reasons([result.quarantine.select("line_no", "reason"), *bad])
    return result


def _reached(good: pl.DataFrame, bad: pl.DataFrame, budget: int) -> bool:
    highest = [int(f["line_no"].max()) for f in (good, bad) if f.height]  # type: ignore[arg-type]
    return bool(highest) and max(highest) >= budget


def _reasons(parts: list[pl.DataFrame]) -> pl.DataFrame:
    schema = {"line_no": pl.Int64(), "reason": pl.String()}
    frames = [p.select(pl.col("line_no").cast(pl.Int64), pl.col("reason").cast(pl.String)) for p in parts if p.height]
    return pl.concat(frames).sort("line_no") if frames else pl.DataFrame(schema=schema)


# ----------------------------------------------------------------------------------------------
# What the rows say


def _report(
    mapping: Mapping,
    file: Path,
    document: bool,
    events: pl.DataFrame,
    result: ParseResult,
    unknown: dict[str, Any],
    limit: int,
) -> TryReport:
    quarantine = result.quarantine.select("line_no", "reason").sort("line_no")
    mapped = [c for c in MAPPABLE_COLUMNS if c in mapping.columns]
    return TryReport(
        mapping=str(mapping.path),
        file=str(file),
        format=mapping.format,
        source=mapping.source,
        document=document,
        records=events.height + quarantine.height,
        rows=_rows(events.head(limit), mapped),
        actions=_distribution(events),
        fell_to_other=_fell_to_other(events),
        unknown_values=unknown,
        null_columns=[c for c in MAPPABLE_COLUMNS if events.height == 0 or events[c].null_count() == events.height],
        unmapped_fields=_unmapped(events),
        quarantined=[{"line_no": int(n), "reason": str(r)} for n, r in quarantine.head(limit).iter_rows()],
        quarantined_count=quarantine.height,
    )


def _rows(events: pl.DataFrame, mapped: list[str]) -> list[dict[str, Any]]:
    columns = ["line_no", "ts", *[c for c in mapped if c not in ("line_no", "ts")]]
    rows: list[dict[str, Any]] = []
    for row in events.select(columns).iter_rows(named=True):
        item = {k: v for k, v in row.items() if v is not None}
        if "ts" in item:
            item["ts"] = item["ts"].isoformat()
        rows.append(item)
    return rows


def _distribution(events: pl.DataFrame) -> list[dict[str, Any]]:
    counts = events.group_by("action_raw", "action").len("count")
    counts = counts.sort(["count", "action_raw", "action"], descending=[True, False, False], nulls_last=True)
    return list(counts.iter_rows(named=True))


def _fell_to_other(events: pl.DataFrame) -> list[dict[str, Any]]:
    other = events.filter(pl.col("action") == "other").group_by("action_raw").len("count")
    return list(other.sort(["count", "action_raw"], descending=[True, False], nulls_last=True).iter_rows(named=True))


def _unmapped(events: pl.DataFrame) -> list[str]:
    names: set[str] = set()
    for text in events["attrs"].drop_nulls().to_list():
        try:
            value = json.loads(text)
        except ValueError:
            continue
        if isinstance(value, dict):
            names.update(value)
    return sorted(names)


# ----------------------------------------------------------------------------------------------
# Safe output


def terminal_text(value: object, limit: int = CELL) -> str:
    """A log-derived value for a terminal: controls, bidi and zero-width characters as ⟨U+XXXX⟩, cut to `limit`."""
    text = value if isinstance(value, str) else str(value)
    shown = "".join(escape_char(c) if unicodedata.category(c) in _ESCAPED else c for c in text)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def safe_json(data: Any) -> str:
    """JSON whose strings keep their exact value but carry no raw control, bidi or zero-width character
    (written as backslash-u escapes, which any JSON reader turns back into the same text)."""
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    return "".join(_json_escape(c) if unicodedata.category(c) in _ESCAPED and c != "\n" else c for c in text)


def _json_escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def _summary(report: TryReport) -> Iterator[str]:
    cut = terminal_text
    scope = "all records of the document parsed" if report.document else "first lines parsed"
    where = f"{cut(report.mapping, 200)} on {cut(report.file, 200)}"
    yield f"mapping {where} ({report.format}, source {cut(report.source)})"
    yield f"{report.records} record(s) ({scope}); nothing was written"
    yield ""
    yield "canonical rows:"
    yield "  " + " | ".join(_pad(c, _width(c)) for c in ROW_COLUMNS)
    for row in report.rows:
        yield "  " + " | ".join(_pad(cut(row.get(c, ""), _width(c)), _width(c)) for c in ROW_COLUMNS)
    more = sorted({k for row in report.rows for k in row} - set(ROW_COLUMNS))
    if more:
        yield f"  other columns with values: {', '.join(more)}"
    yield ""
    yield "action per raw value (action_raw -> action: count):"
    for item in report.actions:
        yield f"  {cut(_or_null(item['action_raw']))} -> {item['action']}: {item['count']}"
    yield "fell to 'other': " + (
        ", ".join(f"{cut(_or_null(i['action_raw']))} ({i['count']})" for i in report.fell_to_other) or "none"
    )
    for table, entry in report.unknown_values.items():
        listed = ", ".join(f"{cut(v)} ({n})" for v, n in entry["values"].items())
        yield f"not in [{table}.values]: {listed}"
    yield "columns left null: " + (", ".join(report.null_columns) or "none")
    yield "raw fields not mapped (kept in attrs): " + (", ".join(cut(f) for f in report.unmapped_fields) or "none")
    shown = f" (first {len(report.quarantined)} shown)" if report.quarantined_count > len(report.quarantined) else ""
    yield f"would be quarantined: {report.quarantined_count}{shown}" + (":" if report.quarantined else "")
    for item in report.quarantined:
        yield f"  line {item['line_no']}: {cut(item['reason'], 160)}"


def _pad(text: str, width: int) -> str:
    """Pad to `width` terminal cells (a Chinese character takes two)."""
    cells = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(0, width - cells)


def _width(column: str) -> int:
    return {"line_no": 7, "ts": 32, "outcome": 7}.get(column, 16)


def _or_null(value: object) -> str:
    return "(null)" if value is None else str(value)
