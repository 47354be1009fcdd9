"""Verdicts: absence must be earned.

A check that expects no rows is CLEAN only when every source it depends on is complete over the
window (padded by the measured clock skew) and a positive control shows the event type is logged
there at all; otherwise it is INCONCLUSIVE, with the reason. Rows make it FLAGGED. A check that
expects rows reports FOUND or MISSING, an informational one INFO.

Completeness defects come from the pack's completeness check (one row per defect, so the court
sees the SQL that found them); this module adds the per-source figures around them (coverage,
normal gap, hourly volume), the clock skew measured on request ids shared between sources, and
the positive-control counts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from forensics.engines.base import QUERY_ERRORS, Executes
from forensics.errors import ForensicsError

if TYPE_CHECKING:
    from forensics.exposure import ChannelExposure
    from forensics.packs import Check, CheckRun

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
class SkewPair:
    a: str
    b: str
    seconds: float  # median of ts(b) - ts(a) over shared request ids
    pairs: int

    def to_json(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "seconds": self.seconds, "pairs": self.pairs}


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


def _utc(moment: Any) -> datetime:
    if not isinstance(moment, datetime):
        moment = datetime.fromisoformat(str(moment))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


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


# ---------------------------------------------------------------- completeness

# The per-source figures shown next to the defects, in one pass. The source-wide gap threshold and the hourly
# baseline use the same formulas as the pack's completeness check (tests hold the two together); the check itself
# judges each silence against the thresholds of the hours it spans, which the gap rows state.
FIGURES_SQL = """
WITH minutes AS (
    -- One pass over the window and its baseline: per node and minute, counts and first/last times.
    SELECT source, coalesce(node, '') AS node, date_trunc('minute', ts) AS minute,
           list_contains($heartbeat_sources, source) AND action = $heartbeat_action AS is_beat,
           count(*) AS events,
           count(*) FILTER (WHERE ts >= $padded_start AND ts < $padded_end) AS in_window,
           min(ts) AS first_ts, max(ts) AS last_ts
    FROM events
    WHERE date BETWEEN CAST($padded_start - to_days($baseline_days) AS DATE)
                   AND CAST($padded_end + to_days($baseline_days) AS DATE)
      AND ts >= $padded_start - to_days($baseline_days)
      AND ts < $padded_end + to_days($baseline_days)
    GROUP BY ALL
),
bounds AS (
    SELECT source, min(first_ts) AS first_ts, max(last_ts) AS last_ts, sum(in_window) AS events,
           list(DISTINCT node ORDER BY node) FILTER (WHERE node <> '') AS nodes
    FROM minutes GROUP BY source
),
activity AS (SELECT * FROM minutes WHERE NOT is_beat),
node_marks AS (
    SELECT source, node, first_ts, last_ts FROM activity
    UNION ALL
    SELECT n.source, n.node, b.first_ts, b.first_ts FROM (SELECT DISTINCT source, node FROM activity) AS n
    JOIN bounds AS b USING (source)
    UNION ALL
    SELECT n.source, n.node, b.last_ts, b.last_ts FROM (SELECT DISTINCT source, node FROM activity) AS n
    JOIN bounds AS b USING (source)
),
measured AS (
    SELECT source, epoch(gap_end - gap_start) AS seconds,
           gap_end <= $padded_start OR gap_start >= $padded_end AS in_baseline
    FROM (
        SELECT source, last_ts AS gap_start,
               lead(first_ts) OVER (PARTITION BY source, node ORDER BY first_ts, last_ts) AS gap_end
        FROM node_marks
    )
    WHERE gap_end IS NOT NULL AND gap_end > gap_start
),
normal AS (
    SELECT source,
           greatest($gap_factor * coalesce(quantile_cont(seconds, 0.999) FILTER (WHERE in_baseline),
                                           quantile_cont(seconds, 0.999)), $min_gap) AS threshold
    FROM measured GROUP BY source
),
hours AS (SELECT source, date_trunc('hour', minute) AS hour, sum(events) AS events FROM activity GROUP BY ALL),
hour_grid AS (
    -- Hours without any event must count as zero, not vanish.
    SELECT b.source, CAST(h.hour AS TIMESTAMPTZ) AS hour
    FROM bounds AS b,
         LATERAL (SELECT unnest(range(date_trunc('hour', b.first_ts), b.last_ts, INTERVAL 1 HOUR)) AS hour) AS h
    WHERE b.source IN (SELECT source FROM hours)
),
hourly AS (
    SELECT g.source, g.hour, coalesce(h.events, 0) AS events, extract('hour' FROM g.hour) AS hour_of_day
    FROM hour_grid AS g LEFT JOIN hours AS h USING (source, hour)
),
hour_baseline AS (SELECT source, hour_of_day, median(events) AS baseline FROM hourly GROUP BY ALL),
window_hours AS (
    SELECT h.source, list({'hour': h.hour, 'events': h.events, 'baseline': b.baseline} ORDER BY h.hour) AS hourly
    FROM hourly AS h JOIN hour_baseline AS b USING (source, hour_of_day)
    WHERE h.hour + INTERVAL 1 HOUR > $padded_start AND h.hour < $padded_end
    GROUP BY h.source
)
SELECT b.source, b.first_ts, b.last_ts, b.events, n.threshold AS normal_gap_seconds, b.nodes, w.hourly
FROM bounds AS b
LEFT JOIN normal AS n USING (source)
LEFT JOIN window_hours AS w USING (source)
ORDER BY b.source
"""

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


@dataclass
class SourceCompleteness:
    source: str
    first_ts: datetime | None
    last_ts: datetime | None
    events: int
    normal_gap_seconds: float | None
    gaps: list[dict[str, Any]] = field(default_factory=list)
    seq_gaps: list[dict[str, Any]] = field(default_factory=list)
    missing_heartbeats: list[dict[str, Any]] = field(default_factory=list)
    hourly: list[dict[str, Any]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)  # for the scope wording; not part of the JSON contract

    @property
    def ok(self) -> bool:
        return not self.reasons

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "first_ts": _iso(self.first_ts),
            "last_ts": _iso(self.last_ts),
            "events": self.events,
            "normal_gap_seconds": self.normal_gap_seconds,
            "gaps": self.gaps,
            "seq_gaps": self.seq_gaps,
            "missing_heartbeats": self.missing_heartbeats,
            "hourly": self.hourly,
            "ok": self.ok,
            "reasons": self.reasons,
        }


@dataclass
class Completeness:
    sources: list[SourceCompleteness]
    skew: list[SkewPair]

    def get(self, source: str) -> SourceCompleteness | None:
        return next((s for s in self.sources if s.source == source), None)

    def to_json(self) -> dict[str, Any]:
        return {"sources": [s.to_json() for s in self.sources], "skew": [p.to_json() for p in self.skew]}


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return _utc(value).isoformat()


def _short(value: Any) -> str:
    """A compact UTC time for reasons: 2024-03-02T01:00:00Z."""
    return _utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def _bind(sql: str, values: Mapping[str, Any]) -> dict[str, Any]:
    names = set(re.findall(r"\$([a-z_]+)", sql))
    return {name: values[name] for name in names}


def _stats(con: Executes, values: Mapping[str, Any]) -> dict[str, SourceCompleteness]:
    out: dict[str, SourceCompleteness] = {}
    rows = con.execute(FIGURES_SQL, _bind(FIGURES_SQL, values)).fetchall()
    for source, first_ts, last_ts, events, gap, nodes, hourly in rows:
        out[source] = SourceCompleteness(
            source=source,
            first_ts=first_ts,
            last_ts=last_ts,
            events=int(events),
            normal_gap_seconds=None if gap is None else round(float(gap), 3),
            hourly=[
                {"hour": _iso(h["hour"]), "events": int(h["events"]), "baseline": float(h["baseline"]), "ok": True}
                for h in hourly or []
            ],
            nodes=list(nodes or []),
        )
    return out


def _apply_defect(entry: SourceCompleteness, row: Mapping[str, Any], interval: float) -> None:
    kind, node = row["kind"], row["node"] or None
    where = f"node {node}" if node else entry.source
    if kind == "gap":
        entry.gaps.append({"node": node, "start": row["start"], "end": row["end"], "seconds": row["seconds"]})
        entry.reasons.append(
            f"{entry.source} {where} wrote nothing from {_short(row['start'])} to {_short(row['end'])} "
            f"({row['seconds'] / 3600:.1f} h, longer than its normal gap)"
        )
    elif kind == "seq_gap":
        entry.seq_gaps.append(
            {"node": node, "after_seq": row["after_seq"], "next_seq": row["next_seq"], "missing": row["missing"]}
        )
        entry.reasons.append(
            f"{entry.source} {where} sequence numbers jump from {row['after_seq']} to {row['next_seq']} "
            f"({row['missing']} records missing, {_short(row['start'])} to {_short(row['end'])})"
        )
    elif kind == "missing_heartbeat":
        minutes = round(float(row["missing"] or 0) * interval / 60.0, 1)
        entry.missing_heartbeats.append({"node": node, "start": row["start"], "end": row["end"], "minutes": minutes})
        entry.reasons.append(
            f"{entry.source} {where} sent no heartbeat from {_short(row['start'])} to {_short(row['end'])} "
            f"({row['missing']} missed)"
        )
    elif kind == "low_volume":
        for hour in entry.hourly:
            if hour["hour"] == row["start"]:
                hour["ok"] = False
        entry.reasons.append(
            f"{entry.source} volume in the hour from {_short(row['start'])} is abnormal: {row['detail']}"
        )
    elif kind == "silent_node":
        entry.reasons.append(f"{entry.source} {where} is listed in case.toml but wrote no event at all")
    else:  # no_events, coverage_start, coverage_end
        entry.reasons.append(f"{entry.source}: {row['detail']} ({_short(row['start'])} to {_short(row['end'])})")


def assess_completeness(
    con: Executes,
    window: Window,
    expected_sources: Sequence[str],
    skew: Sequence[SkewPair],
    defects: CheckRun | None,
    values: Mapping[str, Any],
) -> Completeness:
    """Per-source completeness: figures from the data, defects from the completeness check's rows."""
    try:
        stats = _stats(con, values)
    except QUERY_ERRORS as exc:
        raise ForensicsError(f"completeness statistics failed: {exc}") from exc
    for source in expected_sources:
        stats.setdefault(source, SourceCompleteness(source, None, None, 0, None))
    interval = float(values.get("heartbeat_interval") or 60.0)
    for row in defects.records() if defects is not None else []:
        entry = stats.setdefault(row["source"], SourceCompleteness(row["source"], None, None, 0, None))
        _apply_defect(entry, row, interval)
    cap = float(values.get("max_clock_skew") or 0.0)
    for pair in skew:
        if abs(pair.seconds) > cap:
            for source in (pair.a, pair.b):
                stats[source].reasons.append(
                    f"clock skew between {pair.a} and {pair.b} is {pair.seconds:.1f} s, more than the "
                    f"max_clock_skew of {cap:.0f} s the window may be padded by"
                )
    if defects is None:
        for entry in stats.values():
            if entry.events == 0:
                entry.reasons.append(f"{entry.source}: no event in the window")
    return Completeness(sorted(stats.values(), key=lambda s: s.source), list(skew))


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


