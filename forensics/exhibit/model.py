"""The exhibit record (exhibit.json) and the display view both renderers draw from.

``build_record`` turns a PackResult dict (``PackResult.to_json(full=True)``), the case configuration, the case
manifest and the custody log into one JSON-safe dict: the machine-readable exhibit. Personal information is
masked here, once, by the Masker; nothing downstream sees an unmasked value unless the exhibit is sealed.

``build_view`` derives display strings (local times, provenance labels, bilingual statements) from the record.
The HTML template and the typst template render the same view, so the two documents say the same thing.
Everything in the view that came from a log is plain data: typst reads it with ``json()``, jinja2 autoescapes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from forensics.display import display_text
from forensics.exhibit import reason_kinds, wording
from forensics.exhibit.basis import (
    address_record,
    address_words,
    appendix,
    common_folder,
    read_as,
    reading_record,
    relative_path,
    root_name,
)
from forensics.exhibit.labels import column_label
from forensics.exhibit.record_parts import exposure_counted, facts_record
from forensics.exhibit.table_source import source_record, source_view
from forensics.masking import Masker, Style

# The exhibit format: bump it whenever this version would render an earlier exhibit's record differently (record
# fields, wording, layout, charts). verify refuses another format with "re-build it" instead of a list of
# mismatches; exhibits made before the marker existed are format 1 (exhibit.json "format": "forensics-exhibit/1").
EXHIBIT_FORMAT = 2
RECORD_FORMAT = f"forensics-exhibit/{EXHIBIT_FORMAT}"
MAX_ROWS_SHOWN = 200  # per check in the documents; exhibit.json always holds every row
LANGS = ("zh", "en", "zh-en")

_ISO_UTC_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]00:00)$")
_PARAM_RE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_WAYBILL_ACTIONS = frozenset({"waybill.print", "waybill.reprint"})


@dataclass(frozen=True)
class RecordInputs:
    """Everything the record is built from (build_exhibit gathers it from the case; tests pass fixtures)."""

    pack: dict[str, Any]
    config: dict[str, Any]
    manifest: dict[str, Any]
    custody: list[dict[str, Any]]
    case_ref: dict[str, str]
    generated_at: datetime
    versions: dict[str, str]
    number: str
    lang: str = "zh-en"
    charts: dict[str, str] = field(default_factory=dict)  # chart key -> path relative to the exhibit folder


# ============================================================================ record


def build_record(src: RecordInputs, masker: Masker) -> dict[str, Any]:
    """The exhibit.json content. Check result rows are masked by column context, everything else by a text scrub."""
    pack = src.pack
    config = src.config
    checks = [_check_record(c, masker) for c in pack.get("checks", [])]
    scrubbed = masker.walk(
        "case",
        {
            "cover": _cover(config, src),
            "sources": _sources(src.manifest, pack, config),
            "extraction": _extraction(src),
            "time_basis": _time_basis(pack, src.manifest, config),
            "completeness": pack.get("completeness", {"sources": [], "skew": []}),
            "exposure": exposure_counted(pack, config),
            "fraudster": {k: list(v) for k, v in config.get("fraudster", {}).items()},
            "attestation": _attestation(config),
        },
    )
    # file digests are not personal information; a digit run inside one must not be masked like a phone number
    for item, original in zip(scrubbed["extraction"]["inputs"], _extraction(src)["inputs"], strict=True):
        item.update({k: original[k] for k in ("sha256", "sm3")})
    if caption_public(config):
        scrubbed["cover"] = _public_caption(scrubbed["cover"], _cover(config, src))
    return {
        "format": RECORD_FORMAT,
        "exhibit_format": EXHIBIT_FORMAT,
        "number": src.number,
        "lang": src.lang,
        "sealed": not masker.enabled,
        "generated_at": src.generated_at.isoformat(),
        **scrubbed,
        "pack": {"name": pack.get("pack"), "version": pack.get("version"), "params": dict(pack.get("params", {}))},
        "checks": checks,
        "address_basis": address_record(config),  # the case's own proxies, not log content: not masked
        **({"source": source_record(pack)} if source_record(pack) else {}),  # a warehouse table, not sealed files
        "charts": dict(src.charts),
        "case_ref": dict(src.case_ref),
        "digests": {
            c["id"]: {"verdict": c["verdict"], "sql_sha256": c["sql_sha256"], "result_sha256": c["result_sha256"]}
            for c in checks
        },
        "redactions": {"masked": masker.enabled, "summary": masker.summary(), "log": [r.to_json() for r in masker.log]},
    }


def caption_public(config: dict[str, Any]) -> bool:
    """[case] caption_public (default true): the caption and the parties' names are the court's docket entry,
    a matter of record, so they are shown as filed; the body of the exhibit is masked as before."""
    return config.get("case", {}).get("caption_public", True) is not False


def _public_caption(masked: dict[str, Any], original: dict[str, Any]) -> dict[str, Any]:
    parties = [
        dict(m, name=o["name"]) for m, o in zip(masked.get("parties", []), original.get("parties", []), strict=False)
    ]
    docket = {k: original[k] for k in ("caption", "court", "case_number", "submitting_party")}
    return dict(masked, **docket, parties=parties)


def _cover(config: dict[str, Any], src: RecordInputs) -> dict[str, Any]:
    case = config.get("case", {})
    parties = [
        {"role": str(p.get("role", "")), "name": str(p.get("name", "")), "type": str(p.get("type", ""))}
        for p in config.get("parties", [])
    ]
    return {
        "caption": str(case.get("caption", "")),
        "court": str(case.get("court", "")),
        "case_number": str(case.get("case_number", "")),
        "submitting_party": str(case.get("submitting_party", "")),
        "evidence_name": str(case.get("evidence_name", "")),
        "parties": parties,
        "order_ids": [str(o) for o in config.get("order", {}).get("ids", [])],
        "merchant_id": str(config.get("order", {}).get("merchant_id", "")),
        "waybill_no": str(config.get("order", {}).get("waybill_no", "")),
        "date": src.generated_at.astimezone(_zone(config.get("window", {}).get("tz"))).date().isoformat(),
    }


# How a source system's logs come about (case.toml [sources.S]); each field also has a '<field>_zh' variant.
SOURCE_FIELDS: tuple[str, ...] = ("description", "operator", "how_logged", "retention", "clock_sync")


def _sources(manifest: dict[str, Any], pack: dict[str, Any], config: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per logical system: how its logs are produced (case.toml [sources.X]) and what was received."""
    described = config.get("sources", {})
    by_source: dict[str, dict[str, Any]] = {}
    names = [s.get("source") for s in pack.get("completeness", {}).get("sources", [])]
    names += [i.get("source") for i in manifest.get("inputs", [])]
    for name in names:
        if name and name not in by_source:
            info = described.get(name, {}) if isinstance(described, dict) else {}
            by_source[name] = {
                "source": name,
                **{k: str(info.get(k, "")) for f in SOURCE_FIELDS for k in (f, f + "_zh")},
                "formats": [],
                "zones": [],
                "inputs": 0,
                "bytes": 0,
                "events": 0,
            }
    for item in manifest.get("inputs", []):
        entry = by_source.get(item.get("source"))
        if entry is None:
            continue
        entry["inputs"] += 1
        entry["bytes"] += int(item.get("bytes") or 0)
        entry["events"] += int(item.get("events") or 0)
        for key, value in (("formats", item.get("format")), ("zones", item.get("tz") or "offset in each line")):
            if value and value not in entry[key]:
                entry[key].append(str(value))
    return list(by_source.values())


