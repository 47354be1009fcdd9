"""Mapping [actions] / [actor_types] lookup tables: validation, evaluation, unknown values at ingest."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forensics.case import init_case
from forensics.cli import main
from forensics.errors import UsageError
from forensics.ingest import IngestOptions, ingest_paths
from forensics.mapping import evaluate, evaluate_columns, load_mapping
from forensics.mapping_lookups import MAX_DISTINCT, UnknownTally, collecting_unknown

HEAD = 'source = "shop2"\nformat = "jsonl"\ntz = "Asia/Shanghai"\n[timestamp]\nexpr = "t"\n'
TABLE = """
[actions]
field = "操作"
[actions.values]
"查看订单" = "order.view"
"解密收件人" = "order.view_unmasked"
"导出订单" = "order.export"

[actor_types]
field = "账号类型"
[actor_types.values]
"主账号" = "account"
"子账号" = "sub_account"
"""


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "m.toml"
    path.write_text(body, encoding="utf-8")
    return path


def raw(rows: list[dict[str, str | None]]) -> pl.DataFrame:
    names = sorted({k for r in rows for k in r})
    data: dict[str, list[object]] = {"line_no": list(range(1, len(rows) + 1))}
    data.update({n: [r.get(n) for r in rows] for n in names})
    return pl.DataFrame(data, schema={"line_no": pl.Int64, **dict.fromkeys(names, pl.String)})


def test_chinese_lookup_maps_actions_actor_types_and_keeps_the_raw_name(tmp_path: Path) -> None:
    m = load_mapping(write(tmp_path, HEAD + TABLE))
    rows = raw(
        [
            {"t": "2024-03-01 10:00:00", "操作": "解密收件人", "账号类型": "子账号"},
            {"t": "2024-03-01 10:00:01", "操作": "导出订单", "账号类型": "主账号"},
        ]
    )
    values, failures = evaluate_columns(m, rows)
    assert failures.height == 0
    assert values["action"].to_list() == ["order.view_unmasked", "order.export"]
    assert values["actor_type"].to_list() == ["sub_account", "account"]
    assert values["action_raw"].to_list() == ["解密收件人", "导出订单"]  # the platform's own name stays
    assert not any(c.startswith("__forensics") for c in values.columns)


def test_unknown_values_are_counted_per_value_not_silently_other(tmp_path: Path) -> None:
    m = load_mapping(write(tmp_path, HEAD + TABLE))
    rows = raw(
        [
            {"t": "2024-03-01 10:00:00", "操作": "打印面单", "账号类型": "主账号"},
            {"t": "2024-03-01 10:00:01", "操作": "打印面单", "账号类型": "客服"},
            {"t": "2024-03-01 10:00:02", "操作": "查看订单", "账号类型": "主账号"},
            {"t": "2024-03-01 10:00:03", "账号类型": "主账号"},
        ]
    )
    with collecting_unknown() as tally:
        ev = evaluate(m, rows, None)
    assert ev.values["action"].to_list() == ["other", "other", "order.view", "other"]
    assert tally.to_json() == {
        "actions": {"records": 3, "values": {"打印面单": 2, "(null)": 1}},
        "actor_types": {"records": 1, "values": {"客服": 1}},
    }


def test_default_for_unknown_values_is_configurable(tmp_path: Path) -> None:
    body = HEAD + '[actions]\nexpr = "upper(op)"\ndefault = "api.call"\n[actions.values]\nGET_ORDER = "order.view"\n'
    m = load_mapping(write(tmp_path, body))
    values, _ = evaluate_columns(m, raw([{"t": "x", "op": "get_order"}, {"t": "x", "op": "ping"}]))
    assert values["action"].to_list() == ["order.view", "api.call"]
    assert values["action_raw"].to_list() == ["GET_ORDER", "PING"]


def test_explicit_action_raw_is_kept(tmp_path: Path) -> None:
    body = HEAD + '[columns]\naction_raw = "op || \'!\'"\n[actions]\nfield = "op"\n[actions.values]\na = "order.view"\n'
    values, _ = evaluate_columns(load_mapping(write(tmp_path, body)), raw([{"t": "x", "op": "a"}]))
    assert values["action_raw"].to_list() == ["a!"]


def test_lookup_that_is_not_a_table_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"\[actions\] must be a table"):
        load_mapping(write(tmp_path, 'actions = "x"\n' + HEAD))


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            '[actions]\nfield = "op"\n[actions.values]\n"查看" = "order.viewed"\n',
            "actions.values.\"查看\": 'order.viewed'",
        ),
        ('[actions]\nfield = "op"\n[actions.values]\n"查看" = "order.viewed"\n', "did you mean 'order.view'"),
        ('[actions]\n[actions.values]\na = "order.view"\n', "exactly one of field"),
        ('[actions]\nfield = "a"\nexpr = "b"\n[actions.values]\na = "order.view"\n', "exactly one of field"),
        ('[actions]\nfield = "op"\n', "[actions.values] is required"),
        ('[actions]\nfield = "op"\nvalue = {}\n', "unknown key actions.value (did you mean 'values'?)"),
        ('[actions]\nfield = "op"\ndefault = "nope"\n[actions.values]\na = "other"\n', "actions.default: 'nope'"),
        ('[actor_types]\nfield = "t"\n[actor_types.values]\na = "admin"\n', "not a canonical actor_type"),
        ('[actor_types]\nfield = "t"\n[actor_types.values]\na = 3\n', 'actor_types.values."a" must be a string'),
        ('[actions]\nexpr = "read_csv(\'x\')"\n[actions.values]\na = "other"\n', "actions.expr"),
        ('[actions]\nexpr = "nosuchfn(op)"\n[actions.values]\na = "other"\n', "actions.expr"),
        (
            '[columns]\naction = "\'other\'"\n[actions]\nfield = "op"\n[actions.values]\na = "other"\n',
            "columns.action and [actions] both define action",
        ),
    ],
)
def test_bad_tables_are_usage_errors_naming_file_and_key(tmp_path: Path, table: str, message: str) -> None:
    path = write(tmp_path, HEAD + table)
    with pytest.raises(UsageError) as err:
        load_mapping(path)
    assert str(path) in str(err.value)
    assert message in str(err.value)


def toml_string(text: str) -> str:
    """A TOML basic string (controls and DEL escaped as TOML requires)."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


