"""JSON lines, JSON documents, CloudTrail, CSV/TSV: records generated from the mapping's fields."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from forensics.formats.base import Format, FormatOptions
from forensics.fuzz.model import Target
from forensics.fuzz.samples import document_samples, line_samples
from forensics.testing.common import GeneratedLine
from forensics.testing.structured import RecordPlan


def structured_target(
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
