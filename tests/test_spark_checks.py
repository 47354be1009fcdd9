"""Differential tests: the same pack on the same case gives the same verdicts, rows and result digests on
DuckDB and on Spark (local[2]); a warehouse table in the canonical schema can stand in for the events.

Skipped, with the reason, only where pyspark or a Java runtime is missing (scripts/setup.sh installs both,
so CI runs them). One SparkSession serves the whole test run (the `spark` fixture, tests/conftest.py).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from forensics.case import Case, init_case, listed_outputs
from forensics.checkrun import check_case
from forensics.engines.base import open_engine
from forensics.engines.spark_session import pyspark_missing
from forensics.errors import ForensicsError
from forensics.packs import load_pack, materialize_case, read_fixture_events, run_pack
from forensics.seal import read_custody

MISSING = pyspark_missing()
pytestmark = [pytest.mark.spark, pytest.mark.skipif(MISSING is not None, reason=f"Spark tests need: {MISSING}")]


@pytest.fixture(params=["clean", "guilty", "gap"])
def sample_case(request: pytest.FixtureRequest, spark_sample: Any) -> Case:
    case: Case = spark_sample(str(request.param))[1]
    return case


def _comparable(result: Any) -> dict[str, Any]:
    data: dict[str, Any] = result.to_json(full=True)
    data.pop("engine", None)
    return data


def test_sample_case_checks_are_equal_on_duckdb_and_spark(spark: Any, sample_case: Case) -> None:
    duck, _ = check_case(sample_case, None)
    on_spark, _ = check_case(sample_case, None, engine="spark")
    for a, b in zip(duck.to_json(full=True)["checks"], on_spark.to_json(full=True)["checks"], strict=True):
        keys = ("id", "verdict", "rows", "result_sha256")
        assert [a[k] for k in keys] == [b[k] for k in keys]
        assert a["results"] == b["results"] and a["reason"] == b["reason"]
    assert _comparable(duck) == _comparable(on_spark)  # completeness figures, exposure, window too
    assert on_spark.to_json()["engine"] == "spark" and "engine" not in duck.to_json()
    last = read_custody(sample_case)[-1]
    assert last["action"] == "check" and last["details"]["engine"] == "spark"
    assert last["details"]["verdicts"] == duck.verdicts
    # not only equal: what each variant planted is found (a bug shared by both engines would hide behind equality)
    planted = {"clean": "clean", "guilty": "flagged", "gap": "inconclusive"}[sample_case.root.parent.name.split("-")[2]]
    assert on_spark.check("unmasked-view").verdict == planted


def _canonical_table(spark: Any, case: Case, name: str) -> int:
    """A platform-style warehouse table holding the case's events (canonical schema, no `date` column)."""
    events, _ = listed_outputs(case, case.manifest())
    frame = spark.read.parquet(*[str(p) for p in events]).drop("date")
    frame.write.mode("overwrite").saveAsTable(name)
    return sum(pq.read_metadata(p).num_rows for p in events)


def _expected_digest(case: Case) -> str:
    """The documented digest (forensics/engines/warehouse.py), computed here without Spark."""
    events, _ = listed_outputs(case, case.manifest())
    digests = sorted(d for p in events for d in pq.read_table(p, columns=["row_digest"]).column(0).to_pylist())
    buckets: dict[str, list[str]] = {}
    for d in digests:
        buckets.setdefault(d[:3], []).append(d)
    text = "".join(
        f"{b}:{hashlib.sha256(''.join(x + chr(10) for x in buckets[b]).encode()).hexdigest()}\n"
        for b in sorted(buckets)
    )
    return hashlib.sha256(text.encode()).hexdigest()


def test_warehouse_table_runs_the_pack_and_says_it_was_a_table(spark: Any, tmp_path: Path) -> None:
    pack = load_pack("order-leak")
    folder = pack.fixtures_dir / "guilty"
    case = materialize_case(
        tmp_path / "case", read_fixture_events(folder / "events.jsonl"), (folder / "case.toml").read_text(), "0" * 64
    )
    rows = _canonical_table(spark, case, "default.canonical_events")
    on_table = run_pack(case, pack, engine=open_engine(case, "spark", tables={"events": "default.canonical_events"}))
    duck = run_pack(case, pack)
    assert on_table.verdicts == duck.verdicts and on_table.check("unmasked-view").verdict == "flagged"
    assert [c["result_sha256"] for c in on_table.to_json()["checks"]] == [
        c["result_sha256"] for c in duck.to_json()["checks"]
    ]
    source = on_table.to_json()["source"]
    assert source["kind"] == "warehouse_table" and source["table"] == "default.canonical_events"
    assert source["rows"] == rows and source["version"] is None  # a plain Parquet table keeps no versions
    assert source["digest"] == _expected_digest(case)
    json.dumps(source)


def test_warehouse_table_without_canonical_columns_is_refused(spark: Any, tmp_path: Path) -> None:
    spark.createDataFrame([("a", 1)], "actor_id STRING, line_no BIGINT").write.mode("overwrite").saveAsTable(
        "default.not_canonical"
    )
    case = init_case(tmp_path / "case")
    with pytest.raises(ForensicsError, match=r"missing column\(s\) ts, ts_raw"):
        open_engine(case, "spark", tables={"events": "default.not_canonical"})


def test_packs_test_analyses_every_check_on_spark(spark: Any) -> None:
    from forensics.engines.packcheck import spark_check_pack

    results = spark_check_pack(load_pack("order-leak"), analyse=True)
    assert all(r.ok and r.detail == "translated and analysed by Spark" for r in results), [r.detail for r in results]


def test_client_ip_udf_answers_as_on_duckdb(spark: Any, tmp_path: Path) -> None:
    pack = load_pack("order-leak")
    folder = pack.fixtures_dir / "clean"
    case = materialize_case(
        tmp_path / "case", read_fixture_events(folder / "events.jsonl"), (folder / "case.toml").read_text(), "0" * 64
    )
    sql = "SELECT line_no, client_ip(ip, forwarded_for) AS client FROM events ORDER BY src_sha256, line_no LIMIT 50"
    duck, on_spark = open_engine(case), open_engine(case, "spark")
    try:
        assert on_spark.execute(sql).fetchall() == duck.execute(sql).fetchall()
    finally:
        duck.close()
        on_spark.close()


def test_retracted_input_leaves_the_spark_views_as_it_leaves_duckdbs(spark: Any, tmp_path: Path) -> None:
    from forensics.seal import write_manifest

    pack = load_pack("order-leak")
    folder = pack.fixtures_dir / "guilty"
    case = materialize_case(
        tmp_path / "case", read_fixture_events(folder / "events.jsonl"), (folder / "case.toml").read_text(), "0" * 64
    )
    manifest = case.manifest()
    sha = manifest["outputs"][0]["input_sha256"]
    manifest["inputs"] = [{"sha256": sha, "generation": 1, "retracted": True, "path": "x.log"}]
    write_manifest(case, manifest)
    sql = "SELECT source, count(*) AS n FROM events GROUP BY source ORDER BY source"
    duck, on_spark = open_engine(case), open_engine(case, "spark")
    try:
        kept = duck.execute(sql).fetchall()
        assert on_spark.execute(sql).fetchall() == kept
        total = sum(o["rows"] for o in manifest["outputs"])
        assert sum(n for _, n in kept) < total  # the retracted input's rows are gone from both
    finally:
        duck.close()
        on_spark.close()