def _extraction(src: RecordInputs) -> dict[str, Any]:
    keys = (
        "path",
        "source",
        "format",
        "bytes",
        "sha256",
        "sm3",
        "lines",
        "events",
        "quarantined",
        "blank",
        "structural",
        "tz",
        "retracted",
    )
    inputs = [{**{k: item.get(k) for k in keys}, **reading_record(item)} for item in src.manifest.get("inputs", [])]
    for n, item in enumerate(inputs, 1):
        item["ref"] = f"I{n}"
        item["structural"] = item.get("structural") or 0  # a CSV header, W3C directives: lines that are no event
    runs = [
        {
            **{k: e.get(k) for k in ("seq", "at", "action", "command", "user", "host", "tool_version", "hash")},
            "details": _details_summary(e.get("details")),
        }
        for e in src.custody
    ]
    totals = {
        k: sum(int(i.get(k) or 0) for i in inputs)
        for k in ("bytes", "lines", "events", "quarantined", "blank", "structural")
    }
    return {
        "examiner": _examiner(src.config),
        "runs": runs,
        "inputs": inputs,
        "totals": totals,
        "tool_versions": dict(src.versions),
        "case_tool_versions": dict(src.manifest.get("tool", {})),
    }


def _details_summary(details: Any) -> str:
    """One line per custody entry: scalar details as key=value, lists as their length (full entry in custody.log)."""
    if not isinstance(details, dict):
        return ""
    parts = []
    for key, value in details.items():
        if isinstance(value, list):
            parts.append(f"{key}: {len(value)}")
        elif isinstance(value, dict):
            parts.append(f"{key}: {{{len(value)}}}")
        elif value is not None:
            parts.append(f"{key}={value}")
    return "; ".join(parts)[:300]


