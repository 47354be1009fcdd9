"""`forensics fuzz`: property-test a parser on generated, hostile and mutated real lines.

Before trusting a parse of a platform's dump, an examiner wants evidence that the parser
neither crashes nor silently loses lines on that platform's format. This runner drives the
parser exactly as ingest does (reader.split_block on bytes, then parse_lines / parse_document)
and checks, on every example:

* never_crash   no exception other than the format's own whole-file refusal (ParseError), and
                no refusal of a file made only of well-formed lines;
* accounting    every line comes back exactly once (event, quarantine, structural), blank and
                undecodable lines are set aside by the reader, provenance points at the line;
* round_trip    a rendered well-formed line becomes an event with the values it was rendered
                from (timestamps to the microsecond, UTC);
* determinism   parsing the same bytes twice gives the same row digests and quarantine rows;
* reasons       every quarantine reason is specific (not empty, not a bare "error");
* ingest        for the first few examples, a whole ingest into two fresh cases gives the same
                counts as the direct parse and identical Merkle roots, and `verify` passes.

Hypothesis generates the examples and shrinks a failure to a minimal sample, which is written to
``fuzz-failures/<target>-<property>.txt`` (the exact bytes, ready to ingest).
"""

from __future__ import annotations

import json
import re
import secrets
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import polars as pl
from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import HypothesisException

from forensics.errors import ForensicsError, UsageError
from forensics.formats import get_format
from forensics.formats.base import Format, FormatOptions, ParseError, ParseResult
from forensics.reader import ReadStats, split_block
from forensics.testing.common import GeneratedLine
from forensics.testing.hostile import UTF8_BOM, hostile_lines, mutated, mutations
from forensics.testing.structured import GeneratedDocument, RecordPlan

PROPERTIES: tuple[str, ...] = ("never_crash", "accounting", "round_trip", "determinism", "reasons", "ingest")
INGEST_EXAMPLES = 3  # whole ingests per run (each is two cases on disk: slow compared to a parse)
ROUND_SIZE = 100  # examples per hypothesis run; --seconds is checked between and within rounds
MAX_LINES = 12  # lines per generated sample; shrinking brings failures down to one or two
SYSLOG_TZ = "America/New_York"  # RFC 3164 times are read in a zone with DST, to exercise its edges
SYSLOG_YEAR = 2024
CORPUS_LINES = 5000
CORPUS_FILE_BYTES = 1 << 20
# Reasons that say something is wrong but not what: an examiner cannot act on them.
GENERIC_REASONS = frozenset(
    ["", "error", "invalid", "bad", "bad line", "parse error", "failed", "failure", "unknown", "none", "null",
     "exception", "invalid line", "bad data", "quarantined"]
)  # fmt: skip


@dataclass(frozen=True)
class FuzzOptions:
    format: str | None = None
    log_format: str | None = None
    mapping: Path | None = None
    seconds: float | None = None
    examples: int = 500
    seed: int | None = None
    corpus: Path | None = None
    progress: bool = False
    failures_dir: Path | None = None  # default ./fuzz-failures


# ---------------------------------------------------------------- failures raised inside an example


