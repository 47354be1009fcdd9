"""Parts of the exhibit record computed from the pack result: the exposure counts (from the checks' own rows, so
the table and the findings count the same events) and the reason facts (kind + figures) kept beside each check."""

from __future__ import annotations

import re
from typing import Any

from forensics.masking import Masker


def _order_events(pack: dict[str, Any]) -> dict[str, set[tuple[Any, Any]]]:
    """Raw-log lines (input sha256, line) per action found by the checks about the order (those bound to
    $order_id): the events the checks report are the events the exposure table counts."""
    found: dict[str, set[tuple[Any, Any]]] = {}
    for check in pack.get("checks", []):
        if "$order_id" not in str(check.get("sql", "")):
            continue
        columns = [str(c) for c in check.get("columns", [])]
        if not {"action", "src_sha256", "line_no"} <= set(columns):
            continue
        ia, isha, iline = columns.index("action"), columns.index("src_sha256"), columns.index("line_no")
        for row in check.get("results", []):
            found.setdefault(str(row[ia]), set()).add((row[isha], row[iline]))
    return found


def exposure_counted(pack: dict[str, Any], config: dict[str, Any]) -> list[dict[str, Any]]:
    """The pack's channel comparison with each channel's event count taken from the checks' own rows."""
    spec = config.get("exposure", {}) if isinstance(config.get("exposure"), dict) else {}
    found = _order_events(pack)
    out = []
    for channel in pack.get("exposure", []):
        actions = (spec.get(channel.get("channel"), {}) or {}).get("actions", [])
        lines: set[tuple[Any, Any]] = set()
        for action in actions:
            lines |= found.get(str(action), set())
        out.append(dict(channel, events=len(lines)) if actions else dict(channel))
    return out


_HEX64 = re.compile(r"[0-9a-f]{64}")


def facts_record(check: dict[str, Any], masker: Masker) -> dict[str, Any]:
    """The reason's facts, scrubbed like all text; cited lines keep their file hash (a digest, never personal
    information, and a digit run in it must not be masked like a phone number)."""
    facts = dict(check.get("facts") or {})
    cited = facts.pop("cited", None)
    out: dict[str, Any] = masker.walk(f"checks/{check.get('id')}/facts", facts)
    if isinstance(cited, list):
        out["cited"] = [
            {"sha256": str(c.get("sha256")), "line": c.get("line") if isinstance(c.get("line"), int) else None}
            for c in cited
            if isinstance(c, dict) and _HEX64.fullmatch(str(c.get("sha256")))
        ]
    return out
