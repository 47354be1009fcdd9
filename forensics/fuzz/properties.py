"""The properties checked on every example: parse a sample the way ingest does, then never_crash,
accounting, round_trip, determinism, reasons and (for a few examples) a whole ingest."""

from __future__ import annotations

import json
import re
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from forensics.errors import ForensicsError, UsageError
from forensics.formats.base import ParseError, ParseResult
from forensics.fuzz.model import (
    GENERIC_REASONS,
    Accounting,
    Determinism,
    IngestCheck,
    NeverCrash,
    Reasons,
    RoundTrip,
    Sample,
    Target,
    shorten,
)
from forensics.reader import ReadStats, split_block
from forensics.testing.hostile import UTF8_BOM

# ---------------------------------------------------------------- parsing a sample the way ingest does


@dataclass
class Outcome:
    """What the parser made of one sample."""

    result: ParseResult
    good: pl.DataFrame  # the lines handed to the parser (line formats)
    blank: int
    undecodable: pl.DataFrame
    lines: int
    refused: str | None = None  # ParseError message: the parser refused the whole file


def _empty_result() -> ParseResult:
    return ParseResult(events=pl.DataFrame(), quarantine=ParseResult.empty_quarantine())


def parse_sample(target: Target, sample: Sample) -> Outcome:
    """Parse the sample's bytes through reader + parser; a crash raises NeverCrash."""
    parser_opts = target.parser_options(sample)
    try:
        parser = target.fmt.parser(parser_opts)
    except (ParseError, UsageError) as exc:
        raise NeverCrash(f"the format refused its own options: {exc}", sample) from exc
    if target.fmt.kind == "document":
        return _parse_document(parser, sample, parser_opts.path)
    stats = ReadStats()
    block = split_block(sample.raw, 1, 0, sample.encoding, stats)
    outcome = Outcome(
        _empty_result(),
        block.good,
        block.blank,
        block.undecodable,
        len(block.good) + block.blank + block.undecodable.height,
    )
    if block.good.height == 0:
        return outcome
    try:
        outcome.result = parser.parse_lines(block.good)
    except ParseError as exc:
        outcome.refused = str(exc)
    except Exception as exc:
        raise NeverCrash(f"parse_lines raised {type(exc).__name__}: {shorten(str(exc), 300)}", sample) from exc
    return outcome


