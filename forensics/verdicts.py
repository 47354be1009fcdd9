"""Verdicts: absence must be earned.

A check that expects no rows is CLEAN only when every source it depends on is complete over the
window (padded by the measured clock skew), is shown continuous by at least one kind of evidence
(heartbeats, sequence numbers or volume: forensics/completeness.py) and a positive control shows the
event type is logged there at all; otherwise it is INCONCLUSIVE, with the reason. Rows make it
FLAGGED. A check that expects rows reports FOUND or MISSING, an informational one INFO.

Every reason is an English sentence (``Decision.reason``) and data beside it (``Decision.facts``:
kind + figures, ``facts["reasons"]`` one per reason) from which the exhibit words both languages.
This module measures the clock skew on request ids shared between sources and counts the positive
controls; completeness.py computes the per-source figures and turns defects into reasons.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from forensics import completeness as completeness_mod
from forensics.completeness import Completeness as Completeness
from forensics.completeness import SkewPair as SkewPair
from forensics.completeness import SourceCompleteness as SourceCompleteness
from forensics.completeness import utc as _utc
from forensics.engines.base import QUERY_ERRORS, Executes
from forensics.errors import ForensicsError
from forensics.exposure import ChannelExposure, summarize
from forensics.packs.model import Check, display_value
from forensics.packs.results import CheckRun

# ---------------------------------------------------------------- window and clock skew

# Requests both sources logged: the median difference of their times is the clock offset between the
# sources (plus processing latency, which only makes the padding more generous).
SKEW_SQL = """
WITH r AS (
    SELECT source, request_id, min(ts) AS ts
    FROM events
    WHERE date BETWEEN CAST($start - to_seconds($cap) AS DATE) AND CAST($end + to_seconds($cap) AS DATE)
      AND ts >= $start - to_seconds($cap)
      AND ts < $end + to_seconds($cap)
      AND request_id IS NOT NULL AND request_id <> '' AND request_id <> '-'
    GROUP BY source, request_id
)
SELECT a.source AS a, b.source AS b, median(epoch(b.ts) - epoch(a.ts)) AS seconds, count(*) AS pairs
FROM r AS a JOIN r AS b ON a.request_id = b.request_id AND a.source < b.source
GROUP BY a.source, b.source
ORDER BY a.source, b.source
"""


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    padded_start: datetime
    padded_end: datetime
    tz: str
    skew_seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "padded_start": self.padded_start.isoformat(),
            "padded_end": self.padded_end.isoformat(),
            "tz": self.tz,
            "skew_seconds": self.skew_seconds,
        }

    def local_text(self) -> str:
        zone = ZoneInfo(self.tz)
        return f"{_local(self.start, zone)} and {_local(self.end, zone)} {self.tz}"


def _local(moment: datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    text = local.strftime("%Y-%m-%d %H:%M:%S")
    offset = local.strftime("%z")  # every time shown to a reader carries its offset: '2024-03-04 00:00 +08:00'
    return (text[:-3] if text.endswith(":00") else text) + f" {offset[:3]}:{offset[3:]}"


def measure_skew(con: Executes, start: datetime, end: datetime, cap: float) -> list[SkewPair]:
    try:
        rows = con.execute(SKEW_SQL, {"start": start, "end": end, "cap": float(cap)}).fetchall()
    except QUERY_ERRORS as exc:
        raise ForensicsError(f"measuring clock skew failed: {exc}") from exc
    return [SkewPair(str(a), str(b), round(float(s), 3), int(n)) for a, b, s, n in rows]


def pad_window(start: datetime, end: datetime, tz: str, skew: Sequence[SkewPair], cap: float) -> Window:
    """Widen the window by the largest measured skew, never by more than the case's max_clock_skew."""
    measured = max((abs(p.seconds) for p in skew), default=0.0)
    pad = round(min(measured, float(cap)), 3)
    delta = timedelta(seconds=pad)
    return Window(_utc(start), _utc(end), _utc(start) - delta, _utc(end) + delta, tz, pad)


# ---------------------------------------------------------------- completeness and positive controls

