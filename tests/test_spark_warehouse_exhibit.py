"""The exhibit of a warehouse table (`exhibit --engine spark --table events=DB.TABLE`, issue 14 item 3).

The court must read that the findings rest on a table as Spark read it, not on sealed raw files; verify must
re-read the table (and fail when it changed) or say loudly that it could not. One guilty sample case and its
table are built once for the module; the table's exhibit is built in a case folder with no sealed inputs (all
it has is the sealed case's case.toml), the case a platform's warehouse team would hand over. Spark runs
local[2] in the test run's one session (tests/conftest.py; skipped, with the reason, without pyspark or Java).
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pypdf import PdfReader

from forensics.case import Case, init_case, listed_outputs
from forensics.cli import main
from forensics.engines.spark_session import pyspark_missing
from forensics.errors import UsageError
from forensics.exhibit import build_exhibit
from forensics.exhibit.build import ExhibitResult
from forensics.exhibit.verify import verify_exhibit

MISSING = pyspark_missing()
pytestmark = [pytest.mark.spark, pytest.mark.skipif(MISSING is not None, reason=f"Spark tests need: {MISSING}")]
TABLE = "default.wh_exhibit_guilty"
HOSTILE = "<script>alert(1)</script> #set page(width: 1cm) *x* \u202egnp.exe"


@dataclass
class World:
    spark: Any
    case: Case
    rows: int
    sealed: ExhibitResult  # the same pack on the case's sealed files (DuckDB)
    table: ExhibitResult  # the pack on the warehouse table, from a case folder without sealed inputs


def _pdf_text(path: Path) -> str:
    return "".join(page.extract_text() or "" for page in PdfReader(str(path)).pages)


def _sample_case(root: Path) -> Case:
    from forensics.ingest import IngestOptions, ingest_plan
    from forensics.sample import generate

    generate(root / "world", "guilty", 1_000, 7)
    case = init_case(root / "case")
    (case.root / "case.toml").write_text((root / "world" / "case.toml").read_text(encoding="utf-8"), encoding="utf-8")
    ingest_plan(case, root / "world" / "plan.toml", IngestOptions())
    return case


def _key_file(root: Path) -> Path:
    path = root / "pseudonym.key"
    path.write_text(bytes(range(32)).hex(), encoding="ascii")
    return path


@pytest.fixture(scope="module")
def world(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("wh-exhibit")
    case = _sample_case(root)
    events, _ = listed_outputs(case, case.manifest())
    frame = spark.read.parquet(*[str(p) for p in events]).drop("date")
    frame.write.mode("overwrite").saveAsTable(TABLE)
    key = _key_file(root)
    sealed = build_exhibit(case, root / "sealed", number="E-1", key_file=key)
    bare = init_case(root / "bare")
    shutil.copyfile(case.toml_path, bare.toml_path)
    table = build_exhibit(bare, root / "table", number="E-2", key_file=key, engine="spark", tables={"events": TABLE})
    return World(spark, case, int(frame.count()), sealed, table)


def _record(result: ExhibitResult) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(result.json.read_text(encoding="utf-8"))
    return data


def test_table_exhibit_flags_what_the_sealed_file_exhibit_flags(world: World) -> None:
    sealed, table = _record(world.sealed), _record(world.table)
    assert {k: v["verdict"] for k, v in table["digests"].items()} == {
        k: v["verdict"] for k, v in sealed["digests"].items()
    }
    assert table["digests"]["unmasked-view"]["verdict"] == "flagged"  # what the guilty case planted is found
    assert "source" not in sealed
    source = table["source"]
    assert source["kind"] == "warehouse_table" and source["table"] == TABLE and source["rows"] == world.rows
    assert source["version"] is None and source["rows_without_row_digest"] == 0
    assert source["engine"] == "spark" and source["master"].startswith("local") and source["spark_version"]
    assert world.table.summary[0].startswith(f"source: warehouse table {TABLE}")
    assert table["extraction"]["inputs"] == [] and "0 inputs" in world.table.summary[2]  # nothing sealed here


def test_pdf_and_html_state_the_table_in_both_languages(world: World) -> None:
    source = _record(world.table)["source"]
    pdf = re.sub(r"\s+", "", _pdf_text(world.table.pdf))
    html = world.table.html.read_text(encoding="utf-8")
    for text in (pdf, re.sub(r"\s+", "", html)):
        assert TABLE in text and f"{world.rows:,}" in text and source["digest"] in text
        assert "数据仓库表" in text and "warehousetable" in text
        assert "不依据经封存的原始日志文件" in text and "notonsealedrawlogfiles" in text
        assert "thecatalogkeepsnoversion" in text and "该表的目录不保存版本" in text
    sealed = world.sealed.html.read_text(encoding="utf-8")
    assert "warehouse table" not in sealed and "数据仓库表" not in sealed


def test_verify_rerederives_on_spark_and_refuses_to_pass_without_it(world: World) -> None:
    on_spark = verify_exhibit(world.table.out_dir, engine="spark")
    assert on_spark.ok, [p.detail for p in on_spark.problems]
    plain = verify_exhibit(world.table.out_dir)
    assert not plain.ok and [p.kind for p in plain.problems] == ["table_rerun"]
    assert "NOT re-derived" in plain.problems[0].detail and TABLE in plain.problems[0].detail
    out = CliRunner().invoke(main, ["verify", str(world.table.out_dir)])
    assert out.exit_code == 1 and "table_rerun" in out.output and "--engine spark" in out.output
    with pytest.raises(UsageError):
        verify_exhibit(world.table.out_dir, engine="duckdb", tables={"events": TABLE})


def test_hostile_catalog_version_is_shown_inert(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from forensics.engines import warehouse

    monkeypatch.setattr(warehouse, "table_version", lambda spark, name: HOSTILE)
    result = build_exhibit(
        world.case,
        tmp_path / "hostile",
        number="E-3",
        key_file=_key_file(tmp_path),
        engine="spark",
        tables={"events": TABLE},
    )
    assert _record(result)["source"]["version"] == HOSTILE  # the record keeps what the catalog said
    html = result.html.read_text(encoding="utf-8")
    assert "<script>" not in html and "\u202e" not in html and "&lt;script&gt;" in html
    pdf = _pdf_text(result.pdf)
    a4 = PdfReader(str(world.sealed.pdf)).pages[0].mediabox
    assert all(page.mediabox == a4 for page in PdfReader(str(result.pdf)).pages)  # no #set page(width: 1cm)
    assert "<script>alert(1)</script>" in pdf and "\u202e" not in pdf
    with pytest.raises(UsageError, match="--table events="):
        build_exhibit(world.case, tmp_path / "bad", number="E-4", engine="spark", tables={"events": "a;<b>"})


def test_verify_fails_when_a_row_was_added_to_the_table(world: World) -> None:
    # last in the module: it changes the table the other tests read
    first = world.spark.table(TABLE).limit(1)
    first.selectExpr(
        *[f"'{'f' * 64}' AS row_digest" if c == "row_digest" else f"`{c}`" for c in first.columns]
    ).write.mode("append").saveAsTable(TABLE)
    report = verify_exhibit(world.table.out_dir, engine="spark")
    assert not report.ok
    changed = [p for p in report.problems if p.kind == "table"]
    assert changed and "the table changed since the exhibit was built" in changed[0].detail
    assert f"rows was {world.rows}, now {world.rows + 1}" in changed[0].detail
