"""What the exhibit states about how the logs were read: which address is the client, and how each input was parsed.

Both come from the case, never from a sentence typed into a template: the address rule and the trusted proxies
from case.toml ``[addresses] trusted_proxies`` (forensics.addresses), the format of each input and, for
``--format auto``, the detection's choice and scores from the manifest entry (``format``, ``log_format``,
``format_detection``). exhibit.json holds the data; the zh/en sentences are rendered from it. Inputs are named
by their path below the dump root (the inputs' common folder), never by the examiner's absolute path; the annex
lists each with its hashes and how it was read.
"""

from __future__ import annotations

import os
from typing import Any

from forensics.addresses import basis_note, trusted_proxies
from forensics.display import display_text

_OTHERS_SHOWN = 4  # candidates named beside the chosen format, best first


# ---------------------------------------------------------------- addresses


def address_record(config: dict[str, Any]) -> dict[str, Any]:
    """The case's address rule as data: the trusted proxies, normalised (an address is its /32 or /128 network).

    They are the platform's own infrastructure from case.toml, not log content: kept out of masking."""
    return {"trusted_proxies": [str(n) for n in trusted_proxies(config)]}


def address_words(basis: dict[str, Any]) -> dict[str, str]:
    """The rule in both languages, naming the trusted proxies or saying that none is trusted."""
    proxies = [str(p) for p in basis.get("trusted_proxies") or []]
    zh = (
        "IP 地址一律为服务器记录的直接连接方（对端）地址。X-Forwarded-For 转发链可由任何客户端自行填写，"
        "单独保存在 forwarded_for 字段中，"
    )
    en = basis_note({"addresses": {"trusted_proxies": proxies}})
    if not proxies:
        zh += "不作为客户端地址。本案未设定任何可信代理（case.toml 中 [addresses] trusted_proxies 为空）。"
        en += " This case trusts no proxy ([addresses] trusted_proxies in case.toml is empty)."
    else:
        listed = "、".join(proxies)
        zh += (
            f"仅当直接连接方属于本案设定的可信代理（{listed}）时，才自右向左读取该转发链，"
            "以第一个不属于可信代理的地址作为客户端地址。"
        )
    return {"zh": zh, "en": en}


# ---------------------------------------------------------------- how each input was read


def reading_record(item: dict[str, Any]) -> dict[str, Any]:
    """From one manifest input: the format string it was read with and, when auto-detected, the detection."""
    detection = item.get("format_detection")
    return {
        "log_format": item.get("log_format"),
        "format_detection": detection if isinstance(detection, dict) else None,
    }


def read_as(item: dict[str, Any]) -> str:
    """Short form for the input table: the format, and the format string or preset it was read with."""
    parts = [str(item.get("format") or "—")]
    if item.get("log_format"):
        parts.append(display_text(str(item["log_format"]), limit=120))
    return " · ".join(parts)


def _count(value: Any) -> str:
    number = float(value) if isinstance(value, int | float) else 0.0
    return str(int(number)) if number == int(number) else f"{number:.1f}"


def detection_words(detection: dict[str, Any] | None) -> dict[str, str] | None:
    """The --format auto sentence: which format it chose, how many sample lines each candidate read."""
    if not detection:
        return None
    lines = int(detection.get("sample_lines") or 0)
    raw = detection.get("scores")
    scores: dict[str, Any] = raw if isinstance(raw, dict) else {}
    chosen = detection.get("chosen")
    ranked = sorted(scores.items(), key=lambda kv: (-float(kv[1] or 0), str(kv[0])))
    others = [(str(k), _count(v)) for k, v in ranked if k != chosen][:_OTHERS_SHOWN]
    others_zh = "、".join(f"{k} {n}/{lines}" for k, n in others) or "无"
    others_en = ", ".join(f"{k} {n}/{lines}" for k, n in others) or "none"
    if chosen is None:
        return {
            "zh": f"自动识别（--format auto）未找到可读取样本的格式（样本 {lines} 行；各候选可读行数：{others_zh}）。",
            "en": f"--format auto found no format that reads the sample ({lines} lines; lines read: {others_en}).",
        }
    read = _count(scores.get(chosen, 0))
    return {
        "zh": (
            f"格式由自动识别（--format auto）确定：在前 {lines} 行样本中，{chosen} 可读取 {read} 行，故采用；"
            f"其他候选可读行数：{others_zh}。"
        ),
        "en": f"--format auto chose {chosen}: it reads {read} of the first {lines} lines (others: {others_en}).",
    }


# ---------------------------------------------------------------- inputs named below the dump root


def common_folder(paths: list[str]) -> str:
    folders = [p.rsplit("/", 1)[0] for p in paths if "/" in p]
    if len(folders) != len(paths) or not folders:
        return ""
    try:
        common = os.path.commonpath(folders)
    except ValueError:  # mixed absolute and relative paths
        return ""
    return common.rstrip("/") + "/" if common not in ("", "/") else ""


def relative_path(path: Any, root: str) -> str:
    """An input's path below the dump root (the inputs' common folder); never the examiner's absolute path."""
    text = str(path or "")
    if root and text.startswith(root):
        return text[len(root) :]
    return text.rsplit("/", 1)[-1] if text.startswith("/") else text


def root_name(root: str) -> str:
    name = root.rstrip("/").rsplit("/", 1)[-1]
    return name + "/" if name else ""


def appendix(record: dict[str, Any]) -> dict[str, Any]:
    items = record.get("extraction", {}).get("inputs", [])
    root = common_folder([str(i.get("path") or "") for i in items])
    inputs = [
        {
            "ref": i.get("ref"),
            "path": relative_path(i.get("path"), root),
            "sha256": i.get("sha256"),
            "sm3": i.get("sm3"),
            "read_as": read_as(i),
            "detection": detection_words(i.get("format_detection")),
        }
        for i in items
    ]
    checks = [
        {"id": c.get("id"), "sql_sha256": c.get("sql_sha256"), "result_sha256": c.get("result_sha256")}
        for c in record.get("checks", [])
    ]
    return {"inputs": inputs, "checks": checks}
