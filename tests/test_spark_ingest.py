"""Differential tests: `ingest --engine spark` builds the case the local engine builds.

The sample world (`forensics sample`, guilty variant) is ingested once with the local engine and once on
Spark in local mode (local[2], the test run's one SparkSession: tests/conftest.py). What must differ, and is ignored:
- the input entries' `ingested_at` (when each file was parsed),
- the manifest's `updated_at`, the report's `case` (two case folders),
- custody entries (times, hashes, how files were batched into seals, the recorded engine).
Everything else in the manifest (inputs: hashes, counts, Merkle roots, formats; outputs: Parquet paths and
hashes) and every check's verdict and result digest must be equal.

Skipped, with the reason, only when pyspark or a Java runtime is missing.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

pyspark = pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'forensics[spark]')")
if not (shutil.which("java") or (os.environ.get("JAVA_HOME") and Path(os.environ["JAVA_HOME"], "bin/java").exists())):
    pytest.skip("no Java runtime (apt-get install default-jre-headless)", allow_module_level=True)

from forensics.case import Case, init_case  # noqa: E402
from forensics.checkrun import check_case  # noqa: E402
from forensics.cli import main  # noqa: E402
from forensics.custody import verify_case  # noqa: E402
from forensics.engines import spark_ingest  # noqa: E402
from forensics.engines.spark_ingest import ingest_plan_spark  # noqa: E402
from forensics.errors import ForensicsError, UsageError  # noqa: E402
from forensics.ingest import IngestOptions, ingest_plan  # noqa: E402

MASTER = "local[2]"
DIFFERS_PER_INPUT = {"ingested_at"}  # when each file was parsed


@pytest.fixture(scope="module")
def world(spark_sample: Any) -> Path:
    world: Path = spark_sample("guilty")[0]
    return world


def _new_case(path: Path, world: Path) -> Case:
    case = init_case(path)
    shutil.copyfile(world / "case.toml", case.toml_path)
    return case


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, spark_sample: Any, spark: Any) -> dict[str, Any]:
    # the local engine's case is the shared guilty sample case (tests/conftest.py): ingested once per run
    world, local, local_report = spark_sample("guilty")
    on_spark = _new_case(tmp_path_factory.mktemp("cases") / "spark", world)
    spark_report = ingest_plan_spark(on_spark, world / "plan.toml", IngestOptions(), MASTER)
    return {"local": local, "spark": on_spark, "local_report": local_report, "spark_report": spark_report}


def _inputs(case: Case) -> list[dict[str, Any]]:
    return [{k: v for k, v in i.items() if k not in DIFFERS_PER_INPUT} for i in case.manifest()["inputs"]]


def test_manifest_inputs_and_outputs_equal_the_local_engines(built: dict[str, Any]) -> None:
    local, on_spark = built["local"], built["spark"]
    assert len(_inputs(local)) > 50  # the whole plan, every source
    assert _inputs(on_spark) == _inputs(local)  # hashes, counts, Merkle roots, formats, in plan order
    assert on_spark.manifest()["outputs"] == local.manifest()["outputs"]  # same Parquet files, same hashes
    assert all(i["merkle_root"] for i in _inputs(on_spark) if i["events"])


def test_report_equals_the_local_engines(built: dict[str, Any]) -> None:
    local, on_spark = built["local_report"].to_json(), built["spark_report"].to_json()
    local.pop("case"), on_spark.pop("case")
    assert on_spark == local
    assert built["spark_report"].identity_holds()


def test_spark_built_case_passes_verify_fast_and_full(built: dict[str, Any]) -> None:
    case = built["spark"]
    fast = verify_case(case, deep=False)
    full = verify_case(case, deep=True)
    assert fast.ok, fast.problems
    assert full.ok, full.problems
    assert not (case.root / ".staging").exists()  # nothing left behind on the shared filesystem


def test_custody_records_the_engine(built: dict[str, Any]) -> None:
    lines = (built["spark"].custody_path).read_text(encoding="utf-8").splitlines()
    ingest = [json.loads(x) for x in lines if json.loads(x)["action"] == "ingest"]
    assert ingest[0]["details"]["engine"]["name"] == "spark"
    assert ingest[0]["details"]["engine"]["master"] == MASTER
    sealed = [i["sha256"] for e in ingest for i in e["details"]["inputs"]]
    assert sealed == [i["sha256"] for i in built["spark"].manifest()["inputs"]]


def test_checks_give_the_same_verdicts_and_digests(built: dict[str, Any]) -> None:
    def verdicts(case: Case) -> dict[str, tuple[str, str]]:
        result = check_case(case, None, {})[0].to_json()
        return {c["id"]: (c["verdict"], c["result_sha256"]) for c in result["checks"]}

    local, on_spark = verdicts(built["local"]), verdicts(built["spark"])
    assert on_spark == local
    assert any(v == "flagged" for v, _ in local.values())  # the guilty world: the differential sees a finding


# ---------------------------------------------------------------- duplicates and failures, as the local engine


def _plan(folder: Path, inputs: list[str]) -> Path:
    plan = folder / "plan.toml"
    plan.write_text("\n".join(inputs), encoding="utf-8")
    return plan


def _nginx_lines(n: int, minute: int) -> bytes:
    line = '10.0.0.{i} - - [01/Mar/2024:10:{m:02d}:{s:02d} +0800] "GET /o/{i} HTTP/1.1" 200 {i} "-" "ua"\n'
    return "".join(line.format(i=i, m=minute, s=i % 60) for i in range(n)).encode()


def test_a_file_repeated_in_the_same_run_is_skipped_like_locally(tmp_path: Path, spark: Any) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_bytes(_nginx_lines(30, 1))
    (logs / "b.log.gz").write_bytes(gzip.compress((logs / "a.log").read_bytes()))  # same content, packed
    (logs / "c.log").write_bytes(_nginx_lines(20, 2))
    shutil.copyfile(logs / "c.log", logs / "d.log")  # same bytes
    plan = _plan(tmp_path, ['[[input]]\nglob = "logs/*"\nformat = "nginx"\nsource = "web"\n'])
    local, on_spark = init_case(tmp_path / "L"), init_case(tmp_path / "S")
    want = ingest_plan(local, plan, IngestOptions()).to_json()
    got = ingest_plan_spark(on_spark, plan, IngestOptions(), MASTER).to_json()
    want.pop("case"), got.pop("case")
    assert got == want
    assert [f["skipped_duplicate"] for f in got["files"]] == [False, True, False, True]
    assert _inputs(on_spark) == _inputs(local)
    assert verify_case(on_spark, deep=True).ok


def test_a_failing_file_stops_the_run_after_sealing_what_came_before(tmp_path: Path, spark: Any) -> None:
    (tmp_path / "1-good.log").write_bytes(_nginx_lines(10, 3))
    (tmp_path / "2-bad.jsonl").write_text('{"a": 1}\n', encoding="utf-8")  # jsonl without a mapping
    (tmp_path / "3-late.log").write_bytes(_nginx_lines(5, 4))
    plan = _plan(
        tmp_path,
        [
            '[[input]]\nglob = "1-good.log"\nformat = "nginx"\n',
            '[[input]]\nglob = "2-bad.jsonl"\nformat = "jsonl"\n',
            '[[input]]\nglob = "3-late.log"\nformat = "nginx"\n',
        ],
    )
    local, on_spark = init_case(tmp_path / "L"), init_case(tmp_path / "S")
    with pytest.raises(UsageError) as local_error:
        ingest_plan(local, plan, IngestOptions())
    with pytest.raises(UsageError) as spark_error:
        ingest_plan_spark(on_spark, plan, IngestOptions(), MASTER)
    assert str(spark_error.value) == str(local_error.value)
    assert "needs --mapping" in str(spark_error.value)
    assert [i["path"] for i in on_spark.manifest()["inputs"]] == [str(tmp_path / "1-good.log")]
    assert _inputs(on_spark) == _inputs(local)
    assert verify_case(on_spark, deep=True).ok
    assert not (on_spark.root / ".staging").exists()


def test_plan_confinement_is_the_local_engines(tmp_path: Path, spark: Any) -> None:
    (tmp_path / "outside.log").write_bytes(_nginx_lines(3, 5))
    inner = tmp_path / "plan"
    inner.mkdir()
    plan = _plan(inner, ['[[input]]\nglob = "../outside.log"\nformat = "nginx"\n'])
    case = init_case(tmp_path / "S")
    with pytest.raises(UsageError, match="outside the plan's folder"):
        ingest_plan_spark(case, plan, IngestOptions(), MASTER)
    assert case.manifest().get("inputs", []) == []


# ---------------------------------------------------------------- CLI and set-up errors


def test_cli_ingest_engine_spark(tmp_path: Path, world: Path, spark: Any) -> None:
    shutil.copytree(world / "open_api", tmp_path / "open_api")
    shutil.copytree(world / "mappings", tmp_path / "mappings")
    blocks = (world / "plan.toml").read_text(encoding="utf-8").split("[[input]]")
    plan = _plan(tmp_path, ["[[input]]" + next(b for b in blocks if "open_api/" in b)])
    case = init_case(tmp_path / "S")
    args = ["ingest", str(case.root), "--plan", str(plan), "--engine", "spark", "--master", MASTER, "--json"]
    out = CliRunner().invoke(main, args)
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    assert report["events"] > 0 and all(not f["skipped_duplicate"] for f in report["files"])
    assert verify_case(case, deep=True).ok


def test_master_without_engine_spark_is_a_usage_error(tmp_path: Path) -> None:
    case = init_case(tmp_path / "c")
    (tmp_path / "a.log").write_bytes(_nginx_lines(1, 6))
    out = CliRunner().invoke(main, ["ingest", str(case.root), str(tmp_path / "a.log"), "--master", MASTER])
    assert out.exit_code == 2
    assert "--master needs --engine spark" in out.output


def test_missing_java_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ForensicsError, match="default-jre-headless"):
        spark_ingest._session(MASTER)


def test_an_executor_running_another_forensics_version_is_refused(tmp_path: Path) -> None:
    from forensics.ingest import RunState

    task = spark_ingest._Task(0, str(tmp_path / "a.log"), IngestOptions(), str(tmp_path), str(tmp_path), ".", "0.0-old")
    outcome = spark_ingest.run_task(task, {"known": [], "contents": {}, "generations": {}})
    assert outcome.report is None and outcome.stored is None  # no work done with the wrong code
    stale = spark_ingest._Outcome(0, version="0.0-old")
    run = RunState(set(), {}, {}, tmp_path / "staging")
    with pytest.raises(ForensicsError, match=r"executor runs forensics 0\.0-old, the driver"):
        list(spark_ingest._in_plan_order([(tmp_path / "a.log", IngestOptions())], [stale], run))
