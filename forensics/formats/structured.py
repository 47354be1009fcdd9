"""Structured formats that become events through a mapping file: jsonl, json, cloudtrail, csv, tsv.

Raw records are turned into one String column per raw field (top-level JSON keys, CSV
headers; nested JSON values arrive as JSON text) and handed to forensics.mapping, which runs
the mapping's SQL over the whole batch. The JSON path is vectorized in DuckDB (validity,
type, field extraction and the attrs object are computed for the batch at once); Python's
json module only runs on the few lines DuckDB rejects, to say exactly where they are broken.
CSV lines without quotes are split by polars; quoted lines go through the csv module.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import polars as pl

from forensics.formats.base import (
    QUARANTINE_FRAME_SCHEMA,
    FormatOptions,
    ParseError,
    ParseResult,
    quarantine_rows,
)
from forensics.mapping import (
    Mapping,
    arrow_for_duckdb,
    evaluate,
    load_mapping,
    referenced_fields,
    sandbox_connection,
)
from forensics.timeparse import refuse_zoneless

BUILTIN_DIR: Final[Path] = Path(__file__).resolve().parent.parent / "mappings_builtin"
CLOUDTRAIL_MAPPING: Final[Path] = BUILTIN_DIR / "cloudtrail.toml"

_CSV_FAMILY: Final[tuple[str, ...]] = ("csv", "tsv")
_RID: Final[str] = "__forensics_rid"  # row id inside a batch: records of one document may share a line


def _strict_json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# Python's json accepts NaN/Infinity; evidence parsing should not.
_DECODER: Final[json.JSONDecoder] = json.JSONDecoder(parse_constant=_strict_json_constant)


@functools.cache
def builtin_cloudtrail_mapping() -> Mapping:
    """The shipped CloudTrail mapping, loaded (and validated) once per process."""
    return load_mapping(CLOUDTRAIL_MAPPING)


def _require_mapping(name: str, options: FormatOptions) -> Mapping:
    if options.mapping is not None:
        return options.mapping
    if name == "cloudtrail":
        return builtin_cloudtrail_mapping()
    raise ParseError(f"{options.path}: format {name} needs --mapping FILE (see mappings/ for examples)")


# ----------------------------------------------------------------------------------------------
# Shared: records -> events


def _no_events() -> pl.DataFrame:
    # ingest reads line_no from every result, so even an empty one carries the column
    return pl.DataFrame(schema={"line_no": pl.Int64(), "byte_offset": pl.Int64()})


def _empty_result() -> ParseResult:
    return ParseResult(events=_no_events(), quarantine=ParseResult.empty_quarantine())


def _to_events(
    records: pl.DataFrame, fields: pl.DataFrame, mapping: Mapping, options: FormatOptions
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """records: row id, line_no, byte_offset, raw, attrs; fields: row id + raw field columns."""
    ev = evaluate(mapping, fields.rename({_RID: "line_no"}), options.tz)
    if ev.zoneless_line is not None:
        first = records.filter(pl.col(_RID) == ev.zoneless_line)["line_no"][0]
        refuse_zoneless(pl.Series(["__no_zone__"]), pl.Series([first]), options.path)
    provenance = records.select(_RID, "line_no", "byte_offset", "attrs")
    events = ev.values.rename({"line_no": _RID}).join(provenance, on=_RID, how="left").sort(_RID).drop(_RID)
    lead = ["line_no", "byte_offset"]
    events = events.select(lead + [c for c in events.columns if c not in lead])
    failed = ev.failures.rename({"line_no": _RID}).join(records, on=_RID, how="inner")
    return events, quarantine_rows(failed, pl.col("reason"))


def _concat_quarantine(parts: list[pl.DataFrame]) -> pl.DataFrame:
    parts = [p.select([pl.col(c).cast(t) for c, t in QUARANTINE_FRAME_SCHEMA.items()]) for p in parts if p.height]
    if not parts:
        return ParseResult.empty_quarantine()
    return pl.concat(parts).sort("line_no", "byte_offset")


# ----------------------------------------------------------------------------------------------
# JSON records (jsonl lines, or the records of a json/cloudtrail document)


def _pointer(key: str) -> str:
    """RFC 6901 JSON pointer for a top-level key (DuckDB's path syntax for arbitrary key text)."""
    return "/" + key.replace("~", "~0").replace("/", "~1")


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _json_sql(keys: list[str]) -> str:
    # try() turns invalid JSON into a NULL type instead of failing the batch; only object rows
    # reach the extraction (DuckDB's CASE is not lazy for JSON functions, hence the CTEs).
    paths = "[" + ", ".join(_sql_str(_pointer(k)) for k in keys) + "]"
    patch = _sql_str(json.dumps(dict.fromkeys(keys), ensure_ascii=False))
    extract = f"json_extract_string(obj, {paths})" if keys else "NULL::VARCHAR[]"
    return f"""
        WITH t AS (SELECT {_RID}, text, try(json_type(text)) AS jtype FROM json_batch),
        o AS (SELECT {_RID}, jtype, CASE WHEN jtype = 'OBJECT' THEN text END AS obj FROM t)
        SELECT {_RID}, jtype, {extract} AS vals, json_merge_patch(obj, {patch})::VARCHAR AS attrs FROM o
    """


def _decode_objects(records: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """records: row id, text -> row id, jtype, vals (list of key values), attrs (unreferenced keys as JSON)."""
    con = sandbox_connection()
    con.register("json_batch", arrow_for_duckdb(records.select(_RID, "text")))
    try:
        out = pl.from_arrow(con.sql(_json_sql(keys)).to_arrow_table())
    finally:
        con.unregister("json_batch")
    assert isinstance(out, pl.DataFrame)
    return out


def _json_error(text: str) -> str:
    """Why one JSON text is not a record: Python's message carries the position."""
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        return f"invalid JSON: {exc.msg}: column {exc.colno} (char {exc.pos})"
    except (ValueError, RecursionError) as exc:
        return f"invalid JSON: {exc}"
    if not isinstance(value, dict):
        return f"JSON value is {_json_kind(value)}, not an object"
    return "invalid JSON: rejected by the JSON engine (e.g. a lone UTF-16 surrogate escape)"


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return "a number"


def _parse_json_records(records: pl.DataFrame, mapping: Mapping, options: FormatOptions) -> ParseResult:
    """records: row id, line_no, byte_offset, raw, text (one JSON object expected per row)."""
    if records.height == 0:
        return _empty_result()
    # A raw key named line_no cannot be told apart from the row id: it stays in attrs instead.
    keys = sorted(k for k in referenced_fields(mapping) if k not in ("line_no", _RID))
    decoded = _decode_objects(records, keys).join(records, on=_RID, how="left")
    objects = decoded.filter(pl.col("jtype") == "OBJECT")
    broken = decoded.filter(pl.col("jtype").is_null() | (pl.col("jtype") != "OBJECT"))
    reasons = [_json_error(t) for t in broken["text"].to_list()]  # the few irregular lines only
    bad = quarantine_rows(broken, pl.lit(pl.Series("reason", reasons, dtype=pl.String)))
    fields = objects.select(_RID, *[pl.col("vals").list.get(i, null_on_oob=True).alias(k) for i, k in enumerate(keys)])
    events, failed = _to_events(objects, fields, mapping, options)
    return ParseResult(events=events, quarantine=_concat_quarantine([bad, failed]))


@dataclass
class JsonLinesParser:
    mapping: Mapping
    options: FormatOptions

    def parse_lines(self, batch: pl.DataFrame) -> ParseResult:
        return _parse_json_records(batch.with_row_index(_RID).cast({_RID: pl.Int64}), self.mapping, self.options)

    def parse_document(self, text: str) -> ParseResult:
        raise ParseError(f"{self.options.path}: jsonl is a line format")


# ----------------------------------------------------------------------------------------------
# JSON documents: an array of records, a CloudTrail {"Records": [...]} envelope, or JSON lines of either


@dataclass
class _Span:
    start: int  # char index of the record's first character
    end: int
    value: Any


class _Positions:
    """Char index -> (1-based line, UTF-8 byte offset), walking forward through the text once."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.char = 0
        self.line = 1
        self.byte = 0

    def at(self, index: int) -> tuple[int, int]:
        if index < self.char:  # callers go forward; restart if not
            self.char, self.line, self.byte = 0, 1, 0
        chunk = self.text[self.char : index]
        self.line += chunk.count("\n")
        self.byte += len(chunk.encode("utf-8", "surrogatepass"))
        self.char = index
        return self.line, self.byte


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n\ufeff":
        i += 1
    return i


def _top_values(text: str) -> list[_Span]:
    """Every top-level JSON value in text (one, or several separated by whitespace)."""
    spans: list[_Span] = []
    i = _skip_ws(text, 0)
    while i < len(text):
        value, end = _DECODER.raw_decode(text, i)
        spans.append(_Span(i, end, value))
        i = _skip_ws(text, end)
    return spans


def _children(text: str, span: _Span, envelope: str | None) -> list[_Span] | None:
    """The records inside a container value (array, or {envelope: [...]}), with their positions."""
    value = span.value
    if isinstance(value, list):
        open_at = span.start
    elif envelope and isinstance(value, dict) and isinstance(value.get(envelope), list):
        # Find the array that follows the envelope key: decode keys in order until we reach it.
        open_at = _envelope_array_start(text, span.start, envelope)
    else:
        return None
    spans: list[_Span] = []
    i = _skip_ws(text, open_at + 1)
    while i < len(text) and text[i] != "]":
        item, end = _DECODER.raw_decode(text, i)
        spans.append(_Span(i, end, item))
        i = _skip_ws(text, end)
        if i < len(text) and text[i] == ",":
            i = _skip_ws(text, i + 1)
    return spans


def _envelope_array_start(text: str, start: int, envelope: str) -> int:
    i = _skip_ws(text, start + 1)
    while True:
        key, end = _DECODER.raw_decode(text, i)
        i = _skip_ws(text, end)
        i = _skip_ws(text, i + 1)  # past ':'
        if key == envelope:
            return i
        _, end = _DECODER.raw_decode(text, i)
        i = _skip_ws(text, _skip_ws(text, end) + 1)  # past ','


def _records_frame(text: str, spans: list[_Span]) -> pl.DataFrame:
    pos = _Positions(text)
    rows: list[tuple[int, int, int, bytes, str]] = []
    for rid, span in enumerate(spans):
        line_no, byte_offset = pos.at(span.start)
        record = text[span.start : span.end]
        rows.append((rid, line_no, byte_offset, record.encode("utf-8", "surrogatepass"), record))
    schema = {
        _RID: pl.Int64(),
        "line_no": pl.Int64(),
        "byte_offset": pl.Int64(),
        "raw": pl.Binary(),
        "text": pl.String(),
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


def _mostly_json_lines(text: str, sample: int = 50) -> bool:
    """True when most of the first non-blank lines are whole JSON values: a JSON-lines file
    (with some broken lines) rather than one pretty-printed document that is broken."""
    lines = [line for line in text.split("\n")[: sample * 2] if line.strip()][:sample]
    complete = 0
    for line in lines:
        with contextlib.suppress(ValueError, RecursionError):
            _DECODER.decode(line)
            complete += 1
    return bool(lines) and complete * 2 > len(lines)


def _decode_error(exc: ValueError | RecursionError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg}: column {exc.colno} (char {exc.pos})"
    return str(exc)


@dataclass
class DocumentParser:
    mapping: Mapping
    options: FormatOptions
    envelope: str | None  # "Records" for CloudTrail

    def parse_lines(self, batch: pl.DataFrame) -> ParseResult:
        raise ParseError(f"{self.options.path}: {self.mapping.format} is a document format")

    def parse_document(self, text: str) -> ParseResult:
        # One pass over the whole text handles pretty-printed documents, single-line envelopes and
        # JSON lines alike (they are a sequence of top-level values). Only if that fails does it
        # matter which it was: a broken JSON-lines file loses just its broken lines, a broken
        # document is quarantined whole (guessing where its records were would be invention).
        try:
            spans = self._spans(text, 0)
        except (ValueError, RecursionError) as exc:
            if _mostly_json_lines(text):
                return self._parse_json_lines(text)
            return self._broken_document(text, exc)
        return _parse_json_records(_records_frame(text, spans), self.mapping, self.options)

    def _spans(self, text: str, base: int) -> list[_Span]:
        """Records in text (a slice of the document starting at char base), positioned in the document."""
        spans: list[_Span] = []
        for top in _top_values(text):
            children = _children(text, top, self.envelope)
            for child in [top] if children is None else children:  # an empty container has no records
                spans.append(_Span(base + child.start, base + child.end, child.value))
        return spans

    def _parse_json_lines(self, text: str) -> ParseResult:
        """One container or record per physical line; a broken line only costs that line."""
        pos = _Positions(text)
        spans: list[_Span] = []
        broken: list[tuple[int, int, bytes, str]] = []
        start = 0
        for line in text.split("\n"):
            body = line.removesuffix("\r")
            if body.strip(" \t\ufeff"):
                try:
                    spans.extend(self._spans(body, start))
                except (ValueError, RecursionError) as exc:
                    line_no, byte_offset = pos.at(start)
                    raw = body.encode("utf-8", "surrogatepass")
                    broken.append((line_no, byte_offset, raw, f"invalid JSON: {_decode_error(exc)}"))
            start += len(line) + 1
        result = _parse_json_records(_records_frame(text, spans), self.mapping, self.options)
        bad = pl.DataFrame(broken, schema=QUARANTINE_FRAME_SCHEMA, orient="row")
        return ParseResult(events=result.events, quarantine=_concat_quarantine([result.quarantine, bad]))

    def _broken_document(self, text: str, exc: ValueError | RecursionError) -> ParseResult:
        if isinstance(exc, json.JSONDecodeError):
            reason = f"invalid JSON document: {exc.msg}: line {exc.lineno} column {exc.colno} (char {exc.pos})"
        else:
            reason = f"invalid JSON document: {exc}"
        row = {"line_no": [1], "byte_offset": [0], "raw": [text.encode("utf-8", "surrogatepass")], "reason": [reason]}
        return ParseResult(events=_no_events(), quarantine=pl.DataFrame(row, schema=QUARANTINE_FRAME_SCHEMA))


# ----------------------------------------------------------------------------------------------
# CSV / TSV


def _csv_cells(line: str, delimiter: str, quote: str) -> list[str]:
    """One line through the csv module (strict: a stray or unterminated quote is an error)."""
    if quote:
        reader = csv.reader([line], delimiter=delimiter, quotechar=quote, strict=True)
    else:
        reader = csv.reader([line], delimiter=delimiter, quoting=csv.QUOTE_NONE, strict=True)
    rows = list(reader)
    return rows[0] if rows else [""]


def _csv_error(exc: csv.Error) -> str:
    text = str(exc)
    if "unexpected end of data" in text or "EOF" in text or "newline inside string" in text:
        return "unterminated quoted cell (a quoted value must close on the same line)"
    return f"malformed CSV line: {text}"


def _unique_names(names: list[str], where: str) -> list[str]:
    out = [n if n else f"column_{i + 1}" for i, n in enumerate(names)]
    seen: set[str] = set()
    for name in out:
        if name in seen:
            raise ParseError(
                f"{where}: duplicate column name {name!r} in the CSV header; name the columns in the "
                "mapping instead ([csv] header = false, columns = [...])"
            )
        seen.add(name)
    return out


@dataclass
class CsvParser:
    mapping: Mapping
    options: FormatOptions
    names: list[str] | None = None  # from the header line, read from the first batch

    def __post_init__(self) -> None:
        if not self.mapping.csv.header:
            self.names = list(self.mapping.csv.columns)

    def parse_document(self, text: str) -> ParseResult:
        raise ParseError(f"{self.options.path}: {self.mapping.format} is a line format")

    def parse_lines(self, batch: pl.DataFrame) -> ParseResult:
        structural = ParseResult.empty_quarantine()
        if self.names is None and batch.height:
            structural = self._read_header(batch.head(1))
            batch = batch.slice(1)
        assert self.names is not None or batch.height == 0
        if batch.height == 0 or self.names is None:
            return ParseResult(events=_no_events(), quarantine=ParseResult.empty_quarantine(), structural=structural)
        batch = batch.with_row_index(_RID).cast({_RID: pl.Int64})
        cells, bad = self._split(batch)
        result = self._events(batch, cells)
        return ParseResult(events=result[0], quarantine=_concat_quarantine([bad, result[1]]), structural=structural)

    def _read_header(self, first: pl.DataFrame) -> pl.DataFrame:
        line_no = int(first["line_no"][0])
        where = f"{self.options.path}:{line_no}"
        try:
            names = _csv_cells(first["text"][0], self.mapping.csv.delimiter, self.mapping.csv.quote)
        except csv.Error as exc:
            raise ParseError(f"{where}: cannot read the CSV header: {_csv_error(exc)}") from exc
        self.names = _unique_names(names, where)
        return quarantine_rows(first, "csv header")

    def _split(self, batch: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Cells for every well-formed line (row id + one column per name) and quarantine for the rest."""
        assert self.names is not None
        opts = self.mapping.csv
        width = len(self.names)
        # Lines without a quote character split on the delimiter in polars; quoted lines need a
        # real CSV reader.
        plain_mask = ~pl.col("text").str.contains(opts.quote, literal=True) if opts.quote else pl.lit(True)
        plain = batch.filter(plain_mask).with_columns(cells=pl.col("text").str.split(opts.delimiter, literal=True))
        counts = plain.with_columns(n=pl.col("cells").list.len())
        wrong = counts.filter(pl.col("n") != width).select(
            _RID, reason=pl.format(f"expected {width} cells, found {{}}", pl.col("n"))
        )
        good_plain = counts.filter(pl.col("n") == width).select(
            _RID, *[pl.col("cells").list.get(i).alias(name) for i, name in enumerate(self.names)]
        )
        good_quoted, bad_quoted = self._split_quoted(batch.filter(~plain_mask))
        bad = pl.concat([wrong, bad_quoted]).join(batch, on=_RID, how="inner")
        return pl.concat([good_plain, good_quoted]), quarantine_rows(bad, pl.col("reason"))

    def _split_quoted(self, quoted: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The csv module over quoted lines; cells are gathered per column (building a list column
        row by row costs more than the parsing)."""
        assert self.names is not None
        opts = self.mapping.csv
        width = len(self.names)
        columns: list[list[str]] = [[] for _ in range(width)]
        good_ids: list[int] = []
        bad_rows: list[tuple[int, str]] = []
        for rid, text in zip(quoted[_RID].to_list(), quoted["text"].to_list(), strict=True):
            try:
                cells = _csv_cells(text, opts.delimiter, opts.quote)
            except csv.Error as exc:
                bad_rows.append((rid, _csv_error(exc)))
                continue
            if len(cells) != width:
                bad_rows.append((rid, f"expected {width} cells, found {len(cells)}"))
                continue
            good_ids.append(rid)
            for column, cell in zip(columns, cells, strict=True):
                column.append(cell)
        good = pl.DataFrame(
            {_RID: pl.Series(good_ids, dtype=pl.Int64)}
            | {name: pl.Series(col, dtype=pl.String) for name, col in zip(self.names, columns, strict=True)}
        )
        return good, pl.DataFrame(bad_rows, schema={_RID: pl.Int64(), "reason": pl.String()}, orient="row")

    def _events(self, batch: pl.DataFrame, cells: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        assert self.names is not None
        used = referenced_fields(self.mapping) - {"line_no"}  # a raw "line_no" cannot be mapped: keep it in attrs
        rest = [n for n in self.names if n not in used]
        attrs = pl.struct(rest).struct.json_encode() if rest else pl.lit("{}")
        records = cells.select(_RID, attrs.alias("attrs")).join(batch, on=_RID, how="left")
        fields = cells.select(_RID, *[n for n in self.names if n in used])
        if cells.height == 0:
            return _no_events(), ParseResult.empty_quarantine()
        return _to_events(records, fields, self.mapping, self.options)


# ----------------------------------------------------------------------------------------------
# The Format objects


def _json_object_share(sample: list[str]) -> float:
    lines = [s for s in sample if s.strip()]
    if not lines:
        return 0.0
    ok = 0
    for line in lines:
        with contextlib.suppress(ValueError):
            ok += isinstance(_DECODER.decode(line), dict)
    return ok / len(lines)


@dataclass(frozen=True)
class StructuredFormat:
    name: str
    kind: Literal["lines", "document"]
    description: str

    def parser(self, options: FormatOptions) -> JsonLinesParser | DocumentParser | CsvParser:
        mapping = _require_mapping(self.name, options)
        # jsonl/json/cloudtrail mappings all describe JSON objects and may be used for each other;
        # a CSV mapping's field names come from a header and cannot describe JSON (or vice versa).
        if (mapping.format in _CSV_FAMILY) != (self.name in _CSV_FAMILY):
            raise ParseError(f"{options.path}: mapping {mapping.path} is for format {mapping.format}, not {self.name}")
        if self.name == "jsonl":
            return JsonLinesParser(mapping, options)
        if self.name in ("json", "cloudtrail"):
            return DocumentParser(mapping, options, envelope="Records" if self.name == "cloudtrail" else None)
        return CsvParser(mapping, options)

    def sniff(self, sample: list[str]) -> float:
        return _SNIFFERS[self.name](sample)


def _sniff_jsonl(sample: list[str]) -> float:
    return 0.8 * _json_object_share(sample)


def _sniff_json(sample: list[str]) -> float:
    head = "".join(sample).lstrip("\ufeff \t\r\n")
    return 0.7 if head.startswith("[") else 0.0


def _sniff_cloudtrail(sample: list[str]) -> float:
    head = "".join(sample[:5])
    if '"Records"' in head:
        return 0.95
    if '"eventSource"' in head and '"eventName"' in head and ('"eventTime"' in head or '"eventVersion"' in head):
        return 0.9
    return 0.0


def _delimited_share(sample: list[str], delimiter: str) -> float:
    lines = [s for s in sample if s.strip()]
    if len(lines) < 2 or delimiter not in lines[0] or lines[0].lstrip().startswith(("{", "[")):
        return 0.0
    width = lines[0].count(delimiter)
    return sum(line.count(delimiter) == width for line in lines) / len(lines)


def _sniff_csv(sample: list[str]) -> float:
    return 0.6 * _delimited_share(sample, ",")


def _sniff_tsv(sample: list[str]) -> float:
    return 0.65 * _delimited_share(sample, "\t")


_SNIFFERS = {
    "jsonl": _sniff_jsonl,
    "json": _sniff_json,
    "cloudtrail": _sniff_cloudtrail,
    "csv": _sniff_csv,
    "tsv": _sniff_tsv,
}

JSONL = StructuredFormat("jsonl", "lines", "JSON lines, one object per line, through a mapping file")
JSON = StructuredFormat("json", "document", "a JSON array of objects, through a mapping file")
CLOUDTRAIL = StructuredFormat(
    "cloudtrail", "document", 'AWS CloudTrail {"Records": [...]} files or JSON lines of records (built-in mapping)'
)
CSV = StructuredFormat("csv", "lines", "CSV with a header line, through a mapping file")
TSV = StructuredFormat("tsv", "lines", "tab-separated values with a header line, through a mapping file")

FORMATS: Final[tuple[StructuredFormat, ...]] = (JSONL, JSON, CLOUDTRAIL, CSV, TSV)
