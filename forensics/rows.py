"""`check --rows`: who did what, when and where it is written, for a check's rows, without writing SQL."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

COLUMNS = ("who", "what", "when", "where")


def _when(value: Any, zone: ZoneInfo) -> str:
    """The case zone with its offset, so nobody has to convert UTC in their head."""
    if not isinstance(value, datetime):
        try:
            value = datetime.fromisoformat(str(value))
        except ValueError:
            return "" if value is None else str(value)
    return value.astimezone(zone).isoformat(sep=" ")


def _what(record: Mapping[str, Any]) -> str:
    parts = [str(record.get("action") or record.get("kind") or "")]
    if record.get("fields"):
        parts.append("fields " + ", ".join(str(f) for f in record["fields"]))
    if record.get("outcome"):
        parts.append(str(record["outcome"]))
    if record.get("masked") is not None:
        parts.append("masked" if record["masked"] else "unmasked")
    return "; ".join(p for p in parts if p)


def _where(record: Mapping[str, Any], paths: Mapping[str, str]) -> str:
    if record.get("copies"):
        return str(record["copies"])
    sha = str(record.get("src_sha256") or "")
    if not sha:
        return str(record.get("source") or "")
    return f"{paths.get(sha) or 'sha256:' + sha[:12]}:{record.get('line_no')}"


def check_rows(result: Any, check_id: str | None, paths: Mapping[str, str]) -> list[tuple[str, list[list[str]]]]:
    """(check id, rows of who/what/when/where) for one check, or for every check with rows."""
    zone = ZoneInfo(str(result.window.tz))
    # an unknown check id is a UsageError naming the closest one (PackResult.check)
    chosen = [result.check(check_id)] if check_id else [c for c in result.checks if c.run.rows]
    out: list[tuple[str, list[list[str]]]] = []
    for c in chosen:
        table = []
        for r in c.run.records():
            who = " ".join(str(r[k]) for k in ("actor_id", "actor_type") if r.get(k)) or str(r.get("source") or "")
            table.append([who, _what(r), _when(r.get("ts") or r.get("start"), zone), _where(r, paths)])
        out.append((c.check.id, table))
    return out
