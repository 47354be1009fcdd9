"""forensics.mapping: loading, validation (hostile SQL refused), batch evaluation."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import forensics.mapping as mapping_module
from forensics.errors import UsageError
from forensics.mapping import (
    MAPPABLE_COLUMNS,
    Mapping,
    evaluate,
    evaluate_columns,
    evaluate_timestamp,
    load_mapping,
    referenced_fields,
    sandbox_connection,
)
from forensics.timeparse import NO_ZONE

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "mappings").glob("*.toml"))
BUILTIN = ROOT / "forensics" / "mappings_builtin" / "cloudtrail.toml"


def write(tmp_path: Path, body: str, name: str = "m.toml") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


def mapping_text(columns: str, *, fmt: str = "jsonl", ts: str = "t", extra: str = "") -> str:
    return f'source = "s"\nformat = "{fmt}"\n{extra}\n[timestamp]\nexpr = "{ts}"\n\n[columns]\n{columns}\n'


def load(tmp_path: Path, columns: str, **kw: str) -> object:
    return load_mapping(write(tmp_path, mapping_text(columns, **kw)))


# ------------------------------------------------------------------ loading


@pytest.mark.parametrize("path", [*SHIPPED, BUILTIN], ids=lambda p: p.name)
def test_shipped_mappings_load(path: Path) -> None:
    m = load_mapping(path)
    assert m.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert m.timestamp_expr
    assert {"action", "outcome"} <= set(m.columns)
    assert referenced_fields(m)


def test_builtin_cloudtrail_is_the_documented_example() -> None:
    assert BUILTIN.read_bytes() == (ROOT / "mappings" / "cloudtrail.toml").read_bytes()


def test_defaults_and_fields(tmp_path: Path) -> None:
    m = load_mapping(write(tmp_path, mapping_text('actor_id = "account"', extra='tz = "Asia/Shanghai"'), "shop.toml"))
    assert m.source == "s"
    assert m.tz == ZoneInfo("Asia/Shanghai")
    assert m.encoding == "auto"
    assert m.columns == {"actor_id": "account", "action": "'other'", "outcome": "'unknown'"}
    assert referenced_fields(m) == {"account", "t"}


def test_source_defaults_to_file_stem(tmp_path: Path) -> None:
    m = load_mapping(write(tmp_path, 'format = "jsonl"\n[timestamp]\nexpr = "t"\n', "merchant_backend.toml"))
    assert m.source == "merchant_backend"


def test_csv_options(tmp_path: Path) -> None:
    body = mapping_text('actor_id = "a"', fmt="tsv") + '[csv]\nheader = false\ncolumns = ["t", "a"]\n'
    m = load_mapping(write(tmp_path, body))
    assert (m.csv.delimiter, m.csv.quote, m.csv.header, m.csv.columns) == ("\t", "", False, ("t", "a"))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (mapping_text('acter_id = "a"'), "columns.acter_id is not a canonical column (did you mean 'actor_id'?)"),
        (mapping_text('ts = "a"'), "columns.ts is not a canonical column (it is filled from [timestamp] or by ingest)"),
        (mapping_text('actor_id = "a"', fmt="jsonlines"), "format 'jsonlines' is not known (did you mean 'jsonl'?)"),
        (mapping_text('actor_id = "a"', extra='tz = "Mars/Olympus"'), "tz 'Mars/Olympus' is not a known time zone"),
        (mapping_text('actor_id = "a"', extra='sorce = "x"'), "unknown key sorce (did you mean 'source'?)"),
        (mapping_text('actor_id = "a"', extra='encoding = "utf-16"'), "encoding 'utf-16' does not write ASCII"),
            (mapping_text('actor_id = "a"', extra='encoding = "klingon"'), "unknown encoding 'klingon'"),
        ('format = "jsonl"\n', "[timestamp] expr is required for format jsonl"),
        ("format = [", "not a valid TOML mapping file"),
        (mapping_text('actor_id = "a"') + "[csv]\nheader = true\n", "[csv] only applies to format csv or tsv"),
        (mapping_text('actor_id = "a"', fmt="csv") + "[csv]\nheader = false\n", "needs csv.columns"),
        (mapping_text('actor_id = "a"') + "[timestamp.x]\n", "unknown key timestamp.x"),
        (mapping_text("actor_id = 1"), "columns.actor_id must be a SQL expression string"),
        (mapping_text('actor_id = "nosuchfunction(a)"'), "columns.actor_id"),
        (mapping_text('status = "a + 1"'), "columns.status"),
        (mapping_text('actor_id = "a"', extra="") + 'record_count = "\\"A\\" || a"', "differ only by case"),
    ],
)
def test_bad_mappings_are_usage_errors_naming_file_and_key(tmp_path: Path, body: str, message: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(UsageError) as info:
        load_mapping(path)
    assert str(info.value).startswith(str(path))
    assert message in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read mapping file"):
        load_mapping(tmp_path / "nope.toml")


HOSTILE = [
    ("(SELECT 1)", "subquery"),
    ("CASE WHEN a IN (SELECT b FROM t) THEN 'x' END", "subquery"),
    ("EXISTS (SELECT 1)", "subquery"),
    ("read_csv('/etc/passwd')", "not allowed"),
    ("read_text('/etc/passwd')", "not allowed"),
    ("read_json_auto('/etc/passwd')", "not allowed"),
    ("glob('/etc/*')", "not allowed"),
    ("getenv('HOME')", "not allowed"),
    ("current_setting('threads')", "not allowed"),
    ("query('SELECT 1')", "not allowed"),
    ("now()", "not allowed"),
    ("random()", "not allowed"),
    ("COPY t TO '/tmp/x'", "not allowed"),
    ("ATTACH '/tmp/x.db' AS y", "ATTACH statement is not allowed"),
    ("INSTALL httpfs", "statement"),
    ("LOAD httpfs", "statement"),
    ("SET enable_external_access = true", "statement"),
    ("PRAGMA version", "statement"),
    ("a; DROP TABLE t", "not several statements"),
    ("a; COPY (SELECT 1) TO '/tmp/pwned.csv'", "not several statements"),
    ("a) AS x, read_csv('/etc/passwd') AS y FROM t --", "not a valid SQL expression"),
    ("a /* unterminated", "not a valid SQL expression"),
    ("count(*)", "not allowed"),
    ("max(a)", "aggregate"),
    ("row_number() OVER ()", "window function"),
    ("t.a", "qualified name"),
    ("a FROM x", "not a valid SQL expression"),
]


@pytest.mark.parametrize(("expr", "why"), HOSTILE)
def test_hostile_expressions_are_refused(tmp_path: Path, expr: str, why: str) -> None:
    body = f'format = "jsonl"\n[timestamp]\nexpr = "t"\n[columns]\nactor_id = """{expr}"""\n'
    with pytest.raises(UsageError) as info:
        load_mapping(write(tmp_path, body))
    assert "columns.actor_id" in str(info.value)
    assert why in str(info.value)


@pytest.mark.parametrize(
    ("expr", "why"),
    [
        ("(SELECT 1)", "a subquery is not allowed"),
        ("read_csv('/etc/passwd')", "function read_csv() is not allowed"),
        ("getenv('HOME')", "function getenv() is not allowed"),
        # break out of the CAST((...) AS VARCHAR) wrapper: parses in DuckDB, but is not one expression
        (
            "1) AS VARCHAR) AS x, 2 AS y FROM __forensics_batch UNION ALL SELECT 1, CAST((1",
            "must be one SQL expression",
        ),
        ("1) AS VARCHAR) AS x FROM __forensics_batch; SELECT 1, CAST((1", "must be one SQL expression"),
    ],
)
def test_duckdb_parse_is_a_second_fence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, expr: str, why: str) -> None:
    """Even if sqlglot missed something, DuckDB's own parse of the real query refuses it."""
    monkeypatch.setattr("forensics.mapping.validate_expression", lambda sql, where: frozenset())
    body = f'format = "jsonl"\n[timestamp]\nexpr = "1"\n[columns]\nactor_id = """{expr}"""\n'
    with pytest.raises(UsageError) as info:
        load_mapping(write(tmp_path, body))
    assert f"columns.actor_id: {why}" in str(info.value)


