"""nginx / Apache access logs, from a format string or every preset."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from forensics.formats.base import Format, FormatOptions
from forensics.fuzz.model import Sample, Target
from forensics.fuzz.samples import drop_mapped, line_samples


def access_target(
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
            valid = access_log_lines(chosen, flavor).map(lambda g: drop_mapped(g, mapping))
            per_format[chosen] = line_samples(valid)
        sample = draw(per_format[chosen])
        sample.log_format = chosen
        return sample

    return Target(label, fmt, base, samples(), flavor, log_format, mapping_path, tz)
