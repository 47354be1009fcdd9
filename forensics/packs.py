"""Query packs: load, validate and run them; turn their rows into verdicts.

A pack is a folder ``queries/<pack>/`` holding ``pack.toml`` (name, version, typed parameters,
check order) and one ``NN_slug.sql`` per check. Each SQL file starts with a comment header::

    -- id: unmasked-view
    -- title_en: Unmasked views of the order
    -- expect: none
    -- depends_on.roles: back_office, open_api
    -- depends_on.actions: order.view_unmasked

followed by exactly one SELECT. Parameters are DuckDB named parameters (``$order_id``) bound at
run time, never formatted into the text, so a hostile value is only ever a value. Every returned
row is one finding; checks over events (``rows: events``, the default) must return the
provenance columns source, src_sha256 and line_no.

Packs come from the installed package (``queries/`` next to ``forensics/``, or
``forensics/_queries`` in a wheel), from folders listed in ``$FORENSICS_PACKS_PATH`` and from any
folder given as a path.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import tempfile
import time as clock_time
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb

from forensics import roles as roles_mod
from forensics.case import Case
from forensics.engines.base import QUERY_ERRORS, DuckDBEngine, Engine, Executes, as_engine
from forensics.errors import ForensicsError, UsageError
from forensics.limits import timeout_seconds
from forensics.schema import ACTIONS

DEFAULT_PACK = "order-leak"
PACKS_PATH_ENV = "FORENSICS_PACKS_PATH"

ParamType = Literal["string", "strings", "timestamp", "duration", "integer", "float", "boolean"]
PARAM_TYPES: tuple[str, ...] = ("string", "strings", "timestamp", "duration", "integer", "float", "boolean")
EXPECTS: tuple[str, ...] = ("none", "some", "info")
SEVERITIES: tuple[str, ...] = ("info", "low", "medium", "high", "critical")
ROW_KINDS: tuple[str, ...] = ("events", "derived")
PROVENANCE: tuple[str, ...] = ("source", "src_sha256", "line_no")

# Parameters the runner computes from the data; packs may use them but not declare them.
RUNNER_PARAMS: dict[str, str] = {
    "padded_start": "window start minus the measured clock skew between sources (capped by max_clock_skew)",
    "padded_end": "window end plus the measured clock skew",
    "skew_seconds": "the padding applied, in seconds",
    "expected_sources": "every source some check of the pack depends on (its roles resolved for the case)",
    "heartbeat_sources": "sources whose system.heartbeat events are per-node continuity evidence (heartbeat roles)",
    "expected_nodes": "'source/node' for every node listed in case.toml [completeness.sources.S] nodes",
}
# Parameters the runner itself needs from every pack that uses verdicts.
REQUIRED_PARAMS: tuple[str, ...] = ("window_start", "window_end", "tz", "max_clock_skew")

HEADER_KEYS: tuple[str, ...] = (
    "id",
    "title_en",
    "title_zh",
    "question",
    "question_zh",
    "legal_element",
    "legal_element_zh",
    "expect",
    "severity",
    "depends_on.roles",
    "depends_on.sources",
    "depends_on.actions",
    "principals",
    "rows",
)
# A check names the roles it depends on (resolved per case); depends_on.sources (fixed source names) is still read
# for packs written before roles, but exactly one of the two is given.
OPTIONAL_HEADER_KEYS: frozenset[str] = frozenset(
    {"principals", "rows", "question_zh", "legal_element_zh", "depends_on.roles", "depends_on.sources"}
)
_HEADER_LINE = re.compile(r"^--\s?(?P<key>[a-z_.]+):\s*(?P<value>.*)$")
_CONTINUATION = re.compile(r"^--\s{2,}(?P<value>\S.*)$")
_SQL_FILE = re.compile(r"^\d{2}_[a-z0-9_]+\.sql$")


# ---------------------------------------------------------------- pack model


@dataclass(frozen=True)
class Param:
    name: str
    type: ParamType
    default: Any = None
    source: str | None = None  # dotted path into case.toml ("order.ids"); "*" matches any table key
    required: bool = False
    help: str = ""


@dataclass(frozen=True)
class Check:
    id: str
    title_en: str
    title_zh: str
    question: str
    legal_element: str
    expect: Literal["none", "some", "info"]
    # Chinese wording for the zh exhibit (optional header keys; a pack without them shows the English)
    question_zh: str = field(default="", kw_only=True)
    legal_element_zh: str = field(default="", kw_only=True)
    severity: str
    sources: tuple[str, ...]
    actions: tuple[str, ...]
    principals: str
    rows: Literal["events", "derived"]
    sql: str
    path: Path
    params: frozenset[str]  # named parameters the SQL uses
    roles: tuple[str, ...] = ()  # depends_on.roles; `sources` holds their sources once bound to a case
    bound: tuple[roles_mod.BoundRole, ...] = ()  # the roles as the case binds them (set by run_pack)

    @property
    def sql_sha256(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Pack:
    name: str
    version: str
    title_en: str
    title_zh: str
    description: str
    path: Path
    params: dict[str, Param]
    checks: tuple[Check, ...]
    completeness_check: str | None  # id of the check whose rows are the completeness problems
    roles: dict[str, roles_mod.Role] = field(default_factory=dict)

    def check(self, check_id: str) -> Check:
        for check in self.checks:
            if check.id == check_id:
                return check
        raise UsageError(f"pack {self.name} has no check {check_id!r}{_suggest(check_id, [c.id for c in self.checks])}")

    @property
    def fixtures_dir(self) -> Path:
        return self.path / "fixtures"

    def describe(self) -> str:
        """Plain text for `forensics packs show`: parameters, then each check with its question."""
        lines = [f"{self.name} {self.version}: {self.title_en} / {self.title_zh}", self.description, "", "parameters:"]
        for p in self.params.values():
            origin = f" (from case.toml {p.source})" if p.source else ""
            shown = "" if p.default is None else display_value(p.default).strip()
            default = f" [default {shown}]" if shown else ""  # an empty default is no default worth showing
            lines.append(f"  {p.name}: {p.type}{default}{origin} {p.help}".rstrip())
        if self.roles:
            lines += ["", "roles (bind them in case.toml [roles]; default sources in brackets):"]
            for r in self.roles.values():
                lines.append(f"  {r.name} ({r.title_en} / {r.title_zh}) [{', '.join(r.default)}]: {r.meaning}")
        lines += ["", "checks:"]
        for c in self.checks:
            lines.append(f"  {c.id} (expect {c.expect}, {c.severity}) {c.path.name}")
            if c.roles:
                lines.append(f"    roles: {', '.join(c.roles)}")
            lines.append(f"    {c.question}")
        return "\n".join(lines)


@dataclass(frozen=True)
class PackInfo:
    name: str
    version: str
    title_en: str
    title_zh: str
    description: str
    path: Path
    checks: tuple[str, ...]


# ---------------------------------------------------------------- finding locations


def _suggest(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""


def _line_of(text: str, needle: str) -> int:
    """1-based line of the first occurrence of needle (1 if absent): errors must name a line."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    return 1


