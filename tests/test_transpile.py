"""Pack SQL to Spark SQL without a JVM: every bundled check translates, an untranslatable one is refused
with file:line, and the canonical schema is published as Spark/Hive DDL. (Spark's answers: test_spark_checks.)"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import sqlglot
from click.testing import CliRunner

from forensics.cli import main
from forensics.engines.ddl import schema_ddl
from forensics.engines.packcheck import spark_check_pack
from forensics.engines.transpile import TranspileError, check_spark_sql, to_spark
from forensics.packs import list_packs, load_pack
from forensics.schema import EVENT_COLUMNS


@pytest.mark.parametrize("name", [p.name for p in list_packs()])
def test_every_check_of_every_bundled_pack_translates(name: str) -> None:
    results = spark_check_pack(load_pack(name), analyse=False)
    assert results and all(r.ok for r in results), [r.detail for r in results if not r.ok]


def test_parameters_stay_bound_never_formatted() -> None:
    sql = to_spark("SELECT * FROM events WHERE actor_id = $who AND ts >= $padded_start - to_seconds($cap)")
    assert ":who" in sql and ":padded_start" in sql and ":cap" in sql
    assert "$" not in sql


def test_untranslatable_function_is_refused_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "09_bad.sql"
    text = "-- id: bad\n-- expect: info\nSELECT\n    ts,\n    list_reduce(fields, (a, b) -> a || b) AS j\nFROM events\n"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TranspileError, match=rf"{path}:5: .*list_reduce.* no Spark SQL equivalent"):
        check_spark_sql(path, text, text)


def test_packs_test_refuses_a_pack_with_an_untranslatable_check(tmp_path: Path) -> None:
    folder = tmp_path / "pack"
    shutil.copytree(load_pack("order-leak").path, folder)
    trail = folder / "01_order_trail.sql"
    text = trail.read_text(encoding="utf-8")
    added = "    list_reduce(fields, (a, b) -> a || b) AS j"
    trail.write_text(text.replace("    line_no\nFROM events", f"    line_no,\n{added}\nFROM events"))
    line = trail.read_text(encoding="utf-8").splitlines().index(added) + 1
    result = CliRunner().invoke(main, ["packs", "test", str(folder), "--no-spark"])
    assert result.exit_code == 1
    assert f"FAIL order-trail spark: {trail}:{line}: list_reduce() has no Spark SQL equivalent" in result.output


def test_duckdb_specific_functions_are_rewritten() -> None:
    sql = to_spark(
        "SELECT epoch(b - a) AS s, format('{:.0f} s', x) AS f, quantile_cont(x, 0.5) AS q, len(order_ids) AS n "
        "FROM t, range(a, b, INTERVAL 1 HOUR) AS r(h)"
    )
    assert "UNIX_MICROS(b) - UNIX_MICROS(a)" in sql  # not unix_timestamp: the fraction of a second counts
    assert "FORMAT_STRING('%.0f s', BROUND(" in sql  # fmt rounds half to even
    assert "PERCENTILE(x, 0.5)" in sql and "SIZE(order_ids)" in sql
    assert "_x < b" in sql  # range() excludes its end, sequence() does not


def test_cte_materialization_hints_are_dropped_for_spark() -> None:
    # DuckDB's hints (07_completeness.sql reads in_window twice) are no Spark syntax; the rows do not depend on them
    for hint in ("MATERIALIZED", "NOT MATERIALIZED"):
        sql = to_spark(f"WITH u AS {hint} (SELECT hash(x) AS h FROM t) SELECT a.h FROM u AS a JOIN u AS b ON a.h = b.h")
        assert "MATERIALIZED" not in sql.upper() and sql.startswith("WITH u AS (SELECT HASH(x)")


@pytest.mark.parametrize("dialect", ["spark", "hive"])
def test_schema_ddl_lists_every_canonical_column(dialect: str) -> None:
    ddl = schema_ddl(dialect, "warehouse.events")
    create = sqlglot.parse_one(ddl.split("\n", 2)[2], read="spark" if dialect == "spark" else "hive")
    names = [c.name for c in create.find_all(sqlglot.exp.ColumnDef)]
    assert set(names) == {*EVENT_COLUMNS, "date"}
    assert "PARTITIONED BY" in ddl


def test_schema_command_prints_ddl() -> None:
    result = CliRunner().invoke(main, ["schema", "--dialect", "hive", "--table", "db.events"])
    assert result.exit_code == 0 and result.output.startswith("-- forensics canonical events")
    assert "CREATE TABLE db.events" in result.output
    assert re.search(r"`order_ids`\s+ARRAY<STRING>", result.output)
    bad = CliRunner().invoke(main, ["schema", "--dialect", "oracle"])
    assert bad.exit_code == 2
