"""What a run produces: JSON-safe rows, their digest (result_sha256, the goldens' contract) and the result objects."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from forensics.errors import UsageError
from forensics.packs.model import Check, Pack, display_value, suggest

# ---------------------------------------------------------------- results


def json_safe(value: Any) -> Any:
    """Result values as JSON: times ISO-8601 UTC, decimals as numbers, bytes as hex."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    return value


def result_sha256(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    records = [dict(zip(columns, row, strict=True)) for row in rows]
    text = json.dumps(records, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class CheckRun:
    """The raw outcome of one check's SQL: columns and JSON-safe rows."""

    check: Check
    columns: list[str]
    rows: list[list[Any]]
    seconds: float = 0.0  # wall time of the SQL (bench/check.py); not part of the JSON contract

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


@dataclass
class CheckResult:
    run: CheckRun
    verdict: str
    reason: str
    scope: str | None
    source_file: str
    facts: dict[str, Any] = field(default_factory=dict)  # the reason as kind + figures (verdicts.Decision.facts)

    @property
    def check(self) -> Check:
        return self.run.check

    def to_json(self, full: bool = False) -> dict[str, Any]:
        check = self.check
        out: dict[str, Any] = {
            "id": check.id,
            "verdict": self.verdict,
            "reason": self.reason,
            "rows": len(self.run.rows),
            "sql_sha256": check.sql_sha256,
            "result_sha256": result_sha256(self.run.columns, self.run.rows),
        }
        if full:
            out.update(
                {
                    "title_en": check.title_en,
                    "title_zh": check.title_zh,
                    "question": check.question,
                    "legal_element": check.legal_element,
                    "question_zh": check.question_zh,
                    "legal_element_zh": check.legal_element_zh,
                    "facts": self.facts,
                    "expect": check.expect,
                    "severity": check.severity,
                    "depends_on": {
                        "sources": list(check.sources),
                        "actions": list(check.actions),
                        "roles": [b.to_json() for b in check.bound],
                    },
                    "scope": self.scope,
                    "sql": check.sql,
                    "columns": list(self.run.columns),
                    "results": self.run.rows,
                    "source_file": self.source_file,
                }
            )
        return out


@dataclass
class PackResult:
    pack: Pack
    params: dict[str, Any]
    window: Any  # forensics.verdicts.Window
    checks: list[CheckResult]
    completeness: Any  # forensics.verdicts.Completeness
    exposure: list[Any] = field(default_factory=list)  # forensics.exposure.ChannelExposure
    timings: dict[str, float] = field(default_factory=dict)  # seconds per runner step (not in the JSON)
    warnings: list[str] = field(default_factory=list)  # e.g. the order id appears in no ingested source
    role_notes: list[str] = field(default_factory=list)  # one line per role a check needs that has no source
    engine: str = "duckdb"  # where the SQL ran (forensics.engines); named in the JSON when not DuckDB
    source: dict[str, Any] | None = None  # a warehouse table read instead of the sealed events

    def check(self, check_id: str) -> CheckResult:
        for result in self.checks:
            if result.check.id == check_id:
                return result
        raise UsageError(f"no check {check_id!r} in this result{suggest(check_id, [c.check.id for c in self.checks])}")

    @property
    def verdicts(self) -> dict[str, str]:
        return {r.check.id: r.verdict for r in self.checks}

    def has_findings(self) -> bool:
        """For --fail-on-findings: something flagged, or a none-check that could not be cleared."""
        return any(r.verdict in {"flagged", "inconclusive"} for r in self.checks)

    def to_json(self, full: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "pack": self.pack.name,
            "version": self.pack.version,
            "params": {name: display_value(value) for name, value in self.params.items()},
        }
        if full:
            out["window"] = self.window.to_json()
        out["warnings"] = list(self.warnings)
        out["checks"] = [c.to_json(full) for c in self.checks]
        # events per disclosure channel, counted as the exhibit's exposure table counts them (observed_counts)
        out["exposure_events"] = {e.channel: e.events for e in self.exposure}
        if full:
            out["completeness"] = self.completeness.to_json()
            out["exposure"] = [e.to_json() for e in self.exposure]
        if self.role_notes:
            out["role_notes"] = list(self.role_notes)
        if self.engine != "duckdb":
            out["engine"] = self.engine
        if self.source is not None:
            out["source"] = dict(self.source)
        return out
