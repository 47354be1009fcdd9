"""Syslog RFC 3164 / 5424, read in a zone with DST."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from forensics.formats.base import Format, FormatOptions
from forensics.fuzz.model import SYSLOG_TZ, SYSLOG_YEAR, Target
from forensics.fuzz.samples import drop_mapped, line_samples


def syslog_target(fmt: Format, mapping: Any, mapping_path: Path | None, label: str, path: str) -> Target:
    from forensics.testing.syslog import syslog_lines

    base = FormatOptions(source="fuzz", path=path, mapping=mapping, tz=ZoneInfo(SYSLOG_TZ), year_hint=SYSLOG_YEAR)
    valid = syslog_lines(tz=SYSLOG_TZ, year=SYSLOG_YEAR).map(lambda g: drop_mapped(g, mapping))
    return Target(label, fmt, base, line_samples(valid), "syslog", None, mapping_path, SYSLOG_TZ)