CONTROLS_SQL = """
SELECT source, action, count(*) AS events
FROM events
WHERE date BETWEEN CAST($padded_start AS DATE) AND CAST($padded_end AS DATE)
  AND ts >= $padded_start
  AND ts < $padded_end
  AND list_contains($sources, source)
  AND list_contains($actions, action)
GROUP BY ALL
"""


def assess_completeness(
    con: Executes,
    window: Window,
    expected_sources: Sequence[str],
    skew: Sequence[SkewPair],
    defects: CheckRun | None,
    values: Mapping[str, Any],
) -> Completeness:
    """Per-source completeness (forensics.completeness): the figures reuse the completeness check's own SQL."""
    rows = defects.records() if defects is not None else None
    sql = defects.check.sql if defects is not None else None
    bound = {**values, "padded_start": window.padded_start, "padded_end": window.padded_end, "tz": window.tz}
    return completeness_mod.assess(con, expected_sources, skew, rows, sql, bound)


# ---------------------------------------------------------------- positive controls


def count_controls(
    con: Executes, window: Window, checks: Sequence[Check]
) -> dict[tuple[str, str], int]:
    """How often each depended-on action was recorded in each depended-on source during the window."""
    sources = sorted({s for c in checks for s in c.sources})
    actions = sorted({a for c in checks for a in c.actions})
    if not sources or not actions:
        return {}
    params = {
        "padded_start": window.padded_start,
        "padded_end": window.padded_end,
        "sources": sources,
        "actions": actions,
    }
    try:
        rows = con.execute(CONTROLS_SQL, params).fetchall()
    except QUERY_ERRORS as exc:
        raise ForensicsError(f"counting positive controls failed: {exc}") from exc
    return {(str(s), str(a)): int(n) for s, a, n in rows}


# The order (and shop) must be seen somewhere before its absence counts: a typo in case.toml would
# otherwise make every "no rows" look like a clean answer. Any time in the case, any source.
PRESENCE_SQL = """
SELECT count(*) FILTER (WHERE $order_id <> '' AND list_contains(order_ids, $order_id)) AS order_events,
       count(*) FILTER (WHERE $merchant_id <> '' AND merchant_id = $merchant_id) AS merchant_events
FROM events
"""


@dataclass(frozen=True)
class Presence:
    """How many ingested events mention the case's order and merchant (None: the pack has no such parameter)."""

    order_id: str | None
    order_events: int
    merchant_id: str | None
    merchant_events: int

    def warnings(self) -> list[str]:
        out: list[str] = []
        if self.order_id and not self.order_events:
            out.append(f"order {self.order_id} appears in no ingested source: check the order id")
        if self.merchant_id and not self.merchant_events:
            out.append(f"merchant {self.merchant_id} appears in no ingested source: check the merchant id")
        return out

    def facts(self) -> list[dict[str, Any]]:
        """The warnings as data, in the order of warnings()."""
        out: list[dict[str, Any]] = []
        if self.order_id and not self.order_events:
            out.append({"kind": "order_absent", "order_id": self.order_id})
        if self.merchant_id and not self.merchant_events:
            out.append({"kind": "merchant_absent", "merchant_id": self.merchant_id})
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "order_events": self.order_events,
            "merchant_id": self.merchant_id,
            "merchant_events": self.merchant_events,
        }


def count_presence(con: Executes, values: Mapping[str, Any]) -> Presence:
    """The order-presence control: does the order id (and merchant id) occur in any ingested event?"""
    order = str(values.get("order_id") or "").strip() or None
    merchant = str(values.get("merchant_id") or "").strip() or None
    try:
        row = con.execute(PRESENCE_SQL, {"order_id": order or "", "merchant_id": merchant or ""}).fetchone()
    except QUERY_ERRORS as exc:
        raise ForensicsError(f"looking for the order id in the case failed: {exc}") from exc
    orders, merchants = row if row else (0, 0)
    return Presence(order, int(orders or 0), merchant, int(merchants or 0))