def _examiner(config: dict[str, Any]) -> dict[str, str]:
    ex = config.get("examiner", {})
    return {k: str(ex.get(k, "")) for k in ("name", "organization", "qualification", "contact")}


def _time_basis(pack: dict[str, Any], manifest: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    window = dict(pack.get("window") or {})
    if not window:  # a pack without the full window block: fall back to its parameters
        params = pack.get("params", {})
        window = {"start": params.get("window_start"), "end": params.get("window_end"), "tz": params.get("tz")}
    zones = []
    for item in manifest.get("inputs", []):
        zones.append({"source": item.get("source"), "path": item.get("path"), "tz": item.get("tz")})
    return {
        "window": window,
        "max_clock_skew": str(config.get("completeness", {}).get("max_clock_skew", "")),
        "zones": zones,
        "skew": list(pack.get("completeness", {}).get("skew", [])),
    }


def _attestation(config: dict[str, Any]) -> dict[str, str]:
    return _examiner(config)


def _check_style(check: dict[str, Any]) -> Style:
    """Rows of a check about the paper waybill are shown as the waybill shows them; all else back-office style."""
    actions = set(check.get("depends_on", {}).get("actions", []) or [])
    return "waybill" if actions and actions <= _WAYBILL_ACTIONS else "ui"


def _check_record(check: dict[str, Any], masker: Masker) -> dict[str, Any]:
    cid = str(check.get("id", ""))
    columns = [str(c) for c in check.get("columns", [])]
    style = _check_style(check)
    rows = [
        [
            masker.cell(f"checks/{cid}/row {r}/{col}", col, value, style)
            for col, value in zip(columns, row, strict=False)
        ]
        for r, row in enumerate(check.get("results", []), 1)
    ]
    sql = str(check.get("sql", ""))
    text_fields = (
        "reason", "scope", "question", "question_zh", "title_en", "title_zh", "legal_element", "legal_element_zh"
    )  # fmt: skip
    texts = {k: (masker.text(f"checks/{cid}/{k}", str(check[k])) if check.get(k) else None) for k in text_fields}
    return {
        "id": cid,
        "verdict": str(check.get("verdict", "")),
        **texts,
        "facts": facts_record(check, masker),
        "expect": check.get("expect"),
        "severity": check.get("severity"),
        "depends_on": check.get("depends_on", {"sources": [], "actions": []}),
        "rows": int(check.get("rows", len(rows))),
        "sql": sql,
        "sql_sha256": check.get("sql_sha256"),
        "result_sha256": check.get("result_sha256"),
        "source_file": check.get("source_file"),
        "params_used": sorted(set(_PARAM_RE.findall(sql))),
        "columns": columns,
        "results": rows,
        "style": style,
    }


# ============================================================================ view


def _zone(name: Any) -> ZoneInfo:
    try:
        return ZoneInfo(str(name)) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _parse_utc(text: Any) -> datetime | None:
    if not isinstance(text, str) or not _ISO_UTC_RE.match(text):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def local_time(text: Any, tz: ZoneInfo, seconds: bool = True) -> str:
    """'2024-03-01T06:20:03.118+00:00' -> '2024-03-01 14:20:03.118' in the window's zone (text kept if not a time)."""
    moment = _parse_utc(text)
    if moment is None:
        return "" if text is None else str(text)
    local = moment.astimezone(tz)
    offset = local.strftime("%z")
    label = f" {offset[:3]}:{offset[3:]}"  # every displayed time carries its UTC offset
    if not seconds:
        return local.strftime("%Y-%m-%d %H:%M") + label
    shown = local.strftime("%Y-%m-%d %H:%M:%S")
    return shown + (f".{local.microsecond // 1000:03d}" if local.microsecond else "") + label


_EMBEDDED_UTC_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]00:00)")