def test_hostile_timestamp_expression_is_refused(tmp_path: Path) -> None:
    body = 'format = "jsonl"\n[timestamp]\nexpr = "read_text(\'/etc/passwd\')"\n'
    with pytest.raises(UsageError, match=r"timestamp\.expr: function read_text"):
        load_mapping(write(tmp_path, body))


def test_sandbox_cannot_touch_files_or_settings(tmp_path: Path) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    con = sandbox_connection()
    with pytest.raises(duckdb.Error, match="disabled"):
        con.execute(f"SELECT * FROM read_csv('{secret}')").fetchall()
    with pytest.raises(duckdb.Error):
        con.execute("SET enable_external_access = true")


# ------------------------------------------------------------------ evaluation


def fields(**cols: list[str | None]) -> pl.DataFrame:
    n = len(next(iter(cols.values())))
    frame = {"line_no": pl.Series(range(1, n + 1), dtype=pl.Int64), **cols}
    return pl.DataFrame(frame, schema_overrides=dict.fromkeys(cols, pl.String))


TYPED = """
actor_id = "account"
status = "code"
record_count = "n"
order_ids = "CAST(ids AS VARCHAR[])"
masked = "desensitized = 'true'"
action = "CASE op WHEN 'DECRYPT' THEN 'order.view_unmasked' WHEN 'BAD' THEN 'order.peek' ELSE 'other' END"
outcome = "CASE ok WHEN '1' THEN 'success' WHEN '0' THEN 'failure' WHEN 'x' THEN 'maybe' END"
"""


