"""Query packs: loading and validation, parameters, the runner, fixtures and golden results."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forensics.case import Case
from forensics.errors import ForensicsError, UsageError
from forensics.packs import (
    PACKS_PATH_ENV,
    Pack,
    PackResult,
    execute_check,
    fixture_dirs,
    list_packs,
    load_pack,
    materialize_case,
    parse_duration,
    parse_timestamp,
    read_fixture_events,
    resolve_params,
    result_sha256,
    run_fixture,
    run_pack,
    test_pack,
)

CHECK_IDS = [
    "order-trail",
    "unmasked-view",
    "export-scope",
    "waybill-print",
    "account-anomaly",
    "mass-access",
    "completeness",
    "field-exposure",
]
GOLDEN = Path(__file__).parent / "golden" / "order-leak"
UPDATE_GOLDEN = os.environ.get("FORENSICS_UPDATE_GOLDEN") == "1"


@pytest.fixture(scope="module")
def pack() -> Pack:
    return load_pack("order-leak")


@pytest.fixture(scope="module")
def fixture_case(tmp_path_factory: pytest.TempPathFactory, pack: Pack) -> Case:
    """The clean fixture as a real case folder, shared by the tests that only run SQL on it."""
    folder = pack.fixtures_dir / "clean"
    events = read_fixture_events(folder / "events.jsonl")
    root = tmp_path_factory.mktemp("packs") / "case"
    return materialize_case(root, events, (folder / "case.toml").read_text(encoding="utf-8"), "0" * 64)


@pytest.fixture
def pack_copy(tmp_path: Path, pack: Pack) -> Iterator[Path]:
    target = tmp_path / "copy"
    shutil.copytree(pack.path, target, ignore=shutil.ignore_patterns("fixtures"))
    yield target


# ---------------------------------------------------------------- conformance


def test_order_leak_has_the_fixed_check_ids_in_order(pack: Pack) -> None:
    assert [c.id for c in pack.checks] == CHECK_IDS
    assert pack.version == "1.0.0"
    assert pack.completeness_check == "completeness"


def test_every_check_has_a_header_and_a_fixture(pack: Pack) -> None:
    covered: set[str] = set()
    for folder in fixture_dirs(pack):
        covered |= {e["check"] for e in _expectations(folder)}
    for check in pack.checks:
        assert check.title_en and check.title_zh and check.question and check.legal_element
        assert check.path.name.endswith(".sql") and check.path.name[:2].isdigit()
        assert check.id in covered, f"{check.id} has no fixture"


def test_none_checks_depend_on_sources_and_actions(pack: Pack) -> None:
    for check in pack.checks:
        if check.expect == "none":
            assert check.sources and check.actions, check.id


def test_event_checks_return_provenance(pack: Pack, fixture_case: Case) -> None:
    values = _bound(pack, fixture_case)
    con = fixture_case.connect()
    try:
        for check in pack.checks:
            run = execute_check(con, check, values)
            if check.rows == "events":
                assert {"source", "src_sha256", "line_no"} <= set(run.columns), check.id
    finally:
        con.close()


def _expectations(folder: Path) -> list[dict[str, object]]:
    import tomllib

    return list(tomllib.loads((folder / "expect.toml").read_text(encoding="utf-8"))["expect"])


def _bound(pack: Pack, case: Case) -> dict[str, object]:
    values = resolve_params(pack, case.config, {})
    return {
        **values,
        "padded_start": values["window_start"],
        "padded_end": values["window_end"],
        "skew_seconds": 0.0,
        "expected_sources": ["merchant_backend", "open_api", "logistics", "security"],
        "expected_nodes": [],
        "heartbeat_sources": ["security"],
        **{role.param: list(role.default) for role in pack.roles.values()},
    }


# ---------------------------------------------------------------- fixtures (packs test) and golden files


def test_test_pack_runs_every_fixture_and_all_pass(pack: Pack) -> None:
    results = test_pack(pack)
    assert {r.fixture for r in results} == {p.name for p in fixture_dirs(pack)}
    failed = [r.detail for r in results if not r.ok]
    assert not failed


def test_a_wrong_expectation_fails(tmp_path: Path, pack: Pack) -> None:
    folder = tmp_path / "wrong"
    shutil.copytree(pack.fixtures_dir / "guilty", folder)
    (folder / "expect.toml").write_text('[[expect]]\ncheck = "unmasked-view"\nverdict = "clean"\nrows = 0\n')
    [result] = run_fixture(pack, folder)[1]
    assert not result.ok and result.verdict == "flagged" and result.rows == 1


@pytest.mark.parametrize("name", ["clean", "guilty", "gap", "mass", "export-by-id", "no-control", "unprinted"])
def test_golden(pack: Pack, name: str) -> None:
    """Every check's verdict, reason and rows on each fixture, against files reviewed by a human."""
    result, _ = run_fixture(pack, pack.fixtures_dir / name)
    got = _golden_view(result)
    path = GOLDEN / f"{name}.json"
    if UPDATE_GOLDEN or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(got, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        if not UPDATE_GOLDEN:
            pytest.fail(f"golden file {path} was missing and has been written; review it and rerun")
    assert got == json.loads(path.read_text(encoding="utf-8"))


def _golden_view(result: PackResult) -> dict[str, object]:
    full = result.to_json(full=True)
    checks = {
        c["id"]: {k: c[k] for k in ("verdict", "reason", "rows", "scope", "columns", "results", "result_sha256")}
        for c in full["checks"]
    }
    return {"checks": checks, "completeness": full["completeness"], "exposure": full["exposure"]}


# ---------------------------------------------------------------- the runner and the JSON contract


def test_clean_fixture_verdicts_and_json_contract(pack: Pack, fixture_case: Case) -> None:
    result = run_pack(fixture_case, None, {})
    brief = result.to_json()
    assert list(brief) == ["pack", "version", "params", "warnings", "checks", "exposure_events"]
    assert brief["warnings"] == []  # the fixture's order appears in its events
    assert [c["id"] for c in brief["checks"]] == CHECK_IDS
    for c in brief["checks"]:
        assert set(c) == {"id", "verdict", "reason", "rows", "sql_sha256", "result_sha256"}
    assert brief["params"]["order_id"] == "O-FIX-0001"
    assert brief["params"]["window_start"] == "2024-03-01T16:00:00+00:00"  # 00:00 Asia/Shanghai
    full = result.to_json(full=True)
    assert set(full) == {
        "pack", "version", "params", "warnings", "window", "checks", "exposure_events", "completeness", "exposure"
    }  # fmt: skip
    trail = next(c for c in full["checks"] if c["id"] == "order-trail")
    assert trail["source_file"] == "queries/order-leak/01_order_trail.sql"
    assert trail["sql"].startswith("-- id: order-trail")
    assert all(isinstance(v, str) for v in (row[0] for row in trail["results"]))  # times as ISO text
    json.dumps(full)  # JSON-safe throughout


def test_result_digest_depends_on_rows_only() -> None:
    a = result_sha256(["x", "t"], [[1, "2024-03-01T00:00:00+00:00"]])
    assert a == result_sha256(["x", "t"], [[1, "2024-03-01T00:00:00+00:00"]])
    assert a != result_sha256(["x", "t"], [[2, "2024-03-01T00:00:00+00:00"]])


def test_sql_digest_is_of_the_verbatim_file(pack: Pack) -> None:
    import hashlib

    check = pack.check("unmasked-view")
    assert check.sql_sha256 == hashlib.sha256(check.path.read_bytes()).hexdigest()


def test_param_override_changes_the_bound_value(fixture_case: Case) -> None:
    result = run_pack(fixture_case, "order-leak", {"order_id": "O-OTHER-1"})
    assert result.check("unmasked-view").verdict == "flagged"  # the other shop's own decrypts
    assert result.to_json()["params"]["order_id"] == "O-OTHER-1"


def test_unknown_parameter_suggests_the_nearest_name(fixture_case: Case) -> None:
    with pytest.raises(UsageError, match="did you mean 'order_id'"):
        run_pack(fixture_case, None, {"order_idd": "x"})


def test_bad_parameter_value_names_the_parameter(fixture_case: Case) -> None:
    with pytest.raises(UsageError, match="max_clock_skew"):
        run_pack(fixture_case, None, {"max_clock_skew": "soon"})


def test_window_must_be_set(pack: Pack) -> None:
    with pytest.raises(UsageError, match="order_id"):
        resolve_params(pack, {}, {})
    with pytest.raises(UsageError, match="window"):
        resolve_params(pack, {"order": {"ids": ["O1"]}, "window": {"start": "", "end": ""}}, {})


def test_window_is_read_in_the_case_zone(pack: Pack) -> None:
    config = {"order": {"ids": ["O1"]}, "window": {"start": "2024-03-01T00:00:00", "end": "2024-03-02", "tz": "UTC"}}
    values = resolve_params(pack, config, {"tz": "Asia/Shanghai"})
    assert values["window_start"] == datetime(2024, 2, 29, 16, tzinfo=UTC)
    assert values["window_end"] == datetime(2024, 3, 1, 16, tzinfo=UTC)


def test_scalars_from_lists_and_wildcards(pack: Pack) -> None:
    config = {
        "order": {"ids": ["O1", "O2"]},
        "window": {"start": "2024-03-01T00:00:00+08:00", "end": "2024-03-02T00:00:00+08:00"},
        "exposure": {"a": {"actions": ["order.view"]}, "b": {"actions": ["waybill.print", "order.view"]}},
        "completeness": {"sources": {"sec": {"heartbeat_interval": "30s"}}},
    }
    values = resolve_params(pack, config, {})
    assert values["order_id"] == "O1"
    assert values["exposure_actions"] == ["order.view", "waybill.print"]
    assert values["heartbeat_interval"] == 30.0


@pytest.mark.parametrize(
    ("text", "seconds"), [("5m", 300.0), ("30s", 30.0), ("2h", 7200.0), ("1d", 86400.0), ("250ms", 0.25), (12, 12.0)]
)
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_parse_duration_refuses_nonsense() -> None:
    with pytest.raises(UsageError):
        parse_duration("five minutes")


def test_parse_timestamp_keeps_explicit_offsets() -> None:
    assert parse_timestamp("2024-03-01T08:00:00+08:00", "UTC") == datetime(2024, 3, 1, tzinfo=UTC)
    assert parse_timestamp("2024-03-01T00:00:00Z", "Asia/Shanghai") == datetime(2024, 3, 1, tzinfo=UTC)


# ---------------------------------------------------------------- hostile parameters are values


HOSTILE = [
    "x' OR 1=1 --",
    "'; DROP TABLE events; --",
    "O-FIX-0001' UNION SELECT * FROM read_csv('/etc/passwd') --",
    "$order_id",
    "\\'",
    "订单'号",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_parameter_is_harmless(fixture_case: Case, value: str) -> None:
    before = _count(fixture_case)
    result = run_pack(fixture_case, None, {"order_id": value})
    assert result.check("order-trail").run.rows == []
    # matches nothing, so the order appears in no source: never CLEAN (issue 11), and nothing was dropped
    assert result.check("unmasked-view").verdict == "inconclusive"
    assert "appears in no ingested source" in result.check("unmasked-view").reason
    assert _count(fixture_case) == before


def _count(case: Case) -> int:
    con = case.connect()
    try:
        row = con.execute("SELECT count(*) FROM events").fetchone()
        assert row is not None
        return int(row[0])
    finally:
        con.close()


@pytest.fixture(scope="module")
def fixture_con(fixture_case: Case) -> Iterator[duckdb.DuckDBPyConnection]:
    con = fixture_case.connect()
    yield con
    con.close()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.text(min_size=1, max_size=40))
def test_any_order_id_text_is_bound_never_executed(
    pack: Pack, fixture_case: Case, fixture_con: duckdb.DuckDBPyConnection, value: str
) -> None:
    values = {**_bound(pack, fixture_case), "order_id": value}
    run = execute_check(fixture_con, pack.check("order-trail"), values)
    # Only the fixture's real order id can match; any other text is just a non-matching value.
    assert run.rows == [] or value == "O-FIX-0001"


def test_check_sql_cannot_read_outside_the_case(tmp_path: Path, pack_copy: Path, fixture_case: Case) -> None:
    sql = pack_copy / "01_order_trail.sql"
    text = sql.read_text(encoding="utf-8")
    sql.write_text(text.replace("FROM events\n", "FROM events, read_csv('/etc/passwd') AS leak\n", 1))
    with pytest.raises(ForensicsError, match="order-trail failed"):
        run_pack(fixture_case, str(pack_copy), {})


# ---------------------------------------------------------------- locating packs


def test_list_packs_includes_the_shipped_pack() -> None:
    infos = {i.name: i for i in list_packs()}
    assert infos["order-leak"].checks == tuple(CHECK_IDS)


def test_unknown_pack_suggests(pack: Pack) -> None:
    with pytest.raises(UsageError, match="did you mean 'order-leak'"):
        load_pack("order-leek")


def test_pack_from_a_user_folder_and_the_env_path(
    pack_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = pack_copy / "pack.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('name = "order-leak"', 'name = "mine"'))
    assert load_pack(str(pack_copy)).name == "mine"
    shelf = tmp_path / "shelf"
    shelf.mkdir()
    shutil.move(str(pack_copy), shelf / "mine")
    monkeypatch.setenv(PACKS_PATH_ENV, str(shelf))
    assert load_pack("mine").name == "mine"
    assert "mine" in {i.name for i in list_packs()}


# ---------------------------------------------------------------- malformed packs fail with file:line


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        (
            "02_unmasked_view.sql",
            "-- expect: none",
            "-- expect: nothing",
            r"02_unmasked_view.sql:{line}: expect is 'nothing'",
        ),
        (
            "02_unmasked_view.sql",
            "-- severity: high",
            "-- severty: high",
            r"02_unmasked_view.sql:{line}: unknown header key",
        ),
        (
            "02_unmasked_view.sql",
            "$order_id",
            "$order_idd",
            r"02_unmasked_view.sql:\d+: parameter \$order_idd .*order_id",
        ),
        (
            "02_unmasked_view.sql",
            "order.view_unmasked\n",
            "order.view_unmaskd\n",
            r"did you mean 'order.view_unmasked'",
        ),
        ("02_unmasked_view.sql", "-- title_zh:", "-- title_zh: x\n-- title_zh:", r"given twice"),
        ("02_unmasked_view.sql", "SELECT\n", "SELEC\n", r"02_unmasked_view.sql: SQL does not parse"),
        ("02_unmasked_view.sql", "-- id: unmasked-view", "-- id: order-trail", r"duplicate check id"),
        ("01_order_trail.sql", "-- question:", "-- legal_element: x\n-- question:", r"given twice"),
        ("pack.toml", '"field-exposure",', '"field-exposur",', r"pack.toml:\d+: check 'field-exposur' has no SQL"),
        ("pack.toml", 'type = "duration"', 'type = "period"', r"pack.toml:\d+: parameter max_clock_skew has type"),
        ("pack.toml", 'version = "1.0.0"', 'version = "1.0.0', r"pack.toml: "),
        (
            "pack.toml",
            "[params.tz]",
            '[params.padded_start]\ntype = "timestamp"\n[params.tz]',
            r"computed by the runner",
        ),
    ],
)
def test_malformed_pack_fails_with_file_and_line(pack_copy: Path, file: str, old: str, new: str, message: str) -> None:
    _edit(pack_copy / file, old, new)
    lines = (pack_copy / file).read_text(encoding="utf-8").splitlines()
    line = next(n for n, text in enumerate(lines, start=1) if new.splitlines()[0] in text)
    with pytest.raises(ForensicsError, match=message.replace("{line}", str(line))):
        load_pack(str(pack_copy))


