"""Issue 11: a user's mistake never turns into a CLEAN verdict, and every mistake can be seen.

Each test reproduces one of the issue's scenarios on the sample worlds (all three variants where the
behaviour depends on the data) and asserts what the user now sees.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from forensics.case import Case, init_case
from forensics.cli import main
from forensics.ingest import IngestOptions, ingest_plan
from forensics.packs import run_pack
from forensics.sample import generate

VARIANTS = ("clean", "guilty", "gap")


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Case, Path]]:
    """Each sample variant, smallest size, ingested once with its own case.toml: (case, sample folder)."""
    root = tmp_path_factory.mktemp("mistakes")
    out: dict[str, tuple[Case, Path]] = {}
    for variant in VARIANTS:
        sample = generate(root / f"sample-{variant}", variant, 1_000, 7)
        case = init_case(root / f"case-{variant}")
        shutil.copy(sample.case_toml_path, case.toml_path)
        ingest_plan(case, sample.plan_path, IngestOptions())
        out[variant] = (case, sample.out_dir)
    return out


# ---------------------------------------------------------------- 1. the order must be seen before its absence counts


@pytest.mark.parametrize("variant", VARIANTS)
def test_wrong_order_id_is_never_clean(worlds: dict[str, tuple[Case, Path]], variant: str) -> None:
    case, _ = worlds[variant]
    result = run_pack(case, None, {"order_id": "999"})
    message = "order 999 appears in no ingested source: check the order id"
    assert result.warnings == [message]
    for c in result.checks:
        if c.check.expect == "none" and c.check.id != "completeness":
            assert c.verdict != "clean", (c.check.id, c.reason)
            if not c.run.rows:
                assert c.verdict == "inconclusive" and message in c.reason, (c.check.id, c.reason)
        elif c.check.expect in {"some", "info"}:
            assert message in c.reason, (c.check.id, c.reason)
    assert result.check("waybill-print").verdict == "missing"
    assert not result.check("order-trail").run.rows


@pytest.mark.parametrize("variant", VARIANTS)
def test_right_order_id_gives_no_presence_warning(worlds: dict[str, tuple[Case, Path]], variant: str) -> None:
    case, _ = worlds[variant]
    result = run_pack(case, None, {})
    assert result.warnings == []
    assert all("appears in no ingested source" not in c.reason for c in result.checks)


@pytest.mark.parametrize("variant", VARIANTS)
def test_wrong_merchant_id_is_never_clean(worlds: dict[str, tuple[Case, Path]], variant: str) -> None:
    case, _ = worlds[variant]
    result = run_pack(case, None, {"merchant_id": "S0000000"})
    message = "merchant S0000000 appears in no ingested source: check the merchant id"
    assert result.warnings == [message]
    assert all(c.verdict != "clean" for c in result.checks if c.check.id != "completeness")


def test_check_prints_one_warning_line_before_the_table(worlds: dict[str, tuple[Case, Path]]) -> None:
    case, _ = worlds["clean"]
    out = CliRunner().invoke(main, ["check", str(case.root), "--param", "order_id=999"])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0] == "WARNING: order 999 appears in no ingested source: check the order id"
    assert sum("WARNING" in line for line in lines) == 1
    data: Any = __import__("json").loads(
        CliRunner().invoke(main, ["check", str(case.root), "--param", "order_id=999", "--json"]).output
    )
    assert data["warnings"] == ["order 999 appears in no ingested source: check the order id"]


# ---------------------------------------------------------------- 2. duplicates at three levels


@pytest.fixture(scope="module")
def doubled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The guilty world, then the decrypting node's day file again: decompressed (same content), then with one
    extra line (different content, 570-odd overlapping rows). Returns the reports and the case."""
    import gzip

    root = tmp_path_factory.mktemp("doubled")
    sample = generate(root / "sample", "guilty", 1_000, 7)
    case = init_case(root / "case")
    shutil.copy(sample.case_toml_path, case.toml_path)
    ingest_plan(case, sample.plan_path, IngestOptions())
    gz = sample.out_dir / "merchant_backend" / "mb-03" / "audit-20240305.jsonl.gz"
    text = gzip.decompress(gz.read_bytes())
    mapping = sample.out_dir / "mappings" / "merchant_backend.toml"
    same = root / "x.jsonl"
    same.write_bytes(text)
    overlap = root / "y.jsonl"
    overlap.write_bytes(text.splitlines(keepends=True)[0] + text)  # a re-export that repeats one record
    from forensics.ingest import ingest_paths

    first = ingest_paths(case, [same], IngestOptions(mapping=mapping))
    again = ingest_paths(case, [same], IngestOptions(mapping=mapping))
    second = ingest_paths(case, [overlap], IngestOptions(mapping=mapping))
    return {"case": case, "gz": gz, "same": first, "again": again, "overlap": second, "y": overlap}