def test_columns_are_typed_like_the_event_schema(tmp_path: Path) -> None:
    m = load(tmp_path, TYPED)
    batch = fields(
        account=["u1", "u2"],
        code=["200", "404"],
        n=["3", None],
        ids=["[O1, O2]", "[]"],
        desensitized=["true", "false"],
        op=["DECRYPT", "LIST"],
        ok=["1", None],
    )
    values, failures = evaluate_columns(m, batch)
    assert failures.height == 0
    assert values.schema["status"] == pl.Int32
    assert values.schema["record_count"] == pl.Int64
    assert values.schema["order_ids"] == pl.List(pl.String)
    assert values.schema["masked"] == pl.Boolean
    assert values.to_dicts() == [
        {
            "line_no": 1,
            "actor_id": "u1",
            "status": 200,
            "record_count": 3,
            "order_ids": ["O1", "O2"],
            "masked": True,
            "action": "order.view_unmasked",
            "outcome": "success",
        },
        {
            "line_no": 2,
            "actor_id": "u2",
            "status": 404,
            "record_count": None,
            "order_ids": [],
            "masked": False,
            "action": "other",
            "outcome": "unknown",
        },
    ]


def test_a_row_failing_at_run_time_is_isolated(tmp_path: Path) -> None:
    m = load(tmp_path, 'status = "code"')
    codes = [str(200 + i % 3) for i in range(1000)]
    codes[636] = "-"
    values, failures = evaluate_columns(m, fields(code=codes))
    assert values.height == 999
    assert 637 not in values["line_no"].to_list()
    assert failures["line_no"].to_list() == [637]
    reason = failures["reason"][0]
    assert reason.startswith("mapping columns.status failed: Conversion Error")
    assert "'-'" in reason


