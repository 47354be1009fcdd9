"""Completeness of each source: the figures beside the completeness check's defects, and continuity evidence.

The defects come from the pack's completeness check (one row per defect, so the court sees the SQL that found
them). The figures shown beside them (coverage, the time-of-day gap model, hourly volume, and what proves each
source continuous) are computed by the *same* SQL: :func:`figures_sql` keeps every CTE of the completeness check
and replaces only its final SELECT, so a threshold can never be computed two different ways.

Continuity evidence: a source's silence can be told from an outage only by something that would have shown the
outage. Three kinds count, per source; CLEAN needs at least one that holds for every source in scope:

- ``heartbeats``: every node the source writes from sent heartbeats in the window (a heartbeat source: it has
  heartbeats in the window), and none is missing;
- ``seq``: every event of the source in the window carries a sequence number, and no number is skipped;
- ``volume``: the source has baseline days, every whole hour of the window had a baseline of at least
  ``volume_min_baseline`` events, and none fell below ``volume_ratio`` of it.

Every reason is kept twice: an English sentence (``reasons``, the JSON contract) and its figures with a ``kind``
(``facts``), from which the exhibit says it in Chinese and English (forensics/exhibit/wording.py).

This module imports nothing from verdicts/packs (the dependency runs verdicts -> completeness).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from forensics.engines.base import QUERY_ERRORS, Executes
from forensics.errors import ForensicsError
from forensics.packs.loading import builtin_pack_dirs

EVIDENCE_KINDS: tuple[str, ...] = ("heartbeats", "seq", "volume")

# The completeness check's final SELECT starts after this line; the figures replace what follows it.
DEFECTS_MARKER = re.compile(r"^-- defects:.*$", re.MULTILINE)
# The shipped pack's completeness check, wherever the shipped packs are (a checkout's queries/ or a wheel's
# forensics/_queries: packs.loading.builtin_pack_dirs).
BUNDLED_COMPLETENESS_FILE = Path("order-leak") / "07_completeness.sql"

# Appended to the completeness check's CTEs (scope, bounds, minutes, measured, normal_by_hour, normal, beats,
# hourly, hour_baseline): per source, the figures the exhibit shows and the continuity evidence.
FIGURES_TAIL = """,
fig_hours AS (
    SELECT h.source,
           list({'hour': h.hour, 'events': h.events, 'baseline': b.baseline} ORDER BY h.hour) AS hourly,
           count(*) FILTER (WHERE h.hour >= $padded_start AND h.hour + INTERVAL 1 HOUR <= $padded_end
                            AND b.baseline >= $volume_min_baseline) AS judged_hours
    FROM hourly AS h JOIN hour_baseline AS b USING (source, hour_of_day)
    WHERE h.hour + INTERVAL 1 HOUR > $padded_start AND h.hour < $padded_end
    GROUP BY h.source
),
fig_model AS (
    SELECT source,
           list({'hour_of_day': hour_of_day, 'longest': longest, 'threshold': greatest(threshold, $min_gap)}
                ORDER BY hour_of_day) AS model
    FROM normal_by_hour GROUP BY source
),
fig_window_beats AS (SELECT source, node FROM beats WHERE ts >= $padded_start AND ts < $padded_end),
fig_beats AS (
    SELECT source, count(*) AS beats, list(DISTINCT node ORDER BY node) FILTER (WHERE node <> '') AS beat_nodes
    FROM fig_window_beats GROUP BY source
),
fig_nodes AS (
    -- Nodes of a source no heartbeat in the window speaks for (matched by node name, as missing heartbeats are).
    -- An anti-join, not NOT IN (subquery): Spark refuses a subquery inside the aggregate it makes of list().
    SELECT n.source, count(*) AS node_count,
           list(n.node ORDER BY n.node) FILTER (WHERE wb.node IS NULL AND n.node IS NOT NULL) AS unbeaten
    FROM (SELECT DISTINCT source, node FROM minutes WHERE NOT list_contains($heartbeat_sources, source)) AS n
    LEFT JOIN (SELECT DISTINCT node FROM fig_window_beats WHERE node <> '') AS wb ON wb.node = n.node
    GROUP BY n.source
)
SELECT b.source, b.first_ts, b.last_ts, b.events, n.threshold AS normal_gap_seconds, b.nodes, w.hourly,
       b.baseline_events, b.seq_events, coalesce(w.judged_hours, 0) AS judged_hours, m.model,
       coalesce(fb.beats, 0) AS beats, fb.beat_nodes, coalesce(u.node_count, 0) AS activity_nodes, u.unbeaten
