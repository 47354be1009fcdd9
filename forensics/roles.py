"""Roles: what a check depends on, named by purpose, bound per case to that platform's own sources.

A pack declares its roles in pack.toml (``[roles.back_office]`` with a one-line ``meaning``, display names
``title_en``/``title_zh`` and the ``default`` sources of the sample platform); a check header says
``-- depends_on.roles: back_office, open_api``. A case binds each role to the sources its platform has::

    [roles]
    back_office = ["admin_audit", "admin_audit_v2"]   # one role, two sources
    absent = ["open_api"]                              # this platform has no open API: not a gap

A role the case does not bind keeps the pack's default sources. A role whose sources have no event in the case
is *unbound*: every check that needs it is INCONCLUSIVE and says which role, and which sources the case has.
A role declared absent is dropped from the checks that depend on it, and their scope says so.

This module imports nothing from packs/verdicts (the dependency runs packs -> roles).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from forensics.errors import ForensicsError, UsageError

ABSENT_KEY = "absent"
ROLE_KEYS: tuple[str, ...] = ("meaning", "title_en", "title_zh", "default", "heartbeats")


@dataclass(frozen=True)
class Role:
    name: str
    meaning: str
    title_en: str
    title_zh: str
    default: tuple[str, ...]
    heartbeats: bool = False  # its sources' system.heartbeat events are per-node continuity evidence

    @property
    def param(self) -> str:
        """The SQL parameter that lists the role's bound sources ($back_office_sources)."""
        return f"{self.name}_sources"


@dataclass(frozen=True)
class BoundRole:
    """One role as a case binds it: its sources, where the binding came from, and whether it is usable."""

    role: str
    title_en: str
    title_zh: str
    sources: tuple[str, ...]
    origin: str  # "case.toml" or "pack default"
    absent: bool = False
    problem: str | None = None  # set when no bound source has any event in the case

    def display(self, lang: str = "en") -> str:
        """'back office (admin_audit)' / '商家后台 (admin_audit)': what the scope of a verdict names."""
        title = (self.title_zh if lang == "zh" else self.title_en) or self.role
        if self.absent:
            return f"{title} (declared absent in case.toml)" if lang != "zh" else f"{title}（案件声明不存在）"
        return f"{title} ({', '.join(self.sources)})" if self.sources else title

    def to_json(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "title_en": self.title_en,
            "title_zh": self.title_zh,
            "sources": list(self.sources),
            "origin": self.origin,
            "absent": self.absent,
            "problem": self.problem,
        }