# ---------------------------------------------------------------- locating packs


def builtin_pack_dirs() -> list[Path]:
    """Folders that hold the shipped packs: a source checkout or an installed wheel."""
    here = Path(__file__).resolve().parent
    candidates = [here / "_queries", here.parent / "queries"]
    return [c for c in candidates if c.is_dir()]


def user_pack_dirs() -> list[Path]:
    raw = os.environ.get(PACKS_PATH_ENV, "")
    return [Path(p) for p in raw.split(os.pathsep) if p and Path(p).is_dir()]


def _pack_dirs_by_name() -> dict[str, Path]:
    found: dict[str, Path] = {}
    # User folders first so a user can shadow a shipped pack deliberately.
    for root in [*user_pack_dirs(), *builtin_pack_dirs()]:
        for toml in sorted(root.glob("*/pack.toml")):
            found.setdefault(toml.parent.name, toml.parent)
    return found


def list_packs() -> list[PackInfo]:
    infos: list[PackInfo] = []
    for _name, folder in sorted(_pack_dirs_by_name().items()):
        pack = load_pack(str(folder))
        infos.append(
            PackInfo(
                pack.name,
                pack.version,
                pack.title_en,
                pack.title_zh,
                pack.description,
                pack.path,
                tuple(c.id for c in pack.checks),
            )
        )
    return infos


