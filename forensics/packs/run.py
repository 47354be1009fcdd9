"""Running a pack on a case: each check's SQL on an engine, then the verdicts (forensics.verdicts).

This is the top of the pack layers: it imports verdicts, exposure and completeness, which import only the
lower modules (model, results), so nothing imports back.
"""

from __future__ import annotations

import dataclasses
import time as clock_time
from collections.abc import Mapping
from typing import Any

import duckdb

from forensics import completeness as completeness_mod
from forensics import exposure as exposure_mod
from forensics import roles as roles_mod
from forensics import verdicts
from forensics.case import Case
from forensics.duplicates import collapse_copies
from forensics.engines.base import QUERY_ERRORS, DuckDBEngine, Engine, Executes, as_engine
from forensics.errors import ForensicsError
from forensics.limits import timeout_seconds
from forensics.packs.loading import load_pack
from forensics.packs.model import DEFAULT_PACK, PROVENANCE, Check, Pack
from forensics.packs.params import resolve_params
from forensics.packs.results import CheckResult, CheckRun, PackResult, json_safe
from forensics.verdicts import Decision, input_paths

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
    checks = tuple(
        dataclasses.replace(c, sources=roles_mod.sources_of(c.roles, bound), bound=tuple(bound[r] for r in c.roles))
        if c.roles
        else c
        for c in pack.checks
    )
    return dataclasses.replace(pack, checks=checks)


def _role_decision(check: Check, decision: Any, bound: Mapping[str, roles_mod.BoundRole]) -> Any:
    """A role with no source in the case makes a negative answer unprovable: say which role, not a gap."""
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