def _suggest(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""


def _source_list(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ForensicsError(f"{where}: must be a list of source names")
    return tuple(value)


def parse_roles(raw: Any, where: str) -> dict[str, Role]:
    """The [roles.*] tables of pack.toml."""
    if not isinstance(raw, dict):
        raise ForensicsError(f"{where}: [roles] must be a table of tables")
    roles: dict[str, Role] = {}
    for name, spec in raw.items():
        here = f"{where} [roles.{name}]"
        if name == ABSENT_KEY or not name.replace("_", "a").isalnum() or not name[:1].isalpha():
            raise ForensicsError(f"{here}: a role name is lowercase letters, digits and '_' (and not {ABSENT_KEY!r})")
        if not isinstance(spec, dict):
            raise ForensicsError(f"{here}: must be a table")
        unknown = sorted(set(spec) - set(ROLE_KEYS))
        if unknown:
            raise ForensicsError(f"{here}: unknown key {unknown[0]!r}{_suggest(unknown[0], ROLE_KEYS)}")
        if not str(spec.get("meaning", "")).strip():
            raise ForensicsError(f"{here}: give the role a one-line meaning")
        roles[name] = Role(
            name=name,
            meaning=str(spec["meaning"]).strip(),
            title_en=str(spec.get("title_en", name)),
            title_zh=str(spec.get("title_zh", "")),
            default=_source_list(spec.get("default", []), f"{here} default"),
            heartbeats=bool(spec.get("heartbeats", False)),
        )
    return roles


def case_bindings(roles: Mapping[str, Role], config: Mapping[str, Any]) -> tuple[dict[str, tuple[str, ...]], set[str]]:
    """case.toml [roles]: explicit bindings and the roles declared absent, validated against the pack's roles."""
    raw = config.get("roles", {}) or {}
    if not isinstance(raw, dict):
        raise UsageError('case.toml [roles]: must be a table (role = ["source", ...])')
    absent_raw = raw.get(ABSENT_KEY, [])
    absent = set(_source_list(absent_raw, "case.toml [roles] absent")) if absent_raw else set()
    explicit: dict[str, tuple[str, ...]] = {}
    for name, value in raw.items():
        if name == ABSENT_KEY:
            continue
        if name not in roles:
            raise UsageError(
                f"case.toml [roles]: unknown role {name!r}{_suggest(name, roles)} "
                f"(the pack's roles: {', '.join(roles)})"
            )
        explicit[name] = () if value == [] else _source_list(value, f"case.toml [roles] {name}")
    for name in sorted(absent):
        if name not in roles:
            raise UsageError(f"case.toml [roles] absent: unknown role {name!r}{_suggest(name, roles)}")
        if explicit.get(name):
            raise UsageError(f"case.toml [roles]: role {name} is both bound to sources and declared absent")
    return explicit, absent


def bind_roles(roles: Mapping[str, Role], config: Mapping[str, Any], present: Sequence[str]) -> dict[str, BoundRole]:
    """Each role with its case sources; a role none of whose sources has events carries a problem sentence."""
    explicit, absent = case_bindings(roles, config)
    have = sorted(set(present))
    listing = ", ".join(have) if have else "none"
    out: dict[str, BoundRole] = {}
    for name, role in roles.items():
        if name in absent:
            out[name] = BoundRole(name, role.title_en, role.title_zh, (), "case.toml", absent=True)
            continue
        sources = explicit.get(name, role.default)
        origin = "case.toml" if name in explicit else "pack default"
        problem = None
        if not sources:
            problem = f"role {name}: no source bound; sources in this case: {listing} — set [roles] in case.toml"
        elif not set(sources) & set(have):
            bound = ", ".join(sources)
            problem = (
                f"role {name}: no source bound (bound to {bound} by the {origin}, which has no event in this case); "
                f"sources in this case: {listing} — set [roles] in case.toml"
            )
        out[name] = BoundRole(name, role.title_en, role.title_zh, sources, origin, problem=problem)
    return out


def sources_of(role_names: Sequence[str], bound: Mapping[str, BoundRole]) -> tuple[str, ...]:
    """The sources of the given roles, in role order, without duplicates (absent roles contribute none)."""
    out: list[str] = []
    for name in role_names:
        for source in bound[name].sources:
            if source not in out:
                out.append(source)
    return tuple(out)


def role_params(bound: Mapping[str, BoundRole]) -> dict[str, list[str]]:
    """$<role>_sources for every role: SQL that needs a role's sources gets them bound, never formatted in."""
    return {f"{name}_sources": list(b.sources) for name, b in bound.items()}


def heartbeat_sources(roles: Mapping[str, Role], bound: Mapping[str, BoundRole], override: Any) -> list[str]:
    """Sources whose heartbeats count: case.toml completeness.heartbeat_source if set, else the heartbeat roles."""
    if override:
        return [str(v) for v in (override if isinstance(override, list) else [override])]
    return [s for name, role in roles.items() if role.heartbeats for s in bound[name].sources]


def problems_for(role_names: Sequence[str], bound: Mapping[str, BoundRole]) -> list[str]:
    return [p for p in (bound[name].problem for name in role_names) if p]


def role_notes(bound: Mapping[str, BoundRole], used: Iterable[str]) -> list[str]:
    """One line per role some check uses that has no source with events: printed before the check table."""
    wanted = set(used)
    return [b.problem for name, b in bound.items() if name in wanted and b.problem]