def localize_times(text: str, tz: ZoneInfo) -> str:
    """UTC times inside a sentence (completeness reasons say '2024-03-02T01:00:00Z') shown in the case zone."""
    return _EMBEDDED_UTC_RE.sub(lambda m: local_time(m.group(0), tz), text)


def _offset_label(tz: ZoneInfo, moment: datetime | None) -> str:
    offset = (moment or datetime(2024, 1, 1, tzinfo=tz)).astimezone(tz).strftime("%z")
    return f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"


def display_cell(value: Any, tz: ZoneInfo) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return display_text(", ".join(display_cell(v, tz) for v in value)) or "—"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        return display_text(", ".join(f"{k}={display_cell(v, tz)}" for k, v in value.items()))
    return display_text(local_time(value, tz))  # log-derived: escaped and bounded (forensics.display)


def _bi(zh: str, en: str) -> dict[str, str]:
    return {"zh": zh, "en": en}


VERDICT_LABELS: dict[str, dict[str, str]] = {
    "clean": _bi("未发现（日志完整）", "CLEAN"),
    "flagged": _bi("发现记录", "FLAGGED"),
    "inconclusive": _bi("无法得出结论", "INCONCLUSIVE"),
    "found": _bi("存在记录", "FOUND"),
    "missing": _bi("未见记录", "MISSING"),
    "info": _bi("信息", "INFO"),
}


def build_view(record: dict[str, Any], stamp: str) -> dict[str, Any]:
    """Display-ready content for both renderers. stamp = the exhibit digest printed on every page."""
    window = record.get("time_basis", {}).get("window", {})
    tz = _zone(window.get("tz"))
    inputs = record.get("extraction", {}).get("inputs", [])
    refs = {i.get("sha256"): i.get("ref") for i in inputs}
    return {
        "sections": list(wording.SECTIONS),
        "pack_params": [
            {"name": str(k), "value": display_cell(v, tz)} for k, v in record.get("pack", {}).get("params", {}).items()
        ],
        "lang": record.get("lang", "zh-en"),
        "number": record.get("number", ""),
        "sealed": bool(record.get("sealed")),
        "stamp": stamp,
        "generated_at": local_time(record.get("generated_at", "").replace("+00:00", "Z"), tz),
        "cover": _cover_view(record.get("cover", {})),
        "window": _window_view(window, tz),
        "purposes": _purposes(record, window, tz, refs),
        "table_source": source_view(record),
        "sources": [_source_view(s) for s in record.get("sources", [])],
        "extraction": _extraction_view(record.get("extraction", {}), tz),
        "time_basis": _time_basis_view(record, tz),
        "pack": record.get("pack", {}),
        "checks": [_check_view(c, _bound_values(record), refs, tz) for c in record.get("checks", [])],
        "completeness": _completeness_view(record.get("completeness", {}), record.get("charts", {}), tz),
        "exposure": _exposure_view(record),
        "trail_chart": record.get("charts", {}).get("timeline"),
        "limitations": _limitations(record, refs),
        "attestation": record.get("attestation", {}),
        "redactions": record.get("redactions", {}).get("summary", []),
        "masked": bool(record.get("redactions", {}).get("masked", True)),
        "appendix": appendix(record),
        "case_ref": record.get("case_ref", {}),
    }


ROLE_LABELS: dict[str, dict[str, str]] = {
    "plaintiff": _bi("原告", "Plaintiff"),
    "defendant": _bi("被告", "Defendant"),
    "third_party": _bi("第三人", "Third party"),
}


def _cover_view(cover: dict[str, Any]) -> dict[str, Any]:
    parties = [
        dict(p, role_label=ROLE_LABELS.get(str(p.get("role")), _bi(str(p.get("role")), str(p.get("role")))))
        for p in cover.get("parties", [])
    ]
    return dict(cover, parties=parties)