def input_paths(con: Executes) -> dict[str, str]:
    """sha256 -> input path, so findings can be cited as file:line."""
    try:
        rows = con.execute("SELECT sha256, path FROM inputs WHERE sha256 IS NOT NULL").fetchall()
    except QUERY_ERRORS:
        return {}
    return {str(sha): str(path) for sha, path in rows}


# ---------------------------------------------------------------- the rules


@dataclass(frozen=True)
class Decision:
    verdict: str
    reason: str
    scope: str | None = None
    # The reason as data (kind + figures) so the exhibit can say it in Chinese and English from one template table
    facts: dict[str, Any] = field(default_factory=dict)


def _cite(record: Mapping[str, Any], paths: Mapping[str, str]) -> str:
    sha = str(record.get("src_sha256") or "")
    where = paths.get(sha) or (f"{record.get('source')} sha256:{sha[:12]}" if sha else str(record.get("source")))
    return f"{where}:{record.get('line_no')}"


def _citations(run: CheckRun, paths: Mapping[str, str], limit: int = 3) -> str:
    records = run.records()
    cited = ", ".join(_cite(r, paths) for r in records[:limit] if r.get("line_no") is not None)
    more = f" and {len(records) - limit} more" if len(records) > limit else ""
    return f"{cited}{more}" if cited else ""


def _cited(run: CheckRun, paths: Mapping[str, str], limit: int = 3) -> list[dict[str, Any]]:
    """The first rows' raw-log lines as data: input file sha256 and line number (the exhibit names the file)."""
    records = [r for r in run.records() if r.get("line_no") is not None][:limit]
    return [{"sha256": str(r.get("src_sha256") or ""), "line": r.get("line_no")} for r in records]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


# A reason a "no" is not proven: the English sentence and its figures (kind + values) for the exhibit's wording.
Blocker = tuple[str, dict[str, Any]]


def _control_blockers(check: Check, controls: Mapping[tuple[str, str], int]) -> list[Blocker]:
    """The event type must be shown to be logged: by every source, and each action by some source."""
    blockers: list[Blocker] = []
    for source in check.sources:
        if not any(controls.get((source, a), 0) for a in check.actions):
            blockers.append((
                f"no {' or '.join(check.actions)} event at all is recorded in {source} during the window "
                "(no positive control that such events are logged there)",
                {"kind": "no_control", "source": source, "actions": list(check.actions)},
            ))  # fmt: skip
    for action in check.actions:
        if not any(controls.get((s, action), 0) for s in check.sources):
            blockers.append((
                f"no {action} event is recorded in any of {', '.join(check.sources)} during the window",
                {"kind": "no_control_action", "action": action, "sources": list(check.sources)},
            ))  # fmt: skip
    return blockers


def _source_blockers(entry: SourceCompleteness, values: Mapping[str, Any]) -> list[Blocker]:
    facts = entry.facts + [{"kind": "other", "source": entry.source}] * (len(entry.reasons) - len(entry.facts))
    blockers = list(zip(entry.reasons, facts, strict=True))
    if not blockers and not entry.continuity:
        missing = completeness_mod.no_continuity(entry, values.get("volume_min_baseline"))
        blockers.append((completeness_mod.no_continuity_text(missing), missing))
    return blockers


def _completeness_blockers(check: Check, completeness: Completeness, values: Mapping[str, Any]) -> list[Blocker]:
    """Every source must be complete and shown continuous by at least one kind of evidence."""
    blockers: list[Blocker] = []
    for source in check.sources:
        entry = completeness.get(source)
        if entry is None:
            blockers.append((f"{source}: no event of this source in the case", {"kind": "no_source", "source": source}))
        else:
            blockers.extend(_source_blockers(entry, values))
    return blockers


def evidence_of(check: Check, completeness: Completeness) -> dict[str, list[str]]:
    """source -> the kinds of continuity evidence that hold for it (heartbeats, seq, volume)."""
    out: dict[str, list[str]] = {}
    for source in check.sources:
        entry = completeness.get(source)
        out[source] = entry.continuity if entry else []
    return out


EVIDENCE_EN = {"heartbeats": "heartbeats", "seq": "sequence numbers", "volume": "hourly volume against baseline"}


