"""Issue 12, hostile input: special files, escaping plan globs, oversized lines, spreadsheet formulas."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from forensics.case import Case
from forensics.cli import main
from forensics.errors import ForensicsError, UsageError
from forensics.ingest import IngestOptions, ingest_paths, ingest_plan

LINE = b'203.0.113.9 - - [01/Mar/2024:10:00:00 +0800] "GET /x HTTP/1.1" 200 5 "-" "ua"\n'


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_device_is_refused_at_once(case: Case, device: str) -> None:
    if not Path(device).exists():
        pytest.skip(f"{device} missing")
    with pytest.raises(ForensicsError, match="character device; only regular files"):
        ingest_paths(case, [Path(device)], IngestOptions(format="nginx"))


def test_a_fifo_is_refused_without_blocking(case: Case, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.log"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            ingest_paths(case, [fifo], IngestOptions(format="nginx"))
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(60)
    if worker.is_alive():  # unblock the reader so the test process can end, then fail
        with open(fifo, "wb"):
            pass
        pytest.fail("ingest blocked on a FIFO")
    assert outcome and isinstance(outcome[0], ForensicsError) and "FIFO" in str(outcome[0])


def test_cli_names_the_special_file_with_exit_1(case: Case) -> None:
    result = CliRunner().invoke(main, ["ingest", str(case.root), "/dev/zero", "--format", "nginx"])
    assert result.exit_code == 1 and "/dev/zero" in result.output + result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_a_plan_glob_cannot_leave_the_plan_folder(case: Case, tmp_path: Path) -> None:
    plans = tmp_path / "plans" / "a" / "b"
    plans.mkdir(parents=True)
    (tmp_path / "secret.log").write_bytes(LINE)
    plan = plans / "plan.toml"
    plan.write_text('[[input]]\nglob = "../../../secret.log"\nformat = "nginx"\n', encoding="utf-8")
    with pytest.raises(UsageError, match="outside the plan's folder"):
        ingest_plan(case, plan, IngestOptions())
    plan.write_text('[[input]]\nglob = "../../../../../../../../etc/passwd"\n', encoding="utf-8")
    with pytest.raises(UsageError, match="outside the plan's folder"):
        ingest_plan(case, plan, IngestOptions())
    assert not list(case.events_dir.rglob("*.parquet"))


def test_a_plan_may_allow_outside_paths_explicitly(case: Case, tmp_path: Path) -> None:
    plans = tmp_path / "plans"
    plans.mkdir()
    (tmp_path / "a.log").write_bytes(LINE)
    plan = plans / "plan.toml"
    plan.write_text('allow_outside = true\n[[input]]\nglob = "../a.log"\nformat = "nginx"\n', encoding="utf-8")
    report = ingest_plan(case, plan, IngestOptions())
    assert report is not None


def _query(case: Case, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["query", str(case.root), *args])
    return result.exit_code, result.output


def test_a_query_that_runs_forever_is_stopped(case: Case) -> None:
    code, out = _query(case, "select count(*) from range(100000000000000)", "--timeout", "1")
    assert code == 1 and "stopped after 1 s" in out and "Traceback" not in out


def test_csv_neutralises_formulas(case: Case) -> None:
    sql = "select '=HYPERLINK(\"http://x\",\"y\")' a, '+1' b, '-2' c, '@SUM(A1)' d, chr(9) || 'x' e, -5 f, 'ok' g"
    code, out = _query(case, sql, "--csv")
    assert code == 0
    import csv
    import io

    row = list(csv.reader(io.StringIO(out)))[1]
    assert row == ['\'=HYPERLINK("http://x","y")', "'+1", "'-2", "'@SUM(A1)", "'\tx", "-5", "ok"]


def test_printed_rows_are_capped_and_json_streams_every_row(case: Case) -> None:
    code, out = _query(case, "select range as n from range(5000)", "--max-rows", "10")
    assert code == 0 and "10 row(s) shown; more not shown (--max-rows 10)" in out
    code, out = _query(case, "select range as n from range(25000)", "--json")
    import json

    assert code == 0 and [r["n"] for r in json.loads(out)] == list(range(25000))


def _quarantine(case: Case) -> list[dict[str, object]]:
    import duckdb

    con = case.connect()
    try:
        rel = con.execute("select line_no, byte_offset, octet_length(raw) n, reason from quarantine order by line_no")
        return [dict(zip(["line_no", "byte_offset", "n", "reason"], r, strict=True)) for r in rel.fetchall()]
    except duckdb.Error:
        return []
    finally:
        con.close()


def test_an_overlong_line_is_quarantined_by_offset_not_held(case: Case, tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    long_line = b"x" * (3 * 1024 * 1024 + 17)
    path.write_bytes(LINE + long_line + b"\n" + LINE)
    report = ingest_paths(case, [path], IngestOptions(format="nginx", max_line_bytes=1 << 20))
    rows = _quarantine(case)
    assert [r["line_no"] for r in rows] == [2] and rows[0]["byte_offset"] == len(LINE)
    assert rows[0]["n"] == 1 << 20 and f"line of {len(long_line)} bytes" in str(rows[0]["reason"])
    import hashlib

    assert hashlib.sha256(long_line).hexdigest() in str(rows[0]["reason"])
    assert report.files[0].events == 2 and report.files[0].lines == 3


def test_a_gzip_of_zeros_without_newline_is_one_quarantined_line(case: Case, tmp_path: Path) -> None:
    import gzip

    path = tmp_path / "zeros.log.gz"
    with gzip.open(path, "wb", compresslevel=9) as fh:
        for _ in range(64):
            fh.write(bytes(1 << 20))  # 64 MiB of zeros, no newline: a small file with a high ratio
    ingest_paths(case, [path], IngestOptions(format="nginx"))
    rows = _quarantine(case)
    assert len(rows) == 1 and "line of 67108864 bytes" in str(rows[0]["reason"])


def _noise(n: int) -> bytes:
    """n bytes without a newline, different at every offset (so a wrong offset cannot hash right)."""
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(counter.to_bytes(8, "big")).digest()
        counter += 1
    return bytes(out[:n]).replace(b"\n", b"\x00").replace(b"\r", b"\x01")


def test_an_overlong_line_names_its_pieces_by_offset_and_they_rebuild_it(case: Case, tmp_path: Path) -> None:
    import re

    limit = 1 << 20
    long_line = _noise(2 * limit + 12345)
    raw = LINE + long_line + b"\n" + LINE
    path = tmp_path / "a.log"
    path.write_bytes(raw)
    ingest_paths(case, [path], IngestOptions(format="nginx", max_line_bytes=limit))
    con = case.connect()
    head, reason = con.execute("select raw, reason from quarantine").fetchone()
    con.close()
    kept = re.search(r"line bytes 0-(\d+) \(stream offsets (\d+)-(\d+)\) are kept here", reason)
    rest = re.search(r"line bytes (\d+)-(\d+) \(stream offsets (\d+)-(\d+)\) are not", reason)
    digest = re.search(r"SHA-256 of the whole line: ([0-9a-f]{64})", reason)
    assert kept and rest and digest, reason
    assert int(kept.group(1)) == limit - 1 and int(kept.group(2)) == len(LINE) and head == long_line[:limit]
    first, last = int(rest.group(3)), int(rest.group(4))
    assert int(rest.group(1)) == limit and int(rest.group(2)) == len(long_line) - 1
    # the stated offsets find the missing piece in the input, and head + piece hash to the stated digest
    assert hashlib.sha256(head + raw[first : last + 1]).hexdigest() == digest.group(1)
    assert digest.group(1) == hashlib.sha256(long_line).hexdigest()


def test_query_table_shows_an_overlong_quarantine_row_readably(case: Case, tmp_path: Path) -> None:
    long_line = _noise(3 << 20)
    path = tmp_path / "a.log"
    path.write_bytes(LINE + long_line + b"\n")
    ingest_paths(case, [path], IngestOptions(format="nginx"))
    code, out = _query(case, "select line_no, raw, reason from quarantine")
    assert code == 0
    assert hashlib.sha256(long_line).hexdigest() in out  # the reason is printed whole
    assert max(len(line) for line in out.splitlines()) < 20_000  # the 1 MiB head is not
    assert "use --json or --csv for the whole value" in out


def test_a_line_longer_than_the_default_but_allowed_is_reparsed_with_the_same_limit(
    case: Case, tmp_path: Path
) -> None:
    from forensics.custody import verify_case

    url = b"/x?" + b"a" * (2 << 20)
    line = b'203.0.113.9 - - [01/Mar/2024:10:00:00 +0800] "GET ' + url + b' HTTP/1.1" 200 5 "-" "ua"\n'
    path = tmp_path / "a.log"
    path.write_bytes(LINE + line)
    report = ingest_paths(case, [path], IngestOptions(format="nginx", max_line_bytes=4 << 20, preserve=True))
    assert report.files[0].events == 2
    result = verify_case(case, reparse=True)
    assert result.ok, result.problems


def test_a_file_whose_every_line_is_quarantined_exits_0_with_a_warning_and_1_with_strict(
    case: Case, tmp_path: Path
) -> None:
    path = tmp_path / "garbage.log"
    path.write_bytes(b"not a log line\nnor this\n")
    result = CliRunner().invoke(main, ["ingest", str(case.root), str(path), "--format", "nginx"])
    assert result.exit_code == 0 and "WARNING" in result.stderr and "2 of 2 lines quarantined" in result.stderr
    other = tmp_path / "long.log"
    other.write_bytes(b"x" * (2 << 20) + b"\n")
    result = CliRunner().invoke(main, ["ingest", str(case.root), str(other), "--format", "nginx", "--strict"])
    assert result.exit_code == 1 and "--strict: 1 line(s) quarantined" in result.stderr
    help_text = " ".join(CliRunner().invoke(main, ["ingest", "--help"]).output.split())
    assert "every line quarantined always warns. A warning alone leaves the exit code 0" in help_text
    assert "with --strict it is 1" in help_text