def load_pack(name_or_path: str) -> Pack:
    """Load and validate a pack by name (shipped or on $FORENSICS_PACKS_PATH) or by folder path."""
    candidate = Path(name_or_path)
    if (candidate / "pack.toml").is_file():
        return _load_pack_dir(candidate)
    if candidate.suffix == ".toml" and candidate.is_file():
        return _load_pack_dir(candidate.parent)
    by_name = _pack_dirs_by_name()
    if name_or_path in by_name:
        return _load_pack_dir(by_name[name_or_path])
    if os.sep in name_or_path or candidate.exists():
        raise UsageError(f"{name_or_path}: not a pack folder (no pack.toml in it)")
    raise UsageError(f"unknown pack {name_or_path!r}{_suggest(name_or_path, by_name)} (known: {', '.join(by_name)})")


# ---------------------------------------------------------------- pack.toml


def _load_pack_dir(folder: Path) -> Pack:
    toml_path = folder / "pack.toml"
    text = toml_path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ForensicsError(f"{toml_path}: {exc}") from exc
    for key in ("name", "version", "checks"):
        if key not in data:
            raise ForensicsError(f"{toml_path}:1: missing top-level key {key!r}")
    params = _parse_params(data.get("params", {}), toml_path, text)
    roles = roles_mod.parse_roles(data.get("roles", {}), f"{toml_path}:{_line_of(text, '[roles')}")
    checks = _load_checks(folder, data["checks"], params, toml_path, text, roles)
    completeness = data.get("completeness_check")
    if completeness is not None and completeness not in {c.id for c in checks}:
        raise ForensicsError(
            f"{toml_path}:{_line_of(text, 'completeness_check')}: completeness_check {completeness!r} is not a check"
        )
    missing = [p for p in REQUIRED_PARAMS if p not in params]
    if missing:
        raise ForensicsError(f"{toml_path}:1: the runner needs parameter(s) {', '.join(missing)}; declare them")
    return Pack(
        name=str(data["name"]),
        version=str(data["version"]),
        title_en=str(data.get("title_en", "")),
        title_zh=str(data.get("title_zh", "")),
        description=str(data.get("description", "")),
        path=folder.resolve(),
        params=params,
        checks=tuple(checks),
        completeness_check=completeness,
        roles=roles,
    )


def _parse_params(raw: Any, toml_path: Path, text: str) -> dict[str, Param]:
    if not isinstance(raw, dict):
        raise ForensicsError(f"{toml_path}:{_line_of(text, 'params')}: [params] must be a table of tables")
    params: dict[str, Param] = {}
    for name, spec in raw.items():
        line = _line_of(text, f"[params.{name}]")
        where = f"{toml_path}:{line}"
        if name in RUNNER_PARAMS:
            raise ForensicsError(f"{where}: parameter {name!r} is computed by the runner; do not declare it")
        if not isinstance(spec, dict):
            raise ForensicsError(f"{where}: [params.{name}] must be a table")
        unknown = set(spec) - {"type", "default", "from", "required", "help"}
        if unknown:
            key = sorted(unknown)[0]
            hint = _suggest(key, ["type", "default", "from", "required", "help"])
            raise ForensicsError(f"{where}: unknown key {key!r} in [params.{name}]{hint}")
        ptype = spec.get("type")
        if ptype not in PARAM_TYPES:
            raise ForensicsError(
                f"{where}: parameter {name} has type {ptype!r}{_suggest(str(ptype), PARAM_TYPES)} "
                f"(one of {', '.join(PARAM_TYPES)})"
            )
        param = Param(
            name=name,
            type=ptype,
            default=spec.get("default"),
            source=spec.get("from"),
            required=bool(spec.get("required", False)),
            help=str(spec.get("help", "")),
        )
        if param.default is not None:
            try:
                convert_value(param, param.default, "UTC")
            except UsageError as exc:
                raise ForensicsError(f"{where}: default of {name}: {exc}") from exc
        params[name] = param
    return params


def _load_checks(
    folder: Path,
    order: Any,
    params: dict[str, Param],
    toml_path: Path,
    text: str,
    roles: Mapping[str, roles_mod.Role] | None = None,
) -> list[Check]:
    if not isinstance(order, list) or not all(isinstance(c, str) for c in order):
        raise ForensicsError(f"{toml_path}:{_line_of(text, 'checks')}: checks must be a list of check ids")
    by_id: dict[str, Check] = {}
    for sql_path in sorted(folder.glob("*.sql")):
        if not _SQL_FILE.match(sql_path.name):
            raise ForensicsError(f"{sql_path}:1: check files are named NN_slug.sql (two digits, lowercase slug)")
        check = parse_check(sql_path, params, roles)
        if check.id in by_id:
            raise ForensicsError(f"{sql_path}:1: duplicate check id {check.id!r} (also in {by_id[check.id].path.name})")
        by_id[check.id] = check
    for check_id in order:
        if check_id not in by_id:
            raise ForensicsError(
                f"{toml_path}:{_line_of(text, check_id)}: check {check_id!r} has no SQL file{_suggest(check_id, by_id)}"
            )
    for check_id, check in by_id.items():
        if check_id not in order:
            raise ForensicsError(f"{check.path}:1: check {check_id!r} is not listed in {toml_path.name} checks")
    return [by_id[c] for c in order]