def evidence_text(evidence: Mapping[str, Sequence[str]]) -> str:
    """'merchant_backend by heartbeats and sequence numbers; logistics by hourly volume against baseline'."""
    return "; ".join(f"{s} by {' and '.join(EVIDENCE_EN[k] for k in kinds)}" for s, kinds in evidence.items() if kinds)


def _absent_roles(check: Check) -> list[str]:
    return [r.role for r in check.bound if r.absent]


def _substitute(text: str, values: Mapping[str, Any]) -> str:
    return re.sub(r"\$([a-z_]+)", lambda m: display_value(values.get(m.group(1), m.group(0))), text)


def _source_text(source: str, completeness: Completeness) -> str:
    entry = completeness.get(source)
    nodes = entry.nodes if entry else []
    return f"{source} (nodes {', '.join(nodes)})" if nodes else source


def _systems(check: Check, completeness: Completeness) -> str:
    if not check.bound:  # a pack that names sources directly
        return ", ".join(_source_text(s, completeness) for s in check.sources)
    # Role and source both: "merchant back office: admin_audit (nodes ...)"; an absent role is stated, not hidden.
    parts = []
    for role in check.bound:
        if role.absent or not role.sources:
            parts.append(role.display())
        else:
            parts.append(f"{role.title_en}: {', '.join(_source_text(s, completeness) for s in role.sources)}")
    return "; ".join(parts)


def clean_scope(
    check: Check,
    completeness: Completeness,
    controls: Mapping[tuple[str, str], int],
    window: Window,
    values: Mapping[str, Any],
    is_completeness: bool = False,
) -> str:
    """The scoped clean statement: systems, principals, window, event types, checks passed."""
    subject = f"order {values.get('order_id')}" if "order_id" in check.params else None
    events = ", ".join(check.actions) or "matching"
    about = f" concerning {subject}" if subject else ""
    head = (
        f"No {events} event matching \u201c{check.title_en}\u201d{about} by {_substitute(check.principals, values)} "
        f"was recorded in {_systems(check, completeness)} between {window.local_text()} "
        f"(padded by the measured clock skew of {window.skew_seconds:g} s)"
    )
    evidence = evidence_text(evidence_of(check, completeness))
    if is_completeness:
        return (
            f"{_systems(check, completeness)} cover the window between {window.local_text()} with no gap longer than "
            "each source's normal silence at that time of day, no sequence-number gap, no missing heartbeat and "
            f"hourly volume within baseline; continuity shown for {evidence}"
        )
    counts = "; ".join(
        f"{controls.get((s, a), 0)} {a} in {s}" for s in check.sources for a in check.actions if controls.get((s, a))
    )
    return (
        f"{head}. Checks passed: completeness of {', '.join(check.sources)} (coverage of the whole window, no gap "
        "longer than the source's normal silence at that time of day, no sequence-number gap, no missing heartbeat, "
        f"hourly volume within baseline; continuity shown for {evidence}); positive controls show the event type is "
        f"logged ({counts})."
    )


# At most this many reasons are kept as data in a decision's facts (the count says how many there were).
MAX_FACT_REASONS = 20


def _not_proven(check: Check, blockers: Sequence[Blocker], window: Window) -> Decision:
    more = f" (and {len(blockers) - 3} more)" if len(blockers) > 3 else ""
    facts = {
        "kind": "not_proven",
        "n": len(blockers),
        "sources": list(check.sources),
        "reasons": [f for _, f in blockers[:MAX_FACT_REASONS]],
        "tz": window.tz,
    }
    text = f"No rows, but absence is not proven: {'; '.join(t for t, _ in blockers[:3])}{more}."
    return Decision("inconclusive", text, facts=facts)


def _defects(run: CheckRun, completeness: Completeness, window: Window) -> Decision:
    n = len(run.rows)
    sources = sorted({str(r["source"]) for r in run.records()})
    entries = [e for e in (completeness.get(s) for s in sources) if e is not None]
    reasons = [reason for entry in entries for reason in entry.reasons]
    first = reasons[0] if reasons else ""
    listed = [f for entry in entries for f in entry.facts][:MAX_FACT_REASONS]
    facts = {"kind": "defects", "n": n, "sources": sources, "reasons": listed, "tz": window.tz}
    return Decision("flagged", f"{_plural(n, 'defect')} in {', '.join(sources)}; first: {first}.", facts=facts)


