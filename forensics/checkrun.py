"""`forensics check` as one library call: lock, fast verify, run the pack, seal what it used.

A verdict depends on the events, the pack's SQL and the bound parameters (most from case.toml),
so the custody entry of every check records the digest of each: verify then reports a case.toml
changed after the check that used it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from forensics.case import Case, case_lock
from forensics.errors import ForensicsError
from forensics.seal import append_custody, canonical_json, sha256_file

if TYPE_CHECKING:
    from forensics.packs import PackResult


RESEALED_BY_CHECK = {"case_toml"}


def require_verified(case: Case, allow_unverified: bool = False) -> list[str]:
    """The fast verify (custody chain, manifest, layout, file hashes; no row digests).

    Raises unless allow_unverified; returns the problems as lines (empty when the case verifies),
    which a caller that was allowed to go on must show with its result."""
    from forensics.custody import verify_case

    report = verify_case(case, deep=False)
    # case.toml edited since the last check is the user's next question, not a damaged case: this run
    # seals the new one (verify keeps reporting the change until a check or exhibit does)
    lines = [f"{p.kind}: {p.path}: {p.detail}" for p in report.problems if p.kind not in RESEALED_BY_CHECK]
    if lines and not allow_unverified:
        shown = "; ".join(lines[:3]) + (f"; and {len(lines) - 3} more" if len(lines) > 3 else "")
        raise ForensicsError(
            f"{case.root} fails verification ({shown}); run `forensics verify {case.root}`, "
            "or pass --allow-unverified to run anyway (the result then says so)"
        )
    return lines


def check_case(
    case: Case,
    pack: str | None,
    params: Mapping[str, str] | None = None,
    *,
    allow_unverified: bool = False,
    engine: str = "duckdb",
    master: str | None = None,
    tables: Mapping[str, str] | None = None,
) -> tuple[PackResult, list[str]]:
    """Run a pack under the case lock after a fast verify; append a `check` custody entry.

    `engine` is duckdb or spark (`master`: the Spark master URL; `tables`: view=DB.TABLE, a warehouse
    table read instead of the case's events). Returns the result and the verification problems it ran
    despite (allow_unverified)."""
    from forensics.engines.base import open_engine
    from forensics.packs import run_pack

    with case_lock(case, "check"):
        unverified = require_verified(case, allow_unverified)
        result = run_pack(case, pack, params, engine=open_engine(case, engine, master, tables))
        append_custody(case, "check", check_details(case, result, unverified))
    return result, unverified


def check_details(case: Case, result: PackResult, unverified: list[str]) -> dict[str, Any]:
    """What a check used, as digests a re-verifier can recompute."""
    pack = result.pack
    details: dict[str, Any] = {
        "pack": {
            "name": pack.name,
            "version": pack.version,
            "sql_sha256": {c.id: c.sql_sha256 for c in pack.checks},
        },
        "params_sha256": params_digest(result.params),
        "case_toml_sha256": sha256_file(case.toml_path) if case.toml_path.is_file() else None,
        "verdicts": result.verdicts,
    }
    if result.engine != "duckdb":
        details["engine"] = result.engine
    if result.source is not None:  # the events came from a warehouse table, not the sealed files
        details["source"] = dict(result.source)
    if unverified:
        details["unverified"] = unverified[:20]
    return details


def params_digest(params: Mapping[str, Any]) -> str:
    """SHA-256 of the bound parameters' canonical JSON (dates and zones as their text)."""
    text = canonical_json({k: _plain(v) for k, v in params.items()})
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