class PropertyFailure(Exception):
    """A property does not hold for a sample. Subclasses keep hypothesis' failures apart per property."""

    prop = "property"

    def __init__(self, message: str, sample: Sample, line_no: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.sample = sample
        self.line_no = line_no


class NeverCrash(PropertyFailure):
    prop = "never_crash"


class Accounting(PropertyFailure):
    prop = "accounting"


class RoundTrip(PropertyFailure):
    prop = "round_trip"


class Determinism(PropertyFailure):
    prop = "determinism"


class Reasons(PropertyFailure):
    prop = "reasons"


class IngestCheck(PropertyFailure):
    prop = "ingest"


# ---------------------------------------------------------------- samples and targets


@dataclass
class Sample:
    """The bytes of one small input file and what is known about its lines or records."""

    raw: bytes
    encoding: str = "utf-8"
    lines: list[GeneratedLine] = field(default_factory=list)  # line formats: line i+1
    document: GeneratedDocument | None = None  # document formats
    log_format: str | None = None  # nginx/apache: the format string this sample was rendered with

    @property
    def well_formed(self) -> bool:
        if self.document is not None:
            return not self.document.broken and all(e is not None for _, e in self.document.records)
        return all(ln.expected is not None or ln.kind == "header" for ln in self.lines)

    def describe(self, line_no: int | None = None) -> str:
        if line_no is not None and 0 < line_no <= len(self.lines):
            return f"line {line_no}: {self.lines[line_no - 1].raw!r}"
        text = self.raw if len(self.raw) <= 400 else self.raw[:400] + b"..."
        return f"{len(self.raw)} bytes: {text!r}"


@dataclass
class Target:
    """What is being fuzzed: a format with its options, and how to generate its samples."""

    label: str
    fmt: Format
    base: FormatOptions
    samples: st.SearchStrategy[Sample]
    ingest_format: str
    ingest_log_format: str | None = None
    ingest_mapping: Path | None = None
    ingest_tz: str | None = None
    corpus_samples: list[Sample] = field(default_factory=list)

    def parser_options(self, sample: Sample) -> FormatOptions:
        if sample.log_format is None:
            return self.base
        return FormatOptions(
            source=self.base.source,
            path=self.base.path,
            log_format=sample.log_format,
            mapping=self.base.mapping,
            tz=self.base.tz,
            year_hint=self.base.year_hint,
        )


# ---------------------------------------------------------------- the report


@dataclass
class FailureRecord:
    prop: str
    message: str
    example: str
    path: str

    def to_json(self) -> dict[str, str]:
        return {"property": self.prop, "message": self.message, "example": self.example, "file": self.path}


@dataclass
class FuzzReport:
    target: str
    format: str
    seed: int
    examples: int = 0
    lines: int = 0
    events: int = 0
    quarantined: int = 0
    blank: int = 0
    structural: int = 0
    checks: Counter[str] = field(default_factory=Counter)
    failures: list[FailureRecord] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)
    reason_examples: dict[str, str] = field(default_factory=dict)  # grouping key -> first reason seen
    corpus: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    stopped_by_time: bool = False
    kind: str = "lines"

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> list[str]:
        out = [
            f"fuzz {self.target} (format {self.format}, seed {self.seed}): {self.examples} examples in "
            f"{self.seconds:.1f}s" + (" (time limit reached)" if self.stopped_by_time else ""),
            self._accounting_line(),
        ]
        failed = {f.prop for f in self.failures}
        for prop in PROPERTIES:
            status = "FAILED" if prop in failed else "ok"
            out.append(f"  {prop:<12} {status:<6} ({self.checks[prop]} checks)")
        if self.corpus:
            c = self.corpus
            out.append(
                f"  corpus: {c['files']} files, {c['lines']} lines: {c['events']} events, "
                f"{c['quarantined']} quarantined (unmutated)"
            )
        for reason, n in self.reasons.most_common(3):
            example = self.reason_examples.get(reason, reason)
            out.append(f"  top quarantine reason ({n}x), e.g.: {_shorten(example, 100)}")
        for f in self.failures:
            out.append(f"FAILED {f.prop}: {f.message}")
            out.append(f"  minimal example: {_shorten(f.example, 300)}")
            out.append(f"  written to {f.path}")
        out.append(
            "OK" if self.ok else f"{len(self.failures)} propert{'y' if len(self.failures) == 1 else 'ies'} failed"
        )
        return out

    def _accounting_line(self) -> str:
        if self.kind == "document":
            return (
                f"  records: {self.events + self.quarantined} = {self.events} events + {self.quarantined} quarantined"
            )
        return (
            f"  lines: {self.lines} = {self.events} events + {self.quarantined} quarantined + {self.blank} blank"
            f" + {self.structural} structural"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "target": self.target,
            "format": self.format,
            "seed": self.seed,
            "examples": self.examples,
            "seconds": round(self.seconds, 3),
            "stopped_by_time": self.stopped_by_time,
            "lines": {
                "total": self.lines,
                "events": self.events,
                "quarantined": self.quarantined,
                "blank": self.blank,
                "structural": self.structural,
            },
            "properties": {
                p: {"checks": self.checks[p], "ok": all(f.prop != p for f in self.failures)} for p in PROPERTIES
            },
            "failures": [f.to_json() for f in self.failures],
            "top_reasons": [{"reason": r, "count": n} for r, n in self.reasons.most_common(10)],
            "corpus": self.corpus,
        }


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
        raise NeverCrash(f"parse_lines raised {type(exc).__name__}: {_shorten(str(exc), 300)}", sample) from exc
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
        raise NeverCrash(f"parse_document raised {type(exc).__name__}: {_shorten(str(exc), 300)}", sample) from exc
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
                raise IngestCheck(f"ingest crashed: {type(exc).__name__}: {_shorten(str(exc), 300)}", sample) from exc
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


