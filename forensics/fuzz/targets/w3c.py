"""W3C extended logs (IIS): a #Fields header per sample."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from forensics.formats.base import Format, FormatOptions
from forensics.fuzz.model import Sample, Target
from forensics.fuzz.samples import drop_mapped, line_samples


def w3c_target(fmt: Format, mapping: Any, mapping_path: Path | None, label: str, path: str) -> Target:
    from forensics.testing.w3c import w3c_field_lists, w3c_header, w3c_records

    base = FormatOptions(source="fuzz", path=path, mapping=mapping)
    per_fields: dict[tuple[str, ...], st.SearchStrategy[Sample]] = {}
    header_time = datetime(2021, 4, 1, tzinfo=UTC)

    @st.composite
    def samples(draw: st.DrawFn) -> Sample:
        fields = draw(w3c_field_lists())
        if fields not in per_fields:
            valid = w3c_records(fields).map(lambda g: drop_mapped(g, mapping))
            per_fields[fields] = line_samples(valid, header=tuple(w3c_header(fields, header_time)))
        return draw(per_fields[fields])

    return Target(label, fmt, base, samples(), "w3c", None, mapping_path)