_KEY_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(keys=st.lists(_KEY_TEXT, min_size=1, max_size=6, unique=True), probe=_KEY_TEXT)
def test_any_raw_value_is_looked_up_exactly(tmp_path: Path, keys: list[str], probe: str) -> None:
    """Quotes, backslashes, Chinese, controls: a listed value maps to its action, any other is counted."""
    lines = "\n".join(f'{toml_string(k)} = "order.view"' for k in keys)
    m = load_mapping(write(tmp_path, HEAD + f'[actions]\nfield = "op"\n[actions.values]\n{lines}\n'))
    rows = raw([{"t": "x", "op": k} for k in [*keys, probe]])
    with collecting_unknown() as tally:
        values, failures = evaluate_columns(m, rows)
    assert failures.height == 0
    expected = ["order.view"] * len(keys) + ["order.view" if probe in keys else "other"]
    assert values["action"].to_list() == expected
    assert tally.to_json() == ({} if probe in keys else {"actions": {"records": 1, "values": {probe: 1}}})


def test_tally_is_bounded() -> None:
    tally = UnknownTally()
    tally.add("actions", {str(i): 1 for i in range(MAX_DISTINCT + 10)})
    tally.add("actions", {"0": 2, "new": 5})
    out = tally.to_json()["actions"]
    assert len(out["values"]) == MAX_DISTINCT
    assert out["values"]["0"] == 3
    assert out["not_listed"] == 15
    assert out["records"] == MAX_DISTINCT + 10 + 2 + 5