def _decide_none(
    run: CheckRun,
    completeness: Completeness,
    controls: Mapping[tuple[str, str], int],
    window: Window,
    values: Mapping[str, Any],
    is_completeness: bool,
    paths: Mapping[str, str],
    presence: Presence | None = None,
) -> Decision:
    check, n = run.check, len(run.rows)
    if n and is_completeness:
        return _defects(run, completeness, window)
    if n:
        facts = {"kind": "findings", "n": n, "cited": _cited(run, paths)}
        return Decision("flagged", f"{_plural(n, 'finding')}: {_citations(run, paths)}.", facts=facts)
    blockers = _completeness_blockers(check, completeness, values)
    if not is_completeness:
        warnings = list(zip(presence.warnings(), presence.facts(), strict=True)) if presence else []
        blockers = [*warnings, *blockers, *_control_blockers(check, controls)]
    if blockers:
        return _not_proven(check, blockers, window)
    scope = clean_scope(check, completeness, controls, window, values, is_completeness)
    evidence = evidence_of(check, completeness)
    facts = {"sources": list(check.sources), "evidence": evidence, "absent_roles": _absent_roles(check)}
    if is_completeness:
        reason = (
            "No gap, sequence jump, missing heartbeat or abnormal hourly volume in any source; continuity shown for "
            f"{evidence_text(evidence)}."
        )
        return Decision("clean", reason, scope, facts={"kind": "complete", **facts})
    reason = "No rows; completeness holds and positive controls exist for every source the check depends on."
    return Decision("clean", reason, scope, facts={"kind": "absent", **facts})


def decide(
    run: CheckRun,
    completeness: Completeness,
    controls: Mapping[tuple[str, str], int],
    window: Window,
    values: Mapping[str, Any],
    *,
    is_completeness: bool = False,
    input_paths: Mapping[str, str] | None = None,
    exposures: Sequence[ChannelExposure] | None = None,
    presence: Presence | None = None,
) -> Decision:
    check, n = run.check, len(run.rows)
    paths = input_paths or {}
    if check.expect in {"info", "some"} and presence is not None and presence.warnings():
        # FOUND/MISSING/INFO about an order no source mentions must not read like a normal answer.
        plain = decide(run, completeness, controls, window, values, input_paths=paths, exposures=exposures)
        reason = f"{plain.reason} Warning: {'; '.join(presence.warnings())}."
        return Decision(plain.verdict, reason, plain.scope, facts={**plain.facts, "warnings": presence.warnings()})
    if check.expect == "info":
        if exposures is not None:
            return Decision("info", summarize(exposures), facts={"kind": "exposure"})
        sources = sorted({str(r.get("source")) for r in run.records() if r.get("source") is not None})
        where = f" across {_plural(len(sources), 'source')} ({', '.join(sources)})" if sources else ""
        facts = {"kind": "rows", "n": n, "sources": sources}
        return Decision("info", f"{_plural(n, 'row')}{where}.", facts=facts)
    if check.expect == "some":
        if n:
            facts = {"kind": "found", "n": n, "cited": _cited(run, paths)}
            return Decision("found", f"{_plural(n, 'row')} found: {_citations(run, paths)}.", facts=facts)
        blockers = _completeness_blockers(check, completeness, values)
        caveat = f" The logs may be incomplete: {'; '.join(t for t, _ in blockers[:2])}." if blockers else ""
        facts = {
            "kind": "missing",
            "sources": list(check.sources),
            "blockers": len(blockers),
            "reasons": [f for _, f in blockers[:MAX_FACT_REASONS]],
            "tz": window.tz,
        }
        text = f"No matching event in {', '.join(check.sources)} during the window.{caveat}"
        return Decision("missing", text, facts=facts)
    return _decide_none(run, completeness, controls, window, values, is_completeness, paths, presence)