def test_same_bytes_twice_is_skipped(doubled: dict[str, Any]) -> None:
    f = doubled["again"].files[0]
    assert f.skipped_duplicate and f.events == 0


def test_same_content_decompressed_is_skipped_and_names_the_earlier_input(doubled: dict[str, Any]) -> None:
    import hashlib

    f = doubled["same"].files[0]
    assert f.skipped_duplicate and f.events == 0
    gz: Path = doubled["gz"]
    assert f.duplicate_of == {"path": str(gz), "sha256": hashlib.sha256(gz.read_bytes()).hexdigest()}
    entry = doubled["same"].to_json()["files"][0]
    assert entry["duplicate_of"]["path"] == str(gz)
    manifest_paths = [i["path"] for i in doubled["case"].manifest()["inputs"]]
    assert str(doubled["same"].files[0].path) not in manifest_paths


def test_same_content_table_says_which_input_it_duplicates(doubled: dict[str, Any], tmp_path: Path) -> None:
    out = CliRunner().invoke(
        main,
        [
            "ingest",
            str(doubled["case"].root),
            str(doubled["y"].parent / "x.jsonl"),
            "--mapping",
            str(doubled["gz"].parents[2] / "mappings" / "merchant_backend.toml"),
        ],
    )
    assert out.exit_code == 0, out.output
    assert "same content as" in out.output and "skipped" in out.output


def test_overlapping_rows_are_one_finding_with_every_copy(doubled: dict[str, Any]) -> None:
    overlap = doubled["overlap"].files[0]
    assert overlap.events == overlap.lines > 1  # ingested: different content, every row a copy
    result = run_pack(doubled["case"], None, {})
    view = result.check("unmasked-view")
    assert view.verdict == "flagged"
    assert len(view.run.rows) == 1, view.run.rows
    copies = view.run.records()[0]["copies"]
    assert "audit-20240305.jsonl.gz" in copies and "y.jsonl" in copies
    assert "1 finding" in view.reason


def test_overlapping_rows_are_a_completeness_defect(doubled: dict[str, Any]) -> None:
    result = run_pack(doubled["case"], None, {})
    completeness = result.check("completeness")
    kinds = [r["kind"] for r in completeness.run.records()]
    assert "duplicate" in kinds
    assert completeness.verdict == "flagged"
    row = next(r for r in completeness.run.records() if r["kind"] == "duplicate")
    assert row["missing"] >= doubled["overlap"].files[0].events and "stored more than once" in row["detail"]


# ---------------------------------------------------------------- 3. loud quarantine, 4. structural everywhere

CUSTOM_NGINX = [
    f'10.0.0.{i} 2024-03-05T10:0{i}:00+08:00 "GET /order/{i} HTTP/1.1" 200 0.012 app{i} req-{i}' for i in range(6)
]


def _ingest(case: Case, *args: str) -> Any:
    return CliRunner().invoke(main, ["ingest", str(case.root), *args])