def test_failing_rows_are_found_without_per_row_queries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    m = load(tmp_path, 'status = "code"\nactor_id = "a"')
    n = 3000
    codes = [f"x{i}" if i % 3 else str(i) for i in range(n)]  # 2000 distinct bad values
    calls = 0
    real = mapping_module._execute

    def counting(*args: object) -> pl.DataFrame:
        nonlocal calls
        calls += 1
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(mapping_module, "_execute", counting)
    values, failures = evaluate_columns(m, fields(code=codes, a=["u"] * n))
    assert values["line_no"].to_list() == list(range(1, n + 1, 3))
    assert failures.height == 2000
    assert calls <= 2 + 64  # batch, tolerant batch, one single-row query per worded reason
    reasons = failures["reason"].to_list()
    assert reasons[0] == (
        "mapping columns.status failed: Conversion Error: Could not convert string 'x1' to INT32 "
        "when casting from source column code"
    )
    assert reasons[-1].startswith("mapping columns.status failed (as on line 2: Conversion Error")


def test_bisect_fallback_when_try_cannot_contain_the_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    m = load(tmp_path, 'status = "code"')
    monkeypatch.setattr(mapping_module, "_tolerant_sql", lambda exprs: "SELECT broken")
    values, failures = evaluate_columns(m, fields(code=["1", "-", "3", "x"]))
    assert values["status"].to_list() == [1, 3]
    assert failures["line_no"].to_list() == [2, 4]
    assert failures["reason"][1].startswith("mapping columns.status failed: Conversion Error")


def test_vocabulary_is_enforced(tmp_path: Path) -> None:
    m = load(tmp_path, TYPED)
    batch = fields(
        account=["a", "b", "c"],
        code=["1", "2", "3"],
        n=["1", "1", "1"],
        ids=["[]", "[]", "[]"],
        desensitized=["true"] * 3,
        op=["BAD", "LIST", "LIST"],
        ok=["1", "x", "0"],
    )
    values, failures = evaluate_columns(m, batch)
    assert values["line_no"].to_list() == [3]
    assert failures.to_dicts() == [
        {"line_no": 1, "reason": "mapping produced action 'order.peek' (not in the vocabulary)"},
        {"line_no": 2, "reason": "mapping produced outcome 'maybe' (not success/failure/unknown)"},
    ]


def test_null_action_is_a_failure(tmp_path: Path) -> None:
    m = load(tmp_path, "action = \"CASE op WHEN 'A' THEN 'auth.login' END\"")
    values, failures = evaluate_columns(m, fields(op=["A", "B"]))
    assert values["action"].to_list() == ["auth.login"]
    assert failures["reason"].to_list() == ["mapping produced no action (NULL); give the CASE an ELSE 'other'"]


def test_absent_fields_are_null_and_names_fold_case(tmp_path: Path) -> None:
    m = load(tmp_path, 'actor_id = "EVENTNAME"\nip = "not_in_this_batch"\nuser_agent = "\\"@timestamp\\""')
    values, failures = evaluate_columns(m, fields(eventName=["x"], **{"@timestamp": ["now"]}))
    assert failures.height == 0
    assert values.select("actor_id", "ip", "user_agent").row(0) == ("x", None, "now")


def test_lambda_parameters_are_not_raw_fields(tmp_path: Path) -> None:
    m = load(tmp_path, 'fields = "list_transform(CAST(f AS VARCHAR[]), lambda x: upper(x))"')
    assert referenced_fields(m) == {"f", "t"}
    values, _ = evaluate_columns(m, fields(f=["[receiver_name, item]"]))
    assert values["fields"].to_list() == [["RECEIVER_NAME", "ITEM"]]


def test_non_ascii_field_names(tmp_path: Path) -> None:
    m = load(tmp_path, 'actor_id = "\\"操作人\\""', ts='\\"打印时间\\"')
    values, _ = evaluate_columns(m, fields(**{"操作人": ["张三"], "打印时间": ["2024-03-01 10:00:00"]}))
    assert values["actor_id"].to_list() == ["张三"]
    assert referenced_fields(m) == {"操作人", "打印时间"}