def _control_blockers(check: Check, controls: Mapping[tuple[str, str], int]) -> list[str]:
    """The event type must be shown to be logged: by every source, and each action by some source."""
    blockers: list[str] = []
    for source in check.sources:
        if not any(controls.get((source, a), 0) for a in check.actions):
            blockers.append(
                f"no {' or '.join(check.actions)} event at all is recorded in {source} during the window "
                "(no positive control that such events are logged there)"
            )
    for action in check.actions:
        if not any(controls.get((s, action), 0) for s in check.sources):
            blockers.append(f"no {action} event is recorded in any of {', '.join(check.sources)} during the window")
    return blockers


def _completeness_blockers(check: Check, completeness: Completeness) -> list[str]:
    blockers: list[str] = []
    for source in check.sources:
        entry = completeness.get(source)
        if entry is None:
            blockers.append(f"{source}: no event of this source in the case")
        else:
            blockers.extend(entry.reasons)
    return blockers


def _substitute(text: str, values: Mapping[str, Any]) -> str:
    from forensics.packs import display_value

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
    if is_completeness:
        return (
            f"{_systems(check, completeness)} cover the window between {window.local_text()} with no gap longer than "
            "each source's normal gap, no sequence-number gap, no missing heartbeat and hourly volume within baseline"
        )
    counts = "; ".join(
        f"{controls.get((s, a), 0)} {a} in {s}" for s in check.sources for a in check.actions if controls.get((s, a))
    )
    return (
        f"{head}. Checks passed: completeness of {', '.join(check.sources)} (coverage of the whole window, no gap "
        "longer than the source's normal gap, no sequence-number gap, heartbeats present, hourly volume within "
        f"baseline); positive controls show the event type is logged ({counts})."
    )