def test_unlisted_sql_file_is_refused(pack_copy: Path) -> None:
    shutil.copy(pack_copy / "02_unmasked_view.sql", pack_copy / "09_extra.sql")
    _edit(pack_copy / "09_extra.sql", "-- id: unmasked-view", "-- id: extra")
    with pytest.raises(ForensicsError, match=r"09_extra.sql:1: check 'extra' is not listed"):
        load_pack(str(pack_copy))


def test_badly_named_sql_file_is_refused(pack_copy: Path) -> None:
    (pack_copy / "extra.sql").write_text("SELECT 1")
    with pytest.raises(ForensicsError, match=r"extra.sql:1: check files are named NN_slug.sql"):
        load_pack(str(pack_copy))


def test_event_check_without_provenance_is_refused_at_run_time(pack_copy: Path, fixture_case: Case) -> None:
    _edit(pack_copy / "04_waybill_print.sql", "    line_no\nFROM events", "    line_no AS line\nFROM events")
    with pytest.raises(ForensicsError, match=r"04_waybill_print.sql:1: check waybill-print returns events but not"):
        run_pack(fixture_case, str(pack_copy), {})


def test_fixture_with_unknown_column_is_refused(tmp_path: Path, pack: Pack) -> None:
    folder = tmp_path / "bad"
    shutil.copytree(pack.fixtures_dir / "clean", folder)
    with (folder / "events.jsonl").open("a", encoding="utf-8") as fh:
        fh.write('{"ts": "2024-03-02T00:00:00Z", "source": "x", "action": "other", "acter_id": "a"}\n')
    with pytest.raises(ForensicsError, match="did you mean 'actor_id'"):
        run_fixture(pack, folder)