def _window_view(window: dict[str, Any], tz: ZoneInfo) -> dict[str, str]:
    start = _parse_utc(window.get("start"))
    return {
        "tz": str(window.get("tz") or "UTC"),
        "offset": _offset_label(tz, start),
        "start": local_time(window.get("start"), tz, seconds=False),
        "end": local_time(window.get("end"), tz, seconds=False),
        "padded_start": local_time(window.get("padded_start"), tz),
        "padded_end": local_time(window.get("padded_end"), tz),
        "start_utc": str(window.get("start") or ""),
        "end_utc": str(window.get("end") or ""),
        "padded_start_utc": str(window.get("padded_start") or ""),
        "padded_end_utc": str(window.get("padded_end") or ""),
        "skew": display_cell(window.get("skew_seconds"), tz),
    }


_IN_LINE = _bi("各行自带时区偏移", "offset in each line")


_NOT_PROVIDED = _bi("未提供", "not provided")


def _source_view(source: dict[str, Any]) -> dict[str, Any]:
    zones = [_IN_LINE if z == "offset in each line" else _bi(str(z), str(z)) for z in source.get("zones", [])]
    facts = []
    for key in SOURCE_FIELDS:
        en, zh = str(source.get(key) or ""), str(source.get(key + "_zh") or "")
        # a field not given is said to be not given, in words, never left blank or dashed
        value = _bi(zh or en, en or zh) if (en or zh) else _NOT_PROVIDED
        facts.append({"key": "src_" + key, "value": value, "given": bool(en or zh)})
    return dict(source, zones=zones, facts=facts)


def _role_zh(role: dict[str, Any]) -> str:
    title = str(role.get("title_zh") or role.get("role") or "")
    if role.get("absent"):
        return f"{title}（案件声明该平台无此系统）"
    return f"{title} ({', '.join(str(s) for s in role.get('sources') or [])})"


def _scope_zh(check: dict[str, Any], window: dict[str, str]) -> str:
    deps = check.get("depends_on", {})
    roles = deps.get("roles") or []
    # Role and source both ("商家后台 (admin_audit)"); packs without roles name the sources only.
    systems = "、".join(_role_zh(r) for r in roles) or "、".join(deps.get("sources", []) or []) or "全部来源"
    actions = "、".join(deps.get("actions", []) or []) or "全部事件类型"
    when = f"{window['start']} 至 {window['end']}（{window['tz']}）"
    return f"系统：{systems}；主体：任何账号；时间：{when}；事件类型：{actions}"


def _citer(refs: dict[Any, Any]) -> Any:
    """A cited raw-log line as 'I3:36' (input ref of the extraction table), never a machine's path."""

    def cite(c: Any) -> str:
        sha = str(c.get("sha256") or "")
        return f"{refs.get(sha) or sha[:12]}:{c.get('line')}"

    return cite


def _reason(check: dict[str, Any], refs: dict[Any, Any]) -> dict[str, str]:
    """The reason in both languages from its facts; a reason without facts is said neutrally in Chinese."""
    made = wording.reason_text(check.get("facts") or {}, _citer(refs))
    if made is not None:
        return made
    reason = str(check.get("reason") or "")
    return _bi("理由见英文文本。" if reason else "", reason)


def _legal(check: dict[str, Any]) -> dict[str, str]:
    en = str(check.get("legal_element") or "")
    return _bi(str(check.get("legal_element_zh") or en), en)


def _purposes(record: dict[str, Any], window: dict[str, Any], tz: ZoneInfo, refs: dict[Any, Any]) -> list[Any]:
    """One statement per claim (每项证明目的), each scoped to systems, principals, window and event types."""
    win = _window_view(window, tz)
    when_zh = f"{win['start']} 至 {win['end']}"
    out = []
    for check in record.get("checks", []):
        verdict = check.get("verdict")
        if verdict == "info" or check.get("expect") == "info":
            continue
        out.append(
            {
                "id": check.get("id"),
                "verdict": verdict,
                "verdict_label": VERDICT_LABELS.get(str(verdict), _bi(str(verdict), str(verdict))),
                "statement": wording.statement(check, _reason(check, refs), when_zh),
                "scope_zh": _scope_zh(check, win),
                "legal_element": _legal(check),
            }
        )
    exposure = _exposure_claim(record)
    if exposure:
        out.append(exposure)
    return out


