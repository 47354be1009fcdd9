"""The fuzz runner's vocabulary: options, property failures, samples, targets and the report."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from forensics.formats.base import Format, FormatOptions
from forensics.testing.common import GeneratedLine
from forensics.testing.structured import GeneratedDocument

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
            out.append(f"  top quarantine reason ({n}x), e.g.: {shorten(example, 100)}")
        for f in self.failures:
            out.append(f"FAILED {f.prop}: {f.message}")
            out.append(f"  minimal example: {shorten(f.example, 300)}")
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


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def safe_label(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_") or "target"