# ---------------------------------------------------------------- one example


@dataclass
class RunState:
    report: FuzzReport
    deadline: float | None
    ingest_left: int = INGEST_EXAMPLES
    failing: bool = False  # once hypothesis has seen a failure it only shrinks: stop counting
    ingest_failing: bool = False  # an ingest failure is being shrunk: keep checking ingest
    tick: Callable[[], None] | None = None


def check_example(target: Target, sample: Sample, state: RunState) -> None:
    """All properties on one sample; raises the PropertyFailure subclass of the first that fails."""
    if state.deadline is not None and time.monotonic() > state.deadline and not state.failing:
        state.report.stopped_by_time = True
        return
    try:
        _check_all(target, sample, state)
    except PropertyFailure:
        if not state.failing:
            state.report.examples += 1  # the first failing example ran too
        state.failing = True
        raise


def _check_all(target: Target, sample: Sample, state: RunState) -> None:
    report = state.report
    count = not state.failing
    outcome = parse_sample(target, sample)
    check_refusal(target, sample, outcome)
    check_accounting(sample, outcome)
    reasons = check_reasons(sample, outcome, report.reason_examples)
    trips = check_round_trip(sample, outcome)
    check_determinism(target, sample, outcome)
    if (state.ingest_left > 0 and count) or state.ingest_failing:
        state.ingest_left -= 1
        try:
            check_ingest(target, sample, outcome)
        except IngestCheck:
            state.ingest_failing = True
            raise
        report.checks["ingest"] += count
    if not count:
        return
    report.examples += 1
    for prop in ("never_crash", "accounting", "determinism", "reasons"):
        report.checks[prop] += 1
    report.checks["round_trip"] += trips
    report.reasons.update(reasons)
    report.lines += outcome.lines
    report.events += outcome.result.events.height
    report.quarantined += outcome.result.quarantine.height + outcome.undecodable.height
    report.blank += outcome.blank
    report.structural += outcome.result.structural.height
    if state.tick is not None:
        state.tick()


# ---------------------------------------------------------------- hypothesis driver


def _unwrap(exc: BaseException) -> list[PropertyFailure]:
    if isinstance(exc, PropertyFailure):
        return [exc]
    if isinstance(exc, BaseExceptionGroup):
        out: list[PropertyFailure] = []
        for inner in exc.exceptions:
            out.extend(_unwrap(inner))
        return out
    return []