def _parse_document(parser: Any, sample: Sample, path: str) -> Outcome:
    raw = sample.raw[3:] if sample.raw.startswith(UTF8_BOM) else sample.raw
    lines = sample.raw.count(b"\n") + (0 if sample.raw.endswith(b"\n") or not sample.raw else 1)
    empty = ParseResult.empty_quarantine()
    outcome = Outcome(_empty_result(), pl.DataFrame(), 0, empty, lines)
    try:
        text = raw.decode(sample.encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        outcome.refused = f"{path}:{line}: invalid {sample.encoding} bytes in a JSON document (as reader.read_document)"
        return outcome
    try:
        outcome.result = parser.parse_document(text)
    except ParseError as exc:
        outcome.refused = str(exc)
    except Exception as exc:
        raise NeverCrash(f"parse_document raised {type(exc).__name__}: {shorten(str(exc), 300)}", sample) from exc
    return outcome


# ---------------------------------------------------------------- the properties


def check_refusal(target: Target, sample: Sample, outcome: Outcome) -> None:
    if outcome.refused is None:
        return
    if sample.well_formed:
        raise NeverCrash(f"the parser refused a file of well-formed lines: {outcome.refused}", sample)
    if target.base.path not in outcome.refused:
        raise Reasons(f"a whole-file refusal does not name the file: {outcome.refused!r}", sample)


def _line_nos(frame: pl.DataFrame) -> list[int]:
    if frame.height == 0 or "line_no" not in frame.columns:
        return []
    return [int(v) for v in frame.get_column("line_no").to_list()]


def check_accounting(sample: Sample, outcome: Outcome) -> None:
    res = outcome.result
    if outcome.refused is None:
        _check_event_contract(sample, res.events)
    if sample.document is not None:
        _check_document_accounting(sample, outcome)
        return
    if outcome.lines != len(sample.lines):
        raise Accounting(f"the reader saw {outcome.lines} lines, the sample has {len(sample.lines)}", sample)
    if outcome.refused is not None:
        return
    given = sorted(_line_nos(outcome.good))
    back = sorted(_line_nos(res.events) + _line_nos(res.quarantine) + _line_nos(res.structural))
    if back != given:
        missing = sorted(set(given) - set(back))
        dup = sorted({n for n in back if back.count(n) > 1})
        extra = sorted(set(back) - set(given))
        first = next(iter(missing or dup or extra), None)
        raise Accounting(
            f"{len(given)} lines given, {len(back)} returned (missing {missing[:5]}, duplicated {dup[:5]}, "
            f"unknown {extra[:5]})",
            sample,
            first,
        )
    _check_provenance(sample, outcome)


def _check_provenance(sample: Sample, outcome: Outcome) -> None:
    offsets = dict(zip(_line_nos(outcome.good), outcome.good.get_column("byte_offset").to_list(), strict=True))
    raws = dict(zip(_line_nos(outcome.good), outcome.good.get_column("raw").to_list(), strict=True))
    for frame in (outcome.result.events, outcome.result.quarantine, outcome.result.structural):
        if frame.height == 0:
            continue
        if "byte_offset" not in frame.columns:
            raise Accounting("rows without byte_offset", sample)
        for line_no, off in zip(_line_nos(frame), frame.get_column("byte_offset").to_list(), strict=True):
            if offsets[line_no] != off:
                raise Accounting(
                    f"line {line_no}: byte_offset {off}, the line starts at {offsets[line_no]}", sample, line_no
                )
        if "raw" in frame.columns:
            for line_no, raw in zip(_line_nos(frame), frame.get_column("raw").to_list(), strict=True):
                if bytes(raw) != bytes(raws[line_no]):
                    raise Accounting(f"line {line_no}: quarantined raw bytes differ from the line", sample, line_no)


def _check_event_contract(sample: Sample, events: pl.DataFrame) -> None:
    if events.height == 0:
        return
    if "ts" not in events.columns or events.schema["ts"] != pl.Datetime("us", "UTC"):
        raise Accounting(f"events.ts must be Datetime(us, UTC), got {events.schema.get('ts')}", sample)
    nulls = events.filter(pl.col("ts").is_null())
    if nulls.height:
        raise Accounting("an event has no timestamp (must be quarantined instead)", sample, _line_nos(nulls)[0])
    # Years outside 1..9999 cannot become a Python datetime (exhibits, the timeline, most tools):
    # such a time is garbage in the log, to be quarantined, not an event.
    year = pl.col("ts").dt.year()
    odd = events.filter((year < 1) | (year > 9999))
    if odd.height:
        first = _line_nos(odd)[0]
        text = odd.get_column("ts_raw")[0] if "ts_raw" in odd.columns else "?"
        raise Accounting(f"an event's timestamp {text!r} lies outside years 1-9999 (quarantine it)", sample, first)


def _check_document_accounting(sample: Sample, outcome: Outcome) -> None:
    doc = sample.document
    assert doc is not None
    res = outcome.result
    if outcome.refused is not None:
        return
    rows = [*_offsets(res.events), *_offsets(res.quarantine)]
    if doc.broken:
        if not rows and not _json_values(sample.raw):
            raise Accounting("a document that is not JSON produced no event and no quarantine row", sample)
        return
    expected = sorted(off for off, _ in doc.records)
    if sorted(off for off, _ in rows) != expected:
        raise Accounting(f"records start at bytes {expected[:8]}, rows returned for {sorted(rows)[:8]}", sample)
    for off, line_no in rows:
        want = sample.raw[:off].count(b"\n") + 1
        if line_no != want:
            raise Accounting(f"record at byte {off} starts on line {want}, reported as line {line_no}", sample)


def _json_values(raw: bytes) -> bool:
    """True when raw is whitespace-separated JSON values (maybe none): a mutation can leave it valid."""
    try:
        text = raw.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError:
        return False
    decoder = json.JSONDecoder()
    i = 0
    while True:
        while i < len(text) and text[i] in " \t\r\n":
            i += 1
        if i == len(text):
            return True
        try:
            _, i = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            return False


def _offsets(frame: pl.DataFrame) -> list[tuple[int, int]]:
    if frame.height == 0:
        return []
    return list(zip(frame.get_column("byte_offset").to_list(), _line_nos(frame), strict=True))


def is_specific(reason: str | None) -> bool:
    """A quarantine reason an examiner can act on: says what is wrong, not just that something is."""
    if reason is None:
        return False
    text = reason.strip().lower().rstrip(".")
    return len(text) >= 8 and text not in GENERIC_REASONS and not re.fullmatch(r"[a-z_]*error:?", text)


def check_reasons(sample: Sample, outcome: Outcome, examples: dict[str, str] | None = None) -> Counter[str]:
    seen: Counter[str] = Counter()
    for frame in (outcome.result.quarantine, outcome.undecodable):
        if frame.height == 0:
            continue
        for line_no, reason in zip(_line_nos(frame), frame.get_column("reason").to_list(), strict=True):
            if not is_specific(reason):
                raise Reasons(f"quarantine reason {reason!r} is not specific", sample, line_no)
            key = _reason_key(reason)
            seen[key] += 1
            if examples is not None:  # the summary shows a real reason, digits and all, not the grouping key
                examples.setdefault(key, reason)
    return seen


def _reason_key(reason: str) -> str:
    """Group reasons that differ only in positions and quoted values, for the summary."""
    return re.sub(r"'[^']*'|\d+", "…", reason)[:120]


def check_round_trip(sample: Sample, outcome: Outcome) -> int:
    """Every well-formed line or record became the event it was rendered from. Returns checks made."""
    if outcome.refused is not None:
        return 0
    res = outcome.result
    reasons = _reasons_by_key(sample, res)
    events = _events_by_key(sample, res.events)
    checked = 0
    for key, expected, line_no in _expectations(sample):
        checked += 1
        row = events.get(key)
        if row is None:
            why = reasons.get(key, "neither an event nor quarantined")
            raise RoundTrip(
                f"a well-formed {'record' if sample.document else 'line'} was quarantined: {why}", sample, line_no
            )
        problems = compare_event(expected, row)
        if problems:
            raise RoundTrip("round trip differs: " + "; ".join(problems), sample, line_no)
    return checked


def _expectations(sample: Sample) -> Iterator[tuple[int, dict[str, Any], int | None]]:
    if sample.document is not None:
        for off, expected in sample.document.records:
            if expected is not None and not sample.document.broken:
                yield off, expected, None
        return
    for i, line in enumerate(sample.lines, 1):
        if line.expected is not None:
            yield i, line.expected, i


def _key_column(sample: Sample) -> str:
    return "byte_offset" if sample.document is not None else "line_no"


def _events_by_key(sample: Sample, events: pl.DataFrame) -> dict[int, dict[str, Any]]:
    if events.height == 0:
        return {}
    col = _key_column(sample)
    return {int(r[col]): r for r in events.iter_rows(named=True)}


def _reasons_by_key(sample: Sample, res: ParseResult) -> dict[int, str]:
    col = _key_column(sample)
    out: dict[int, str] = {}
    for frame in (res.quarantine, res.structural):
        if frame.height:
            for r in frame.iter_rows(named=True):
                out[int(r[col])] = str(r["reason"])
    return out


def compare_event(expected: dict[str, Any], row: dict[str, Any]) -> list[str]:
    """Differences between expected canonical values and a parsed event row ([] when equal)."""
    problems: list[str] = []
    for key, want in expected.items():
        if key in ("event", "ts_local"):
            continue
        if key == "attrs":
            problems.extend(_compare_attrs(want, row.get("attrs")))
        elif key == "ts":
            problems.extend(_compare_ts(want, row.get("ts"), expected.get("ts_local")))
        elif not same_value(want, row.get(key)):
            problems.append(f"{key}: expected {want!r}, parsed {row.get(key)!r}")
    return problems


def same_value(want: Any, got: Any) -> bool:
    if want is None or got is None:
        return want is None and got is None
    if isinstance(want, list) or isinstance(got, list):
        return [str(v) for v in want or []] == [str(v) for v in got or []]
    if isinstance(want, bool) or isinstance(got, bool):
        return str(want).lower() == str(got).lower()
    return bool(want == got or str(want) == str(got))


def _compare_ts(want: datetime, got: Any, local: tuple[str, datetime, int] | None) -> list[str]:
    if not isinstance(got, datetime) or got.tzinfo is None:
        return [f"ts: expected {want.isoformat()}, parsed {got!r} (not a UTC datetime)"]
    if got == want:
        return []
    if local is not None:  # RFC 3164: the year is inferred from neighbouring lines
        zone_name, wall, year = local
        seen = got.astimezone(ZoneInfo(zone_name))
        same_clock = (seen.month, seen.day, seen.time()) == (wall.month, wall.day, wall.time())
        if seen.year != year and same_clock and seen.year <= year:
            return []
    return [f"ts: expected {want.astimezone(UTC).isoformat()}, parsed {got.astimezone(UTC).isoformat()}"]


def _compare_attrs(want: dict[str, Any], got: Any) -> list[str]:
    try:
        attrs = json.loads(got) if isinstance(got, str) else (got or {})
    except json.JSONDecodeError:
        return [f"attrs is not a JSON object: {got!r}"]
    if not isinstance(attrs, dict):
        return [f"attrs is not a JSON object: {got!r}"]
    problems = []
    for k, v in want.items():
        if k not in attrs:
            problems.append(f"attrs[{k!r}] missing (expected {v!r})")
        elif not same_value(v, attrs[k]) and not _same_json(v, attrs[k]):
            problems.append(f"attrs[{k!r}]: expected {v!r}, parsed {attrs[k]!r}")
    return problems


def _same_json(want: Any, got: Any) -> bool:
    """Nested values may arrive as JSON text or as JSON; compare them as JSON."""
    try:
        return bool(json.loads(got) == want) if isinstance(got, str) else False
    except json.JSONDecodeError:
        return False


def check_determinism(target: Target, sample: Sample, outcome: Outcome) -> None:
    again = parse_sample(target, sample)
    if (outcome.refused is None) != (again.refused is None):
        raise Determinism("the same bytes were refused once and accepted once", sample)
    if outcome.refused is not None:
        return
    first, second = digests(outcome.result.events), digests(again.result.events)
    if first != second:
        diff = (
            next(i for i, (a, b) in enumerate(zip(first, second, strict=False)) if a != b)
            if len(first) == len(second)
            else None
        )
        raise Determinism(f"row digests differ between two parses of the same bytes (row {diff})", sample)
    if _quarantine_key(outcome.result) != _quarantine_key(again.result):
        raise Determinism("quarantine rows differ between two parses of the same bytes", sample)


def digests(events: pl.DataFrame) -> list[str]:
    """Row digests as ingest computes them: custody.row_digests over the conformed rows."""
    if events.height == 0:
        return []
    from forensics.custody import row_digests
    from forensics.store import conform_events

    conformed = conform_events(events.sort("line_no", "byte_offset"), "fuzz", "0" * 64)
    return [str(d) for d in row_digests(conformed.drop("row_digest")).to_list()]


def _quarantine_key(res: ParseResult) -> list[tuple[Any, ...]]:
    q = res.quarantine
    if q.height == 0:
        return []
    return sorted((r["line_no"], r["byte_offset"], r["reason"]) for r in q.iter_rows(named=True))


# ---------------------------------------------------------------- whole ingest


def check_ingest(target: Target, sample: Sample, outcome: Outcome) -> None:
    """Ingest the bytes into two fresh cases: same counts as the direct parse, same Merkle roots, verify ok."""
    from forensics.case import init_case
    from forensics.custody import verify_case
    from forensics.ingest import IngestOptions, ingest_paths

    with tempfile.TemporaryDirectory(prefix="forensics-fuzz-") as tmp:
        src = Path(tmp) / ("input.json" if target.fmt.kind == "document" else "input.log")
        src.write_bytes(sample.raw)
        opts = IngestOptions(
            source="fuzz",
            format=target.ingest_format,
            log_format=sample.log_format or target.ingest_log_format,
            mapping=target.ingest_mapping,
            tz=target.ingest_tz,
            encoding=sample.encoding,
            year=target.base.year_hint,
        )
        roots = []
        for name in ("a", "b"):
            case = init_case(Path(tmp) / name)
            try:
                report = ingest_paths(case, [src], opts)
            except ForensicsError as exc:
                if outcome.refused is not None:
                    return
                raise IngestCheck(f"ingest failed where the direct parse did not: {exc}", sample) from exc
            except Exception as exc:  # ingest must turn every problem into a ForensicsError
                raise IngestCheck(f"ingest crashed: {type(exc).__name__}: {shorten(str(exc), 300)}", sample) from exc
            if outcome.refused is not None:
                raise IngestCheck("ingest accepted a file the direct parse refused", sample)
            f = report.files[0]
            parsed = outcome.result.events.height
            if f.events != parsed or f.quarantined != outcome.result.quarantine.height + outcome.undecodable.height:
                raise IngestCheck(
                    f"ingest stored {f.events} events / {f.quarantined} quarantined; the direct parse gave "
                    f"{parsed} / {outcome.result.quarantine.height + outcome.undecodable.height}",
                    sample,
                )
            verdict = verify_case(case)
            if not verdict.ok:
                raise IngestCheck(f"verify failed after ingest: {verdict.problems[0]}", sample)
            roots.append(case.manifest()["inputs"][0]["merkle_root"])
        if roots[0] != roots[1]:
            raise IngestCheck("two ingests of the same bytes gave different Merkle roots", sample)