def test_wrong_log_format_warns_with_reasons_and_fix(case: Case, tmp_path: Path) -> None:
    import json

    log = tmp_path / "access.log"
    log.write_text("\n".join(CUSTOM_NGINX) + "\n", encoding="utf-8")
    out = _ingest(case, str(log), "--format", "nginx", "--source", "open_api", "--json")
    assert out.exit_code == 0, out.output
    warnings = json.loads(out.stdout)["files"][0]["warnings"]
    assert len(warnings) == 1
    assert "6 of 6 lines quarantined" in warnings[0]
    assert "no line matched the combined format; pass --log-format" in warnings[0]
    assert "top reasons:" in warnings[0]
    assert "WARNING:" in out.stderr and "pass --log-format" in out.stderr


def test_strict_fails_on_a_loud_quarantine(case: Case, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text("\n".join(CUSTOM_NGINX) + "\n", encoding="utf-8")
    out = _ingest(case, str(log), "--format", "nginx", "--source", "open_api", "--strict")
    assert out.exit_code == 1
    assert "pass --log-format" in out.stderr


def test_quarantine_below_the_ratio_is_quiet_and_the_ratio_is_an_option(case: Case, tmp_path: Path) -> None:
    import json

    good = '10.0.0.1 - - [05/Mar/2024:10:00:00 +0800] "GET /o/{0} HTTP/1.1" 200 5 "-" "ua"'
    lines = [good.format(i) for i in range(40)] + [CUSTOM_NGINX[0]]  # 1 of 41 quarantined: under 5 %
    log = tmp_path / "access.log"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = _ingest(case, str(log), "--format", "nginx", "--source", "open_api", "--json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["files"][0]["warnings"] == []
    log2 = tmp_path / "access2.log"
    log2.write_text("\n".join([*lines, "#"]) + "\n", encoding="utf-8")
    out = _ingest(
        case, str(log2), "--format", "nginx", "--source", "open_api", "--json", "--max-quarantine-ratio", "0.01"
    )
    assert "1 more" not in out.stdout
    assert json.loads(out.stdout)["files"][0]["warnings"], out.stdout


def test_structural_lines_are_counted_everywhere_and_the_identity_holds(case: Case, tmp_path: Path) -> None:
    import json

    csv_file = tmp_path / "ship.csv"
    csv_file.write_text("ts,actor,action\n2024-03-05T10:00:00,a,print\n\n2024-03-05T10:01:00,b,print\n")
    mapping = tmp_path / "m.toml"
    mapping.write_text(
        'source = "logistics"\nformat = "csv"\n[timestamp]\nexpr = "ts"\nformats = ["%Y-%m-%dT%H:%M:%S"]\n'
        '[columns]\naction = "\'waybill.print\'"\nactor_id = "actor"\noutcome = "\'success\'"\n'
        '[csv]\ndelimiter = ","\nheader = true\n',
        encoding="utf-8",
    )
    out = _ingest(case, str(csv_file), "--mapping", str(mapping), "--tz", "UTC", "--json")
    assert out.exit_code == 0, out.output
    f = json.loads(out.stdout)["files"][0]
    assert f["structural"] == 1
    assert f["lines"] == f["events"] + f["quarantined"] + f["blank"] + f["structural"] == 4
    entry = case.manifest()["inputs"][0]
    assert entry["structural"] == 1
    csv_file.with_name("ship2.csv").write_text(csv_file.read_text() + "2024-03-05T10:02:00+08:00,c,print\n")
    table = _ingest(case, str(csv_file.with_name("ship2.csv")), "--mapping", str(mapping), "--tz", "UTC")
    assert "structural" in table.stdout
    assert "lines = events + quarantined + blank + structural holds" in table.stdout


def test_exhibit_input_table_carries_structural() -> None:
    from types import SimpleNamespace

    from forensics.exhibit.model import _extraction

    inputs = [
        {"path": "a.csv", "lines": 4, "events": 2, "quarantined": 0, "blank": 1, "structural": 1},
        {"path": "old.log", "lines": 1, "events": 1, "quarantined": 0, "blank": 0},  # a manifest from before
    ]
    src: Any = SimpleNamespace(manifest={"inputs": inputs}, custody=[], config={}, versions={})
    extraction = _extraction(src)
    assert [i["structural"] for i in extraction["inputs"]] == [1, 0]
    assert extraction["totals"]["structural"] == 1
    for i in extraction["inputs"]:
        assert i["lines"] == i["events"] + i["quarantined"] + i["blank"] + i["structural"]


# ---------------------------------------------------------------- 5. the smaller mistakes of the same flow


def test_sample_next_hint_is_the_whole_workflow_and_it_works(tmp_path: Path) -> None:
    """Copy the printed commands line by line, from `sample` to `verify` of the exhibit (minus the PDF build)."""
    runner = CliRunner()
    out = runner.invoke(main, ["sample", str(tmp_path / "s"), "--variant", "guilty", "--events", "1000"])
    assert out.exit_code == 0, out.output
    steps = [line.strip() for line in out.output.splitlines() if line.startswith("  forensics") or "  cp " in line]
    case = tmp_path / "case"
    commands = [s.replace("CASE", str(case)) for s in steps]
    assert [c.split()[1] for c in commands] == [
        "init",
        str(tmp_path / "s" / "case.toml"),
        "ingest",
        "check",
        "exhibit",
        "verify",
    ]
    assert commands[-1].endswith(f"{case}/exhibits/E-3")
    for command in commands[:4]:  # exhibit/verify need the PDF toolchain; test_exhibit covers them
        if command.startswith("cp "):
            _, src, dst = command.split()
            shutil.copy(src, dst)
            continue
        result = runner.invoke(main, command.split()[1:])
        assert result.exit_code == 0, (command, result.output)
    assert "order_id" not in result.output or "error" not in result.output


def test_sample_events_shows_its_default() -> None:
    from forensics.sample import DEFAULT_EVENTS

    out = CliRunner().invoke(main, ["sample", "--help"])
    assert f"[default: {DEFAULT_EVENTS}]" in " ".join(out.output.split())


def test_jsonl_without_mapping_is_a_usage_error(case: Case, tmp_path: Path) -> None:
    log = tmp_path / "a.jsonl"
    log.write_text('{"t": "2024-03-05T10:00:00Z"}\n', encoding="utf-8")
    out = _ingest(case, str(log), "--format", "jsonl")
    assert out.exit_code == 2 and "needs --mapping" in out.stderr
    assert "Traceback" not in out.output


def test_case_toml_syntax_error_is_a_usage_error(case: Case) -> None:
    case.toml_path.write_text("[order\nids = [\n", encoding="utf-8")
    out = CliRunner().invoke(main, ["check", str(case.root)])
    assert out.exit_code == 2 and "case.toml" in out.stderr


def test_init_on_an_existing_case_says_so(tmp_path: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(main, ["init", str(tmp_path / "c")])
    assert "initialised" in first.output
    (tmp_path / "c" / "case.toml").write_text("# mine\n", encoding="utf-8")
    again = runner.invoke(main, ["init", str(tmp_path / "c")])
    assert again.exit_code == 0 and "already a case" in again.output and "initialised" not in again.output
    assert (tmp_path / "c" / "case.toml").read_text(encoding="utf-8") == "# mine\n"


def test_piped_tables_are_not_cut_at_80_columns(worlds: dict[str, tuple[Case, Path]]) -> None:
    case, _ = worlds["gap"]
    out = CliRunner().invoke(main, ["check", str(case.root)])  # CliRunner's stdout is not a terminal
    assert out.exit_code == 0
    reason = run_pack(case, None, {}).check("unmasked-view").reason
    assert reason in out.output  # whole, on one line


def test_query_csv_into_a_closed_pipe_ends_quietly(worlds: dict[str, tuple[Case, Path]]) -> None:
    import os
    import subprocess
    import sys

    case, _ = worlds["clean"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    forensics = f"{sys.executable} -c 'from forensics.cli import main; main()'"
    shell = f"{forensics} query {case.root} 'SELECT * FROM events' --csv | head -1 >/dev/null; echo ${{PIPESTATUS[0]}}"
    done = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, env=env, timeout=300)
    assert done.stderr == ""
    assert done.stdout.strip() in {"0", "141"}


def test_query_table_prints_ts_with_its_zone(worlds: dict[str, tuple[Case, Path]]) -> None:
    case, _ = worlds["clean"]
    out = CliRunner().invoke(main, ["query", str(case.root), "SELECT ts FROM events ORDER BY ts LIMIT 1"])
    assert out.exit_code == 0, out.output
    assert "+00:00" in out.output or " UTC" in out.output


def test_help_texts_exist() -> None:
    runner = CliRunner()
    assert "JSON" in runner.invoke(main, ["fuzz", "--help"]).output.split("--json", 1)[1].split("\n")[0]
    assert "Folder" in runner.invoke(main, ["demo", "--help"]).output
    assert "Language" in runner.invoke(main, ["exhibit", "--help"]).output


def test_packs_show_prints_no_empty_default() -> None:
    out = CliRunner().invoke(main, ["packs", "show", "order-leak"])
    assert out.exit_code == 0
    assert "[default ]" not in out.output and "merchant_id" in out.output


# ---------------------------------------------------------------- check --rows


def test_check_rows_prints_who_what_when_where(worlds: dict[str, tuple[Case, Path]]) -> None:
    case, _ = worlds["guilty"]
    result = run_pack(case, None, {})
    view = result.check("unmasked-view").run.records()
    assert view  # the guilty world's decrypt
    out = CliRunner().invoke(main, ["check", str(case.root), "--rows", "unmasked-view"])
    assert out.exit_code == 0, out.output
    record = view[0]
    assert str(record["actor_id"]) in out.output
    assert f":{record['line_no']}" in out.output
    assert "+08:00" in out.output  # the case zone, Asia/Shanghai, with its offset
    assert "unmasked-view: 1 row(s)" in out.output


def test_check_rows_unknown_check_is_a_usage_error(worlds: dict[str, tuple[Case, Path]]) -> None:
    case, _ = worlds["clean"]
    out = CliRunner().invoke(main, ["check", str(case.root), "--rows", "unmasked-veiw"])
    assert out.exit_code == 2 and "unmasked-view" in out.stderr


def test_fuzz_summary_keeps_the_digits_of_its_reasons() -> None:
    from forensics.fuzz import FuzzOptions, run_fuzz

    report = run_fuzz(FuzzOptions(format="nginx", examples=30, seed=1, progress=False))
    shown = [line for line in report.summary() if "top quarantine reason" in line]
    assert shown, report.summary()
    assert all("…" not in line.split("e.g.: ", 1)[1].rstrip("…") for line in shown)
    assert any(ch.isdigit() for line in shown for ch in line.split("e.g.: ", 1)[1])


def test_quarantined_gb18030_line_reads_as_chinese(tmp_path: Path) -> None:
    """Issue 11: quarantine `raw` showed GB18030 bytes as mojibake."""
    log = tmp_path / "gb.log"
    log.write_bytes("不是日志格式的一行 收件人张三\n".encode("gb18030"))
    case = tmp_path / "case"
    run("init", str(case))
    run("ingest", str(case), str(log), "--format", "nginx", "--encoding", "gb18030")
    code, out, _ = run("query", str(case), "SELECT raw FROM quarantine")
    assert code == 0 and "收件人张三" in out
    code, out, _ = run("query", str(case), "SELECT raw FROM quarantine", "--json")
    assert "收件人张三" in json.loads(out)[0]["raw"]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr
