"""docs/new-platform.md, run as written: every command of its ```shell blocks on tests/data/new-platform.

The commands are read from the page itself, so the walk-through and the tool cannot drift apart: a command the
page shows that fails, or a shell block holding anything but `forensics ...` and `cp`, fails this test.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from forensics.case import open_case
from forensics.checkrun import check_case
from forensics.cli import main
from forensics.packs import load_pack

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "new-platform.md"
DATA = ROOT / "tests" / "data" / "new-platform"
ORDER = "J20240301001"


def doc_commands() -> list[list[str]]:
    blocks = re.findall(r"^```shell\n(.*?)^```", DOC.read_text(encoding="utf-8"), flags=re.S | re.M)
    return [shlex.split(line) for block in blocks for line in block.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def walked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Result]:
    """Run the page's commands in a copy of the example folder; output per command line."""
    work = tmp_path_factory.mktemp("np") / "new-platform"
    shutil.copytree(DATA, work)
    outputs: dict[str, Result] = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)
        for argv in doc_commands():
            if argv[0] == "cp":
                assert len(argv) == 3, f"only 'cp SRC DST' is run: {argv}"
                shutil.copyfile(argv[1], argv[2])
                continue
            assert argv[0] == "forensics", f"docs/new-platform.md shell block runs something else: {argv}"
            result = CliRunner().invoke(main, argv[1:])
            assert result.exit_code == 0, f"{shlex.join(argv)} exited {result.exit_code}:\n{result.output}"
            outputs[shlex.join(argv)] = result
    outputs["__dir__"] = work  # type: ignore[assignment]
    return outputs


def by_prefix(walked: dict[str, Result], prefix: str) -> list[Result]:
    return [r for k, r in walked.items() if k.startswith(prefix)]


def test_the_page_shows_the_whole_workflow() -> None:
    names = [" ".join(argv[:3]) for argv in doc_commands()]
    assert any(n.startswith("forensics mapping try") for n in names)
    assert any(n.startswith("forensics init") for n in names)
    assert sum(n.startswith("forensics ingest") for n in names) == 2
    assert names[-1].startswith("forensics check")


def test_mapping_try_shows_chinese_operations_mapped(walked: dict[str, Result]) -> None:
    audit, prints = by_prefix(walked, "forensics mapping try")
    assert "查看订单 -> order.view" in audit.stdout
    assert "would be quarantined: 0" in audit.stdout
    assert "首次打印 -> waybill.print" in prints.stdout
    assert "fell to 'other': none" in prints.stdout
    assert "运单号" in prints.stdout  # kept in attrs, and said so


def test_ingest_accounts_for_every_line_and_record(walked: dict[str, Result]) -> None:
    for result in by_prefix(walked, "forensics ingest"):
        assert "ACCOUNTING MISMATCH" not in result.stdout
        assert "0 quarantined" in result.stdout
        assert "WARNING" not in result.output  # every operation name of the example is in its table
    work: Path = walked["__dir__"]  # type: ignore[assignment]
    manifest = json.loads((work / "case" / "manifest.json").read_text(encoding="utf-8"))
    by_source = {i["source"]: i for i in manifest["inputs"]}
    assert by_source["admin_audit"]["encoding"] == "gb18030"
    assert by_source["admin_audit"]["events"] == 207 and by_source["admin_audit"]["structural"] == 1
    assert by_source["print_service"]["events"] == 60


def test_check_finds_what_the_page_says(walked: dict[str, Result]) -> None:
    (check,) = by_prefix(walked, "forensics check")
    verdicts = {line.split()[1]: line.split()[3] for line in check.stdout.splitlines() if line.startswith("│ ")}
    assert verdicts["unmasked-view"] == "FLAGGED"
    assert verdicts["waybill-print"] == "FOUND"
    assert "no source bound" not in check.output  # every role is bound or declared absent
    work: Path = walked["__dir__"]  # type: ignore[assignment]
    result, _ = check_case(open_case(work / "case"), load_pack("order-leak"), {})
    (view,) = result.check("unmasked-view").run.records()
    assert view["actor_id"] == "客服小李" and view["actor_type"] == "sub_account" and view["source"] == "admin_audit"
    assert str(view["ts"]).startswith("2024-03-02T06:02")  # 14:02 +08:00, as the page says


def test_pack_reads_the_waybill_as_documented(walked: dict[str, Result]) -> None:
    """Prints are found by order_ids; waybill number and carrier come along in attrs under the platform's names;
    the terminal column reads attrs 打印终端 (docs/new-platform.md, 'Waybill number, carrier, terminal')."""
    work: Path = walked["__dir__"]  # type: ignore[assignment]
    result, _ = check_case(open_case(work / "case"), load_pack("order-leak"), {})
    prints = result.check("waybill-print").run.records()
    assert [p["action"] for p in prints] == ["waybill.print", "waybill.reprint"]
    attrs = [json.loads(p["attrs"]) for p in prints]
    assert {a["运单号"] for a in attrs} == {"YT8812345678"} and {a["快递公司"] for a in attrs} == {"圆通速递"}
    assert [p["terminal"] for p in prints] == ["WH-PC-01", "WH-PC-02"]
    sql = (ROOT / "queries" / "order-leak" / "04_waybill_print.sql").read_text(encoding="utf-8")
    body = "\n".join(line for line in sql.splitlines() if not line.startswith("--"))
    assert "list_contains(order_ids, $order_id)" in body and "waybill_no" not in body
    for key in ("'$.terminal'", "'$.\"打印终端\"'", "'$.print_terminal'"):
        assert key in body


def test_doc_lists_every_canonical_column_action_and_actor_type() -> None:
    from forensics.schema import ACTIONS, ACTOR_TYPES, EVENT_COLUMNS

    text = DOC.read_text(encoding="utf-8")
    for name in (*EVENT_COLUMNS, *ACTIONS, *ACTOR_TYPES):
        assert f"`{name}`" in text, name
