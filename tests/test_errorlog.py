"""Apache and nginx error logs (issue 15.8). Lines written for these tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forensics.case import Case
from forensics.errors import ForensicsError, UsageError
from forensics.formats import get_format
from forensics.formats.base import FormatOptions, ParseResult
from forensics.formats.detect import detect
from forensics.fuzz import compare_event
from forensics.ingest import IngestOptions, ingest_paths
from forensics.testing import apache_error_lines, nginx_error_lines

APACHE_22 = "[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok /etc/httpd/conf/workers2.properties"
APACHE_24 = (
    "[Wed Oct 11 14:32:52.123456 2000] [core:error] [pid 35708:tid 4328636416] [client 72.15.99.187:57218] "
    "AH00128: File does not exist: /srv/www/favicon.ico, referer: http://shop.example/a"
)
NGINX = (
    '2019/01/22 03:58:26 [error] 1234#0: *5 open() "/srv/www/x" failed (2: No such file or directory), '
    'client: 1.2.3.4, server: shop, request: "GET /x?id=7 HTTP/1.1", host: "shop.example"'
)


def _parse(name: str, lines: list[str], tz: str = "UTC") -> ParseResult:
    schema = {"line_no": pl.Int64, "byte_offset": pl.Int64, "raw": pl.Binary, "text": pl.String}
    batch = pl.DataFrame([(i + 1, 0, s.encode(), s) for i, s in enumerate(lines)], schema=schema, orient="row")
    return get_format(name).parser(FormatOptions(source="s", path="e.log", tz=ZoneInfo(tz))).parse_lines(batch)


def test_apache_22_and_24_lines() -> None:
    result = _parse("apache_error", [APACHE_22, APACHE_24, "  continuation of a stack trace"])
    first, second = result.events.sort("line_no").iter_rows(named=True)
    assert first["ts"] == datetime(2005, 12, 4, 4, 47, 44, tzinfo=UTC) and first["action_raw"] == "notice"
    assert json.loads(first["attrs"])["msg"].startswith("workerEnv.init() ok")
    assert second["ip"] == "72.15.99.187" and second["action_raw"] == "core:error"
    attrs = json.loads(second["attrs"])
    assert (attrs["pid"], attrs["client_port"], attrs["code"]) == ("35708", "57218", "AH00128")
    assert attrs["referer"] == "http://shop.example/a" and attrs["msg"] == "File does not exist: /srv/www/favicon.ico"
    assert "not an Apache error log record" in result.quarantine["reason"][0]


def test_nginx_line_with_client_and_request() -> None:
    row = _parse("nginx_error", [NGINX]).events.row(0, named=True)
    assert (row["ip"], row["http_method"], row["url_path"], row["node"]) == ("1.2.3.4", "GET", "/x", "shop")
    assert row["ts"] == datetime(2019, 1, 22, 3, 58, 26, tzinfo=UTC)
    attrs = json.loads(row["attrs"])
    assert attrs["connection"] == "5" and attrs["host"] == "shop.example" and attrs["msg"].startswith("open()")


def test_local_times_need_a_zone(case: Case, tmp_path: Path) -> None:
    path = tmp_path / "error.log"
    path.write_text(NGINX + "\n", encoding="utf-8")
    with pytest.raises(ForensicsError, match=r"error.log:1: .*pass --tz"):
        ingest_paths(case, [path], IngestOptions(format="nginx_error"))
    ingest_paths(case, [path], IngestOptions(format="nginx_error", tz="Asia/Shanghai"))
    _, rows = case.query_readonly("SELECT ts FROM events")
    assert rows == [(datetime(2019, 1, 21, 19, 58, 26, tzinfo=UTC),)]


def test_registered_detected_and_did_you_mean(case: Case, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="did you mean 'nginx_error'"):
        get_format("nginx_eror")
    for name, line in (("apache_error", APACHE_24), ("nginx_error", NGINX)):
        chosen = detect([line, line]).chosen
        assert chosen is not None and chosen.format == name
    path = tmp_path / "error.log"
    path.write_text(APACHE_22 + "\n", encoding="utf-8")
    report = ingest_paths(case, [path], IngestOptions(tz="UTC"))
    assert (report.files[0].format, report.files[0].events) == ("apache_error", 1)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["apache_error", "nginx_error"]).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(apache_error_lines() if n == "apache_error" else nginx_error_lines(), min_size=1, max_size=6),
        )
    )
)
def test_generated_lines_round_trip_and_are_detected(sample: tuple[str, list]) -> None:  # type: ignore[type-arg]
    name, generated = sample
    lines = [g.raw.decode() for g in generated]
    result = _parse(name, lines)
    assert result.quarantine.height == 0
    for g, row in zip(generated, result.events.sort("line_no").iter_rows(named=True), strict=True):
        assert compare_event(g.expected, row) == []
    chosen = detect(lines).chosen
    assert chosen is not None and chosen.format == name
