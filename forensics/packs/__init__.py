"""Query packs: load, validate and run them; turn their rows into verdicts.

One module per job, lowest first: ``model`` (Param, Check, Pack and the reserved names), ``params`` (parameter
values), ``loading`` (pack folders, pack.toml, SQL headers), ``results`` (JSON-safe rows, result_sha256, the result
objects), ``run`` (execute_check, run_pack: imports verdicts/exposure/completeness) and ``fixtures`` (`packs test`).
forensics.verdicts and forensics.exposure import model/results only, so nothing imports back into run.

This package is a facade for callers outside it: ``from forensics.packs import run_pack`` keeps working. The names
load on first use (PEP 562) so that importing ``forensics.packs.model`` (as verdicts does) does not import ``run``,
which imports verdicts: an eager re-export here would make the package a cycle again. Modules inside forensics/
that verdicts or run depend on import from the specific module.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from forensics.packs.fixtures import (
        FixtureResult,
        fixture_dirs,
        materialize_case,
        read_fixture_events,
        run_fixture,
        test_pack,
    )
    from forensics.packs.loading import (
        builtin_pack_dirs,
        list_packs,
        load_pack,
        parse_check,
        parse_header,
        user_pack_dirs,
    )
    from forensics.packs.model import (
        DEFAULT_PACK,
        EXPECTS,
        HEADER_KEYS,
        OPTIONAL_HEADER_KEYS,
        PACKS_PATH_ENV,
        PARAM_TYPES,
        PROVENANCE,
        REQUIRED_PARAMS,
        ROW_KINDS,
        RUNNER_PARAMS,
        SEVERITIES,
        Check,
        Pack,
        PackInfo,
        Param,
        ParamType,
        display_value,
    )
    from forensics.packs.params import (
        convert_value,
        parse_duration,
        parse_timestamp,
        resolve_params,
    )
    from forensics.packs.results import (
        CheckResult,
        CheckRun,
        PackResult,
        json_safe,
        result_sha256,
    )
    from forensics.packs.run import (
        bind_pack,
        case_sources,
        execute_check,
        expected_nodes,
        run_pack,
    )

# name -> the module of this package that defines it
_HOME: dict[str, str] = {
    "Check": "model",
    "DEFAULT_PACK": "model",
    "EXPECTS": "model",
    "HEADER_KEYS": "model",
    "OPTIONAL_HEADER_KEYS": "model",
    "PACKS_PATH_ENV": "model",
    "PARAM_TYPES": "model",
    "PROVENANCE": "model",
    "Pack": "model",
    "PackInfo": "model",
    "Param": "model",
    "ParamType": "model",
    "REQUIRED_PARAMS": "model",
    "ROW_KINDS": "model",
    "RUNNER_PARAMS": "model",
    "SEVERITIES": "model",
    "display_value": "model",
    "convert_value": "params",
    "parse_duration": "params",
    "parse_timestamp": "params",
    "resolve_params": "params",
    "builtin_pack_dirs": "loading",
    "list_packs": "loading",
    "load_pack": "loading",
    "parse_check": "loading",
    "parse_header": "loading",
    "user_pack_dirs": "loading",
    "CheckResult": "results",
    "CheckRun": "results",
    "PackResult": "results",
    "json_safe": "results",
    "result_sha256": "results",
    "bind_pack": "run",
    "case_sources": "run",
    "execute_check": "run",
    "expected_nodes": "run",
    "run_pack": "run",
    "FixtureResult": "fixtures",
    "fixture_dirs": "fixtures",
    "materialize_case": "fixtures",
    "read_fixture_events": "fixtures",
    "run_fixture": "fixtures",
    "test_pack": "fixtures",
}

__all__ = [
    "DEFAULT_PACK",
    "EXPECTS",
    "HEADER_KEYS",
    "OPTIONAL_HEADER_KEYS",
    "PACKS_PATH_ENV",
    "PARAM_TYPES",
    "PROVENANCE",
    "REQUIRED_PARAMS",
    "ROW_KINDS",
    "RUNNER_PARAMS",
    "SEVERITIES",
    "Check",
    "CheckResult",
    "CheckRun",
    "FixtureResult",
    "Pack",
    "PackInfo",
    "PackResult",
    "Param",
    "ParamType",
    "bind_pack",
    "builtin_pack_dirs",
    "case_sources",
    "convert_value",
    "display_value",
    "execute_check",
    "expected_nodes",
    "fixture_dirs",
    "json_safe",
    "list_packs",
    "load_pack",
    "materialize_case",
    "parse_check",
    "parse_duration",
    "parse_header",
    "parse_timestamp",
    "read_fixture_events",
    "resolve_params",
    "result_sha256",
    "run_fixture",
    "run_pack",
    "test_pack",
    "user_pack_dirs",
]


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOME})