def test_timestamp_zones(tmp_path: Path) -> None:
    m = load(tmp_path, 'actor_id = "a"', extra='tz = "Asia/Shanghai"')
    batch = fields(t=["2024-03-01 08:00:00", "2024-03-01T00:00:00Z", "garbage", None], a=["x"] * 4)
    norm = evaluate_timestamp(m, batch, None)  # mapping tz applies
    assert norm.ts.to_list()[:2] == [datetime(2024, 3, 1, 0, 0, tzinfo=UTC)] * 2
    assert norm.ts_offset.to_list()[:2] == ["Asia/Shanghai", "Z"]
    assert norm.error.to_list() == [None, None, "unparseable timestamp 'garbage'", "missing timestamp"]
    norm = evaluate_timestamp(m, batch, ZoneInfo("UTC"))  # --tz overrides the mapping
    assert norm.ts[0] == datetime(2024, 3, 1, 8, 0, tzinfo=UTC)


def test_zoneless_without_any_zone_is_flagged(tmp_path: Path) -> None:
    m = load(tmp_path, 'actor_id = "a"')
    batch = fields(t=["2024-03-01 08:00:00"], a=["x"])
    assert evaluate_timestamp(m, batch, None).error.to_list() == [NO_ZONE]
    assert evaluate(m, batch, None).zoneless_line == 1


def test_epoch_and_formats(tmp_path: Path) -> None:
    epoch = load_mapping(write(tmp_path, 'format = "jsonl"\n[timestamp]\nexpr = "ms"\nepoch = "ms"\n', "e.toml"))
    assert evaluate_timestamp(epoch, fields(ms=["1709251200123"]), None).ts[0] == datetime(
        2024, 3, 1, 0, 0, 0, 123000, tzinfo=UTC
    )
    fmt = 'format = "jsonl"\ntz = "UTC"\n[timestamp]\nexpr = "d || \' \' || h"\nformats = ["%Y%m%d %H%M%S"]\n'
    custom = load_mapping(write(tmp_path, fmt, "f.toml"))
    assert evaluate_timestamp(custom, fields(d=["20240301"], h=["235959"]), None).ts[0] == datetime(
        2024, 3, 1, 23, 59, 59, tzinfo=UTC
    )


def test_timestamp_expression_may_yield_duckdb_timestamps(tmp_path: Path) -> None:
    naive = load_mapping(
        write(tmp_path, 'format = "jsonl"\n[timestamp]\nexpr = "strptime(d, \'%d.%m.%Y %H:%M\')"\n', "n.toml")
    )
    assert naive.timestamp_type == "TIMESTAMP"
    norm = evaluate_timestamp(naive, fields(d=["01.03.2024 10:11", "31.02.2024 10:11"]), ZoneInfo("Asia/Shanghai"))
    assert norm.ts[0] == datetime(2024, 3, 1, 2, 11, tzinfo=UTC)
    assert norm.error[1] == "mapping timestamp.expr failed: Conversion Error: Date out of range: 2024-2-31"
    zoned = load_mapping(
        write(tmp_path, 'format = "jsonl"\n[timestamp]\nexpr = "to_timestamp(CAST(s AS DOUBLE))"\n', "z.toml")
    )
    assert zoned.timestamp_type == "TIMESTAMP WITH TIME ZONE"
    norm = evaluate_timestamp(zoned, fields(s=["1709251200.5"]), None)  # no --tz needed: the value is UTC
    assert (norm.ts[0], norm.ts_offset[0]) == (datetime(2024, 3, 1, 0, 0, 0, 500000, tzinfo=UTC), "Z")