def _ingest_case(tmp_path: Path) -> tuple[Path, Path, Path]:
    mapping = write(tmp_path, HEAD + TABLE)
    log = tmp_path / "audit.jsonl"
    lines = [
        {"t": "2024-03-01 10:00:00", "操作": "查看订单", "账号类型": "主账号"},
        {"t": "2024-03-01 10:00:01", "操作": "打印面单", "账号类型": "主账号"},
        {"t": "2024-03-01 10:00:02", "操作": "打印面单", "账号类型": "主账号"},
        {"t": "2024-03-01 10:00:03", "操作": "改价", "账号类型": "主账号"},
    ]
    log.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines), encoding="utf-8")
    case = tmp_path / "case"
    init_case(case)
    return case, mapping, log


def test_ingest_reports_unknown_values_in_report_warning_and_manifest(tmp_path: Path) -> None:
    case, mapping, log = _ingest_case(tmp_path)
    from forensics.case import open_case

    report = ingest_paths(open_case(case), [log], IngestOptions(mapping=mapping))
    expected = {"actions": {"records": 3, "values": {"打印面单": 2, "改价": 1}}}
    assert report.files[0].unknown_values == expected
    assert report.to_json()["files"][0]["unknown_values"] == expected
    assert any("'打印面单' (2)" in w and "[actions.values]" in w for w in report.files[0].warnings)
    manifest = json.loads((case / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["inputs"][0]["unknown_values"] == expected
    assert report.events == 4  # reported, and still ingested (as 'other'): nothing is dropped


def test_ingest_cli_prints_unknown_values(tmp_path: Path) -> None:
    case, mapping, log = _ingest_case(tmp_path)
    result = CliRunner().invoke(main, ["ingest", str(case), str(log), "--mapping", str(mapping), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["files"][0]["unknown_values"]["actions"]["values"] == {"打印面单": 2, "改价": 1}
    assert "打印面单" in "\n".join(data["files"][0]["warnings"])


def test_mapping_without_tables_reports_nothing(tmp_path: Path) -> None:
    case, _, log = _ingest_case(tmp_path)
    plain = tmp_path / "plain.toml"
    plain.write_text(HEAD + '[columns]\naction_raw = "操作"\n', encoding="utf-8")
    from forensics.case import open_case

    report = ingest_paths(open_case(case), [log], IngestOptions(mapping=plain))
    assert report.files[0].unknown_values == {}
    manifest = json.loads((case / "manifest.json").read_text(encoding="utf-8"))
    assert "unknown_values" not in manifest["inputs"][0]  # existing manifests keep their exact shape


_TOML_VALUES = st.recursive(
    st.one_of(st.text(max_size=8), st.integers(), st.booleans(), st.floats(allow_nan=False)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(
    section=st.dictionaries(
        st.sampled_from(["field", "expr", "default", "values", "other"]),
        st.one_of(_TOML_VALUES, st.dictionaries(st.text(max_size=4), st.sampled_from(["order.view", "nope", "other"]))),
    )
)
def test_any_lookup_section_is_accepted_or_refused_with_a_usage_error(section: dict[str, object]) -> None:
    from forensics.mapping_lookups import parse_lookups

    try:
        (lookup,) = parse_lookups({"actions": section}, {}, "m.toml")
    except UsageError as exc:
        message = str(exc)
        assert message.startswith("m.toml: ")
        assert not [c for c in message if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")]
        return
    assert lookup.column == "action" and lookup.values


def test_strict_exits_1_when_a_file_warned_without_any_quarantined_line(tmp_path: Path) -> None:
    # --help and README promise --strict fails on warnings too: unknown raw values are a warning, not quarantine
    case, mapping, log = _ingest_case(tmp_path)
    result = CliRunner().invoke(main, ["ingest", str(case), str(log), "--mapping", str(mapping), "--strict"])
    assert result.exit_code == 1, result.output
    assert "--strict" in result.output and "warned" in result.output
    manifest = json.loads((case / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["inputs"][0]["events"] == 4  # the ingest is kept, only the exit code says so
