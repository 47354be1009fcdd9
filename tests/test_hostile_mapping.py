"""Issue 12: a mapping expression or a pack check cannot take unbounded memory or time.

A resource failure stops the input (or the check) with an error naming the mapping key (or the check), exit 1,
and leaves the case as it was: it is not a property of any one log line, so nothing is quarantined for it.
Peak memory figures are measured in bench/bombs.py, not here.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from forensics.case import Case
from forensics.cli import main
from forensics.errors import ForensicsError, UsageError
from forensics.ingest import IngestOptions, ingest_paths
from forensics.packs import load_pack, materialize_case, read_fixture_events

MAPPING = """\
source = "audit"
format = "jsonl"
tz = "Asia/Shanghai"
[timestamp]
expr = "op_time"
[columns]
actor_id = {actor}
action = "'other'"
"""


def _records(path: Path, n: int) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(json.dumps({"op_time": "2024-03-01 10:00:00", "account": f"acct{i:05d}"}) + "\n")
    return path


def _mapping(tmp_path: Path, actor_sql: str) -> Path:
    path = tmp_path / "bomb.toml"
    path.write_text(MAPPING.format(actor=json.dumps(actor_sql)), encoding="utf-8")
    return path


def _state(case: Case) -> tuple[bytes, bytes]:
    return case.manifest_path.read_bytes(), case.custody_path.read_bytes()


BOMBS = {
    "string repeat": "CAST(length(repeat(account, 50000000)) AS VARCHAR)",
    "list repeat": "CAST(len(repeat([account], 50000000)) AS VARCHAR)",
    "list resized to a huge length": "CAST(len(list_resize([account], 200000000)) AS VARCHAR)",
    "regex growth": "CAST(length("
    + "regexp_replace(" * 6
    + "account"
    + ", '', 'xxxxxxxxxx', 'g')" * 6
    + ") AS VARCHAR)",
}


@pytest.mark.parametrize("sql", BOMBS.values(), ids=list(BOMBS))
def test_a_memory_bomb_in_a_mapping_stops_the_input_naming_file_and_key(
    case: Case, tmp_path: Path, sql: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORENSICS_MAPPING_MEMORY", "512MiB")
    data = _records(tmp_path / "a.jsonl", 50)
    mapping = _mapping(tmp_path, sql)
    before = _state(case)
    with pytest.raises(ForensicsError) as info:
        ingest_paths(case, [data], IngestOptions(mapping=mapping))
    message = str(info.value)
    assert str(mapping) in message and "columns.actor_id" in message and "FORENSICS_MAPPING_MEMORY" in message
    assert "no line was quarantined" in message
    assert _state(case) == before  # nothing sealed, nothing quarantined


def test_after_a_bomb_the_next_mapping_runs_normally(case: Case, tmp_path: Path) -> None:
    data = _records(tmp_path / "a.jsonl", 20)
    with pytest.raises(ForensicsError):
        ingest_paths(case, [data], IngestOptions(mapping=_mapping(tmp_path, BOMBS["string repeat"])))
    report = ingest_paths(case, [data], IngestOptions(mapping=_mapping(tmp_path, "account")))
    assert report.files[0].events == 20 and report.files[0].quarantined == 0


def test_a_slow_mapping_is_stopped_by_the_timeout(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # seconds of hashing over 80,000 records, in small chunks (little memory); the timeout is a fraction of that
    data = _records(tmp_path / "a.jsonl", 80_000)
    mapping = _mapping(tmp_path, "md5(repeat(account, 1000))")
    monkeypatch.setenv("FORENSICS_TIMEOUT", "0.2")
    before = _state(case)
    result = CliRunner().invoke(main, ["ingest", str(case.root), str(data), "--mapping", str(mapping)])
    out = result.output + result.stderr
    assert result.exit_code == 1 and "Traceback" not in out, out
    assert "columns.actor_id: evaluation ran longer than 0.2 s (FORENSICS_TIMEOUT)" in out and str(mapping) in out
    assert _state(case) == before


def test_range_over_a_huge_integer_is_refused_before_any_row_is_read(case: Case, tmp_path: Path) -> None:
    data = _records(tmp_path / "a.jsonl", 5)
    mapping = _mapping(tmp_path, "CAST(len(range(5000000000)) AS VARCHAR)")
    with pytest.raises(UsageError, match=r"bomb\.toml: columns\.actor_id: function generate_series\(\) is not allowed"):
        ingest_paths(case, [data], IngestOptions(mapping=mapping))


def test_a_memory_bomb_gives_exit_1_and_one_line(case: Case, tmp_path: Path) -> None:
    data = _records(tmp_path / "a.jsonl", 5)
    mapping = _mapping(tmp_path, BOMBS["list resized to a huge length"])
    result = CliRunner().invoke(main, ["ingest", str(case.root), str(data), "--mapping", str(mapping)])
    assert result.exit_code == 1 and "Traceback" not in result.output + result.stderr
    assert "columns.actor_id: evaluation needs more than" in result.stderr


def test_the_evaluator_process_cannot_read_files(tmp_path: Path) -> None:
    import duckdb
    import pyarrow as pa

    from forensics.sandbox import run_in_sandbox

    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    table = pa.table({"x": [1]})
    with pytest.raises(duckdb.Error, match="disabled"):
        run_in_sandbox(f"SELECT * FROM read_csv('{secret}')", table, "b")
    with pytest.raises(duckdb.Error):
        run_in_sandbox("SET enable_external_access = true", table, "b")
    assert run_in_sandbox("SELECT x + 1 AS y FROM b", table, "b").to_pylist() == [{"y": 2}]


def test_a_slow_pack_check_is_stopped_and_nothing_is_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pack = load_pack("order-leak")
    folder = pack.fixtures_dir / "clean"
    case = materialize_case(
        tmp_path / "case",
        read_fixture_events(folder / "events.jsonl"),
        (folder / "case.toml").read_text(encoding="utf-8"),
        "0" * 64,
    )
    mine = tmp_path / "pack"
    shutil.copytree(pack.path, mine, ignore=shutil.ignore_patterns("fixtures"))
    sql_file = mine / "06_mass_access.sql"
    order = "ORDER BY d.day, d.source, d.actor_id"
    text = sql_file.read_text(encoding="utf-8")
    assert order in text
    # the check's own query, gated on a scan that would take hours
    gate = "  AND (SELECT count(*) FROM range(100000000000) t(i) WHERE i % 7 = 3) >= 0\n"
    sql_file.write_text(text.replace(order, gate + order), encoding="utf-8")
    monkeypatch.setenv("FORENSICS_TIMEOUT", "1")
    before = sorted(p.name for p in case.root.iterdir())
    result = CliRunner().invoke(main, ["check", str(case.root), "--pack", str(mine), "--allow-unverified"])
    out = result.output + result.stderr
    assert result.exit_code == 1 and "Traceback" not in out, out
    assert "check mass-access: stopped after 1 s (FORENSICS_TIMEOUT" in out and "06_mass_access.sql" in out
    assert sorted(p.name for p in case.root.iterdir()) == before and not case.custody_path.exists()
