"""Any other registered format: its own generated lines when it offers them, plus hostile and mutated ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from forensics.formats.base import Format, FormatOptions
from forensics.fuzz.model import Target
from forensics.fuzz.samples import drop_mapped, line_samples


def generic_target(fmt: Format, name: str, mapping: Any, mapping_path: Path | None, label: str, path: str) -> Target:
    """Any other registered format: its own well-formed lines when it offers them (``generated_lines()``,
    written in ``zone_for_generated``; e.g. the error logs), plus hostile and mutated lines (and --corpus)."""
    tz = getattr(fmt, "zone_for_generated", None)
    base = FormatOptions(source="fuzz", path=path, mapping=mapping, tz=ZoneInfo(tz) if tz else None)
    generate = getattr(fmt, "generated_lines", None)
    valid = generate().map(lambda g: drop_mapped(g, mapping)) if generate else None
    return Target(label, fmt, base, line_samples(valid), name, None, mapping_path, tz)
