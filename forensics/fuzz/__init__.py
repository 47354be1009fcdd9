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

import tempfile
from pathlib import Path

from forensics.fuzz.corpus import attach_corpus
from forensics.fuzz.driver import RunState, check_example, run_round, run_target
from forensics.fuzz.model import (
    PROPERTIES,
    Accounting,
    Determinism,
    FailureRecord,
    FuzzOptions,
    FuzzReport,
    IngestCheck,
    NeverCrash,
    PropertyFailure,
    Reasons,
    RoundTrip,
    Sample,
    Target,
)
from forensics.fuzz.properties import (
    Outcome,
    check_accounting,
    check_determinism,
    check_ingest,
    check_reasons,
    check_refusal,
    check_round_trip,
    compare_event,
    digests,
    is_specific,
    parse_sample,
    same_value,
)
from forensics.fuzz.samples import document_samples, line_samples
from forensics.fuzz.targets import build_target

__all__ = [
    "PROPERTIES",
    "Accounting",
    "Determinism",
    "FailureRecord",
    "FuzzOptions",
    "FuzzReport",
    "IngestCheck",
    "NeverCrash",
    "Outcome",
    "PropertyFailure",
    "Reasons",
    "RoundTrip",
    "RunState",
    "Sample",
    "Target",
    "build_target",
    "check_accounting",
    "check_determinism",
    "check_example",
    "check_ingest",
    "check_reasons",
    "check_refusal",
    "check_round_trip",
    "compare_event",
    "digests",
    "document_samples",
    "is_specific",
    "line_samples",
    "parse_sample",
    "run_fuzz",
    "run_round",
    "run_target",
    "same_value",
]


# ---------------------------------------------------------------- entry point


def run_fuzz(options: FuzzOptions) -> FuzzReport:
    """Fuzz the format the user named (built-in, --log-format string or --mapping file)."""
    with tempfile.TemporaryDirectory(prefix="forensics-fuzz-") as tmp:
        target = build_target(options, Path(tmp))
        if options.corpus is not None:
            attach_corpus(target, options.corpus)
        return run_target(target, options)