def test_evaluate_combines_columns_and_time(tmp_path: Path) -> None:
    m = load(tmp_path, 'status = "code"\nactor_id = "a"')
    ev = evaluate(
        m,
        fields(t=["2024-03-01T00:00:00Z", "bad", "2024-03-01T00:00:01Z"], a=["x", "y", "z"], code=["1", "2", "nope"]),
        None,
    )
    assert ev.values.columns[:4] == ["line_no", "ts", "ts_raw", "ts_offset"]
    assert ev.values["line_no"].to_list() == [1]
    assert ev.failures["line_no"].to_list() == [2, 3]
    assert ev.failures["reason"][0] == "unparseable timestamp 'bad'"


# ------------------------------------------------------------------ properties

_CACHE: dict[str, Mapping] = {}


def cached(factory: pytest.TempPathFactory, body: str) -> Mapping:
    """Load each property-test mapping once (loading binds every expression in DuckDB)."""
    if body not in _CACHE:
        _CACHE[body] = load_mapping(write(factory.mktemp("m"), body))
    return _CACHE[body]


SAFE_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(
        st.tuples(SAFE_TEXT, st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1)), st.booleans()),
        min_size=1,
        max_size=40,
    )
)
def test_identity_mapping_round_trips(tmp_path_factory: pytest.TempPathFactory, rows: list) -> None:
    columns = 'actor_id = "a"\nstatus = "s"\nmasked = "m = \'1\'"\naction_raw = "lower(a)"'
    m = cached(tmp_path_factory, mapping_text(columns))
    batch = fields(
        a=[r[0] for r in rows],
        s=[None if r[1] is None else str(r[1]) for r in rows],
        m=["1" if r[2] else "0" for r in rows],
    )
    values, failures = evaluate_columns(m, batch)
    assert failures.height == 0
    assert values["actor_id"].to_list() == [r[0] for r in rows]
    assert values["status"].to_list() == [r[1] for r in rows]
    assert values["masked"].to_list() == [r[2] for r in rows]


@settings(max_examples=100, deadline=None)
@given(codes=st.lists(st.one_of(st.integers(0, 999).map(str), st.sampled_from(["", "-", "x1", "1.5.2"])), max_size=60))
def test_every_row_is_a_value_or_a_failure(tmp_path_factory: pytest.TempPathFactory, codes: list[str]) -> None:
    m = cached(tmp_path_factory, mapping_text('status = "code"'))
    batch = fields(code=codes) if codes else fields(code=[]).head(0)
    values, failures = evaluate_columns(m, batch)
    got = sorted(values["line_no"].to_list() + failures["line_no"].to_list())
    assert got == list(range(1, len(codes) + 1))
    ok = {i + 1 for i, c in enumerate(codes) if c.isdigit()}
    assert set(values["line_no"].to_list()) == ok


def test_mappable_columns_exclude_provenance() -> None:
    assert "actor_id" in MAPPABLE_COLUMNS
    assert not {"ts", "source", "src_sha256", "line_no", "row_digest", "attrs"} & set(MAPPABLE_COLUMNS)


# ------------------------------------------------------------------ lambda syntax (issue 16, 6d)


def test_arrow_lambda_gets_a_clear_error_naming_key_and_accepted_form(tmp_path: Path) -> None:
    path = write(tmp_path, mapping_text("fields = \"list_filter(CAST(tags AS VARCHAR[]), x -> x = 'vip')\""))
    with pytest.raises(UsageError) as err:
        load_mapping(path)
    message = str(err.value)
    assert message.startswith(f"{path}: columns.fields: ")
    assert "`lambda x: ...`" in message
    assert "Binder Error" not in message


def test_python_style_lambda_is_accepted(tmp_path: Path) -> None:
    m = load(tmp_path, "fields = \"list_filter(CAST(tags AS VARCHAR[]), lambda x: x <> 'vip')\"")
    rows = pl.DataFrame({"line_no": [1], "t": ["2024-01-01T00:00:00Z"], "tags": ['["vip", "phone"]']})
    values, failures = evaluate_columns(m, rows)  # type: ignore[arg-type]
    assert failures.height == 0
    assert values["fields"].to_list() == [["phone"]]
