"""W3C as other writers write it (issue 15.4 and the W3C part of 15.7). Lines written for these tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from forensics.case import Case
from forensics.errors import ForensicsError
from forensics.ingest import IngestOptions, ingest_paths


def _ingest(case: Case, tmp_path: Path, lines: list[str], **opts: object) -> None:
    path = tmp_path / "ex.log"
    path.write_text("".join(s + "\n" for s in lines), encoding="utf-8")
    ingest_paths(case, [path], IngestOptions(format="w3c", source="web", **opts))  # type: ignore[arg-type]


def _rows(case: Case, columns: str) -> list[tuple[object, ...]]:
    _, rows = case.query_readonly(f"SELECT {columns} FROM events ORDER BY line_no")
    return rows


def test_gmt_offset_is_applied(case: Case, tmp_path: Path) -> None:
    lines = [
        "#Software: Example Proxy 3.0",
        "#Version: 1.0",
        "#GMT-Offset: -0800",
        "#Fields: date time c-ip cs-method cs-uri sc-status bytes",
        "2001-10-31 00:00:18 10.0.0.5 GET /shop/order?id=7 200 1234",
    ]
    _ingest(case, tmp_path, lines)
    assert _rows(case, "ts, ts_offset, ip, url_path, status, bytes") == [
        (datetime(2001, 10, 31, 8, 0, 18, tzinfo=UTC), "-0800", "10.0.0.5", "/shop/order", 200, 1234)
    ]
    _, q = case.query_readonly("SELECT count(*) FROM quarantine")
    assert q == [(0,)]


def test_gmt_offset_must_be_an_offset(case: Case, tmp_path: Path) -> None:
    lines = ["#Version: 1.0", "#GMT-Offset: PST", "#Fields: date time c-ip", "2001-10-31 00:00:18 10.0.0.5"]
    _ingest(case, tmp_path, lines)
    _, rows = case.query_readonly("SELECT line_no, reason FROM quarantine")
    assert rows[0][0] == 2 and "not a UTC offset" in rows[0][1]
    assert _rows(case, "ts") == [(datetime(2001, 10, 31, 0, 0, 18, tzinfo=UTC),)]  # no offset in force: UTC


def test_iis_advanced_logging_local_fields(case: Case, tmp_path: Path) -> None:
    lines = [
        "#Software: IIS Advanced Logging Module",
        "#Version: 1.0",
        "#Fields: date-local time-local s-computername c-ip cs-uri-stem sc-status",
        "2024-03-01 10:00:00 WEB1 10.0.0.1 /x 200",
    ]
    _ingest(case, tmp_path, lines, tz="Asia/Shanghai")
    assert _rows(case, "ts, ts_offset, node") == [(datetime(2024, 3, 1, 2, 0, tzinfo=UTC), "Asia/Shanghai", "WEB1")]


def test_iis_advanced_logging_local_fields_need_a_zone(case: Case, tmp_path: Path) -> None:
    lines = ["#Version: 1.0", "#Fields: date-local time-local c-ip", "2024-03-01 10:00:00 10.0.0.1"]
    with pytest.raises(ForensicsError, match=r"ex.log:3: .*pass --tz"):
        _ingest(case, tmp_path, lines)


def test_empty_numeric_fields_are_null_not_a_bad_record(case: Case, tmp_path: Path) -> None:
    lines = [
        "#Version: 1.0",
        "#Fields: date time c-ip cs-method sc-status sc-bytes",
        '2024-03-01 10:00:00 10.0.0.1 "GET" "" ""',
    ]
    _ingest(case, tmp_path, lines)
    assert _rows(case, "status, bytes, http_method, outcome") == [(None, None, "GET", "unknown")]


def test_variant_fields_map_and_stay_in_attrs(case: Case, tmp_path: Path) -> None:
    lines = [
        "#Version: 1.0",
        "#Fields: date time c-ip cs-uri c-status bytes x-edge-location",
        "2024-03-01 10:00:00 10.0.0.1 https://shop.example/a/b?q=1 404 10 FRA",
    ]
    _ingest(case, tmp_path, lines)
    url, status, size, attrs = _rows(case, "url_path, status, bytes, attrs")[0]
    assert (url, status, size) == ("/a/b", 404, 10)
    assert json.loads(str(attrs))["cs-uri"] == "https://shop.example/a/b?q=1"
    assert json.loads(str(attrs))["x-edge-location"] == "FRA"