# ---------------------------------------------------------------- the header parser (property tests)

header_value = (
    st.text(
        alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters="\r\n\x85"),
        min_size=1,
        max_size=60,
    )
    .map(str.strip)
    .filter(bool)
)


@settings(max_examples=150, deadline=None)
@given(values=st.fixed_dictionaries({k: header_value for k in ("title_en", "title_zh", "question", "legal_element")}))
def test_header_round_trip(tmp_path_factory: pytest.TempPathFactory, values: dict[str, str]) -> None:
    from forensics.packs import parse_header

    lines = [
        "-- id: some-check",
        *(f"-- {k}: {v}" for k, v in values.items()),
        "-- expect: none",
        "-- severity: high",
        "-- depends_on.sources: a, b",
        "-- depends_on.actions: order.view",
        "SELECT 1",
    ]
    path = tmp_path_factory.mktemp("h") / "01_x.sql"
    header, body_start = parse_header(path, "\n".join(lines))
    assert {k: header[k] for k in values} == values
    assert body_start == len(lines)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=300))
def test_header_parser_never_crashes(text: str) -> None:
    from forensics.packs import parse_header

    try:
        header, body_start = parse_header(Path("x.sql"), text)
    except ForensicsError as exc:
        assert str(exc).startswith("x.sql:")  # always a location
    else:
        assert header["id"] is not None and body_start >= 1


def test_displayed_params_rerun_to_the_same_result(fixture_case: Case) -> None:
    """`forensics verify` re-runs a pack with the params an exhibit recorded: they must round-trip exactly."""
    first = run_pack(fixture_case, None, {}).to_json()
    params = {k: v for k, v in first["params"].items() if v != ""}
    again = run_pack(fixture_case, None, params).to_json()
    assert again == first


def test_hostile_text_in_other_parameters_is_harmless_or_refused(fixture_case: Case) -> None:
    result = run_pack(fixture_case, None, {"merchant_id": "S' OR '1'='1", "heartbeat_action": "x'); DROP TABLE t; --"})
    assert result.check("account-anomaly").run.rows == []
    with pytest.raises(UsageError, match="unknown time zone"):
        run_pack(fixture_case, None, {"tz": "UTC'; DROP TABLE events; --"})
