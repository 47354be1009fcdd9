"""Parts of the exhibit record computed from the pack result: the exposure counts (from the checks' own rows, so
the table and the findings count the same events) and the reason facts (kind + figures) kept beside each check."""

from __future__ import annotations

import re
from typing import Any

from forensics.exposure import CheckRows, observed_counts
from forensics.masking import Masker


def exposure_counted(pack: dict[str, Any], config: dict[str, Any]) -> list[dict[str, Any]]:
    """The pack's channel comparison with each channel's event count recounted from the checks' own rows with
    forensics.exposure.observed_counts, the function the pack run counts with (an exhibit built from an older
    pack result therefore agrees with its findings too)."""
    spec = config.get("exposure", {}) if isinstance(config.get("exposure"), dict) else {}
    actions = {
        str(c.get("channel")): list((spec.get(c.get("channel"), {}) or {}).get("actions", []))
        for c in pack.get("exposure", [])
    }
    checks = [
        CheckRows("$order_id" in str(c.get("sql", "")), c.get("columns", []), c.get("results", []))
        for c in pack.get("checks", [])
    ]
    counts = observed_counts(actions, checks)
    out = []
    for channel in pack.get("exposure", []):
        name = str(channel.get("channel"))
        out.append(dict(channel, events=counts[name]) if actions.get(name) else dict(channel))
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
