"""Encodings: no guessing between legacy CJK encodings; any codec by name; private-use code points
are a red flag (issue 15.6). Lines written for these tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from forensics.case import Case
from forensics.cli import main
from forensics.errors import UsageError
from forensics.ingest import IngestOptions, ingest_paths
from forensics.reader import check_encoding, sniff_encoding

LINE = '10.0.0.{n} - - [03/Mar/2024:10:00:0{n} +0800] "GET /{path} HTTP/1.1" 200 5 "-" "curl"\n'
BIG5_PATH = "為其兼行惡道"


def _log(path_text: str, encoding: str, plain: int = 5) -> bytes:
    lines = [LINE.format(n=n, path="plain") for n in range(plain)] + [LINE.format(n=9, path=path_text)]
    return "".join(lines).encode(encoding)


def test_big5_is_not_silently_read_as_gb18030(case: Case, tmp_path: Path) -> None:
    path = tmp_path / "big5.log"
    path.write_bytes(_log(BIG5_PATH, "big5"))
    with pytest.raises(UsageError, match=r"big5.log: cannot tell the encoding: .*pass --encoding"):
        ingest_paths(case, [path], IngestOptions(format="nginx"))
    assert case.manifest().get("inputs", []) == []


def test_big5_by_name(case: Case, tmp_path: Path) -> None:
    path = tmp_path / "big5.log"
    path.write_bytes(_log(BIG5_PATH, "big5"))
    ingest_paths(case, [path], IngestOptions(format="nginx", encoding="big5"))
    _, rows = case.query_readonly("SELECT url_path FROM events ORDER BY line_no DESC LIMIT 1")
    assert rows == [("/" + BIG5_PATH,)]
    assert case.manifest()["inputs"][0]["encoding"] == "big5"


def test_private_use_code_points_quarantine_the_line(case: Case, tmp_path: Path) -> None:
    """Bytes that GB18030 maps to the private-use area (here a Big5 pair it has no character for)."""
    big5 = "GET /你們".encode("big5")
    assert any("\ue000" <= c <= "\uf8ff" for c in big5.decode("gb18030"))
    data = _log("plain", "ascii").replace(b"GET /plain HTTP/1.1", b"GET /x HTTP/1.1", 1) + (
        b'10.0.0.8 - - [03/Mar/2024:10:00:08 +0800] "' + big5 + b' HTTP/1.1" 200 5 "-" "curl"\n'
    )
    path = tmp_path / "pua.log"
    path.write_bytes(data)
    report = ingest_paths(case, [path], IngestOptions(format="nginx", encoding="gb18030"))
    assert report.files[0].quarantined == 1
    _, rows = case.query_readonly("SELECT line_no, reason, raw FROM quarantine")
    assert rows[0][0] == 7 and "private-use code point U+" in rows[0][1] and bytes(rows[0][2]).endswith(b'"curl"')


def test_any_python_codec_name_and_refusals() -> None:
    assert check_encoding("BIG5") == "big5"
    assert check_encoding("cp1252") == "cp1252"
    assert check_encoding("utf8") == "utf-8"
    with pytest.raises(UsageError, match="unknown encoding 'klingon'"):
        check_encoding("klingon")
    with pytest.raises(UsageError, match="single bytes"):
        check_encoding("utf-16")


def test_a_clear_legacy_text_is_detected() -> None:
    text = "Mar  1 10:00:00 host app: 用户登录成功，订单查看，收件人信息已解密，导出订单报表完成\n" * 20
    assert sniff_encoding(text.encode("gb18030")) == "gb18030"


def test_cli_takes_any_codec_name(tmp_path: Path) -> None:
    case = tmp_path / "case"
    assert CliRunner().invoke(main, ["init", str(case)]).exit_code == 0
    log = tmp_path / "big5.log"
    log.write_bytes(_log(BIG5_PATH, "big5"))
    refused = CliRunner().invoke(main, ["ingest", str(case), str(log)])
    assert refused.exit_code == 2 and "--encoding" in refused.stderr
    ok = CliRunner().invoke(main, ["ingest", str(case), str(log), "--encoding", "big5", "--json"])
    assert ok.exit_code == 0, ok.stderr
    assert json.loads(ok.stdout)["files"][0]["events"] == 6