def _continuity_blockers(
    completeness: Completeness, controls: Mapping[tuple[str, str], int], values: Mapping[str, Any]
) -> list[str]:
    """Silent nodes are detectable from heartbeats (any heartbeat source that has them)."""
    sources = [str(s) for s in values.get("heartbeat_sources") or []]
    action = str(values.get("heartbeat_action"))
    if any(controls.get((source, action), 0) for source in sources):
        return []
    where = ", ".join(sources) or "no heartbeat source (no source is bound to a heartbeat role)"
    return [f"no {action} event recorded in {where}, so silent nodes cannot be detected"]


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
        sources = sorted({str(r["source"]) for r in run.records()})
        entries = [e for e in (completeness.get(s) for s in sources) if e is not None]
        reasons = [reason for entry in entries for reason in entry.reasons]
        first = reasons[0] if reasons else ""
        facts = {"kind": "defects", "n": n, "sources": sources}
        return Decision("flagged", f"{_plural(n, 'defect')} in {', '.join(sources)}; first: {first}.", facts=facts)
    if n:
        facts = {"kind": "findings", "n": n, "cited": _cited(run, paths)}
        return Decision("flagged", f"{_plural(n, 'finding')}: {_citations(run, paths)}.", facts=facts)
    if is_completeness:
        blockers = _continuity_blockers(completeness, controls, values)
    else:
        blockers = _completeness_blockers(check, completeness) + _control_blockers(check, controls)
        blockers = [*(presence.warnings() if presence else []), *blockers]
    if blockers:
        more = f" (and {len(blockers) - 3} more)" if len(blockers) > 3 else ""
        facts = {"kind": "not_proven", "n": len(blockers), "sources": list(check.sources)}
        text = f"No rows, but absence is not proven: {'; '.join(blockers[:3])}{more}."
        return Decision("inconclusive", text, facts=facts)
    scope = clean_scope(check, completeness, controls, window, values, is_completeness)
    reason = "No rows; completeness holds and positive controls exist for every source the check depends on."
    if is_completeness:
        reason = "No gap, sequence jump, missing heartbeat or abnormal hourly volume in any source."
    kind = "complete" if is_completeness else "absent"
    return Decision("clean", reason, scope, facts={"kind": kind, "sources": list(check.sources)})


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
            from forensics.exposure import summarize

            return Decision("info", summarize(exposures), facts={"kind": "exposure"})
        sources = sorted({str(r.get("source")) for r in run.records() if r.get("source") is not None})
        where = f" across {_plural(len(sources), 'source')} ({', '.join(sources)})" if sources else ""
        facts = {"kind": "rows", "n": n, "sources": sources}
        return Decision("info", f"{_plural(n, 'row')}{where}.", facts=facts)
    if check.expect == "some":
        if n:
            facts = {"kind": "found", "n": n, "cited": _cited(run, paths)}
            return Decision("found", f"{_plural(n, 'row')} found: {_citations(run, paths)}.", facts=facts)
        blockers = _completeness_blockers(check, completeness)
        caveat = f" The logs may be incomplete: {'; '.join(blockers[:2])}." if blockers else ""
        facts = {"kind": "missing", "sources": list(check.sources), "blockers": len(blockers)}
        text = f"No matching event in {', '.join(check.sources)} during the window.{caveat}"
        return Decision("missing", text, facts=facts)
    return _decide_none(run, completeness, controls, window, values, is_completeness, paths, presence)