def run_round(
    target: Target, strategy: st.SearchStrategy[Sample], n: int, round_seed: int, state: RunState
) -> list[PropertyFailure]:
    """One hypothesis run of n examples; returns the minimal failures found (one per property)."""

    @settings(
        max_examples=n,
        database=None,
        deadline=None,
        derandomize=False,
        phases=(Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        report_multiple_bugs=True,
        print_blob=False,
    )
    @seed(round_seed)
    @given(strategy)
    def prop(sample: Sample) -> None:
        check_example(target, sample, state)

    try:
        prop()
    except (PropertyFailure, BaseExceptionGroup) as exc:
        found = _unwrap(exc)
        if found:
            return found
        raise
    except HypothesisException as exc:
        raise ForensicsError(f"fuzz: hypothesis stopped: {exc}") from exc
    except ForensicsError:
        raise
    except Exception as exc:  # a bug of the fuzzer itself: say so in one line, never a traceback
        raise ForensicsError(
            f"fuzz: internal error while checking an example ({type(exc).__name__}: {_shorten(str(exc), 200)}); "
            f"this is a bug in forensics.fuzz, please report it with --seed {round_seed}"
        ) from exc
    return []


def _write_failure(target: Target, failure: PropertyFailure, out_dir: Path) -> FailureRecord:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{_safe(target.label)}-{failure.prop}.txt"
    sample = failure.sample
    data = sample.raw
    if failure.line_no is not None and sample.document is None and 0 < failure.line_no <= len(sample.lines):
        data = sample.lines[failure.line_no - 1].raw + b"\n"
        head = [ln.raw + b"\n" for ln in sample.lines if ln.kind == "header"]
        if head and sample.lines[failure.line_no - 1].kind != "header":
            data = b"".join(head) + data  # a CSV row or W3C record means nothing without its header
    path.write_bytes(data)
    example = sample.describe(failure.line_no)
    if sample.log_format:
        example += f" (log format {sample.log_format!r})"
    return FailureRecord(failure.prop, failure.message, example, str(path))


def _safe(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_") or "target"


@contextmanager
def _progress(enabled: bool, total: int, label: str) -> Iterator[Callable[[], None] | None]:
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn(f"fuzz {label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("examples", total=total)
        yield lambda: bar.advance(task)


def run_target(target: Target, options: FuzzOptions) -> FuzzReport:
    """Fuzz one target: rounds of hypothesis examples until the count or the time is used up."""
    base_seed = options.seed if options.seed is not None else secrets.randbelow(2**31)
    report = FuzzReport(target=target.label, format=target.fmt.name, seed=base_seed, kind=target.fmt.kind)
    started = time.monotonic()
    deadline = started + options.seconds if options.seconds else None
    state = RunState(report, deadline)
    strategy = target.samples
    if target.corpus_samples:
        report.corpus = corpus_pass(target)
        strategy = st.one_of(strategy, corpus_strategy(target.corpus_samples))
    out_dir = options.failures_dir or Path("fuzz-failures")
    with _progress(options.progress, options.examples, target.label) as tick:
        state.tick = tick
        round_no = 0
        while report.examples < options.examples and not report.stopped_by_time:
            n = min(ROUND_SIZE, options.examples - report.examples)
            before = report.examples
            failures = run_round(target, strategy, n, base_seed + round_no, state)
            round_no += 1
            if failures:
                seen = set()
                for failure in failures:
                    if failure.prop not in seen:
                        seen.add(failure.prop)
                        report.failures.append(_write_failure(target, failure, out_dir))
                break
            if report.examples == before:  # nothing ran (time limit inside the round)
                break
    report.seconds = time.monotonic() - started
    return report


# ---------------------------------------------------------------- corpus: real lines, mutated


def read_corpus(directory: Path, kind: Literal["lines", "document"]) -> list[tuple[Path, bytes]]:
    """(file, bytes) for the files under directory (decompressed, at most CORPUS_FILE_BYTES each)."""
    from forensics.reader import iter_blocks

    files = (
        [directory]
        if directory.is_file()
        else sorted(p for p in directory.rglob("*") if p.is_file() and not p.name.startswith("."))
    )
    out = []
    for path in files:
        chunks, size = [], 0
        try:
            for block in iter_blocks(path, ReadStats()):
                chunks.append(block)
                size += len(block)
                if size >= CORPUS_FILE_BYTES:
                    break
        except ForensicsError:
            continue
        data = b"".join(chunks)
        if kind == "lines" and size >= CORPUS_FILE_BYTES:
            data = data[: data.rfind(b"\n") + 1]  # whole lines only
        if data.strip():
            out.append((path, data))
    if not out:
        raise UsageError(f"--corpus {directory}: no readable, non-empty file")
    return out


def corpus_samples(files: list[tuple[Path, bytes]], kind: str, header: Callable[[int, bytes], bool]) -> list[Sample]:
    """Line formats: one sample per file (capped at CORPUS_LINES lines in all); documents: one per file."""
    if kind == "document":
        return [Sample(raw=data, document=GeneratedDocument(data, [], broken=True)) for _, data in files]
    samples, budget = [], CORPUS_LINES
    for _, data in files:
        lines = data.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        lines = lines[:budget]
        budget -= len(lines)
        gl = [GeneratedLine(raw, None, kind="header" if header(i, raw) else "corpus") for i, raw in enumerate(lines)]
        samples.append(Sample(raw=b"\n".join(lines) + b"\n", lines=gl))
        if budget <= 0:
            break
    return samples


def corpus_pass(target: Target) -> dict[str, Any]:
    """Parse the unmutated corpus once: how much of the real data does this format definition read?"""
    totals: Counter[str] = Counter()
    for sample in target.corpus_samples:
        outcome = parse_sample(target, sample)
        totals["files"] += 1
        totals["lines"] += outcome.lines
        if outcome.refused is not None:
            totals["refused"] += 1
            continue
        totals["events"] += outcome.result.events.height
        totals["quarantined"] += outcome.result.quarantine.height + outcome.undecodable.height
    return {k: totals[k] for k in ("files", "lines", "events", "quarantined", "refused")}


def corpus_strategy(samples: list[Sample]) -> st.SearchStrategy[Sample]:
    """Small samples cut from real files, each line mutated or not."""

    @st.composite
    def build(draw: st.DrawFn) -> Sample:
        source = draw(st.sampled_from(samples))
        if source.document is not None:
            raw = draw(st.one_of(st.just(source.raw), mutations(source.raw)))
            return Sample(raw=raw, document=GeneratedDocument(raw, [], broken=True))
        header = [ln for ln in source.lines if ln.kind == "header"]
        body = [ln for ln in source.lines if ln.kind != "header"] or source.lines
        picked = draw(st.lists(st.sampled_from(body), min_size=1, max_size=MAX_LINES))
        lines: list[GeneratedLine] = list(header)
        for line in picked:
            raw = draw(st.one_of(st.just(line.raw), mutations(line.raw))).replace(b"\n", b" ")
            lines.append(GeneratedLine(raw, None, kind="corpus"))
        return Sample(raw=b"\n".join(ln.raw for ln in lines) + b"\n", lines=lines)

    return build()


# ---------------------------------------------------------------- building samples per format


def _no_lf(line: GeneratedLine) -> GeneratedLine:
    if b"\n" in line.raw:
        return GeneratedLine(line.raw.replace(b"\n", b" "), None, kind="hostile")
    return line


def line_samples(
    valid: st.SearchStrategy[GeneratedLine] | None, header: tuple[GeneratedLine, ...] = (), gb18030: bool = True
) -> st.SearchStrategy[Sample]:
    """Small files: well-formed lines, mutated ones and hostile ones, in any order, maybe CRLF/BOM/GB18030."""
    # Weights by hand: st.one_of flattens nested one_ofs, so hostile_lines' ten shapes would
    # otherwise outnumber the well-formed lines ten to one.
    hostile = hostile_lines().map(lambda b: GeneratedLine(b, None, kind="hostile"))
    blank = st.sampled_from([b"", b"   ", b"\r"]).map(lambda b: GeneratedLine(b, None, kind="blank"))
    choices: tuple[tuple[int, st.SearchStrategy[GeneratedLine]], ...] = ((4, hostile), (1, blank))
    if valid is not None:
        mutant = mutated(valid.map(lambda g: g.raw)).map(lambda b: GeneratedLine(b, None, kind="mutated"))
        choices = ((5, valid), (2, mutant), (2, hostile), (1, blank))
    return _line_samples(st.lists(weighted(choices), min_size=1, max_size=MAX_LINES), header, gb18030)


def weighted(choices: tuple[tuple[int, st.SearchStrategy[Any]], ...]) -> st.SearchStrategy[Any]:
    """Draw from one of the strategies with the given integer weights (shrinks toward the first)."""
    table = [s for w, s in choices for _ in range(w)]

    @st.composite
    def pick(draw: st.DrawFn) -> Any:
        return draw(table[draw(st.integers(0, len(table) - 1))])

    return pick()


@st.composite
def _line_samples(
    draw: st.DrawFn, items: st.SearchStrategy[list[GeneratedLine]], header: tuple[GeneratedLine, ...], gb18030: bool
) -> Sample:
    lines = _sort_rfc3164([_no_lf(x) for x in draw(items)])
    lines = [*header, *lines]  # structural lines first (a CSV header, W3C directives)
    encoding = "utf-8"
    # Variations on non-zero draws: hypothesis shrinks toward 0, so a minimal example is plain UTF-8 LF.
    if gb18030 and draw(_ONE_IN_10) == 9:
        encoding = "gb18030"
        lines = [_reencode(ln) for ln in lines]
    if draw(_ONE_IN_6) == 5:  # a CRLF file: the reader strips the CR, values must not change
        lines = [GeneratedLine(ln.raw + b"\r", ln.expected, ln.kind, ln.note, ln.meta) for ln in lines]
    if draw(_ONE_IN_8) == 7 and encoding == "utf-8":  # a BOM before the first line is not data
        first = lines[0]
        lines[0] = GeneratedLine(UTF8_BOM + first.raw, first.expected, first.kind, first.note, first.meta)
    # An empty last line only exists when a newline ends it.
    trailing = draw(st.booleans()) or lines[-1].raw == b""
    raw = b"\n".join(ln.raw for ln in lines) + (b"\n" if trailing else b"")
    return Sample(raw=raw, encoding=encoding, lines=lines)


_ONE_IN_10 = st.integers(0, 9)
_ONE_IN_8 = st.integers(0, 7)
_ONE_IN_6 = st.integers(0, 5)


def _reencode(line: GeneratedLine) -> GeneratedLine:
    if line.kind in ("valid", "header"):
        try:
            return GeneratedLine(
                line.raw.decode("utf-8").encode("gb18030"), line.expected, line.kind, line.note, line.meta
            )
        except UnicodeError:
            return GeneratedLine(line.raw, None, kind="hostile")
    return line


def _sort_rfc3164(lines: list[GeneratedLine]) -> list[GeneratedLine]:
    """Well-formed RFC 3164 lines in time order, as a real file has them (year inference walks them)."""
    slots = [i for i, ln in enumerate(lines) if ln.expected and "ts_local" in ln.expected]
    ordered = sorted((lines[i] for i in slots), key=lambda ln: ln.expected["ts_local"][1] if ln.expected else 0)
    out = list(lines)
    for i, ln in zip(slots, ordered, strict=True):
        out[i] = ln
    return out


@st.composite
def document_samples(draw: st.DrawFn, docs: st.SearchStrategy[GeneratedDocument]) -> Sample:
    doc = draw(docs)
    if draw(st.integers(0, 3)) == 3:
        raw = draw(mutations(doc.raw))
        if raw != doc.raw:
            return Sample(raw=raw, document=GeneratedDocument(raw, doc.records, broken=True))
    return Sample(raw=doc.raw, document=doc)


# ---------------------------------------------------------------- resolving what the user asked for


def _flavor_of(log_format: str) -> Literal["nginx", "apache"]:
    if log_format in ("common", "vhost_combined") or ("%" in log_format and "$" not in log_format):
        return "apache"
    return "nginx"


def build_target(options: FuzzOptions, workdir: Path) -> Target:
    given_ = [x for x in (options.format, options.log_format, options.mapping) if x]
    if options.format in ("nginx", "apache") and options.log_format and not options.mapping:
        given_ = [options.format]
    if len(given_) != 1:
        raise UsageError("give exactly one of --format, --log-format or --mapping")
    if options.examples < 1:
        raise UsageError("--examples must be at least 1")
    if options.mapping is not None:
        from forensics.mapping import load_mapping

        mapping = load_mapping(options.mapping)
        return _target_for(mapping.format, None, mapping, options.mapping, f"mapping-{options.mapping.stem}", workdir)
    if options.log_format is not None:
        flavor = options.format or _flavor_of(options.log_format)
        return _target_for(flavor, options.log_format, None, None, f"{flavor}-log-format", workdir)
    assert options.format is not None
    get_format(options.format)  # unknown names: UsageError with the closest one
    return _target_for(options.format, None, None, None, options.format, workdir)


def _target_for(
    name: str, log_format: str | None, mapping: Any, mapping_path: Path | None, label: str, workdir: Path
) -> Target:
    fmt = get_format(name)
    path = f"fuzz-{_safe(label)}"
    if name in ("nginx", "apache"):
        return _access_target(fmt, name, log_format, mapping, mapping_path, label, path)
    if name == "syslog":
        return _syslog_target(fmt, mapping, mapping_path, label, path)
    if name == "w3c":
        return _w3c_target(fmt, mapping, mapping_path, label, path)
    if name not in ("jsonl", "json", "cloudtrail", "csv", "tsv"):
        return _generic_target(fmt, name, mapping, mapping_path, label, path)
    return _structured_target(fmt, name, mapping, mapping_path, label, path, workdir)


def _drop_mapped(line: GeneratedLine, mapping: Any) -> GeneratedLine:
    """With a mapping on top of a built-in parser, its columns replace the parser's: only 'an event' is known."""
    if mapping is None or line.expected is None:
        return line
    expected = {k: v for k, v in line.expected.items() if k not in mapping.columns}
    expected["event"] = True
    return GeneratedLine(line.raw, expected, line.kind, line.note, line.meta)


def _access_target(
    fmt: Format, flavor: Any, log_format: str | None, mapping: Any, mapping_path: Path | None, label: str, path: str
) -> Target:
    from forensics.testing.accesslog import access_log_lines, log_formats, shape

    # A format whose time carries no offset (%{%Y-%m-%d %H:%M:%S}t) needs --tz: fuzz it as UTC.
    tz = None if log_format is None or shape(log_format, flavor).zoned else "UTC"
    base = FormatOptions(
        source="fuzz", path=path, log_format=log_format, mapping=mapping, tz=ZoneInfo(tz) if tz else None
    )

    per_format: dict[str, st.SearchStrategy[Sample]] = {}

    @st.composite
    def samples(draw: st.DrawFn) -> Sample:
        chosen = log_format if log_format is not None else draw(log_formats(flavor))
        if chosen not in per_format:
            valid = access_log_lines(chosen, flavor).map(lambda g: _drop_mapped(g, mapping))
            per_format[chosen] = line_samples(valid)
        sample = draw(per_format[chosen])
        sample.log_format = chosen
        return sample

    return Target(label, fmt, base, samples(), flavor, log_format, mapping_path, tz)


def _w3c_target(fmt: Format, mapping: Any, mapping_path: Path | None, label: str, path: str) -> Target:
    from forensics.testing.w3c import w3c_field_lists, w3c_header, w3c_records

    base = FormatOptions(source="fuzz", path=path, mapping=mapping)
    per_fields: dict[tuple[str, ...], st.SearchStrategy[Sample]] = {}
    header_time = datetime(2021, 4, 1, tzinfo=UTC)

    @st.composite
    def samples(draw: st.DrawFn) -> Sample:
        fields = draw(w3c_field_lists())
        if fields not in per_fields:
            valid = w3c_records(fields).map(lambda g: _drop_mapped(g, mapping))
            per_fields[fields] = line_samples(valid, header=tuple(w3c_header(fields, header_time)))
        return draw(per_fields[fields])

    return Target(label, fmt, base, samples(), "w3c", None, mapping_path)


def _generic_target(fmt: Format, name: str, mapping: Any, mapping_path: Path | None, label: str, path: str) -> Target:
    """Any other registered format: its own well-formed lines when it offers them (``generated_lines()``,
    written in ``zone_for_generated``; e.g. the error logs), plus hostile and mutated lines (and --corpus)."""
    tz = getattr(fmt, "zone_for_generated", None)
    base = FormatOptions(source="fuzz", path=path, mapping=mapping, tz=ZoneInfo(tz) if tz else None)
    generate = getattr(fmt, "generated_lines", None)
    valid = generate().map(lambda g: _drop_mapped(g, mapping)) if generate else None
    return Target(label, fmt, base, line_samples(valid), name, None, mapping_path, tz)


def _syslog_target(fmt: Format, mapping: Any, mapping_path: Path | None, label: str, path: str) -> Target:
    from forensics.testing.syslog import syslog_lines

    base = FormatOptions(source="fuzz", path=path, mapping=mapping, tz=ZoneInfo(SYSLOG_TZ), year_hint=SYSLOG_YEAR)
    valid = syslog_lines(tz=SYSLOG_TZ, year=SYSLOG_YEAR).map(lambda g: _drop_mapped(g, mapping))
    return Target(label, fmt, base, line_samples(valid), "syslog", None, mapping_path, SYSLOG_TZ)


def _structured_target(
    fmt: Format, name: str, mapping: Any, mapping_path: Path | None, label: str, path: str, workdir: Path
) -> Target:
    from forensics.mapping import load_mapping
    from forensics.testing.structured import (
        csv_header,
        csv_lines,
        default_mapping_toml,
        json_documents,
        jsonl_lines,
        plan_records,
        render_csv_row,
    )

    if mapping is None:
        if name == "cloudtrail":
            from forensics.formats.structured import CLOUDTRAIL_MAPPING

            mapping_path = CLOUDTRAIL_MAPPING
        else:
            mapping_path = workdir / f"fuzz-{name}.toml"
            mapping_path.write_text(default_mapping_toml(name), encoding="utf-8")
        mapping = load_mapping(mapping_path)
    tz = mapping.tz or ZoneInfo("UTC")
    base = FormatOptions(source="fuzz", path=path, mapping=mapping, tz=tz)
    plan: RecordPlan = plan_records(mapping)
    ingest_tz = None if mapping.tz else "UTC"
    if fmt.kind == "document":
        docs = json_documents(plan, tz, "Records" if name == "cloudtrail" else None)
        return Target(label, fmt, base, document_samples(docs), name, None, mapping_path, ingest_tz)
    if name in ("csv", "tsv"):
        names = csv_header(plan)
        header: tuple[GeneratedLine, ...] = ()
        if mapping.csv.header:
            text = render_csv_row(names, mapping.csv.delimiter, mapping.csv.quote)
            header = (GeneratedLine(text.encode("utf-8"), None, kind="header"),)
        samples = line_samples(csv_lines(plan, tz, names), header=header)
        return Target(label, fmt, base, samples, name, None, mapping_path, ingest_tz)
    return Target(label, fmt, base, line_samples(jsonl_lines(plan, tz)), name, None, mapping_path, ingest_tz)


def _attach_corpus(target: Target, corpus: Path) -> None:
    mapping = target.base.mapping
    csv_header = target.fmt.name in ("csv", "tsv") and mapping is not None and mapping.csv.header

    def header(i: int, raw: bytes) -> bool:
        """Lines that only mean something at the top of a file: a CSV header, W3C directives."""
        return (csv_header and i == 0) or (target.fmt.name == "w3c" and raw.startswith(b"#"))

    files = read_corpus(corpus, target.fmt.kind)
    target.corpus_samples = corpus_samples(files, target.fmt.kind, header)


# ---------------------------------------------------------------- entry point


def run_fuzz(options: FuzzOptions) -> FuzzReport:
    """Fuzz the format the user named (built-in, --log-format string or --mapping file)."""
    with tempfile.TemporaryDirectory(prefix="forensics-fuzz-") as tmp:
        target = build_target(options, Path(tmp))
        if options.corpus is not None:
            _attach_corpus(target, options.corpus)
        return run_target(target, options)