FROM bounds AS b
LEFT JOIN normal AS n USING (source)
LEFT JOIN fig_hours AS w USING (source)
LEFT JOIN fig_model AS m USING (source)
LEFT JOIN fig_beats AS fb USING (source)
LEFT JOIN fig_nodes AS u USING (source)
ORDER BY b.source
"""


def figures_sql(completeness_sql: str | None) -> str:
    """The completeness check's CTEs with the figures as the final SELECT (the bundled check when the pack has none
    or its check does not mark its final SELECT with a '-- defects:' line)."""
    text = completeness_sql or ""
    marks = list(DEFECTS_MARKER.finditer(text))
    bundled = None
    if not marks:
        bundled = bundled_completeness()
        text = bundled.read_text(encoding="utf-8")
        marks = list(DEFECTS_MARKER.finditer(text))
    if not marks:
        raise ForensicsError(f"{bundled}: no '-- defects:' line before the final SELECT")
    prefix = text[: marks[-1].start()].rstrip()
    # Header comments and the CTE list stay as they are; only the final SELECT is replaced.
    return prefix + FIGURES_TAIL


def bundled_completeness() -> Path:
    for root in builtin_pack_dirs():
        if (root / BUNDLED_COMPLETENESS_FILE).is_file():
            return root / BUNDLED_COMPLETENESS_FILE
    raise ForensicsError(f"the shipped pack's {BUNDLED_COMPLETENESS_FILE} is not installed; reinstall forensics")


# ---------------------------------------------------------------- times


def utc(moment: Any) -> datetime:
    if not isinstance(moment, datetime):
        moment = datetime.fromisoformat(str(moment))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def iso(value: Any) -> str | None:
    if value is None:
        return None
    return utc(value).isoformat()


def short(value: Any) -> str:
    """A compact UTC time for reasons: 2024-03-02T01:00:00Z."""
    return utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def local_hm(value: Any, tz: str) -> str:
    """'08:08 +08:00': the local time of day a reason compares with the baseline days."""
    local = utc(value).astimezone(ZoneInfo(tz))
    offset = local.strftime("%z")
    return f"{local.strftime('%H:%M')} {offset[:3]}:{offset[3:]}"


def duration_en(seconds: float) -> str:
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 120:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


# ---------------------------------------------------------------- per-source record


@dataclass(frozen=True)
class SkewPair:
    a: str
    b: str
    seconds: float  # median of ts(b) - ts(a) over shared request ids
    pairs: int

    def to_json(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "seconds": self.seconds, "pairs": self.pairs}


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
    # Each reason as data, in the order of `reasons`: {"kind": "gap", "source": ..., figures...}
    facts: list[dict[str, Any]] = field(default_factory=list)
    # kind -> {"holds": bool, figures...} for heartbeats, seq, volume (see the module docstring)
    evidence: dict[str, dict[str, Any]] = field(default_factory=dict)
    # local hour of day -> longest baseline silence (s) and the gap threshold learnt from it
    gap_model: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.reasons

    @property
    def continuity(self) -> list[str]:
        """The kinds of continuity evidence that hold for this source."""
        return [kind for kind in EVIDENCE_KINDS if self.evidence.get(kind, {}).get("holds")]

    def add(self, reason: str, facts: dict[str, Any]) -> None:
        self.reasons.append(reason)
        self.facts.append({**facts, "source": facts.get("source", self.source)})

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "first_ts": iso(self.first_ts),
            "last_ts": iso(self.last_ts),
            "events": self.events,
            "normal_gap_seconds": self.normal_gap_seconds,
            "gap_model": self.gap_model,
            "gaps": self.gaps,
            "seq_gaps": self.seq_gaps,
            "missing_heartbeats": self.missing_heartbeats,
            "hourly": self.hourly,
            "continuity": self.continuity,
            "evidence": self.evidence,
            "ok": self.ok,
            "reasons": self.reasons,
            "facts": self.facts,
        }


@dataclass
class Completeness:
    sources: list[SourceCompleteness]
    skew: list[SkewPair]

    def get(self, source: str) -> SourceCompleteness | None:
        return next((s for s in self.sources if s.source == source), None)

    def to_json(self) -> dict[str, Any]:
        return {"sources": [s.to_json() for s in self.sources], "skew": [p.to_json() for p in self.skew]}


def _bind(sql: str, values: Mapping[str, Any]) -> dict[str, Any]:
    names = set(re.findall(r"\$([a-z_]+)", re.sub(r"--[^\n]*", "", sql)))  # comments may mention $names
    missing = sorted(names - set(values))
    if missing:  # a pack without the bundled completeness parameters
        raise ForensicsError(
            f"completeness figures need the parameter(s) {', '.join(missing)}: declare them in the pack's pack.toml "
            "(see queries/order-leak/pack.toml)"
        )
    return {name: values[name] for name in names}


def whole_hours(start: datetime, end: datetime) -> int:
    """Whole clock hours inside [start, end): the hours whose volume can be judged."""
    first = utc(start).replace(minute=0, second=0, microsecond=0)
    if first < utc(start):
        first += timedelta(hours=1)
    return max(0, int((utc(end) - first).total_seconds() // 3600))


NO_NODE = "(no node)"


def _evidence(row: Mapping[str, Any], heartbeat_source: bool, hours: int) -> dict[str, dict[str, Any]]:
    """Which kinds of continuity evidence the data offers for one source (defects are applied afterwards)."""
    events, with_seq = int(row["events"] or 0), int(row["seq_events"] or 0)
    unbeaten = [str(n) or NO_NODE for n in row["unbeaten"] or []]
    nodes = int(row["activity_nodes"] or 0)
    beats = int(row["beats"] or 0)
    beat_holds = beats > 0 if heartbeat_source else nodes > 0 and not unbeaten
    judged = int(row["judged_hours"] or 0)
    baseline = int(row["baseline_events"] or 0)
    return {
        "heartbeats": {"holds": beat_holds, "heartbeat_source": heartbeat_source, "beats": beats,
                       "nodes": nodes, "nodes_without_heartbeats": unbeaten,
                       "beating_nodes": list(row["beat_nodes"] or [])},
        "seq": {"holds": events > 0 and with_seq == events, "events": events, "with_seq": with_seq},
        "volume": {"holds": baseline > 0 and hours > 0 and judged == hours, "judged_hours": judged,
                   "whole_hours": hours, "baseline_events": baseline},
    }  # fmt: skip


def figures(
    con: Executes, completeness_sql: str | None, values: Mapping[str, Any]
) -> dict[str, SourceCompleteness]:
    sql = figures_sql(completeness_sql)
    rows = con.execute(sql, _bind(sql, values))
    columns = [d[0] for d in rows.description or []]
    beat_sources = {str(s) for s in values.get("heartbeat_sources") or []}
    hours = whole_hours(values["padded_start"], values["padded_end"])
    out: dict[str, SourceCompleteness] = {}
    for raw in rows.fetchall():
        row = dict(zip(columns, raw, strict=True))
        source = str(row["source"])
        gap = row["normal_gap_seconds"]
        out[source] = SourceCompleteness(
            source=source,
            first_ts=row["first_ts"],
            last_ts=row["last_ts"],
            events=int(row["events"] or 0),
            normal_gap_seconds=None if gap is None else round(float(gap), 3),
            hourly=[
                {"hour": iso(h["hour"]), "events": int(h["events"]), "baseline": float(h["baseline"]), "ok": True}
                for h in row["hourly"] or []
            ],
            nodes=list(row["nodes"] or []),
            evidence=_evidence(row, source in beat_sources, hours),
            gap_model=[
                {
                    "hour_of_day": int(m["hour_of_day"]),
                    "longest_seconds": round(float(m["longest"]), 3),
                    "threshold_seconds": round(float(m["threshold"]), 3),
                }
                for m in row["model"] or []
            ],
        )
    return out


# ---------------------------------------------------------------- defects -> reasons (English + facts)


def _span(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"node": row["node"] or None, "start": row["start"], "end": row["end"]}


def _gap_baseline(entry: SourceCompleteness, row: Mapping[str, Any], tz: str) -> dict[str, Any]:
    """What the silence was compared with: the longest baseline silence at the local hours it spans."""
    zone = ZoneInfo(tz)
    start, end = utc(row["start"]).astimezone(zone), utc(row["end"]).astimezone(zone)
    spanned: set[int] = set()
    hour = start.replace(minute=0, second=0, microsecond=0)
    while hour < end and len(spanned) < 24:
        spanned.add(hour.hour)
        hour += timedelta(hours=1)
    model = [m for m in entry.gap_model if m["hour_of_day"] in spanned]
    if not model or len(model) < len(spanned):
        return {"longest": None, "threshold": entry.normal_gap_seconds}
    best = max(model, key=lambda m: m["threshold_seconds"])
    return {"longest": best["longest_seconds"], "threshold": best["threshold_seconds"]}


def _gap(entry: SourceCompleteness, row: Mapping[str, Any], where: str, tz: str) -> None:
    seconds = float(row["seconds"])
    entry.gaps.append({"node": row["node"] or None, "start": row["start"], "end": row["end"], "seconds": seconds})
    compared = _gap_baseline(entry, row, tz)
    at = local_hm(row["start"], tz)
    if compared["longest"] is not None:
        against = f"baseline days had silences up to {duration_en(compared['longest'])} at this time of day"
    else:
        against = "longer than its normal gap"
    entry.add(
        f"{entry.source} {where} wrote nothing from {short(row['start'])} to {short(row['end'])} "
        f"({duration_en(seconds)} at {at}; {against})",
        {"kind": "gap", **_span(row), "seconds": seconds, "at": at, "baseline_longest": compared["longest"],
         "threshold": compared["threshold"]},
    )  # fmt: skip


def _low_volume(entry: SourceCompleteness, row: Mapping[str, Any]) -> None:
    hour = next((h for h in entry.hourly if h["hour"] == iso(row["start"])), None)
    if hour is not None:
        hour["ok"] = False
    entry.add(
        f"{entry.source} volume in the hour from {short(row['start'])} is abnormal: {row['detail']}",
        {"kind": "low_volume", "start": row["start"], "end": row["end"],
         "events": hour["events"] if hour else None, "baseline": hour["baseline"] if hour else None},
    )  # fmt: skip


def apply_defect(entry: SourceCompleteness, row: Mapping[str, Any], interval: float, tz: str) -> None:
    kind, node = row["kind"], row["node"] or None
    where = f"node {node}" if node else entry.source
    if kind == "gap":
        _gap(entry, row, where, tz)
    elif kind == "seq_gap":
        entry.seq_gaps.append(
            {"node": node, "after_seq": row["after_seq"], "next_seq": row["next_seq"], "missing": row["missing"]}
        )
        entry.add(
            f"{entry.source} {where} sequence numbers jump from {row['after_seq']} to {row['next_seq']} "
            f"({row['missing']} records missing, {short(row['start'])} to {short(row['end'])})",
            {"kind": "seq_gap", **_span(row), "after_seq": row["after_seq"], "next_seq": row["next_seq"],
             "missing": row["missing"]},
        )  # fmt: skip
    elif kind == "missing_heartbeat":
        minutes = round(float(row["missing"] or 0) * interval / 60.0, 1)
        entry.missing_heartbeats.append({"node": node, "start": row["start"], "end": row["end"], "minutes": minutes})
        entry.add(
            f"{entry.source} {where} sent no heartbeat from {short(row['start'])} to {short(row['end'])} "
            f"({row['missing']} missed)",
            {"kind": "missing_heartbeat", **_span(row), "missed": row["missing"], "interval": interval},
        )
    elif kind == "low_volume":
        _low_volume(entry, row)
    elif kind == "silent_node":
        entry.add(
            f"{entry.source} {where} is listed in case.toml but wrote no event at all",
            {"kind": "silent_node", "node": node},
        )
    else:  # no_events, coverage_start, coverage_end, duplicate
        entry.add(
            f"{entry.source}: {row['detail']} ({short(row['start'])} to {short(row['end'])})",
            {"kind": str(kind), **_span(row), "seconds": row["seconds"], "extra": row["missing"]},
        )


def heartbeat_nodes(config: Mapping[str, Any]) -> dict[str, list[str]]:
    """case.toml [completeness.sources.S] heartbeat_nodes: the hosts whose heartbeats speak for a source whose
    events name no node (a print service's CSV has no host column, but it runs on lg-01 and lg-02)."""
    sources = (config.get("completeness", {}) or {}).get("sources", {}) or {}
    out: dict[str, list[str]] = {}
    for source, spec in sources.items():
        nodes = spec.get("heartbeat_nodes", []) if isinstance(spec, dict) else []
        if not isinstance(nodes, list) or not all(isinstance(n, str) and n for n in nodes):
            raise ForensicsError(
                f"case.toml [completeness.sources.{source}] heartbeat_nodes: must be a list of node names"
            )
        if nodes:
            out[str(source)] = list(nodes)
    return out


def _declared_nodes(stats: Mapping[str, SourceCompleteness], declared: Mapping[str, Sequence[str]]) -> None:
    """Events without a node are spoken for by the hosts case.toml names, if each beat through the window."""
    beating = {n for e in stats.values() for n in e.evidence.get("heartbeats", {}).get("beating_nodes", [])}
    missed = {str(h["node"]) for e in stats.values() for h in e.missing_heartbeats}
    for source, nodes in declared.items():
        beats = stats[source].evidence.get("heartbeats") if source in stats else None
        if beats is None or NO_NODE not in beats["nodes_without_heartbeats"]:
            continue
        beats["declared_nodes"] = list(nodes)
        silent = [n for n in nodes if n not in beating or n in missed]
        if silent:
            beats["nodes_without_heartbeats"] = sorted({*beats["nodes_without_heartbeats"], *silent})
            continue
        beats["nodes_without_heartbeats"] = [n for n in beats["nodes_without_heartbeats"] if n != NO_NODE]
        beats["holds"] = beats["nodes"] > 0 and not beats["nodes_without_heartbeats"]


def _apply_evidence_defects(entry: SourceCompleteness) -> None:
    """Evidence that shows a hole does not prove continuity (the hole is already a defect)."""
    for kind, holed in (("heartbeats", entry.missing_heartbeats), ("seq", entry.seq_gaps)):
        if holed and kind in entry.evidence:
            entry.evidence[kind]["holds"] = False
    if any(not h["ok"] for h in entry.hourly) and "volume" in entry.evidence:
        entry.evidence["volume"]["holds"] = False


def no_continuity(entry: SourceCompleteness, min_baseline: Any) -> dict[str, Any]:
    """The reason (as facts) for a source none of whose continuity evidence holds, and what would settle it."""
    return {"kind": "no_continuity", "source": entry.source, "evidence": entry.evidence,
            "volume_min_baseline": min_baseline}  # fmt: skip


def no_continuity_text(facts: Mapping[str, Any]) -> str:
    source, ev = facts["source"], facts.get("evidence") or {}
    beats, seq, vol = ev.get("heartbeats", {}), ev.get("seq", {}), ev.get("volume", {})
    without = beats.get("nodes_without_heartbeats") or []
    beat_text = f"nodes without heartbeats: {', '.join(without)}" if without else "no heartbeat in the window"
    seq_text = f"{seq.get('with_seq', 0)} of {seq.get('events', 0)} events carry a sequence number"
    vol_text = (
        f"{vol.get('judged_hours', 0)} of {vol.get('whole_hours', 0)} whole hours had a baseline of at least "
        f"{facts.get('volume_min_baseline')} events"
    )
    return (
        f"{source}: no continuity evidence ({beat_text}; {seq_text}; {vol_text}); heartbeats from each of its "
        "nodes, sequence numbers on every event, or baseline days with enough hourly volume would settle it"
    )


def assess(
    con: Executes,
    expected_sources: Sequence[str],
    skew: Sequence[SkewPair],
    defects: Sequence[Mapping[str, Any]] | None,
    completeness_sql: str | None,
    values: Mapping[str, Any],
) -> Completeness:
    """Per-source completeness: figures and evidence from the data, defects from the completeness check's rows."""
    try:
        stats = figures(con, completeness_sql, values)
    except QUERY_ERRORS as exc:  # DuckDB's or Spark's (forensics.engines)
        raise ForensicsError(f"completeness statistics failed: {exc}") from exc
    for source in expected_sources:
        stats.setdefault(source, SourceCompleteness(source, None, None, 0, None))
    interval = float(values.get("heartbeat_interval") or 60.0)
    tz = str(values.get("tz") or "UTC")
    for row in defects or []:
        entry = stats.setdefault(row["source"], SourceCompleteness(row["source"], None, None, 0, None))
        apply_defect(entry, row, interval, tz)
    _declared_nodes(stats, values.get("heartbeat_nodes") or {})
    for entry in stats.values():
        _apply_evidence_defects(entry)
    cap = float(values.get("max_clock_skew") or 0.0)
    for pair in skew:
        if abs(pair.seconds) > cap:
            for source in (pair.a, pair.b):
                stats[source].add(
                    f"clock skew between {pair.a} and {pair.b} is {pair.seconds:.1f} s, more than the "
                    f"max_clock_skew of {cap:.0f} s the window may be padded by",
                    {"kind": "skew", "a": pair.a, "b": pair.b, "seconds": pair.seconds, "cap": cap},
                )
    if defects is None:
        for entry in stats.values():
            if entry.events == 0:
                entry.add(f"{entry.source}: no event in the window", {"kind": "no_events"})
    return Completeness(sorted(stats.values(), key=lambda s: s.source), list(skew))
