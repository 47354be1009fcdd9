"""The smaller items of issue 15.7. Lines written for these tests."""

from __future__ import annotations

import json
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from forensics.case import Case
from forensics.formats.base import FormatOptions
from forensics.formats.syslog import SYSLOG
from forensics.ingest import IngestOptions, ingest_paths


def _batch(lines: list[str]) -> pl.DataFrame:
    schema = {"line_no": pl.Int64, "byte_offset": pl.Int64, "raw": pl.Binary, "text": pl.String}
    return pl.DataFrame([(i + 1, 0, s.encode(), s) for i, s in enumerate(lines)], schema=schema, orient="row")


def _syslog(lines: list[str]) -> tuple[pl.DataFrame, dict[int, str]]:
    opts = FormatOptions(source="s", path="x", tz=ZoneInfo("UTC"), year_hint=2024)
    result = SYSLOG.parser(opts).parse_lines(_batch(lines))
    return result.events, dict(result.quarantine.select("line_no", "reason").iter_rows())


def test_elb_tcp_placeholder_request_has_no_url_path(case: Case, tmp_path: Path) -> None:
    fmt = '$time_iso8601 $elb $remote_addr $backend_addr $status "$request"'
    line = '2024-03-01T10:00:00.000000Z my-elb 192.0.2.10:4321 10.0.0.7:80 200 "- - - "\n'
    path = tmp_path / "elb.log"
    path.write_text(line, encoding="utf-8")
    ingest_paths(case, [path], IngestOptions(format="nginx", log_format=fmt, source="elb"))
    _, rows = case.query_readonly("SELECT url_path, http_method FROM events")
    assert rows == [(None, None)]


def test_month_names_of_other_locales_are_refused_with_a_reason() -> None:
    events, reasons = _syslog(["Aug 19 11:08:36 host app: ok", "août 19 11:08:37 host app: x"])
    assert events["line_no"].to_list() == [1]
    assert "month name 'août' is not an English abbreviation" in reasons[2] and "LC_TIME=C" in reasons[2]


def test_rfc5424_without_pri_and_version_is_read_as_5424() -> None:
    line = '2003-10-11T22:14:15.003Z web1 shopd 4242 ID47 [order@32473 id="O1"] viewed'
    events, reasons = _syslog([line, "2003-10-11T22:14:16Z web1 sshd[7]: a b - not structured"])
    assert not reasons
    first, second = (json.loads(a) for a in events.sort("line_no")["attrs"])
    assert first["syntax"] == "rfc5424" and first["sd"] == {"order@32473": {"id": "O1"}} and first["msg"] == "viewed"
    assert first["procid"] == "4242" and first["msgid"] == "ID47"
    assert second["syntax"] == "rfc3164" and second["msg"] == "a b - not structured"