# ---------------------------------------------------------------- SQL files


def parse_header(path: Path, text: str) -> tuple[dict[str, str], int]:
    """Read the leading `-- key: value` lines; return the header and the line where SQL starts."""
    header: dict[str, str] = {}
    last_key: str | None = None
    lines = text.splitlines()
    body_start = len(lines) + 1
    for number, line in enumerate(lines, start=1):
        if not line.startswith("--"):
            body_start = number
            break
        cont = _CONTINUATION.match(line)
        if cont and last_key is not None:
            header[last_key] += " " + cont.group("value").strip()
            continue
        match = _HEADER_LINE.match(line)
        if match is None:
            if line.strip("- ") == "":
                continue
            raise ForensicsError(f"{path}:{number}: header lines are '-- key: value' (got {line!r})")
        key = match.group("key")
        if key not in HEADER_KEYS:
            raise ForensicsError(f"{path}:{number}: unknown header key {key!r}{_suggest(key, HEADER_KEYS)}")
        if key in header:
            raise ForensicsError(f"{path}:{number}: header key {key!r} given twice")
        header[key] = match.group("value").strip()
        last_key = key
    for key in HEADER_KEYS:
        if key not in header and key not in OPTIONAL_HEADER_KEYS:
            raise ForensicsError(f"{path}:1: header is missing '-- {key}: ...'")
    return header, body_start


