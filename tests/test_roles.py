"""Roles: a pack names what a check depends on (back office, open API...), a case binds each role to its sources.

The sample world is ingested twice, once under the sample's own source names and once with every source renamed
(the mappings' `source` and case.toml rewritten, `[roles]` binding the new names): the verdicts and result digests
must be the same, rows compared with the source names mapped back.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from forensics.case import Case, init_case
from forensics.ingest import IngestOptions, ingest_plan
from forensics.packs import load_pack, result_sha256, run_pack
from forensics.sample import generate

RENAMED = {
    "merchant_backend": "admin_audit",
    "open_api": "isv_gateway",
    "logistics": "print_service",
    "security": "sec_monitor",
}
ROLES = {
    "merchant_backend": "back_office",
    "open_api": "open_api",
    "logistics": "logistics_print",
    "security": "security_monitor",
}
EVENTS = 1_200


def rename_world(world: Path, out: Path, names: dict[str, str]) -> None:
    """A copy of the world in which each source is called something else (raw log files untouched)."""
    shutil.copytree(world, out)
    for mapping in (out / "mappings").glob("*.toml"):
        text = mapping.read_text(encoding="utf-8")
        text = re.sub(r'^source = "(\w+)"', lambda m: f'source = "{names[m.group(1)]}"', text, flags=re.M)
        mapping.write_text(text, encoding="utf-8")
    case_toml = (out / "case.toml").read_text(encoding="utf-8")
    for old, new in names.items():
        case_toml = case_toml.replace(f"[completeness.sources.{old}]", f"[completeness.sources.{new}]")
    (out / "case.toml").write_text(case_toml, encoding="utf-8")


def ingest(world: Path, root: Path, extra_toml: str = "") -> Case:
    case = init_case(root)
    case.toml_path.write_text((world / "case.toml").read_text(encoding="utf-8") + extra_toml, encoding="utf-8")
    ingest_plan(case, world / "plan.toml", IngestOptions())
    return Case(root)


def roles_table(names: dict[str, str]) -> str:
    lines = ["", "[roles]"]
    lines += [f'{ROLES[old]} = ["{new}"]' for old, new in names.items()]
    return "\n".join(lines) + "\n"


def digests(result: Any, back: dict[str, str]) -> dict[str, tuple[str, str]]:
    """Verdict and result digest per check, with renamed sources mapped back to the default names."""
    out = {}
    for check in result.checks:
        columns = check.run.columns
        rows = [
            [back.get(v, v) if c == "source" else v for c, v in zip(columns, row, strict=True)]
            for row in check.run.rows
        ]
        out[check.check.id] = (check.verdict, result_sha256(columns, rows))
    return out


@pytest.fixture(scope="module", params=["clean", "guilty", "gap"])
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp(f"roles-{request.param}")
    world = generate(root / "world", variant=request.param, events=EVENTS, seed=5).out_dir
    rename_world(world, root / "renamed", RENAMED)
    return {
        "world": world,
        "renamed_world": root / "renamed",
        "default": ingest(world, root / "case-default"),
        "renamed": ingest(root / "renamed", root / "case-renamed", roles_table(RENAMED)),
        "root": root,
    }


def test_renamed_sources_bound_by_roles_give_the_same_verdicts_and_digests(pair: dict[str, Any]) -> None:
    default = run_pack(pair["default"], "order-leak", {})
    renamed = run_pack(pair["renamed"], "order-leak", {})
    back = {new: old for old, new in RENAMED.items()}
    assert digests(renamed, back) == digests(default, {})


def test_renamed_sources_without_roles_name_the_unbound_role(pair: dict[str, Any]) -> None:
    case = ingest(pair["renamed_world"], pair["root"] / "case-unbound")
    result = run_pack(case, "order-leak", {})
    default = run_pack(pair["default"], "order-leak", {})
    for check in result.checks:
        # Rows found are findings whatever the names; a "no" that was earned under the default names is unproven.
        expected = default.check(check.check.id).verdict
        if expected == "clean":
            assert check.verdict == "inconclusive", check.check.id
            assert "role " in check.reason and "[roles]" in check.reason
        elif expected in {"flagged", "found", "info"}:
            assert check.verdict == expected
    if default.check("unmasked-view").verdict == "clean":
        reason = result.check("unmasked-view").reason
        assert "role back_office" in reason and "admin_audit" in reason
    assert any(line.startswith("role back_office: no source bound") for line in result.role_notes)
    assert "sources in this case: admin_audit, isv_gateway, print_service, sec_monitor" in result.role_notes[0]


def test_pack_declares_its_roles_with_a_meaning() -> None:
    pack = load_pack("order-leak")
    assert list(pack.roles) == ["back_office", "open_api", "logistics_print", "security_monitor"]
    for role in pack.roles.values():
        assert role.meaning and role.title_zh and role.title_en
    assert {r for c in pack.checks for r in c.roles} == set(pack.roles)
    assert "roles:" in pack.describe() and "back_office" in pack.describe()


def split_back_office(world: Path, out: Path) -> None:
    """A copy of the world whose back office is two sources: nodes mb-01/02 and mb-03/04 (two log systems)."""
    shutil.copytree(world, out)
    mapping = (out / "mappings" / "merchant_backend.toml").read_text(encoding="utf-8")
    for name in ("admin_audit", "admin_audit_v2"):
        text = mapping.replace('source = "merchant_backend"', f'source = "{name}"')
        (out / "mappings" / f"{name}.toml").write_text(text, encoding="utf-8")
    plan = (out / "plan.toml").read_text(encoding="utf-8")
    old = re.search(r'glob = "merchant_backend/[^\n]*\nmapping = "mappings/merchant_backend.toml"', plan)
    assert old is not None
    new = (
        'glob = "merchant_backend/mb-0[12]/*.jsonl.*"\nmapping = "mappings/admin_audit.toml"\n\n[[input]]\n'
        'glob = "merchant_backend/mb-0[34]/*.jsonl.*"\nmapping = "mappings/admin_audit_v2.toml"'
    )
    (out / "plan.toml").write_text(plan.replace(old.group(0), new), encoding="utf-8")


def test_a_role_bound_to_two_sources_reaches_the_same_verdicts(pair: dict[str, Any]) -> None:
    split_back_office(pair["world"], pair["root"] / "split")
    extra = '\n[roles]\nback_office = ["admin_audit", "admin_audit_v2"]\n'
    case = ingest(pair["root"] / "split", pair["root"] / "case-split", extra)
    result = run_pack(case, "order-leak", {})
    default = run_pack(pair["default"], "order-leak", {})
    assert result.verdicts == default.verdicts
    for check in ("unmasked-view", "export-scope", "account-anomaly"):
        got, want = result.check(check), default.check(check)
        assert len(got.run.rows) == len(want.run.rows)
        if got.verdict == "clean":
            assert "merchant back office: admin_audit" in (got.scope or "") and "admin_audit_v2" in (got.scope or "")


def test_a_role_declared_absent_is_stated_and_can_be_clean(pair: dict[str, Any]) -> None:
    """A platform without an open API: its checks are judged on the other roles, and the scope says so."""
    world = pair["root"] / "no-api"
    shutil.copytree(pair["world"], world)
    plan = (world / "plan.toml").read_text(encoding="utf-8")
    start = plan.index('[[input]]\nglob = "open_api')
    end = plan.index("[[input]]", start + 5)
    (world / "plan.toml").write_text(plan[:start] + plan[end:], encoding="utf-8")
    case = ingest(world, pair["root"] / "case-no-api", '\n[roles]\nabsent = ["open_api"]\n')
    result = run_pack(case, "order-leak", {})
    default = run_pack(pair["default"], "order-leak", {})
    check = result.check("unmasked-view")
    assert check.verdict == default.check("unmasked-view").verdict
    assert result.role_notes == []
    if check.verdict == "clean":
        assert "open API (declared absent in case.toml)" in (check.scope or "")
        assert "open_api" not in check.run.check.sources
    full = result.to_json(full=True)
    roles = {r["role"]: r for c in full["checks"] for r in c["depends_on"]["roles"]}
    assert roles["open_api"]["absent"] is True and roles["back_office"]["sources"] == ["merchant_backend"]


def test_case_toml_roles_are_validated(tmp_path: Path) -> None:
    from forensics.errors import UsageError
    from forensics.roles import bind_roles

    roles = load_pack("order-leak").roles
    with pytest.raises(UsageError, match="unknown role 'back_ofice'; did you mean 'back_office'"):
        bind_roles(roles, {"roles": {"back_ofice": ["x"]}}, ["x"])
    with pytest.raises(UsageError, match="both bound to sources and declared absent"):
        bind_roles(roles, {"roles": {"open_api": ["x"], "absent": ["open_api"]}}, ["x"])
    bound = bind_roles(roles, {"roles": {"back_office": []}}, ["admin_audit"])
    assert bound["back_office"].problem == (
        "role back_office: no source bound; sources in this case: admin_audit — set [roles] in case.toml"
    )
    assert (
        bound["open_api"].problem is not None and "bound to open_api by the pack default" in bound["open_api"].problem
    )


def test_init_template_and_packs_show_name_the_roles(tmp_path: Path) -> None:
    import tomllib

    from forensics.case import CASE_TOML_TEMPLATE

    assert "# [roles]" in CASE_TOML_TEMPLATE
    uncommented = CASE_TOML_TEMPLATE.replace("# [roles]", "[roles]").replace("# back_office =", "back_office =")
    assert tomllib.loads(uncommented)["roles"]["back_office"] == ["admin_audit"]
    shown = load_pack("order-leak").describe()
    for role in ("back_office", "open_api", "logistics_print", "security_monitor"):
        assert f"  {role} (" in shown
