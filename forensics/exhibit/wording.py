"""Sentences of the exhibit: the table of sections, cross-reference markers and the per-kind reason templates.

A cross-reference is never written as a number: a template says ``§{s_checks}`` and each renderer replaces the
marker with the number and title of the section it names (typst from the heading's label, the HTML from
``SECTIONS``), so a reordered document cannot point at the wrong heading.

Reasons are rendered from ``Decision.facts`` (kind + figures, made in verdicts.py where each verdict is decided),
in Chinese and English from the one table below; the English ``reason`` string stays in exhibit.json.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from forensics.exhibit import reason_kinds

# The body sections in document order; both templates emit their headings in this order (a test checks it).
SECTIONS: tuple[str, ...] = (
    "s_purpose",
    "s_sources",
    "s_extraction",
    "s_time",
    "s_checks",
    "s_completeness",
    "s_exposure",
    "s_timeline",
    "s_limitations",
    "s_attestation",
    "s_appendix",
)
REF_RE = re.compile(r"§\{(s_[a-z_]+)\}")


def ref(key: str) -> str:
    """The marker a sentence template uses to point at a section (checked against SECTIONS)."""
    if key not in SECTIONS:
        raise KeyError(key)
    return "§{" + key + "}"


def expand_refs(text: str, lang: str, titles: Mapping[str, Mapping[str, str]]) -> str:
    """Plain-text expansion (HTML and tests): '§{s_checks}' -> '第 5 节（检查项目与结果）' / 'section 5 (...)'."""

    def one(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in SECTIONS:
            return match.group(0)
        n = SECTIONS.index(key) + 1
        title = titles.get(key, {}).get(lang, key)
        return f"第 {n} 节（{title}）" if lang == "zh" else f"section {n} ({title})"

    return REF_RE.sub(one, text)


def _bi(zh: str, en: str) -> dict[str, str]:
    return {"zh": zh, "en": en}


def _count(n: Any, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _join_zh(items: list[Any]) -> str:
    return "、".join(str(i) for i in items) or "—"


def _join_en(items: list[Any]) -> str:
    return ", ".join(str(i) for i in items) or "—"


def _cites(facts: Mapping[str, Any], cite: Callable[[Mapping[str, Any]], str]) -> tuple[str, str]:
    cited = [cite(c) for c in facts.get("cited", []) or []]
    n = int(facts.get("n") or 0)
    more_zh = f"等 {n} 处" if n > len(cited) else ""
    more_en = f" and {n - len(cited)} more" if n > len(cited) else ""
    return "、".join(cited) + more_zh, ", ".join(cited) + more_en


def reason_text(facts: Mapping[str, Any], cite: Callable[[Mapping[str, Any]], str]) -> dict[str, str] | None:
    """The reason of a verdict in both languages, or None for a kind this table does not know (the caller falls
    back to a neutral sentence, never to the English reason inside the Chinese text)."""
    kind = str(facts.get("kind") or "")
    n = int(facts.get("n") or 0)
    src_zh, src_en = _join_zh(list(facts.get("sources") or [])), _join_en(list(facts.get("sources") or []))
    where_zh, where_en = _cites(facts, cite)
    comp = ref("s_completeness")
    # Each reason of a not-proven / defects / missing verdict, said one by one (reason_kinds.py).
    total = int(facts.get("blockers") or 0) if kind == "missing" else n
    why_zh, why_en = reason_kinds.listed(list(facts.get("reasons") or []), total, facts.get("tz"))
    ev_zh, ev_en = reason_kinds.evidence(facts.get("evidence") or {})
    absent = list(facts.get("absent_roles") or [])
    table: dict[str, dict[str, str]] = {
        "absent": _bi(
            f"查询无结果行；{src_zh} 的日志在时间窗内完整，且同类事件确有记录（阳性对照）。"
            + (f"连续性证据：{ev_zh}。" if ev_zh else ""),
            f"No rows; the logs of {src_en} are complete in the window and events of this type are logged "
            "(positive controls)." + (f" Continuity shown for {ev_en}." if ev_en else ""),
        ),
        "complete": _bi(
            "各来源均无缺口、无序号跳变、无心跳缺失，每小时事件量均在基线范围内。"
            + (f"各来源的连续性证据：{ev_zh}。" if ev_zh else "")
            + (f"案件声明不存在的角色：{_join_zh(absent)}。" if absent else ""),
            "No gap, sequence jump, missing heartbeat or abnormal hourly volume in any source."
            + (f" Continuity shown for {ev_en}." if ev_en else "")
            + (f" Roles declared absent: {_join_en(absent)}." if absent else ""),
        ),
        "findings": _bi(
            f"原始日志位置：{where_zh}（输入文件编号:行号）。",
            f"Raw log lines: {where_en} (input ref:line).",
        ),
        "defects": _bi(
            f"{src_zh} 的日志共有 {n} 处完整性缺陷" + (f"：{why_zh}" if why_zh else "") + f"。详见{comp}。",
            f"{n} completeness defect{'s' if n != 1 else ''} in {src_en}"
            + (f": {why_en}" if why_en else "")
            + f". See {comp}.",
        ),
        "found": _bi(
            f"原始日志位置：{where_zh}（输入文件编号:行号）。",
            f"Raw log lines: {where_en} (input ref:line).",
        ),
        "missing": _bi(
            f"时间窗内 {src_zh} 的日志中未见相符事件。"
            + (f"这些日志可能不完整：{why_zh}。详见{comp}。" if why_zh else "")
            + (f"这些日志可能不完整，详见{comp}。" if facts.get("blockers") and not why_zh else ""),
            f"No matching event in {src_en} during the window."
            + (f" The logs may be incomplete: {why_en}. See {comp}." if why_en else "")
            + (f" The logs may be incomplete, see {comp}." if facts.get("blockers") and not why_en else ""),
        ),
        "not_proven": _bi(
            f"查询无结果行，但“未发生”未获证明：{why_zh}。详见{comp}。",
            f"No rows, but absence is not proven: {why_en}. See {comp}.",
        )
        if why_zh
        else _bi(
            f"查询无结果行，但“未发生”未获证明：{n} 项前提未满足（{src_zh} 的日志完整性或阳性对照），详见{comp}。",
            f"No rows, but absence is not proven: {n} precondition{'s' if n != 1 else ''} unmet (completeness or "
            f"positive controls of {src_en}), see {comp}.",
        ),
        "rows": _bi(f"共 {n} 行，来自 {src_zh}。", f"{n} row{'s' if n != 1 else ''} from {src_en}."),
    }
    return table.get(kind)


def statement(check: Mapping[str, Any], reason: dict[str, str] | None, window_zh: str) -> dict[str, str]:
    """The claim a check supports (证明目的), per verdict, with the figures filled in."""
    verdict = str(check.get("verdict"))
    title_zh = check.get("title_zh") or check.get("id")
    title_en = check.get("title_en") or check.get("id")
    n = check.get("rows")
    kind = str((check.get("facts") or {}).get("kind") or "")
    because = reason or _bi("", "")
    checks = ref("s_checks")
    if verdict == "clean" and kind == "complete":
        zh = f"日志在窗口内完整：{window_zh}内，所列各来源的日志连续、无缺失。{because['zh']}"
        en = str(check.get("scope") or because["en"])
    elif verdict == "clean":
        zh = (
            f"在下述范围内，日志中没有“{title_zh}”的记录；相关日志在时间窗内完整，且同类事件确有记录，"
            "故“未发现”可以证明该事件未经上述系统发生。"
        )
        en = str(check.get("scope") or because["en"])
    elif verdict == "flagged":
        zh = f"日志中记录到“{title_zh}”共 {n} 条，详见{checks}。{because['zh']}"
        en = f"The logs record {_count(n, 'event')} of “{title_en}”, see {checks}. {because['en']}"
    elif verdict == "found":
        zh = f"证明日志中存在“{title_zh}”的记录共 {n} 条，详见{checks}。{because['zh']}"
        en = f"The logs hold {_count(n, 'record')} of “{title_en}”, see {checks}. {because['en']}"
    elif verdict == "missing":
        zh = f"日志中未见“{title_zh}”的记录。{because['zh']}"
        en = f"No record of “{title_en}” in the logs. {because['en']}"
    elif verdict == "inconclusive":
        zh = f"就“{title_zh}”，日志不足以得出“未发生”的结论。{because['zh']}"
        en = f"The logs do not support a finding that “{title_en}” did not happen. {because['en']}"
    else:
        zh = f"“{title_zh}”：{because['zh']}"
        en = f"{title_en}: {because['en']}"
    return _bi(zh.strip(), en.strip())


LIMITATIONS: tuple[dict[str, str], ...] = (
    _bi(
        "日志只记录经上述系统发生的操作。纸质面单交付快递员后的线下环节（揽收、分拣、运输、派送）不在这些日志中留下任何痕迹。",
        "The logs record only actions taken through the systems listed. Once the paper waybill is handed to the "
        "courier, the offline chain (pickup, sorting, transport, delivery) leaves no trace in these logs.",
    ),
    _bi(
        "合法查看页面的人员对屏幕拍照、截屏、手抄或记忆，无法从日志中识别。",
        "Photographs of screens, screenshots, handwritten copies or memory of someone who legitimately viewed a page "
        "cannot be detected from logs.",
    ),
    _bi(
        "经开放接口合法取得数据的第三方软件（ISV）在其自身系统内的后续处理，本日志仅能显示接口调用本身。",
        "What third-party (ISV) software does with data it obtained lawfully through the open API happens in its own "
        "systems; these logs show only the API call.",
    ),
    _bi(
        f"“未发现”的结论仅在所述系统、主体、时间范围和事件类型内成立，并以日志完整为前提（见{ref('s_completeness')}）。",
        "A negative finding holds only for the systems, principals, window and event types stated, and rests on the "
        f"logs being complete ({ref('s_completeness')}).",
    ),
    _bi(
        f"时间以各来源系统自身的时钟为准；时间窗已按实测时钟偏差扩展（见{ref('s_time')}）。",
        "Times are those of each source system's clock; the window was padded by the measured clock skew "
        f"({ref('s_time')}).",
    ),
)