def _split_list(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def _validate_header(path: Path, text: str, header: dict[str, str]) -> None:
    def fail(key: str, message: str) -> ForensicsError:
        return ForensicsError(f"{path}:{_line_of(text, f'-- {key}:')}: {message}")

    if not re.fullmatch(r"[a-z][a-z0-9-]*", header["id"]):
        raise fail("id", f"check id {header['id']!r} must be lowercase words joined by '-'")
    if header["expect"] not in EXPECTS:
        raise fail("expect", f"expect is {header['expect']!r}{_suggest(header['expect'], EXPECTS)} (none|some|info)")
    if header["severity"] not in SEVERITIES:
        raise fail("severity", f"severity {header['severity']!r}{_suggest(header['severity'], SEVERITIES)}")
    rows = header.get("rows", "events")
    if rows not in ROW_KINDS:
        raise fail("rows", f"rows is {rows!r} (events|derived)")
    for action in _split_list(header["depends_on.actions"]):
        if action not in ACTIONS:
            raise fail("depends_on.actions", f"unknown action {action!r}{_suggest(action, ACTIONS)}")
    given = [k for k in ("depends_on.roles", "depends_on.sources") if k in header]
    if len(given) != 1:
        message = "give exactly one of '-- depends_on.roles: ...' and '-- depends_on.sources: ...'"
        raise ForensicsError(f"{path}:{_line_of(text, '-- depends_on.') if given else 1}: {message}")
    if header["expect"] == "none" and not _split_list(header[given[0]]):
        raise fail(given[0], "a check that expects none must name the roles (or sources) it depends on")


def _check_roles(path: Path, text: str, header: dict[str, str], roles: Mapping[str, roles_mod.Role]) -> tuple[str, ...]:
    names = _split_list(header.get("depends_on.roles", ""))
    for name in names:
        if name not in roles:
            raise ForensicsError(
                f"{path}:{_line_of(text, '-- depends_on.roles:')}: role {name!r} is not declared in pack.toml [roles]"
                f"{_suggest(name, roles)}"
            )
    return names


def _validate_sql(
    path: Path, text: str, body: str, params: Mapping[str, Param], role_params: Sequence[str] = ()
) -> frozenset[str]:
    con = duckdb.connect()
    try:
        statements = con.extract_statements(body)
    except duckdb.Error as exc:
        raise ForensicsError(f"{path}: SQL does not parse: {exc}") from exc
    finally:
        con.close()
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        raise ForensicsError(f"{path}:1: a check is exactly one SELECT statement (found {len(statements)} statements)")
    used = frozenset(statements[0].named_parameters)
    for name in sorted(used):
        if name not in params and name not in RUNNER_PARAMS and name not in role_params:
            known = [*params, *RUNNER_PARAMS, *role_params]
            raise ForensicsError(
                f"{path}:{_line_of(text, '$' + name)}: parameter ${name} is not declared in pack.toml"
                f"{_suggest(name, known)}"
            )
    return used


def parse_check(path: Path, params: Mapping[str, Param], roles: Mapping[str, roles_mod.Role] | None = None) -> Check:
    text = path.read_text(encoding="utf-8")
    header, body_start = parse_header(path, text)
    _validate_header(path, text, header)
    declared = roles or {}
    role_names = _check_roles(path, text, header, declared)
    body = "\n".join(text.splitlines()[body_start - 1 :])
    if not body.strip():
        raise ForensicsError(f"{path}:{body_start}: no SQL after the header")
    used = _validate_sql(path, text, body, params, [r.param for r in declared.values()])
    # Until a case binds them, a check's sources are its roles' default sources.
    defaults = {
        n: roles_mod.BoundRole(n, r.title_en, r.title_zh, r.default, "pack default") for n, r in declared.items()
    }
    sources = (
        roles_mod.sources_of(role_names, defaults) if role_names else _split_list(header.get("depends_on.sources", ""))
    )
    return Check(
        id=header["id"],
        title_en=header["title_en"],
        title_zh=header["title_zh"],
        question=header["question"],
        legal_element=header["legal_element"],
        question_zh=header.get("question_zh", ""),
        legal_element_zh=header.get("legal_element_zh", ""),
        expect=header["expect"],  # type: ignore[arg-type]  # validated above
        severity=header["severity"],
        sources=sources,
        actions=_split_list(header["depends_on.actions"]),
        principals=header.get("principals", "any principal"),
        rows=header.get("rows", "events"),  # type: ignore[arg-type]  # validated above
        sql=text,
        path=path.resolve(),
        params=used,
        roles=role_names,
    )


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
            hint = _suggest(name, pack.params)
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


def display_value(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


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
        raise UsageError(f"no check {check_id!r} in this result{_suggest(check_id, [c.check.id for c in self.checks])}")

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


# ---------------------------------------------------------------- running


def _bind(check: Check, values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: values[name] for name in check.params}


_TIMEOUT_HINT = (
    "(FORENSICS_TIMEOUT, default 600); nothing was recorded: raise the limit or make the check cheaper"
)


def execute_check(con: Engine | duckdb.DuckDBPyConnection, check: Check, values: Mapping[str, Any]) -> CheckRun:
    started = clock_time.perf_counter()
    engine = as_engine(con)
    try:
        with engine.timeout(timeout_seconds(), f"{check.path}: check {check.id}", _TIMEOUT_HINT):
            rel = engine.execute(check.sql, _bind(check, values))
            columns = [d[0] for d in rel.description or []]
            raw_rows = rel.fetchall()
    except QUERY_ERRORS as exc:
        where = "DuckDB" if engine.name == "duckdb" else engine.name.capitalize()
        raise ForensicsError(f"{check.path}: check {check.id} failed in {where}: {exc}") from exc
    if check.rows == "events":
        missing = [c for c in PROVENANCE if c not in columns]
        if missing:
            raise ForensicsError(
                f"{check.path}:1: check {check.id} returns events but not the provenance column(s) "
                f"{', '.join(missing)}; select them (or declare '-- rows: derived')"
            )
    rows = [[json_safe(v) for v in row] for row in raw_rows]
    if check.rows == "events":  # one event is one finding, however many inputs hold a copy of it
        from forensics.duplicates import collapse_copies
        from forensics.verdicts import input_paths

        columns, rows = collapse_copies(columns, rows, input_paths(engine))
    return CheckRun(check, columns, rows, clock_time.perf_counter() - started)


def expected_nodes(config: Mapping[str, Any]) -> list[str]:
    """'source/node' for each node case.toml says a source has: a node that wrote nothing is a defect."""
    sources = (config.get("completeness", {}) or {}).get("sources", {}) or {}
    out: list[str] = []
    for source, spec in sources.items():
        nodes = spec.get("nodes", []) if isinstance(spec, dict) else []
        if not isinstance(nodes, list) or not all(isinstance(n, str) for n in nodes):
            raise ForensicsError(f"case.toml [completeness.sources.{source}] nodes: must be a list of node names")
        out.extend(f"{source}/{node}" for node in nodes)
    return out


def _source_file(pack: Pack, check: Check) -> str:
    return f"queries/{pack.path.name}/{check.path.name}"


def run_pack(
    case: Case,
    pack: str | Pack | None = None,
    params: Mapping[str, str] | None = None,
    engine: Engine | None = None,
) -> PackResult:
    """Run every check of a pack on the case and decide each verdict (see forensics.verdicts).

    `engine` (forensics.engines.base.open_engine) is where the SQL runs; DuckDB over Case.connect() by
    default. The runner closes it."""
    from forensics import completeness as completeness_mod
    from forensics import exposure as exposure_mod
    from forensics import verdicts

    loaded = pack if isinstance(pack, Pack) else load_pack(pack or DEFAULT_PACK)
    config = case.config
    values = resolve_params(loaded, config, params or {})
    channels = exposure_mod.channels_from_config(config)  # a bad exposure map fails before any query runs
    timings: dict[str, float] = {}
    con = engine if engine is not None else DuckDBEngine(case.connect())
    try:
        bound_roles = roles_mod.bind_roles(loaded.roles, config, case_sources(con))
        loaded = bind_pack(loaded, bound_roles)
        # A role without a source in the case is reported as such, not as a missing source (a gap).
        usable = {s for b in bound_roles.values() if not b.problem for s in b.sources}
        expected_sources = sorted({s for c in loaded.checks for s in c.sources if not c.roles or s in usable})
        clock = clock_time.perf_counter()
        skew = verdicts.measure_skew(con, values["window_start"], values["window_end"], values["max_clock_skew"])
        window = verdicts.pad_window(
            values["window_start"], values["window_end"], str(values["tz"]), skew, values["max_clock_skew"]
        )
        timings["skew"] = clock_time.perf_counter() - clock
        bound = {
            **values,
            "padded_start": window.padded_start,
            "padded_end": window.padded_end,
            "skew_seconds": window.skew_seconds,
            "expected_sources": expected_sources,
            "expected_nodes": expected_nodes(config),
            "heartbeat_nodes": completeness_mod.heartbeat_nodes(config),  # not a SQL parameter: read in Python
            "heartbeat_sources": roles_mod.heartbeat_sources(loaded.roles, bound_roles, values.get("heartbeat_source")),
            **roles_mod.role_params(bound_roles),
        }
        runs = [execute_check(con, check, bound) for check in loaded.checks]
        clock = clock_time.perf_counter()
        problems = next((r for r in runs if r.check.id == loaded.completeness_check), None)
        completeness = verdicts.assess_completeness(con, window, expected_sources, skew, problems, bound)
        timings["completeness_figures"] = clock_time.perf_counter() - clock
        clock = clock_time.perf_counter()
        controls = verdicts.count_controls(con, window, loaded.checks)
        timings["controls"] = clock_time.perf_counter() - clock
        paths = verdicts.input_paths(con)
        presence = verdicts.count_presence(con, bound)
    finally:
        con.close()
    results: list[CheckResult] = []
    exposures: list[exposure_mod.ChannelExposure] = []
    for run in runs:
        if run.check.id == "field-exposure":
            exposures = exposure_mod.attribute_from_config(config, channels, runs)  # every check's rows count
        decision = verdicts.decide(
            run,
            completeness,
            controls,
            window,
            bound,
            is_completeness=run.check.id == loaded.completeness_check,
            input_paths=paths,
            exposures=exposures if run.check.id == "field-exposure" else None,
            presence=presence,
        )
        decision = _role_decision(run.check, decision, bound_roles)
        source_file = _source_file(loaded, run.check)
        results.append(
            CheckResult(run, decision.verdict, decision.reason, decision.scope, source_file, decision.facts)
        )
    notes = roles_mod.role_notes(bound_roles, {r for c in loaded.checks for r in c.roles})
    return PackResult(
        loaded,
        values,
        window,
        results,
        completeness,
        exposures,
        timings,
        presence.warnings(),
        role_notes=notes,
        engine=con.name,
        source=con.source(),
    )


def case_sources(con: Executes) -> list[str]:
    """The sources that have events in the case (what a role can be bound to)."""
    try:
        return sorted(str(s) for (s,) in con.execute("SELECT DISTINCT source FROM events").fetchall())
    except QUERY_ERRORS as exc:
        raise ForensicsError(f"listing the case's sources failed: {exc}") from exc


def bind_pack(pack: Pack, bound: Mapping[str, roles_mod.BoundRole]) -> Pack:
    """The pack with each check's roles resolved to this case's sources (absent roles dropped)."""
    import dataclasses

    checks = tuple(
        dataclasses.replace(c, sources=roles_mod.sources_of(c.roles, bound), bound=tuple(bound[r] for r in c.roles))
        if c.roles
        else c
        for c in pack.checks
    )
    return dataclasses.replace(pack, checks=checks)


def _role_decision(check: Check, decision: Any, bound: Mapping[str, roles_mod.BoundRole]) -> Any:
    """A role with no source in the case makes a negative answer unprovable: say which role, not a gap."""
    from forensics.verdicts import Decision

    problems = roles_mod.problems_for(check.roles, bound)
    if not problems or decision.verdict in {"flagged", "found", "info"}:
        return decision
    text = "; ".join(problems)
    if check.expect == "some":
        return Decision(decision.verdict, f"{decision.reason} {text}.", decision.scope, facts=decision.facts)
    unbound = [{"kind": "unbound_role", "role": r, "bound": list(bound[r].sources)} for r in check.roles]
    facts = {"kind": "not_proven", "n": len(problems), "sources": list(check.sources), "roles": list(check.roles),
             "reasons": [u for u in unbound if bound[str(u["role"])].problem]}  # fmt: skip
    return Decision("inconclusive", f"No rows, but absence is not proven: {text}.", None, facts=facts)


# ---------------------------------------------------------------- fixtures (packs test)


@dataclass(frozen=True)
class FixtureResult:
    fixture: str
    check_id: str
    expected_verdict: str
    verdict: str
    expected_rows: int | None
    rows: int
    reason: str

    @property
    def ok(self) -> bool:
        rows_ok = self.expected_rows is None or self.expected_rows == self.rows
        return self.verdict == self.expected_verdict and rows_ok

    @property
    def detail(self) -> str:
        rows = "" if self.expected_rows is None else f", rows {self.rows} (expected {self.expected_rows})"
        return f"verdict {self.verdict} (expected {self.expected_verdict}){rows}: {self.reason}"


def _expand_fixture_line(record: dict[str, Any], line_no: int, where: str) -> list[dict[str, Any]]:
    """A fixture line is one canonical event, or a '$every' template repeated over a time range.

    Templates keep fixtures small: a day of per-minute heartbeats is one line.
    """
    record.setdefault("line_no", line_no)
    if "$every" not in record:
        return [record]
    try:
        step = timedelta(seconds=parse_duration(record.pop("$every")))
        start = parse_timestamp(record.pop("$from"), "UTC")
        end = parse_timestamp(record.pop("$to"), "UTC")
    except (KeyError, UsageError) as exc:
        raise ForensicsError(f"{where}: '$every' needs '$from' and '$to' times ({exc})") from exc
    seq = record.pop("$seq_from", None)
    out: list[dict[str, Any]] = []
    moment, k = start, 0
    while moment < end:
        event = dict(record, ts=moment.isoformat(), line_no=line_no * 100_000 + k)
        if seq is not None:
            event["seq"] = int(seq) + k
        out.append(event)
        moment, k = moment + step, k + 1
    return out


def read_fixture_events(path: Path) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ForensicsError(f"{path}:{number}: not a JSON object: {exc.msg}") from exc
        if not isinstance(record, dict):
            raise ForensicsError(f"{path}:{number}: each line is one JSON object (a canonical event)")
        events.extend(_expand_fixture_line(record, number, f"{path}:{number}"))
    return events


def materialize_case(root: Path, events: list[dict[str, Any]], case_toml: str, default_sha: str) -> Case:
    """Write canonical events as a case folder (hive-partitioned Parquet) so checks run on the real path."""
    import polars as pl
    import pyarrow.parquet as pq

    from forensics.custody import row_digests
    from forensics.schema import EVENT_COLUMNS, EVENT_SCHEMA
    from forensics.store import conform_events

    root.mkdir(parents=True, exist_ok=True)
    (root / "case.toml").write_text(case_toml, encoding="utf-8")
    for sub in ("events", "quarantine"):
        (root / sub).mkdir(exist_ok=True)
    outputs: list[dict[str, Any]] = []  # Case.connect reads only the files a manifest lists
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for event in events:
        groups.setdefault((str(event.get("source", "")), str(event.get("src_sha256", default_sha))), []).append(event)
    for part, ((source, sha), rows) in enumerate(sorted(groups.items())):
        frame = _fixture_frame(rows)
        conformed = conform_events(frame, source, sha)
        conformed = conformed.with_columns(row_digests(conformed.drop("row_digest")).alias("row_digest"))
        dated = conformed.with_columns(pl.col("ts").dt.date().cast(pl.String).alias("_date"))
        for (day,), chunk in dated.group_by("_date", maintain_order=True):
            target = root / "events" / f"source={source}" / f"date={day}" / f"fixture-{part:04d}.parquet"
            target.parent.mkdir(parents=True, exist_ok=True)
            table = chunk.drop("_date").select(EVENT_COLUMNS).to_arrow().cast(EVENT_SCHEMA)
            pq.write_table(table, target)
            rel = target.relative_to(root).as_posix()
            outputs.append({"path": rel, "kind": "events", "rows": chunk.height, "input_sha256": sha})
    from forensics.seal import write_manifest

    write_manifest(Case(root), {"inputs": [], "outputs": outputs})
    return Case(root)


def _fixture_frame(rows: list[dict[str, Any]]) -> Any:
    import polars as pl

    from forensics.schema import EVENT_SCHEMA

    target = pl.from_arrow(EVENT_SCHEMA.empty_table())
    assert isinstance(target, pl.DataFrame)
    columns: dict[str, list[Any]] = {name: [] for name in target.columns if name not in ("source", "src_sha256")}
    for row in rows:
        unknown = set(row) - set(target.columns)
        if unknown:
            name = sorted(unknown)[0]
            raise ForensicsError(f"fixture event has unknown column {name!r}{_suggest(name, target.columns)}")
        for name in columns:
            value = row.get(name)
            if name == "ts":
                value = parse_timestamp(value, "UTC")
            columns[name].append(value)
    if "row_digest" in columns:
        columns["row_digest"] = ["" for _ in rows]
    columns["byte_offset"] = [v if v is not None else 0 for v in columns["byte_offset"]]
    columns["outcome"] = [v if v is not None else "success" for v in columns["outcome"]]
    schema = {name: dtype for name, dtype in target.schema.items() if name in columns}
    return pl.DataFrame(columns, schema=schema)


def _fixture_expectations(folder: Path) -> tuple[list[dict[str, Any]], dict[str, str]]:
    path = folder / "expect.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ForensicsError(f"{folder}: fixture has no expect.toml") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ForensicsError(f"{path}: {exc}") from exc
    expects = data.get("expect", [])
    if not isinstance(expects, list) or not expects:
        raise ForensicsError(f"{path}:1: give at least one [[expect]] table with check, verdict and rows")
    params = {str(k): str(v) for k, v in data.get("params", {}).items()}
    return expects, params


def run_fixture(pack: Pack, folder: Path) -> tuple[PackResult, list[FixtureResult]]:
    expects, params = _fixture_expectations(folder)
    events_path = folder / "events.jsonl"
    events = read_fixture_events(events_path)
    sha = hashlib.sha256(events_path.read_bytes()).hexdigest()
    case_toml = (folder / "case.toml").read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="forensics-fixture-") as tmp:
        case = materialize_case(Path(tmp) / "case", events, case_toml, sha)
        result = run_pack(case, pack, params)
    out: list[FixtureResult] = []
    for exp in expects:
        got = result.check(str(exp["check"]))
        out.append(
            FixtureResult(
                fixture=folder.name,
                check_id=got.check.id,
                expected_verdict=str(exp["verdict"]),
                verdict=got.verdict,
                expected_rows=int(exp["rows"]) if "rows" in exp else None,
                rows=len(got.run.rows),
                reason=got.reason,
            )
        )
    return result, out


def fixture_dirs(pack: Pack) -> list[Path]:
    if not pack.fixtures_dir.is_dir():
        return []
    return sorted(p for p in pack.fixtures_dir.iterdir() if (p / "events.jsonl").is_file())


def test_pack(pack: Pack) -> list[FixtureResult]:
    """Run each fixture of the pack (a small canonical-event case) and compare verdicts and row counts."""
    results: list[FixtureResult] = []
    for folder in fixture_dirs(pack):
        results.extend(run_fixture(pack, folder)[1])
    return results


test_pack.__test__ = False  # type: ignore[attr-defined]  # a library function, not a pytest test
