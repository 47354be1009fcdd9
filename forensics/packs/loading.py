"""Finding and loading packs: pack folders, pack.toml, and the SQL files' headers, all validated with file:line.

Packs come from the installed package (``queries/`` next to ``forensics/``, or ``forensics/_queries`` in a
wheel), from folders listed in ``$FORENSICS_PACKS_PATH`` and from any folder given as a path.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb

from forensics import roles as roles_mod
from forensics.errors import ForensicsError, UsageError
from forensics.packs.model import (
    EXPECTS,
    HEADER_KEYS,
    OPTIONAL_HEADER_KEYS,
    PACKS_PATH_ENV,
    PARAM_TYPES,
    REQUIRED_PARAMS,
    ROW_KINDS,
    RUNNER_PARAMS,
    SEVERITIES,
    Check,
    Pack,
    PackInfo,
    Param,
    line_of,
    suggest,
)
from forensics.packs.params import convert_value
from forensics.schema import ACTIONS

_HEADER_LINE = re.compile(r"^--\s?(?P<key>[a-z_.]+):\s*(?P<value>.*)$")
_CONTINUATION = re.compile(r"^--\s{2,}(?P<value>\S.*)$")
_SQL_FILE = re.compile(r"^\d{2}_[a-z0-9_]+\.sql$")


# ---------------------------------------------------------------- locating packs


def builtin_pack_dirs() -> list[Path]:
    """Folders that hold the shipped packs: a source checkout or an installed wheel."""
    package = Path(__file__).resolve().parent.parent  # forensics/ (this file is forensics/packs/loading.py)
    candidates = [package / "_queries", package.parent / "queries"]
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
    raise UsageError(f"unknown pack {name_or_path!r}{suggest(name_or_path, by_name)} (known: {', '.join(by_name)})")


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
    roles = roles_mod.parse_roles(data.get("roles", {}), f"{toml_path}:{line_of(text, '[roles')}")
    checks = _load_checks(folder, data["checks"], params, toml_path, text, roles)
    completeness = data.get("completeness_check")
    if completeness is not None and completeness not in {c.id for c in checks}:
        raise ForensicsError(
            f"{toml_path}:{line_of(text, 'completeness_check')}: completeness_check {completeness!r} is not a check"
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
        raise ForensicsError(f"{toml_path}:{line_of(text, 'params')}: [params] must be a table of tables")
    params: dict[str, Param] = {}
    for name, spec in raw.items():
        line = line_of(text, f"[params.{name}]")
        where = f"{toml_path}:{line}"
        if name in RUNNER_PARAMS:
            raise ForensicsError(f"{where}: parameter {name!r} is computed by the runner; do not declare it")
        if not isinstance(spec, dict):
            raise ForensicsError(f"{where}: [params.{name}] must be a table")
        unknown = set(spec) - {"type", "default", "from", "required", "help"}
        if unknown:
            key = sorted(unknown)[0]
            hint = suggest(key, ["type", "default", "from", "required", "help"])
            raise ForensicsError(f"{where}: unknown key {key!r} in [params.{name}]{hint}")
        ptype = spec.get("type")
        if ptype not in PARAM_TYPES:
            raise ForensicsError(
                f"{where}: parameter {name} has type {ptype!r}{suggest(str(ptype), PARAM_TYPES)} "
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
        raise ForensicsError(f"{toml_path}:{line_of(text, 'checks')}: checks must be a list of check ids")
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
                f"{toml_path}:{line_of(text, check_id)}: check {check_id!r} has no SQL file{suggest(check_id, by_id)}"
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
            raise ForensicsError(f"{path}:{number}: unknown header key {key!r}{suggest(key, HEADER_KEYS)}")
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
        return ForensicsError(f"{path}:{line_of(text, f'-- {key}:')}: {message}")

    if not re.fullmatch(r"[a-z][a-z0-9-]*", header["id"]):
        raise fail("id", f"check id {header['id']!r} must be lowercase words joined by '-'")
    if header["expect"] not in EXPECTS:
        raise fail("expect", f"expect is {header['expect']!r}{suggest(header['expect'], EXPECTS)} (none|some|info)")
    if header["severity"] not in SEVERITIES:
        raise fail("severity", f"severity {header['severity']!r}{suggest(header['severity'], SEVERITIES)}")
    rows = header.get("rows", "events")
    if rows not in ROW_KINDS:
        raise fail("rows", f"rows is {rows!r} (events|derived)")
    for action in _split_list(header["depends_on.actions"]):
        if action not in ACTIONS:
            raise fail("depends_on.actions", f"unknown action {action!r}{suggest(action, ACTIONS)}")
    given = [k for k in ("depends_on.roles", "depends_on.sources") if k in header]
    if len(given) != 1:
        message = "give exactly one of '-- depends_on.roles: ...' and '-- depends_on.sources: ...'"
        raise ForensicsError(f"{path}:{line_of(text, '-- depends_on.') if given else 1}: {message}")
    if header["expect"] == "none" and not _split_list(header[given[0]]):
        raise fail(given[0], "a check that expects none must name the roles (or sources) it depends on")


def _check_roles(path: Path, text: str, header: dict[str, str], roles: Mapping[str, roles_mod.Role]) -> tuple[str, ...]:
    names = _split_list(header.get("depends_on.roles", ""))
    for name in names:
        if name not in roles:
            raise ForensicsError(
                f"{path}:{line_of(text, '-- depends_on.roles:')}: role {name!r} is not declared in pack.toml [roles]"
                f"{suggest(name, roles)}"
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
                f"{path}:{line_of(text, '$' + name)}: parameter ${name} is not declared in pack.toml"
                f"{suggest(name, known)}"
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
