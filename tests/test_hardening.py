"""Regressions for bugs a review found in the evidence store (each was reproduced before the fix)."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
from pathlib import Path

import pytest
from click.testing import CliRunner

from forensics.case import Case, init_case
from forensics.cli import main
from forensics.custody import verify_case
from forensics.errors import ForensicsError, UsageError
from forensics.ingest import IngestOptions, ingest_paths, ingest_plan


def nginx_line(i: int, path: str = "/x") -> bytes:
    return f'10.0.0.{i % 250} - - [01/Mar/2024:10:00:01 +0800] "GET {path} HTTP/1.1" 200 1 "-" "ua"\n'.encode()


BASE = b"".join(nginx_line(i) for i in range(40))


@pytest.mark.parametrize("compress", [bz2.compress, lzma.compress], ids=["bz2", "xz"])
def test_bytes_after_a_compressed_stream_are_refused_not_dropped(case: Case, tmp_path: Path, compress) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "a.log.z"
    path.write_bytes(compress(BASE) + nginx_line(99))
    with pytest.raises(ForensicsError, match="cannot read"):
        ingest_paths(case, [path], IngestOptions(format="nginx"))
    path.write_bytes(compress(BASE) + compress(nginx_line(99)))  # concatenated streams are fine
    assert ingest_paths(case, [path], IngestOptions(format="nginx")).files[0].events == 41


def test_corrupt_gzip_is_a_clear_error(case: Case, tmp_path: Path) -> None:
    data = bytearray(gzip.compress(BASE))
    data[15] ^= 0xFF
    data[20] ^= 0xFF
    path = tmp_path / "bad.log.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(ForensicsError, match="cannot read gzip"):
        ingest_paths(case, [path], IngestOptions(format="nginx"))


def test_a_failure_later_in_the_list_leaves_a_consistent_case(case: Case, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.log").write_bytes(BASE)
    (tmp_path / "in" / "b.log").write_bytes(b"not a recognisable format at all\n")
    with pytest.raises(UsageError):
        ingest_paths(case, [tmp_path / "in"], IngestOptions())
    assert [Path(i["path"]).name for i in case.manifest()["inputs"]] == ["a.log"]
    assert verify_case(case).ok


def test_gb18030_with_few_chinese_lines_needs_its_name(case: Case, tmp_path: Path) -> None:
    """Two Chinese characters are as good Big5 or Shift_JIS: auto refuses rather than guess (issue 15.6)."""
    lines = [nginx_line(i) for i in range(300)] + [nginx_line(1, "/o/10?x=中文").decode().encode("gb18030")]
    path = tmp_path / "gb.log"
    path.write_bytes(b"".join(lines))
    with pytest.raises(UsageError, match="pass --encoding"):
        ingest_paths(case, [path], IngestOptions(format="nginx"))
    report = ingest_paths(case, [path], IngestOptions(format="nginx", encoding="gb18030"))
    assert (report.files[0].events, report.files[0].quarantined) == (301, 0)
    assert case.manifest()["inputs"][0]["encoding"] == "gb18030"


def test_empty_and_blank_only_files_are_accounted(case: Case, tmp_path: Path) -> None:
    (tmp_path / "e.log").write_bytes(b"")
    (tmp_path / "b.log").write_bytes(b"\n\n\r\n")
    report = ingest_paths(case, [tmp_path / "e.log", tmp_path / "b.log"], IngestOptions())
    assert [(f.lines, f.blank, f.format) for f in report.files] == [(0, 0, "empty"), (3, 3, "empty")]
    assert verify_case(case).ok


def test_minified_cloudtrail_with_many_records_on_one_line_verifies(case: Case, tmp_path: Path) -> None:
    records = [
        {"eventTime": f"2024-03-0{1 + i % 2}T10:00:0{i}Z", "eventName": "GetObject", "eventSource": "s3.amazonaws.com"}
        for i in range(6)
    ]
    path = tmp_path / "ct.json"
    path.write_text(json.dumps({"Records": records}))
    report = ingest_paths(case, [path], IngestOptions(format="cloudtrail"))
    assert report.files[0].events == 6
    assert verify_case(case).ok, verify_case(case).problems


def test_manifest_without_any_seal_is_a_mismatch(case: Case, tmp_path: Path) -> None:
    (tmp_path / "a.log").write_bytes(BASE)
    ingest_paths(case, [tmp_path / "a.log"], IngestOptions(format="nginx"))
    first = case.custody_path.read_text().splitlines()[0]
    case.custody_path.write_text(first + "\n")  # drop the sealing entry
    report = verify_case(case)
    assert any("no custody entry seals it" in p.detail for p in report.problems)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("input = [1]", "must be a table"),
        ("[[input]]\nglob = 5", "glob must be a str"),
        ('[[input]]\nglob = "*.log"\nyear = "x"', "year must be a int"),
        ('[[input]]\nglob = "*.log"\npreserve = "no"', "preserve must be a bool"),
    ],
)
def test_plan_values_are_type_checked(case: Case, tmp_path: Path, entry: str, message: str) -> None:
    plan = tmp_path / "plan.toml"
    plan.write_text(entry + "\n")
    with pytest.raises(UsageError, match=message):
        ingest_plan(case, plan, IngestOptions())


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("damage", ["not json\n", "[1, 2]\n"])
def test_damaged_custody_log_gives_clear_errors(tmp_path: Path, damage: str) -> None:
    case = init_case(tmp_path / "c")
    (tmp_path / "a.log").write_bytes(BASE)
    ingest_paths(case, [tmp_path / "a.log"], IngestOptions(format="nginx"))
    with case.custody_path.open("a") as fh:
        fh.write(damage)
    code, out, err = _run("verify", str(case.root))
    assert code == 1 and "custody" in out and "Traceback" not in err
    code, _, err = _run("query", str(case.root), "SELECT 1")
    assert code == 1 and "custody log is damaged" in err
    (tmp_path / "b.log").write_bytes(nginx_line(7))
    manifest_before = case.manifest_path.read_bytes()
    code, _, err = _run("ingest", str(case.root), str(tmp_path / "b.log"), "--format", "nginx")
    assert code == 1 and "custody log is damaged" in err
    assert case.manifest_path.read_bytes() == manifest_before


def test_query_output_prints_log_text_literally(tmp_path: Path) -> None:
    case = init_case(tmp_path / "c")
    (tmp_path / "a.log").write_bytes(nginx_line(1, "/o/[redacted]/view") + nginx_line(2, "/search/[/y]"))
    ingest_paths(case, [tmp_path / "a.log"], IngestOptions(format="nginx"))
    code, out, err = _run("query", str(case.root), "SELECT url_path FROM events ORDER BY line_no")
    assert code == 0, err
    assert "/o/[redacted]/view" in out and "/search/[/y]" in out
