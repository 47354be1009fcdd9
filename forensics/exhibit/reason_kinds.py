"""One sentence per completeness / not-proven reason, in Chinese and English, from its facts (kind + figures).

verdicts.py and completeness.py decide and record each reason as data (``Decision.facts["reasons"]``: a list of
``{"kind": "gap", "source": ..., "start": ..., ...}``); this table says it. A Chinese sentence never embeds the
English reason: names (sources, nodes, actions, roles, file keys) are the only Latin text in it. Times are shown
in the case zone with their offset ("2024-03-02 09:58:01 +08:00"), never as UTC with a Z.

A kind this table does not know is said neutrally (and points to the completeness section), never in English.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Pair = tuple[str, str]  # (zh, en)

# How many reasons a verdict's sentence lists before it says "and N more" (the completeness section has them all).
LISTED = 8


def _zone(tz: Any) -> ZoneInfo:
    try:
        return ZoneInfo(str(tz or "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local(value: Any, tz: Any) -> str:
    """'2024-03-02T01:58:01+00:00' -> '2024-03-02 09:58:01 +08:00' (text that is not a time is kept)."""
    if value is None:
        return "—"
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    moment = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(_zone(tz))
    offset = moment.strftime("%z")
    return f"{moment.strftime('%Y-%m-%d %H:%M:%S')} {offset[:3]}:{offset[3:]}"


def duration(seconds: Any) -> Pair:
    value = float(seconds or 0)
    if value >= 2 * 3600:
        return f"{value / 3600:.1f} 小时", f"{value / 3600:.1f} h"
    if value >= 120:
        return f"{value / 60:.0f} 分钟", f"{value / 60:.0f} min"
    return f"{value:.0f} 秒", f"{value:.0f} s"


def _where(f: Mapping[str, Any]) -> Pair:
    source, node = f.get("source") or "—", f.get("node")
    return (f"{source} 节点 {node}", f"{source} node {node}") if node else (str(source), str(source))


def _gap(f: Mapping[str, Any], tz: Any) -> Pair:
    (wz, we), (dz, de) = _where(f), duration(f.get("seconds"))
    a, b, at = local(f.get("start"), tz), local(f.get("end"), tz), f.get("at") or "—"
    if f.get("baseline_longest") is not None:
        lz, le = duration(f.get("baseline_longest"))
        return (
            f"{wz} 自 {a} 至 {b} 无任何记录（静默 {dz}，始于当地时间 {at}；基线日同一时段的静默最长为 {lz}）",
            f"{we} wrote nothing from {a} to {b} ({de} at {at}; baseline days had silences up to {le} at this "
            "time of day)",
        )
    tz_, te = duration(f.get("threshold"))
    return (
        f"{wz} 自 {a} 至 {b} 无任何记录（静默 {dz}，超过该来源的正常间隔上限 {tz_}）",
        f"{we} wrote nothing from {a} to {b} ({de}, longer than its normal gap of {te})",
    )


def _seq_gap(f: Mapping[str, Any], tz: Any) -> Pair:
    (wz, we), a, b = _where(f), local(f.get("start"), tz), local(f.get("end"), tz)
    after, nxt, missing = f.get("after_seq"), f.get("next_seq"), f.get("missing")
    return (
        f"{wz} 的序号由 {after} 跳至 {nxt}（缺失 {missing} 条记录，{a} 至 {b}）",
        f"{we} sequence numbers jump from {after} to {nxt} ({missing} records missing, {a} to {b})",
    )


def _missing_heartbeat(f: Mapping[str, Any], tz: Any) -> Pair:
    (wz, we), a, b = _where(f), local(f.get("start"), tz), local(f.get("end"), tz)
    return (
        f"{wz} 自 {a} 至 {b} 无心跳（缺 {f.get('missed')} 次）",
        f"{we} sent no heartbeat from {a} to {b} ({f.get('missed')} missed)",
    )


def _low_volume(f: Mapping[str, Any], tz: Any) -> Pair:
    source, a = f.get("source"), local(f.get("start"), tz)
    events, base = f.get("events"), f.get("baseline")
    base_text = "—" if base is None else f"{float(base):g}"
    return (
        f"{source} 自 {a} 起的一小时内只有 {events} 个事件，同一时段的基线为 {base_text} 个",
        f"{source} logged {events} events in the hour from {a} against a baseline of {base_text}",
    )


def _coverage(f: Mapping[str, Any], tz: Any) -> Pair:
    source = f.get("source")
    if f.get("kind") == "coverage_start":
        first = local(f.get("end"), tz)
        return (
            f"{source} 的日志晚于时间窗开始（首条记录为 {first}）",
            f"{source} starts after the window starts (first record {first})",
        )
    last = local(f.get("start"), tz)
    return (
        f"{source} 的日志早于时间窗结束（末条记录为 {last}）",
        f"{source} ends before the window ends (last record {last})",
    )


def _duplicate(f: Mapping[str, Any], tz: Any) -> Pair:
    (wz, we), a, b = _where(f), local(f.get("start"), tz), local(f.get("end"), tz)
    extra = f.get("extra")
    return (
        f"{wz} 有记录从多个输入文件重复存储（多出 {extra} 份副本，{a} 至 {b}）；"
        "各项检查对每条记录只计一次并列出全部副本",
        f"{we} has records stored from more than one input ({extra} extra copies, {a} to {b}); checks count each "
        "once and list every copy",
    )


def _skew(f: Mapping[str, Any], tz: Any) -> Pair:
    a, b, sec, cap = f.get("a"), f.get("b"), float(f.get("seconds") or 0), float(f.get("cap") or 0)
    return (
        f"{a} 与 {b} 之间的时钟偏差为 {sec:.1f} 秒，超过时间窗可扩展的上限 {cap:.0f} 秒",
        f"clock skew between {a} and {b} is {sec:.1f} s, more than the max_clock_skew of {cap:.0f} s",
    )


def _no_continuity(f: Mapping[str, Any], tz: Any) -> Pair:
    source, ev = f.get("source"), f.get("evidence") or {}
    beats, seq, vol = ev.get("heartbeats") or {}, ev.get("seq") or {}, ev.get("volume") or {}
    nodes = [str(n) for n in beats.get("nodes_without_heartbeats") or []]
    without = [n.replace("(no node)", "（无节点）") for n in nodes]
    beat_zh = f"无心跳的节点：{'、'.join(without)}" if without else "时间窗内无心跳"
    beat_en = f"nodes without heartbeats: {', '.join(nodes)}" if nodes else "no heartbeat in the window"
    events, with_seq = seq.get("events", 0), seq.get("with_seq", 0)
    judged, whole, need = vol.get("judged_hours", 0), vol.get("whole_hours", 0), f.get("volume_min_baseline")
    return (
        f"{source} 没有任何连续性证据（{beat_zh}；{events} 个事件中 {with_seq} 个带序号；"
        f"{whole} 个整点小时中 {judged} 个的基线达到 {need} 个事件）。"
        "该来源每个节点的心跳、每个事件的序号，或事件量足够的基线日，均可补足此项证明",
        f"{source}: no continuity evidence ({beat_en}; {with_seq} of {events} events carry a sequence number; "
        f"{judged} of {whole} whole hours had a baseline of at least {need} events); heartbeats from each of its "
        "nodes, sequence numbers on every event, or baseline days with enough hourly volume would settle it",
    )


def _actions(values: Sequence[Any]) -> Pair:
    return "或".join(str(v) for v in values), " or ".join(str(v) for v in values)


def _no_control(f: Mapping[str, Any], tz: Any) -> Pair:
    source, (az, ae) = f.get("source"), _actions(f.get("actions") or [])
    return (
        f"时间窗内 {source} 未记录任何 {az} 事件（没有阳性对照证明此类事件在该系统中会被记录）",
        f"no {ae} event at all is recorded in {source} during the window (no positive control)",
    )


def _no_control_action(f: Mapping[str, Any], tz: Any) -> Pair:
    sources = list(f.get("sources") or [])
    return (
        f"时间窗内 {'、'.join(sources)} 均未记录 {f.get('action')} 事件",
        f"no {f.get('action')} event is recorded in any of {', '.join(sources)} during the window",
    )


def _simple(zh: str, en: str) -> Callable[[Mapping[str, Any], Any], Pair]:
    def render(f: Mapping[str, Any], tz: Any) -> Pair:
        names = {k: ("、".join(map(str, v)) if isinstance(v, list) else v) for k, v in f.items()}
        return zh.format_map(_Default(names)), en.format_map(_Default(f))

    return render


class _Default(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "—"


KINDS: dict[str, Callable[[Mapping[str, Any], Any], Pair]] = {
    "gap": _gap,
    "seq_gap": _seq_gap,
    "missing_heartbeat": _missing_heartbeat,
    "low_volume": _low_volume,
    "coverage_start": _coverage,
    "coverage_end": _coverage,
    "duplicate": _duplicate,
    "skew": _skew,
    "no_continuity": _no_continuity,
    "no_control": _no_control,
    "no_control_action": _no_control_action,
    "silent_node": _simple(
        "{source} 的节点 {node} 已在 case.toml 中列明，但在时间窗及其基线期内未写入任何事件",
        "{source} node {node} is listed in case.toml but wrote no event at all",
    ),
    "no_events": _simple(
        "{source} 在时间窗及其基线期内没有任何事件", "{source}: no event of this source in the window or its baseline"
    ),
    "no_source": _simple("{source} 在本案中没有任何事件", "{source}: no event of this source in the case"),
    "order_absent": _simple(
        "订单 {order_id} 未出现在任何已导入的来源中，请核对订单号",
        "order {order_id} appears in no ingested source: check the order id",
    ),
    "merchant_absent": _simple(
        "商家 {merchant_id} 未出现在任何已导入的来源中，请核对商家编号",
        "merchant {merchant_id} appears in no ingested source: check the merchant id",
    ),
    "unbound_role": _simple(
        "角色 {role} 在本案中没有任何有事件的来源与之绑定（请在 case.toml 的 [roles] 中设置）",
        "role {role}: no source with events is bound to it (set [roles] in case.toml)",
    ),
    "absent_role": _simple("角色 {role} 经案件声明不存在", "role {role} declared absent in case.toml"),
}


def one(facts: Mapping[str, Any], tz: Any) -> Pair:
    """One reason in both languages; an unknown kind is said neutrally."""
    render = KINDS.get(str(facts.get("kind") or ""))
    if render is None:
        source = facts.get("source") or "—"
        return f"{source} 的日志存在其他完整性问题", f"{source}: another completeness problem"
    return render(facts, tz)


def listed(reasons: Sequence[Mapping[str, Any]], total: int, tz: Any) -> Pair:
    """The reasons joined: '甲；乙；丙等共 12 项' / 'a; b; c and 9 more'."""
    pairs = [one(r, tz) for r in reasons[:LISTED]]
    zh, en = "；".join(p[0] for p in pairs), "; ".join(p[1] for p in pairs)
    if total > len(pairs):
        zh += f"；等共 {total} 项"
        en += f"; and {total - len(pairs)} more"
    return zh, en


EVIDENCE_NAMES: dict[str, Pair] = {
    "heartbeats": ("心跳", "heartbeats"),
    "seq": ("序号连续", "sequence numbers"),
    "volume": ("事件量与基线相符", "hourly volume against baseline"),
}


def evidence(by_source: Mapping[str, Sequence[str]]) -> Pair:
    """'merchant_backend：心跳、序号连续；logistics：心跳' / 'merchant_backend by heartbeats and ...; ...'."""
    zh = "；".join(
        f"{s}：{'、'.join(EVIDENCE_NAMES.get(k, (k, k))[0] for k in kinds)}" for s, kinds in by_source.items() if kinds
    )
    en = "; ".join(
        f"{s} by {' and '.join(EVIDENCE_NAMES.get(k, (k, k))[1] for k in kinds)}"
        for s, kinds in by_source.items()
        if kinds
    )
    return zh, en
