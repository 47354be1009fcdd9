"""Loud quarantine: a file that mostly failed to parse must say so, with the reasons and the likely fix.

A wrong --format or --log-format quarantines every line and still "succeeds"; without a warning the user
would believe the case holds that source. The figures come from the staged quarantine Parquet.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

DEFAULT_MAX_QUARANTINE_RATIO = 0.05
_LINE_FORMATS = {"nginx", "apache"}
_MAPPED_FORMATS = {"jsonl", "json", "csv", "tsv", "cloudtrail", "w3c"}


def top_reasons(parquet_files: Sequence[Path], limit: int = 3) -> list[tuple[str, int]]:
    """The most frequent quarantine reasons, most frequent first."""
    if not parquet_files:
        return []
    counts = (
        pl.scan_parquet([str(p) for p in parquet_files])
        .group_by("reason")
        .len()
        .sort(["len", "reason"], descending=[True, False])
        .head(limit)
        .collect()
    )
    return [(str(r), int(n)) for r, n in counts.iter_rows()]


def likely_fix(fmt: str, events: int, log_format: str | None, has_mapping: bool) -> str:
    if fmt in _LINE_FORMATS:
        used = log_format or "combined"
        head = f"no line matched the {used} format" if not events else f"some lines do not match the {used} format"
        return f"{head}; pass --log-format with the server's log_format"
    if fmt in _MAPPED_FORMATS:
        if not has_mapping:
            return "pass --mapping FILE describing the file's fields"
        return "check --mapping: its field names and time format must match the file's (forensics fuzz --mapping)"
    if fmt == "syslog":
        return "check --format (is this syslog?) and --year"
    return f"check --format (parsed as {fmt}) and --encoding"


def quarantine_warning(
    path: str,
    fmt: str,
    events: int,
    quarantined: int,
    reasons: Sequence[tuple[str, int]],
    *,
    max_ratio: float,
    log_format: str | None,
    has_mapping: bool,
) -> str | None:
    """A one-line warning when more than max_ratio of the parsed lines (or every one) were quarantined."""
    parsed = events + quarantined
    if not quarantined or (events and quarantined <= max_ratio * parsed):
        return None
    top = "; ".join(f"{reason[:120]} ({n})" for reason, n in reasons)
    return (
        f"{path}: {quarantined} of {parsed} lines quarantined ({quarantined / parsed:.0%}, more than "
        f"{max_ratio:.0%}); top reasons: {top}; likely fix: {likely_fix(fmt, events, log_format, has_mapping)}"
    )
