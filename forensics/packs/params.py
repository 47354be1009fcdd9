"""Parameter values: durations, timestamps, conversion to a parameter's type, and resolution against case.toml."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from forensics.errors import UsageError
from forensics.packs.model import Pack, Param, suggest

# ---------------------------------------------------------------- parameter values

_DURATION = re.compile(r"^\s*(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: Any) -> float:
    """'5m', '30s', '2h', '1d', '250ms' or a number of seconds -> seconds."""
    if isinstance(value, bool):
        raise UsageError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(str(value))
    if match is None:
        raise UsageError(f"{value!r} is not a duration (e.g. 30s, 5m, 2h, 1d)")
    return float(match.group("n")) * _UNIT_SECONDS[match.group("unit") or "s"]


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UsageError(f"unknown time zone {tz!r} (use an IANA name such as Asia/Shanghai)") from exc


def parse_timestamp(value: Any, tz: str) -> datetime:
    """An aware UTC datetime; text or TOML local datetimes without an offset are read in tz."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise UsageError(f"{value!r} is not an ISO-8601 time (e.g. 2024-03-01T00:00:00+08:00)") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_zone(tz))
    return moment.astimezone(UTC)


def convert_value(param: Param, value: Any, tz: str) -> Any:
    """Turn a case.toml value or --param text into the parameter's Python type (bound as such)."""
    kind = param.type
    if kind == "strings":
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, list | tuple):
            return [str(v) for v in value]
        raise UsageError(f"{value!r} is not a list of strings")
    if isinstance(value, list | tuple):
        # A scalar read from a list (e.g. [order] ids, or a '*' path) takes the first element.
        if not value:
            raise UsageError("empty list")
        value = value[0]
    if kind == "string":
        return str(value)
    if kind == "timestamp":
        return parse_timestamp(value, tz)
    if kind == "duration":
        return parse_duration(value)
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in {"true", "1", "yes"}:
            return True
        if text in {"false", "0", "no"}:
            return False
        raise UsageError(f"{value!r} is not true/false")
    try:
        return int(value) if kind == "integer" else float(value)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{value!r} is not {'an integer' if kind == 'integer' else 'a number'}") from exc


def _lookup(config: Mapping[str, Any], dotted: str) -> Any:
    """Follow a dotted path into case.toml; '*' matches every table key (values are collected)."""
    nodes: list[Any] = [config]
    for part in dotted.split("."):
        nxt: list[Any] = []
        for node in nodes:
            if not isinstance(node, dict):
                continue
            if part == "*":
                nxt.extend(node.values())
            elif part in node:
                nxt.append(node[part])
        nodes = nxt
    if "*" not in dotted.split("."):
        return nodes[0] if nodes else None
    flat: list[Any] = []
    for node in nodes:
        for item in node if isinstance(node, list) else [node]:
            if item not in flat:
                flat.append(item)
    return flat or None


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def resolve_params(pack: Pack, config: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, Any]:
    """Typed values: --param overrides, else case.toml, else the pack default."""
    for name in overrides:
        if name not in pack.params:
            hint = suggest(name, pack.params)
            raise UsageError(f"unknown parameter {name!r}{hint} (pack {pack.name} has: {', '.join(pack.params)})")
    tz_param = pack.params["tz"]
    tz_raw = overrides.get("tz") or (_lookup(config, tz_param.source) if tz_param.source else None) or tz_param.default
    tz = str(tz_raw or "UTC")
    _zone(tz)
    values: dict[str, Any] = {}
    for name, param in pack.params.items():
        origin = "--param"
        raw: Any = overrides.get(name)
        if raw is None and param.source:
            raw, origin = _lookup(config, param.source), f"case.toml [{param.source}]"
        if _empty(raw):
            raw, origin = param.default, "pack default"
        if _empty(raw):
            if param.required:
                where = f"set {param.source} in case.toml or " if param.source else ""
                raise UsageError(f"parameter {name} has no value: {where}pass --param {name}=...")
            values[name] = [] if param.type == "strings" else None
            continue
        try:
            values[name] = convert_value(param, raw, tz)
        except UsageError as exc:
            raise UsageError(f"parameter {name} (from {origin}): {exc}") from exc
    if values["window_start"] is None or values["window_end"] is None:
        raise UsageError("the incident window is not set: fill [window] start/end in case.toml or pass --param")
    if values["window_end"] <= values["window_start"]:
        raise UsageError("window_end must be after window_start")
    return values
