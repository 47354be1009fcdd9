"""Found by `forensics fuzz --format json` / `--format cloudtrail` (seed 1): minimal inputs `[]` and `{"Records": []}`.

An empty array (or an empty CloudTrail Records envelope, which CloudTrail really delivers) holds no
record, so a parse must return no event and no quarantine row. The parser returned one quarantine
row for line 1: `_children()` returned an empty list and `... or [top]` then treated the container
itself as the record (formats/structured.py, DocumentParser.parse_document; fixed there since).
"""

from __future__ import annotations

from pathlib import Path

from forensics.formats.base import FormatOptions
from forensics.formats.structured import CLOUDTRAIL, JSON
from forensics.mapping import load_mapping
from forensics.testing.structured import default_mapping_toml


def test_empty_json_array_has_no_records(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(default_mapping_toml("json"), encoding="utf-8")
    parser = JSON.parser(FormatOptions(source="t", path="empty.json", mapping=load_mapping(path)))
    result = parser.parse_document("[]\n")
    assert result.events.height == 0
    assert result.quarantine.height == 0


def test_empty_cloudtrail_envelope_has_no_records() -> None:
    parser = CLOUDTRAIL.parser(FormatOptions(source="t", path="empty.json"))
    result = parser.parse_document('{"Records": []}\n')
    assert result.events.height == 0
    assert result.quarantine.height == 0