def _exposure_claim(record: dict[str, Any]) -> dict[str, Any] | None:
    """The leak-channel claim: the channel(s) showing the most of what the fraudster knew and nothing they did not."""
    channels = record.get("exposure", [])
    knew = list(record.get("fraudster", {}).get("knew", []))
    clean = [c for c in channels if not c.get("exposed_not_known")]
    if not knew or not clean:
        return None
    best_count = max(len(set(c.get("fields", [])) & set(knew)) for c in clean)
    if best_count == 0:
        return None
    best = [c for c in clean if len(set(c.get("fields", [])) & set(knew)) == best_count]
    names_zh = "、".join(str(c.get("title_zh") or c.get("channel")) for c in best)
    names_en = ", ".join(str(c.get("title_en") or c.get("channel")) for c in best)
    not_known = ", ".join(record.get("fraudster", {}).get("did_not_know", [])) or "—"
    shown_anywhere = {f for c in channels for f in c.get("fields", [])}
    nowhere = [f for f in knew if f not in shown_anywhere]
    others_leak = all(c.get("exposed_not_known") for c in channels if c not in best)
    zh = (
        f"证明欺诈者所知悉的 {len(knew)} 项字段中有 {best_count} 项见于“{names_zh}”，"
        f"且该渠道不含欺诈者不知道的字段（{not_known}）。"
    )
    en = (
        f"{best_count} of the {len(knew)} fields the fraudster knew appear on {names_en}, which shows none of the "
        f"fields the fraudster did not know ({not_known})."
    )
    if nowhere:
        zh += f"其余字段（{', '.join(nowhere)}）不见于任何所列渠道。"
        en += f" The rest ({', '.join(nowhere)}) appear on no channel listed."
    if others_leak:
        zh += "其他渠道均显示欺诈者未知悉的订单字段。"
        en += " Every other channel shows order-only fields the fraudster did not know."
    return {
        "id": "field-exposure",
        "verdict": "info",
        "verdict_label": VERDICT_LABELS["info"],
        "statement": _bi(zh, en),
        "scope_zh": "",
        "legal_element": _bi("因果关系：信息泄露渠道", "Causation: the leak channel"),
    }


def _extraction_view(extraction: dict[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    """Display form: local times, thousands separators, input paths relative to their common folder."""
    runs = [dict(r, at=local_time(r.get("at"), tz), words=_custody_words(r)) for r in extraction.get("runs", [])]
    items = extraction.get("inputs", [])
    root = common_folder([str(i.get("path") or "") for i in items])
    inputs = [
        dict(i, bytes_fmt=f"{int(i.get('bytes') or 0):,}", short=relative_path(i.get("path"), root), read_as=read_as(i))
        for i in items
    ]
    totals = {k: f"{int(v):,}" for k, v in extraction.get("totals", {}).items()}
    return dict(extraction, runs=runs, inputs=inputs, root=root_name(root), totals=totals)


_CUSTODY_WORDS: dict[str, dict[str, str]] = {
    "init": _bi("建立案件文件夹", "Case folder created"),
    "ingest": _bi("日志入库并计算哈希值", "Logs ingested and hashed"),
    "check": _bi("执行检查包", "Query pack run"),
    "exhibit": _bi("生成本证据", "Exhibit generated"),
    "retract": _bi("撤回输入文件", "Input retracted"),
}


def _custody_words(run: dict[str, Any]) -> dict[str, str]:
    """A custody entry in words (the full entry, with its command line, is in custody.log)."""
    action = str(run.get("action") or "")
    base = _CUSTODY_WORDS.get(action, _bi(action, action))
    details = str(run.get("details") or "")
    counts = re.search(r"inputs: (\d+)", details)
    if counts:
        n = counts.group(1)
        return _bi(f"{base['zh']}（{n} 个输入文件）", f"{base['en']} ({n} input files)")
    return base


def _time_basis_view(record: dict[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    basis = record.get("time_basis", {})
    skew = [
        {"a": s.get("a"), "b": s.get("b"), "seconds": display_cell(s.get("seconds"), tz), "pairs": s.get("pairs")}
        for s in basis.get("skew", [])
    ]
    zones = _zones_by_source(basis.get("zones", []))
    addresses = address_words(record.get("address_basis") or {})
    return {"max_clock_skew": basis.get("max_clock_skew", ""), "skew": skew, "zones": zones, "addresses": addresses}


def _zones_by_source(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The zone each source's files were read in, one row per source and zone (the files are listed in the
    extraction record; listing them again here would only repeat them)."""
    groups: dict[tuple[str, str], list[int]] = {}
    for n, z in enumerate(items, 1):
        groups.setdefault((str(z.get("source") or ""), str(z.get("tz") or "")), []).append(n)
    out = []
    for (source, tz), refs in groups.items():
        span = f"I{refs[0]}" if len(refs) == 1 else f"I{refs[0]}–I{refs[-1]}"
        if len(refs) > 1 and refs != list(range(refs[0], refs[-1] + 1)):
            span = ", ".join(f"I{r}" for r in refs)
        zone = _bi(tz, tz) if tz else _IN_LINE
        out.append({"ref": span, "source": source, "path": str(len(refs)), "tz": zone})
    return out


def _bound_values(record: dict[str, Any]) -> dict[str, Any]:
    """Values the SQL was bound with: the pack parameters plus the derived padded window and skew."""
    window = record.get("time_basis", {}).get("window", {})
    derived = {
        "padded_start": window.get("padded_start"),
        "padded_end": window.get("padded_end"),
        "skew_seconds": window.get("skew_seconds"),
    }
    return {**{k: v for k, v in derived.items() if v is not None}, **record.get("pack", {}).get("params", {})}


def _check_view(check: dict[str, Any], params: dict[str, Any], refs: dict[Any, Any], tz: ZoneInfo) -> dict[str, Any]:
    columns = list(check.get("columns", []))
    results = check.get("results", [])
    shown = results[:MAX_ROWS_SHOWN]
    has_prov = "src_sha256" in columns and "line_no" in columns
    if has_prov:
        i_sha, i_line = columns.index("src_sha256"), columns.index("line_no")
        keep = [i for i in range(len(columns)) if i not in (i_sha, i_line)]
        head = [columns[i] for i in keep] + ["provenance"]
        rows = [
            [display_cell(row[i], tz) for i in keep]
            + [f"{refs.get(row[i_sha]) or str(row[i_sha])[:12]}:{display_cell(row[i_line], tz)}"]
            for row in shown
        ]
    else:
        head = columns
        rows = [[display_cell(v, tz) for v in row] for row in shown]
    used = check.get("params_used", [])
    return {
        **{k: check.get(k) for k in ("id", "verdict", "scope", "title_en")},
        "reason": _reason(check, refs),
        "question": _bi(
            str(check.get("question_zh") or check.get("question") or "—"), str(check.get("question") or "—")
        ),
        "legal_element": _legal(check),
        "title_zh": check.get("title_zh"),
        "verdict_label": VERDICT_LABELS.get(str(check.get("verdict")), _bi(str(check.get("verdict")), "")),
        "expect": check.get("expect") or "",
        "severity": check.get("severity") or "",
        "sources": ", ".join(check.get("depends_on", {}).get("sources", []) or []),
        "actions": ", ".join(check.get("depends_on", {}).get("actions", []) or []) or "—",
        "sql": check.get("sql", ""),
        "sql_sha256": check.get("sql_sha256") or "",
        "result_sha256": check.get("result_sha256") or "",
        "source_file": check.get("source_file") or "",
        "params": [
            {"name": n, "value": display_cell(params[n], tz) if n in params else "(derived at run time)"} for n in used
        ],
        "columns": [column_label(h) for h in head],
        "rows": rows,
        "total": len(results),
        "truncated": len(results) > len(shown),
        "style": check.get("style", "ui"),
    }


def _problems(s: dict[str, Any], tz: ZoneInfo) -> list[dict[str, str]]:
    """A source's completeness defects, each in both languages with times in the case zone."""
    if s.get("facts"):  # every reason as data (kind + figures): one sentence each (exhibit/reason_kinds.py)
        return [_bi(*reason_kinds.one(f, str(tz))) for f in s["facts"]]
    out = []
    for g in s.get("gaps", []):
        a, b, node = local_time(g.get("start"), tz), local_time(g.get("end"), tz), g.get("node") or "—"
        out.append(
            _bi(
                f"缺口 {a} 至 {b}（{g.get('seconds')} 秒，节点 {node}）",
                f"gap {a} – {b} ({g.get('seconds')} s, node {node})",
            )
        )
    for g in s.get("seq_gaps", []):
        node, a, b, n = g.get("node"), g.get("after_seq"), g.get("next_seq"), g.get("missing")
        out.append(
            _bi(
                f"节点 {node} 序号跳变：{a} 之后为 {b}（缺 {n} 个）",
                f"sequence gap on {node}: after {a} next {b} ({n} missing)",
            )
        )
    for h in s.get("missing_heartbeats", []):
        a, b, node = local_time(h.get("start"), tz), local_time(h.get("end"), tz), h.get("node")
        out.append(
            _bi(
                f"节点 {node} 心跳缺失：{a} 至 {b}（{h.get('minutes')} 分钟）",
                f"missing heartbeats on {node}: {a} – {b} ({h.get('minutes')} min)",
            )
        )
    for h in s.get("hourly", []):
        if not h.get("ok", True):
            hour, base = local_time(h.get("hour"), tz, seconds=False), display_cell(h.get("baseline"), tz)
            out.append(
                _bi(
                    f"{hour} 该小时 {h.get('events')} 个事件，低于基线 {base}",
                    f"hour {hour}: {h.get('events')} events, baseline {base}",
                )
            )
    return out


def _completeness_view(comp: dict[str, Any], charts: dict[str, str], tz: ZoneInfo) -> dict[str, Any]:
    sources = []
    for n, s in enumerate(comp.get("sources", []), 1):
        sources.append(
            {
                "source": s.get("source"),
                "first_ts": local_time(s.get("first_ts"), tz),
                "last_ts": local_time(s.get("last_ts"), tz),
                "events": f"{int(s.get('events') or 0):,}",
                "normal_gap": display_cell(s.get("normal_gap_seconds"), tz),
                "ok": bool(s.get("ok")),
                # the English reasons restate the problems above; shown only in the English text
                "reasons": [localize_times(str(r), tz) for r in s.get("reasons", [])],
                "problems": _problems(s, tz),
                "chart": charts.get(f"coverage-{n:02d}"),
            }
        )
    return {"sources": sources}


def _exposure_view(record: dict[str, Any]) -> dict[str, Any]:
    knew = set(record.get("fraudster", {}).get("knew", []))
    did_not = set(record.get("fraudster", {}).get("did_not_know", []))
    fields = list(record.get("fraudster", {}).get("knew", [])) + list(
        record.get("fraudster", {}).get("did_not_know", [])
    )
    for c in record.get("exposure", []):
        fields += [f for f in c.get("fields", []) if f not in fields]
    channels = []
    for c in record.get("exposure", []):
        shown = set(c.get("fields", []))
        marks = ["●" if f in shown else "·" for f in fields]
        channels.append(
            {
                "channel": c.get("channel"),
                "title_zh": c.get("title_zh") or c.get("channel"),
                "title_en": c.get("title_en") or c.get("channel"),
                "marks": marks,
                "match": bool(c.get("known_contained")) and not c.get("exposed_not_known"),
                "known_missing": ", ".join(c.get("known_missing", [])) or "—",
                "exposed_not_known": ", ".join(c.get("exposed_not_known", [])) or "—",
                "events": c.get("events"),
            }
        )
    header = [{"field": f, "knew": "known" if f in knew else ("not known" if f in did_not else "")} for f in fields]
    return {"fields": header, "channels": channels}


def _limitations(record: dict[str, Any], refs: dict[Any, Any]) -> list[dict[str, str]]:
    out = list(wording.LIMITATIONS)
    for check in record.get("checks", []):
        if check.get("verdict") == "inconclusive":
            why = _reason(check, refs)
            cid = check.get("id")
            out.append(_bi(f"检查 {cid} 无法得出结论：{why['zh']}", f"Check {cid} is inconclusive: {why['en']}"))
    for s in record.get("completeness", {}).get("sources", []):
        if not s.get("ok", True):
            name = s.get("source")
            n = len(s.get("reasons", []))
            comp = wording.ref("s_completeness")
            out.append(
                _bi(
                    f"来源 {name} 的日志不完整（{n} 项问题，详见{comp}）。",
                    f"Logs of {name} are incomplete ({n} problem{'s' if n != 1 else ''}, see {comp}).",
                )
            )
    return out
