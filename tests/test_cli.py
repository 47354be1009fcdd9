"""The CLI contract: exit codes, --json shapes, one-line errors, read-only query."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from forensics.cli import main

DATA = Path(__file__).parent / "data"
APACHE = DATA / "elastic-examples" / "apache_logs"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def apache_case(tmp_path: Path) -> Path:
    case = tmp_path / "case"
    assert run("init", str(case))[0] == 0
    code, _out, err = run("ingest", str(case), str(APACHE), "--format", "apache", "--json")
    assert code == 0, err
    return case


def test_ingest_json_contract_and_accounting(apache_case: Path, tmp_path: Path) -> None:
    code, out, _ = run("ingest", str(apache_case), str(APACHE), "--format", "apache", "--json")
    assert code == 0
    data = json.loads(out)
    assert set(data) == {"case", "files", "events", "quarantined"}
    f = data["files"][0]
    assert set(f) == {
        "path",
        "source",
        "format",
        "sha256",
        "sm3",
        "bytes",
        "lines",
        "events",
        "quarantined",
        "blank",
        "structural",
        "skipped_duplicate",
        "duplicate_of",
        "warnings",
        "log_format",  # the format string read with (issue 15: auto says which it chose)
        "detection",
        "unknown_values",  # raw values a mapping's [actions]/[actor_types] table did not list (issue 16)
    }
    assert f["skipped_duplicate"] is True  # second ingest of the same bytes


def test_apache_corpus_accounts_for_all_10000_lines(apache_case: Path) -> None:
    manifest = json.loads((apache_case / "manifest.json").read_text())
    entry = manifest["inputs"][0]
    assert entry["lines"] == 10_000
    assert entry["events"] + entry["quarantined"] + entry["blank"] == 10_000
    code, out, _ = run("query", str(apache_case), "SELECT line_no, reason FROM quarantine", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [r["line_no"] for r in rows] == [8899]
    assert "unterminated" in rows[0]["reason"]


def test_verify_exit_codes(apache_case: Path) -> None:
    code, out, _ = run("verify", str(apache_case), "--json")
    assert code == 0 and json.loads(out)["ok"] is True
    parquet = sorted((apache_case / "events").rglob("*.parquet"))[0]
    data = bytearray(parquet.read_bytes())
    data[len(data) // 2] ^= 0xFF
    parquet.write_bytes(bytes(data))
    code, out, _ = run("verify", str(apache_case), "--json")
    assert code == 1
    problems = json.loads(out)["problems"]
    assert any(p["kind"] == "parquet" and parquet.name in p["path"] for p in problems)


@pytest.mark.parametrize("target", ["manifest.json", "custody.log"])
def test_verify_fails_after_one_changed_byte(apache_case: Path, target: str) -> None:
    path = apache_case / target
    text = path.read_text()
    i = text.index('"sha256"') + 12 if target == "manifest.json" else text.index('"hash"') + 10
    swapped = "0" if text[i] != "0" else "1"
    path.write_text(text[:i] + swapped + text[i + 1 :])
    assert run("verify", str(apache_case))[0] == 1


@pytest.mark.parametrize(
    "sql",
    [
        "COPY (SELECT 1) TO '/tmp/forensics-should-not-exist.csv'",
        "SELECT * FROM read_csv('/etc/passwd')",
        "ATTACH '/tmp/x.db' AS x",
        "INSTALL httpfs",
        "SELECT 1; SELECT 2",
    ],
)
def test_query_is_read_only_and_sandboxed(apache_case: Path, sql: str) -> None:
    code, _, err = run("query", str(apache_case), sql)
    assert code in (1, 2)
    assert "Traceback" not in err
    assert not Path("/tmp/forensics-should-not-exist.csv").exists()


def test_query_csv_output(apache_case: Path) -> None:
    code, out, _ = run("query", str(apache_case), "SELECT count(*) AS n FROM events", "--csv")
    assert code == 0
    assert out.splitlines() == ["n", "9999"]


def test_errors_are_one_line_with_exit_codes(tmp_path: Path) -> None:
    case = tmp_path / "c"
    run("init", str(case))
    code, _, err = run("ingest", str(case), str(tmp_path / "missing.log"))
    assert code == 2 and err.startswith("error:") and "Traceback" not in err
    code, _, err = run("ingest", str(tmp_path / "not-a-case"), str(APACHE))
    assert code == 1 and "not a case folder" in err
    naive = tmp_path / "naive.jsonl"
    naive.write_text('{"t": "2024-03-01 10:00:00", "op": "LOGIN"}\n')
    mapping = tmp_path / "m.toml"
    mapping.write_text('source = "app"\nformat = "jsonl"\n[timestamp]\nexpr = "t"\n[columns]\naction_raw = "op"\n')
    code, _, err = run("ingest", str(case), str(naive), "--mapping", str(mapping))
    assert code == 1 and "--tz" in err and "naive.jsonl:1" in err


def test_strict_exits_1_when_something_was_quarantined(tmp_path: Path) -> None:
    case = tmp_path / "c"
    run("init", str(case))
    code, _, err = run("ingest", str(case), str(APACHE), "--format", "apache", "--strict")
    assert code == 1 and "quarantined" in err


def test_disk_full_mid_ingest_is_one_clear_line_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from forensics.store import Stager

    def full(self: Stager, events: object) -> None:
        raise OSError(28, "No space left on device", str(self.staging))

    monkeypatch.setattr(Stager, "write_events", full)
    log = tmp_path / "access.log"
    log.write_text('1.2.3.4 - - [01/Mar/2024:10:00:00 +0800] "GET / HTTP/1.1" 200 5 "-" "ua"\n')
    assert run("init", str(tmp_path / "case"))[0] == 0
    code, out, err = run("ingest", str(tmp_path / "case"), str(log), "--format", "nginx")
    assert code == 1
    assert "No space left on device" in err and "case is unchanged" in err
    assert "Traceback" not in out + err
    assert not list((tmp_path / "case").rglob("*.parquet"))


def test_disk_full_inside_the_parquet_writer_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """polars reports a full disk as ComputeError, not OSError: still one line, exit 1."""
    import polars as pl

    def full(self: pl.DataFrame, *args: object, **kwargs: object) -> None:
        raise pl.exceptions.ComputeError("parquet: underlying IO error: No space left on device (os error 28)")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", full)
    log = tmp_path / "access.log"
    log.write_text('1.2.3.4 - - [01/Mar/2024:10:00:00 +0800] "GET / HTTP/1.1" 200 5 "-" "ua"\n')
    assert run("init", str(tmp_path / "case"))[0] == 0
    code, out, err = run("ingest", str(tmp_path / "case"), str(log), "--format", "nginx")
    assert code == 1
    assert "cannot write Parquet" in err and "No space left on device" in err and "discarded" in err
    assert "Traceback" not in out + err
    assert not list((tmp_path / "case").rglob("*.parquet"))
