"""The pack model: parameters, checks and packs as loaded, and the names the pack format reserves.

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

This module is the bottom of forensics.packs: it imports no other part of the package, and verdicts/exposure may
import it (the dependency runs run -> verdicts -> model, never back).
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from forensics import roles as roles_mod
from forensics.errors import UsageError

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
        raise UsageError(f"pack {self.name} has no check {check_id!r}{suggest(check_id, [c.id for c in self.checks])}")

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


def suggest(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""


def line_of(text: str, needle: str) -> int:
    """1-based line of the first occurrence of needle (1 if absent): errors must name a line."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    return 1


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
