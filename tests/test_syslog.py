"""forensics.formats.syslog: RFC 5424 + RFC 3164, year inference, quarantine reasons, corpora, properties."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from forensics.errors import UsageError
from forensics.formats import get_format
from forensics.formats.base import FormatOptions, ParseError, ParseResult
from forensics.formats.syslog import (
    FACILITIES,
    REPEAT_ACTION,
    SEVERITIES,
    SYSLOG,
    SyslogParser,
)
from forensics.formats.syslog_render import render_rfc3164, render_rfc5424

DATA = Path(__file__).parent / "data"
UTC_ZONE = ZoneInfo("UTC")
SHANGHAI = ZoneInfo("Asia/Shanghai")
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------- helpers


def batch_from_bytes(data: bytes, first_line: int = 1, first_offset: int = 0) -> pl.DataFrame:
    """What ingest hands a line parser: non-blank lines with number, offset, bytes and text."""
    parts = data.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    rows = []
    offset = first_offset
    for i, raw in enumerate(parts):
        text = raw.decode("utf-8", errors="replace").removesuffix("\r")
        if text.strip():
            rows.append((first_line + i, offset, raw, text))
        offset += len(raw) + 1
    schema = {"line_no": pl.Int64, "byte_offset": pl.Int64, "raw": pl.Binary, "text": pl.String}
    return pl.DataFrame(rows, schema=schema, orient="row")


def batch_from_lines(lines: Sequence[str]) -> pl.DataFrame:
    return batch_from_bytes("".join(f"{line}\n" for line in lines).encode("utf-8"))


def make_parser(tz: ZoneInfo | None = UTC_ZONE, year: int | None = 2020, mapping: Any = None) -> SyslogParser:
    return SYSLOG.parser(FormatOptions(source="sys", path="test.log", tz=tz, year_hint=year, mapping=mapping))


def parse(lines: Sequence[str], tz: ZoneInfo | None = UTC_ZONE, year: int | None = 2020) -> ParseResult:
    return make_parser(tz, year).parse_lines(batch_from_lines(lines))


def parse_file(path: Path, tz: ZoneInfo | None = UTC_ZONE, year: int | None = 2020) -> tuple[pl.DataFrame, ParseResult]:
    batch = batch_from_bytes(path.read_bytes())
    return batch, make_parser(tz, year).parse_lines(batch)


def attrs(result: ParseResult) -> list[dict[str, Any]]:
    return [json.loads(a) for a in result.events.sort("line_no")["attrs"]]


def event(result: ParseResult, line_no: int) -> dict[str, Any]:
    rows = result.events.filter(pl.col("line_no") == line_no).to_dicts()
    assert len(rows) == 1, f"line {line_no} is not an event"
    row = rows[0]
    row["attrs"] = json.loads(row["attrs"])
    return row


def reasons(result: ParseResult) -> dict[int, str]:
    return dict(result.quarantine.select("line_no", "reason").iter_rows())


def assert_accounted(batch: pl.DataFrame, result: ParseResult) -> None:
    """Every line comes back exactly once; events carry a UTC time and a JSON object in attrs."""
    back = sorted(result.events["line_no"].to_list() + result.quarantine["line_no"].to_list())
    assert back == sorted(batch["line_no"].to_list())
    assert result.events["ts"].null_count() == 0
    assert result.events.schema["ts"] == pl.Datetime("us", "UTC")
    for text in result.events["attrs"]:
        assert isinstance(json.loads(text), dict)
    raw_by_line = dict(zip(batch["line_no"], batch["raw"], strict=True))
    for line_no, raw in result.quarantine.select("line_no", "raw").iter_rows():
        assert raw == raw_by_line[line_no], "quarantine must keep the exact bytes"


# ---------------------------------------------------------------- registry and protocol


def test_registered_as_syslog_line_format() -> None:
    fmt = get_format("syslog")
    assert fmt is SYSLOG
    assert fmt.name == "syslog"
    assert fmt.kind == "lines"


def test_parse_document_is_refused() -> None:
    with pytest.raises(ParseError, match="line format"):
        make_parser().parse_document("Jan  1 00:00:00 h t: x\n")


def test_sniff_prefers_syslog_lines() -> None:
    assert SYSLOG.sniff((DATA / "plaso" / "syslog_ssh.log").read_text().splitlines()) == 1.0
    assert SYSLOG.sniff(["<13>1 2019-02-13T19:48:34+00:00 host app 1 - - hello"]) == 1.0
    nginx = ['127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 200 2326 "-" "curl"']
    assert SYSLOG.sniff(nginx) == 0.0
    assert SYSLOG.sniff(['{"a": 1}']) == 0.0
    assert SYSLOG.sniff([]) == 0.0


def test_bad_year_hint_is_refused() -> None:
    with pytest.raises(ParseError, match="not a year"):
        SYSLOG.parser(FormatOptions(source="s", path="x.log", year_hint=0))


# ---------------------------------------------------------------- RFC 5424


def test_rfc5424_fields_sd_escapes_and_sequence_id() -> None:
    line = (
        r"<165>1 2003-10-11T22:14:15.003+08:00 mymachine.example.com evntslog 77 ID47 "
        r'[exampleSDID@32473 iut="3" key="a \"q\" b\\c [x\]"][meta sequenceId="42"] '
        "\ufeffAn application event"
    )
    result = parse([line])
    row = event(result, 1)
    assert row["ts"] == datetime(2003, 10, 11, 14, 14, 15, 3000, tzinfo=UTC)
    assert row["ts_raw"] == "2003-10-11T22:14:15.003+08:00"
    assert row["ts_offset"] == "+08:00"
    assert row["node"] == "mymachine.example.com"
    assert row["action"] == "other"
    assert row["outcome"] == "unknown"
    assert row["action_raw"] == "evntslog"
    assert row["seq"] == 42
    a = row["attrs"]
    assert (a["syntax"], a["pri"], a["facility"], a["severity"], a["version"]) == (
        "rfc5424",
        165,
        "local4",
        "notice",
        1,
    )
    assert (a["app"], a["procid"], a["msgid"]) == ("evntslog", "77", "ID47")
    assert a["msg"] == "An application event"  # the BOM marks UTF-8, it is not text
    assert a["sd"] == {"exampleSDID@32473": {"iut": "3", "key": 'a "q" b\\c [x]'}, "meta": {"sequenceId": "42"}}


def test_rfc5424_nil_values_and_repeated_params() -> None:
    line = '<14>1 2021-03-06T04:07:38Z - - - - [x@1 a="1" a="2" b=""][x@1 a="3"][empty]'
    row = event(parse([line]), 1)
    assert row["node"] is None
    assert row["action_raw"] is None
    assert row["seq"] is None
    a = row["attrs"]
    assert "procid" not in a and "msgid" not in a
    assert a["msg"] == ""
    # a repeated parameter is a list, in order; two elements with one SD-ID merge
    assert a["sd"] == {"x@1": {"a": ["1", "2", "3"], "b": ""}, "empty": {}}


def test_rfc5424_problems_are_quarantined_with_reasons() -> None:
    lines = [
        '<13>1 2021-03-06T04:07:38Z host app - - [bad x="1" message',  # unterminated SD
        "<13>1 - host app - - - no time",  # NILVALUE timestamp
        "<999>1 2021-03-06T04:07:38Z host app - - - pri too big",
        "<13>1 2021-03-06T04:07:38Z host",  # header cut short
        "<13>garbage",
        "<13>1 2021-02-30T04:07:38Z host app - - - no such day",
    ]
    got = reasons(parse(lines))
    assert got[1] == "malformed RFC 5424 structured data"
    assert got[2].startswith("RFC 5424 record without a timestamp")
    assert got[3] == "invalid PRI <999> (must be 0..191)"
    assert got[4].startswith("malformed RFC 5424 header")
    assert got[5] == "no RFC 3164 or RFC 5424 timestamp after the <PRI>"
    assert got[6] == "unparseable timestamp '2021-02-30T04:07:38Z'"


def test_rfc5424_zone_less_timestamp_needs_tz() -> None:
    line = "<13>1 2021-03-06T04:07:38 host app - - - local time"
    with pytest.raises(ParseError, match=r"test.log:1: .*--tz"):
        parse([line], tz=None)
    assert event(parse([line], tz=SHANGHAI), 1)["ts"] == datetime(2021, 3, 5, 20, 7, 38, tzinfo=UTC)


# ---------------------------------------------------------------- RFC 3164


def test_rfc3164_variants() -> None:
    lines = [
        "<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed for lonvick on /dev/pts/8",
        "Oct 11 22:14:16 kernel: [997.390602] no hostname",
        "Oct 11 22:14:17 host Job `cron.daily' terminated",
        "Oct 11 22:14:18 2001:db8::1 sshd[3]:  Accepted password",
        "Oct  1 22:14:19.25 host tag: fraction",
        "Oct 11 2019 22:14:20 host tag: explicit year",
        "2016-10-25T12:37:23.297265-07:00 INFO periodic_scheduler[13707]: cleanup_logs: job completed",
    ]
    result = parse(lines, year=2020)
    r1 = event(result, 1)
    assert (r1["node"], r1["action_raw"], r1["ts"]) == (
        "mymachine",
        "su",
        datetime(2020, 10, 11, 22, 14, 15, tzinfo=UTC),
    )
    assert r1["attrs"]["facility"] == "auth" and r1["attrs"]["severity"] == "crit" and r1["attrs"]["procid"] == "230"
    assert r1["attrs"]["year_inferred"] is True
    r2 = event(result, 2)
    assert (r2["node"], r2["action_raw"], r2["attrs"]["msg"]) == (None, "kernel", "[997.390602] no hostname")
    r3 = event(result, 3)
    assert (r3["node"], r3["action_raw"], r3["attrs"]["msg"]) == ("host", "Job", "`cron.daily' terminated")
    r4 = event(result, 4)
    assert (r4["node"], r4["action_raw"], r4["attrs"]["msg"]) == ("2001:db8::1", "sshd", "Accepted password")
    r5 = event(result, 5)
    assert r5["ts"] == datetime(2020, 10, 1, 22, 14, 19, 250000, tzinfo=UTC) and r5["ts_raw"] == "Oct  1 22:14:19.25"
    r6 = event(result, 6)
    assert r6["ts"] == datetime(2019, 10, 11, 22, 14, 20, tzinfo=UTC) and "year_inferred" not in r6["attrs"]
    r7 = event(result, 7)  # ChromeOS: a severity word in the hostname slot
    assert (r7["node"], r7["attrs"]["severity"], r7["ts_offset"]) == (None, "info", "-07:00")


def test_rfc3164_without_tz_is_refused() -> None:
    with pytest.raises(ParseError, match=r"test.log:1: timestamp has no UTC offset"):
        parse(["Oct 11 22:14:15 host tag: x"], tz=None)


def test_rfc3164_without_year_hint_is_refused() -> None:
    with pytest.raises(ParseError, match=r"test.log:2: RFC 3164 timestamp has no year"):
        parse(["2021-03-06T04:07:38Z host tag: has a year", "Oct 11 22:14:15 host tag: x"], year=None)
    # a file without year-less records needs no hint
    assert parse(["2021-03-06T04:07:38Z host tag: has a year"], year=None).events.height == 1


def test_rfc3164_zone_is_applied_and_recorded() -> None:
    row = event(parse(["Mar  1 08:00:00 host tag: x"], tz=SHANGHAI, year=2024), 1)
    assert row["ts"] == datetime(2024, 3, 1, 0, 0, tzinfo=UTC)
    assert row["ts_offset"] == "Asia/Shanghai"


def test_dst_gap_carries_both_readings_for_ingest_to_place() -> None:
    """A skipped-hour time is not dropped: both readings go to ingest, which places it by file order
    (tests/test_dst.py); the preferred one is the clock not yet moved on."""
    row = event(parse(["Mar 31 02:30:00 host tag: x"], tz=ZoneInfo("Europe/Berlin"), year=2024), 1)
    assert row["ts"] == datetime(2024, 3, 31, 1, 30, tzinfo=UTC)
    assert row["_ts_alt"] == datetime(2024, 3, 31, 0, 30, tzinfo=UTC) and row["_ts_local"] == "nonexistent"


def test_repeat_lines_are_events() -> None:
    lines = [
        "Nov 18 01:15:43: --- last message repeated 5 times ---",
        "Apr 4 03:39:57 --- last message repeated 1 time ---",
        "Mar 11 09:39:39 host last message repeated 3 times",
        "Mar 29 23:18:33 ip-10 sshd[6402]: message repeated 2 times: [ Failed password for root]",
    ]
    result = parse(lines, year=2021)
    assert result.quarantine.height == 0
    assert result.events.sort("line_no")["action_raw"].to_list() == [REPEAT_ACTION] * 4
    assert [a["repeat_count"] for a in attrs(result)] == [5, 1, 3, 2]
    assert event(result, 3)["node"] == "host"
    assert event(result, 4)["attrs"]["app"] == "sshd"


def test_invalid_month_and_day_are_unparseable() -> None:
    got = reasons(parse(["MMM 22 07:54:32 host tag: x", "Feb 30 07:54:32 host tag: x", "Jan 22 25:00:00 h t: x"]))
    assert got == {
        1: "unparseable timestamp 'MMM 22 07:54:32'",
        2: "unparseable timestamp 'Feb 30 07:54:32'",
        3: "unparseable timestamp 'Jan 22 25:00:00'",
    }


# ---------------------------------------------------------------- year inference


def test_year_inference_walks_back_from_the_hint() -> None:
    """year_hint is the last record's year; Dec after Jan... means the earlier records are a year older."""
    lines = ["Nov 30 10:00:00 h t: a", "Dec 31 23:59:59 h t: b", "Jan  1 00:00:01 h t: c", "Mar  5 10:00:00 h t: d"]
    years = [ts.year for ts in parse(lines, year=2024).events.sort("line_no")["ts"]]
    assert years == [2023, 2023, 2024, 2024]
    # several rollovers: one per month decrease
    lines = ["Oct  1 00:00:00 h t: a", "Feb  1 00:00:00 h t: b", "Jan  1 00:00:00 h t: c", "Jan  2 00:00:00 h t: d"]
    assert [ts.year for ts in parse(lines, year=2024).events.sort("line_no")["ts"]] == [2022, 2023, 2024, 2024]


def test_year_inference_tolerates_reordering_at_a_month_boundary() -> None:
    lines = ["Mar 31 23:59:58 h t: a", "Apr  1 00:00:01 h t: b", "Mar 31 23:59:59 h t: c", "Apr  1 00:00:02 h t: d"]
    assert [ts.year for ts in parse(lines, year=2024).events.sort("line_no")["ts"]] == [2024] * 4


def test_feb_29_must_land_in_a_leap_year() -> None:
    ok = parse(["Feb 29 01:15:43 h t: leap", "Dec 31 10:00:00 h t: x", "Jan  2 00:00:00 h t: y"], year=2025)
    assert event(ok, 1)["ts"] == datetime(2024, 2, 29, 1, 15, 43, tzinfo=UTC)
    bad = parse(["Feb 29 01:15:43 h t: leap", "Mar  1 00:00:00 h t: x"], year=2025)
    assert reasons(bad)[1].startswith("Feb 29 in inferred year 2025, which is not a leap year")
    assert event(bad, 2)["ts"].year == 2025


def test_plaso_leap_year_file() -> None:
    """plaso's syslog: 'events take place in 2012' with 3 rollovers before the last record."""
    batch, result = parse_file(DATA / "plaso" / "syslog", year=2015)
    assert_accounted(batch, result)
    assert event(result, 7)["ts"] == datetime(2012, 2, 29, 1, 15, 43, tzinfo=UTC)
    years = dict(result.events.select("line_no", pl.col("ts").dt.year()).iter_rows())
    assert years[1] == 2012 and years[9] == 2012 and years[10] == 2013 and years[13] == 2014 and years[18] == 2015


def _records(days: list[int]) -> list[str]:
    base = datetime(2020, 1, 1, 12, tzinfo=UTC)
    return [render_rfc3164(base + timedelta(days=d), f"n{i}", tag="t", hostname="h") for i, d in enumerate(days)]


def test_prescan_makes_multi_batch_files_exact() -> None:
    lines = _records([0, 200, 400, 500, 700, 800, 1000])
    whole = make_parser(year=2022).parse_lines(batch_from_lines(lines))
    batches = [
        batch_from_lines(lines).slice(0, 3),
        batch_from_lines(lines).slice(3, 2),
        batch_from_lines(lines).slice(5),
    ]
    parser = make_parser(year=2022)
    for b in batches:
        parser.prescan(b)
    parts = pl.concat([parser.parse_lines(b).events for b in batches])
    assert parts.equals(whole.events)
    assert whole.events["ts"].to_list() == [datetime(2020, 1, 1, 12, tzinfo=UTC) + timedelta(days=d) for d in
                                           [0, 200, 400, 500, 700, 800, 1000]]  # fmt: skip


def test_second_year_less_batch_without_prescan_is_refused() -> None:
    lines = _records([0, 1, 2, 3])
    parser = make_parser(year=2020)
    parser.parse_lines(batch_from_lines(lines).slice(0, 2))
    with pytest.raises(ParseError, match="prescan"):
        parser.parse_lines(batch_from_lines(lines).slice(2))


# ---------------------------------------------------------------- irregular lines


def test_continuation_lines_point_at_their_record_across_batches() -> None:
    batch = batch_from_lines(["\tbefore any record", "Jan  1 00:00:00 h t: start", "\tmore", "Jan  1 00:00:01 h t: x"])
    parser = make_parser()
    first = parser.parse_lines(batch.slice(0, 2))
    second = parser.parse_lines(batch_from_lines(["\tcontinued after the batch boundary"]).with_columns(line_no=9))
    assert reasons(first) == {1: "not a syslog record (no <PRI>, RFC 3164 or RFC 5424 header, and no record before it)"}
    assert reasons(second) == {9: "continuation line of the record at line 2 (no syslog header)"}
    rest = make_parser().parse_lines(batch)
    assert reasons(rest)[3] == "continuation line of the record at line 2 (no syslog header)"
    assert event(rest, 2)["attrs"]["msg"] == "start"  # never merged


def test_concatenated_records_are_quarantined_but_quoted_headers_are_not() -> None:
    lines = [
        "<15>Mar  6 04:07:23 hostname log_tag this is debug<14>Mar  6 04:07:23 hostname log_tag this is info",
        "Mar  6 04:07:23 relay fwd: got <14>Mar  6 04:07:23 hostname log_tag quoted after a space",
    ]
    result = parse(lines, year=2021)
    assert reasons(result)[1].startswith("2 syslog records concatenated on one line without newlines")
    assert event(result, 2)["attrs"]["msg"].startswith("got <14>Mar")


# ---------------------------------------------------------------- renderers


def test_render_rfc5424_layout() -> None:
    ts = datetime(2024, 3, 1, 8, 0, 0, 123456, tzinfo=timezone(timedelta(hours=8)))
    line = render_rfc5424(ts, "hi", hostname="h", app_name="a", sd={"meta": {"sequenceId": "7"}, "x@1": {"k": 'q"]\\'}})
    assert line == r'<13>1 2024-03-01T08:00:00.123456+08:00 h a - - [meta sequenceId="7"][x@1 k="q\"\]\\"] hi'
    assert render_rfc5424(datetime(2024, 3, 1, tzinfo=UTC)) == "<13>1 2024-03-01T00:00:00Z - - - - -"


def test_render_rfc3164_layout() -> None:
    ts = datetime(2024, 3, 1, 8, 0, 0, tzinfo=SHANGHAI)
    assert render_rfc3164(ts, "x", tag="sshd", pid=12, hostname="h") == "Mar  1 08:00:00 h sshd[12]: x"
    assert render_rfc3164(ts, "", tag="k", pri=0) == "<0>Mar  1 08:00:00 k:"
    assert render_rfc3164(ts, "m", tag="t", iso_timestamp=True) == "2024-03-01T08:00:00+08:00 t: m"


@pytest.mark.parametrize(
    "call",
    [
        lambda: render_rfc5424(datetime(2024, 1, 1), "naive"),  # noqa: DTZ001 - the point of the test
        lambda: render_rfc5424(datetime(2024, 1, 1, tzinfo=UTC), hostname="has space"),
        lambda: render_rfc5424(datetime(2024, 1, 1, tzinfo=UTC), app_name="-"),
        lambda: render_rfc5424(datetime(2024, 1, 1, tzinfo=UTC), "two\nlines"),
        lambda: render_rfc5424(datetime(2024, 1, 1, tzinfo=UTC), pri=192),
        lambda: render_rfc5424(datetime(2024, 1, 1, tzinfo=UTC), sd={"a=b": {"k": "v"}}),
        lambda: render_rfc3164(datetime(2024, 1, 1, tzinfo=UTC), "x", tag="a:b"),
        lambda: render_rfc3164(datetime(2024, 1, 1, tzinfo=UTC), "x", tag="t", hostname="host:"),
        lambda: render_rfc3164(datetime(2024, 1, 1, tzinfo=UTC), "x", tag="t", hostname="INFO", iso_timestamp=True),
    ],
)
def test_renderers_refuse_what_the_syntax_cannot_carry(call: Any) -> None:
    with pytest.raises(UsageError):
        call()


# ---------------------------------------------------------------- mapping


def test_mapping_sees_raw_fields_and_flattened_sd(tmp_path: Path) -> None:
    mapping_mod = pytest.importorskip("forensics.mapping")
    mapping = mapping_mod.mapping_from_dict(
        {
            "source": "security",
            "format": "syslog",
            "columns": {
                "action": "CASE WHEN app_name = 'hb' THEN 'system.heartbeat' WHEN severity = 'alert' "
                "THEN 'security.alert' ELSE 'other' END",
                "actor_id": '"fx@32473.user"',
                "record_count": "CAST(procid AS BIGINT)",
            },
        },
        path=tmp_path / "m.toml",
        sha256="0" * 64,
    )
    lines = [
        '<14>1 2024-03-01T00:00:00Z node1 hb 1 - [meta sequenceId="1"] alive',
        '<113>1 2024-03-01T00:00:01Z node1 ids 2 - [fx@32473 user="u7"][meta sequenceId="2"] intrusion',
        '<14>1 2024-03-01T00:00:02Z node1 hb notanumber - [meta sequenceId="3"] alive',
    ]
    result = make_parser(mapping=mapping).parse_lines(batch_from_lines(lines))
    rows = result.events.sort("line_no").to_dicts()
    assert [(r["line_no"], r["action"], r["actor_id"], r["record_count"], r["seq"]) for r in rows] == [
        (1, "system.heartbeat", None, 1, 1),
        (2, "security.alert", "u7", 2, 2),
    ]
    assert reasons(result)[3].startswith("mapping columns.record_count failed")


# ---------------------------------------------------------------- corpora: plaso


def _plaso_syslog_expectations() -> list[dict[str, Any]]:
    tests = json.loads((DATA / "plaso" / "plaso_parser_expectations.json").read_text())["tests"]
    return [t for t in tests if t["test"].startswith("tests/parsers/text_plugins/syslog.py")]


# plaso's facility names are descriptions; ours are the usual keywords.
_PLASO_FACILITY = {"user-level message": "user"}
# plaso's cron/ssh plugins turn messages into app-specific fields (command, username, fingerprint,
# ip_address, port); the syslog parser here keeps the message whole and leaves that to a mapping.
_PLASO_PLUGIN_KEYS = {"command", "username", "fingerprint", "ip_address", "port", "data_type"}


def test_plaso_expectations_cover_all_syslog_tests() -> None:
    assert len(_plaso_syslog_expectations()) == 9


@pytest.mark.parametrize("case", _plaso_syslog_expectations(), ids=lambda c: c["files"][1])
def test_plaso_conformance(case: dict[str, Any]) -> None:
    """Same event count as plaso. Where plaso glues a continuation line onto the record before it
    we quarantine the line instead (never merged), so plaso's recovered messages do not arise."""
    batch, result = parse_file(DATA / "plaso" / case["files"][1], year=2015)
    assert_accounted(batch, result)
    assert result.events.height == case["expected_event_data"]
    bad_time = [r for r in reasons(result).values() if r.startswith("unparseable timestamp")]
    assert len(bad_time) == case["expected_extraction_warnings"]
    events = result.events.sort("line_no").to_dicts()
    first_year = events[0]["ts"].year
    for expectation in case["events"]:
        row = events[expectation["index"]]
        a = json.loads(row["attrs"])
        for key, want in expectation["expected"].items():
            if key in _PLASO_PLUGIN_KEYS:
                continue
            if key == "last_written_time":
                if want.startswith("000"):  # plaso's relative years for year-less records
                    assert row["ts"].year - first_year == int(want[:4])
                    assert row["ts"].strftime("%m-%dT%H:%M:%S") == want[5:]
                else:
                    assert row["ts"] == datetime.fromisoformat(want)
            elif key == "hostname":
                assert row["node"] == want
            elif key == "reporter":  # action_raw is the tag, except syslog.repeat for repeat lines
                assert a.get("app") == want
            elif key == "pid":
                assert a["procid"] == str(want)
            elif key == "message_body":
                assert a["msg"] == want
            elif key == "message_identifier":
                assert a["msgid"] == want
            elif key == "severity":
                assert a.get("severity") == (want.lower() if want else None)
            elif key == "facility":
                assert a.get("facility") == _PLASO_FACILITY.get(want, want)
            else:
                pytest.fail(f"unhandled plaso key {key}")


@pytest.mark.parametrize("name", ["syslog_rsyslog_ForwardFormat", "syslog_rsyslog_TraditionalForwardFormat"])
def test_plaso_forward_format_files_are_quarantined(name: str) -> None:
    batch, result = parse_file(DATA / "plaso" / name, year=2021)
    assert_accounted(batch, result)
    assert result.events.height == 0
    got = reasons(result)
    assert got[1].startswith("2 syslog records concatenated on one line")
    assert got[2] == "continuation line of the record at line 1 (no syslog header)"


def test_plaso_syslog_details() -> None:
    batch, result = parse_file(DATA / "plaso" / "syslog", year=2015)
    assert batch.height == 18
    assert reasons(result) == {
        8: "unparseable timestamp 'MMM 22 07:54:32'",
        14: "continuation line of the record at line 13 (no syslog header)",
    }
    assert event(result, 1)["attrs"]["msg"] == "INFO No new content in ímynd.dd."
    assert event(result, 11)["ts"] == datetime(2013, 3, 23, 23, 1, 18, 123000, tzinfo=UTC)
    assert event(result, 16)["action_raw"] == REPEAT_ACTION
    assert event(result, 16)["attrs"]["repeat_count"] == 5
    assert (event(result, 17)["node"], event(result, 17)["action_raw"]) == (None, "kernel")
    assert event(result, 12)["action_raw"] == "/sbin/anacron"


# ---------------------------------------------------------------- corpora: elastic


def test_elastic_auth_log_mar_apr() -> None:
    path = DATA / "elastic-examples" / "auth.log"
    batch, result = parse_file(path, year=2018)
    assert batch.height == 7121
    assert_accounted(batch, result)
    assert result.events.height == 7121 and result.quarantine.height == 0
    ev = result.events.sort("line_no")
    assert ev["ts"][0] == datetime(2018, 3, 27, 13, 6, 56, tzinfo=UTC)
    assert ev["ts"][-1] == datetime(2018, 4, 20, 14, 14, 29, tzinfo=UTC)
    assert ev["ts"].dt.year().unique().to_list() == [2018]  # Mar -> Apr is no rollover
    assert ev["ts"].dt.month().value_counts().sort("ts")["count"].to_list() == [4062, 3059]
    assert ev["node"].unique().to_list() == ["ip-10-77-20-248"]
    messages = [a["msg"] for a in attrs(result)]
    assert sum(m.startswith("Invalid user") for m in messages) == 178
    text = path.read_text()
    repeats = [int(n) for n in re.findall(r"message repeated (\d+) times: \[", text)]
    got = [a["repeat_count"] for a in attrs(result) if "repeat_count" in a]
    assert got == repeats and len(got) == 85
    assert (ev["action_raw"] == "sshd").sum() == 4095 - 85
    assert (ev["action_raw"] == REPEAT_ACTION).sum() == 85


def test_elastic_darwin_multiline_and_rollover() -> None:
    batch, result = parse_file(DATA / "elastic-beats" / "system-syslog" / "darwin-syslog-sample.log", year=2017)
    assert_accounted(batch, result)
    assert result.events["line_no"].sort().to_list() == [1, 20, 21]
    assert set(reasons(result).values()) == {"continuation line of the record at line 1 (no syslog header)"}
    assert len(reasons(result)) == 18
    assert event(result, 1)["ts"] == datetime(2016, 12, 13, 11, 35, 28, tzinfo=UTC)  # Dec before Apr: a year earlier
    last = event(result, 21)
    assert (last["ts"], last["action_raw"], last["attrs"]["repeat_count"]) == (
        datetime(2017, 4, 4, 3, 39, 57, tzinfo=UTC),
        REPEAT_ACTION,
        1,
    )


def test_elastic_iso8601_multiline() -> None:
    batch, result = parse_file(DATA / "elastic-beats" / "system-syslog" / "iso8601_timestamp_multiline_syslog.log")
    assert_accounted(batch, result)
    row = event(result, 1)
    assert row["ts"] == datetime(2020, 12, 25, 21, 59, 59, tzinfo=UTC)
    assert (row["node"], row["action_raw"], row["attrs"]["procid"]) == (
        "a-mac-with-esc-key",
        "GoogleSoftwareUpdateAgent",
        "21412",
    )
    assert reasons(result) == {n: "continuation line of the record at line 1 (no syslog header)" for n in (2, 3)}


def test_elastic_tz_offsets() -> None:
    path = DATA / "elastic-beats" / "system-syslog" / "tz-offset.log"
    with pytest.raises(ParseError, match=r":3: timestamp has no UTC offset"):
        parse_file(path, tz=None)
    batch, result = parse_file(path, tz=ZoneInfo("Europe/Moscow"))
    assert_accounted(batch, result)
    ev = result.events.sort("line_no")
    assert ev["ts_offset"].to_list() == ["+0400", "+04:00", "Europe/Moscow"]
    assert ev["ts"].to_list() == [
        datetime(1986, 4, 25, 21, 23, 45, 101000, tzinfo=UTC),
        datetime(1986, 4, 25, 21, 23, 45, 388424, tzinfo=UTC),
        datetime(2019, 6, 14, 7, 40, 20, 912134, tzinfo=UTC),
    ]
    assert ev["action_raw"].to_list() == ["shutdown", "thermald", "sudo"]


def test_elastic_system_auth() -> None:
    batch, result = parse_file(DATA / "elastic-beats" / "system-auth" / "test.log", year=2016)
    assert_accounted(batch, result)
    assert result.events.height == 10
    # out of order within February, but no month goes backwards: no rollover
    assert result.events["ts"].dt.year().unique().to_list() == [2016]
    assert (
        event(result, 8)["attrs"]["msg"]
        == "tsg : user NOT in sudoers ; TTY=pts/1 ; PWD=/home/vagrant ; USER=root ; COMMAND=/bin/ls"
    )
    assert event(result, 4)["node"] == "slave22"
    batch, result = parse_file(DATA / "elastic-beats" / "system-auth" / "timestamp.log", tz=UTC_ZONE)
    assert_accounted(batch, result)
    assert event(result, 2)["ts"] == datetime(2019, 6, 14, 11, 31, 15, 412000, tzinfo=UTC)
    assert event(result, 2)["ts_offset"] == "+01:30"


# ---------------------------------------------------------------- corpora: VRL parse_syslog


def _vrl_cases() -> list[dict[str, Any]]:
    cases = json.loads((DATA / "vrl" / "vrl_parser_cases.json").read_text())
    return [c for c in cases if c.get("function") == "parse_syslog"]


_VRL_KEYS = {"severity", "facility", "timestamp", "hostname", "appname", "procid", "msgid", "message", "version"}


@pytest.mark.parametrize("case", _vrl_cases(), ids=lambda c: c["case"])
def test_vrl_parse_syslog_conformance(case: dict[str, Any]) -> None:
    """VRL assumes the current year for year-less lines; we take the year hint (2024 here)."""
    result = parse([case["input"]], year=2024)
    if "expected_error" in case:
        assert result.events.height == 0
        assert reasons(result)[1].startswith("not a syslog record")
        return
    row = event(result, 1)
    a = row["attrs"]
    want = case["expected"]
    ts = want["timestamp"]["$timestamp"] if isinstance(want["timestamp"], dict) else want["timestamp"]
    assert row["ts"] == datetime.fromisoformat(ts.replace("<current-year>", "2024").replace("Z", "+00:00"))
    assert row["node"] == want.get("hostname")
    assert row["action_raw"] == want.get("appname")
    assert a.get("severity") == want.get("severity")
    assert a.get("facility") == want.get("facility")
    assert a.get("procid") == (str(want["procid"]) if "procid" in want else None)
    assert a.get("msgid") == want.get("msgid")
    assert a["msg"] == want["message"]
    assert a.get("version") == want.get("version")
    sd = {k: v for k, v in want.items() if k not in _VRL_KEYS}
    assert a.get("sd", {}) == sd


def test_vrl_cases_present() -> None:
    assert len(_vrl_cases()) == 12


# ---------------------------------------------------------------- ingest end to end


def test_ingest_plaso_syslog_accounts_every_line(tmp_path: Path) -> None:
    ingest = pytest.importorskip("forensics.ingest")
    from forensics.case import init_case

    case = init_case(tmp_path / "case")
    src = tmp_path / "syslog"
    src.write_bytes((DATA / "plaso" / "syslog").read_bytes())
    report = ingest.ingest_paths(case, [src], ingest.IngestOptions(format="syslog", tz="UTC", year=2015, source="sys"))
    (f,) = report.files
    assert (f.lines, f.events, f.quarantined, f.blank) == (18, 16, 2, 0)


# ---------------------------------------------------------------- properties

_ASCII_TOKEN = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=12)
_HEADER_TOKEN = _ASCII_TOKEN.filter(lambda s: s != "-")
_SD_NAME = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters='=]" '), min_size=1, max_size=8
)
_LINE_TEXT = st.text(st.characters(exclude_characters="\n\r", exclude_categories=["Cs"]), max_size=40)
_MSG = _LINE_TEXT.filter(lambda s: s == s.lstrip(" \t\ufeff"))
_GLUED = re.compile(r"\S<[0-9]{1,3}>")
_OFFSETS = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


def _plain_msg(msg: str) -> bool:
    return not _GLUED.search(msg) and not msg.startswith("message repeated")


@PROPERTY
@given(
    ts=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=_OFFSETS),  # noqa: DTZ001
    hostname=st.none() | _HEADER_TOKEN,
    app_name=st.none() | _HEADER_TOKEN,
    procid=st.none() | _HEADER_TOKEN,
    msgid=st.none() | _HEADER_TOKEN,
    sd=st.dictionaries(
        _SD_NAME,
        st.dictionaries(_SD_NAME, _LINE_TEXT | st.lists(_LINE_TEXT, min_size=2, max_size=3), max_size=3),
        max_size=3,
    ),
    msg=st.none() | _MSG,
    pri=st.integers(0, 191),
)
def test_rfc5424_round_trip(
    ts: datetime,
    hostname: str | None,
    app_name: str | None,
    procid: str | None,
    msgid: str | None,
    sd: dict[str, dict[str, str | list[str]]],
    msg: str | None,
    pri: int,
) -> None:
    assume(msg is None or _plain_msg(msg))
    line = render_rfc5424(ts, msg, hostname=hostname, app_name=app_name, procid=procid, msgid=msgid, sd=sd, pri=pri)
    result = parse([line], tz=None, year=None)
    row = event(result, 1)
    assert row["ts"] == ts.astimezone(UTC)
    assert row["node"] == hostname and row["action_raw"] == app_name
    a = row["attrs"]
    assert (a.get("procid"), a.get("msgid"), a["msg"]) == (procid, msgid, msg or "")
    assert (a["facility"], a["severity"]) == (FACILITIES[pri // 8], SEVERITIES[pri % 8])
    assert a.get("sd", {}) == sd
    seq = sd.get("meta", {}).get("sequenceId")
    assert row["seq"] == (int(seq) if isinstance(seq, str) and re.fullmatch(r"[+-]?[0-9]{1,18}", seq) else None)


@PROPERTY
@given(
    start=st.datetimes(min_value=datetime(1995, 1, 1), max_value=datetime(2090, 1, 1)),  # noqa: DTZ001
    gaps=st.lists(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=300)), min_size=0, max_size=12),
    iso=st.booleans(),
    cut=st.integers(min_value=0, max_value=13),
)
def test_rfc3164_round_trip_with_year_inference(start: datetime, gaps: list[timedelta], iso: bool, cut: int) -> None:
    """Records less than 300 days apart always date back to their true year, in one batch or two."""
    times = [start.replace(tzinfo=SHANGHAI)]
    for gap in gaps:
        times.append((times[-1].astimezone(UTC) + gap).astimezone(SHANGHAI))
    lines = [render_rfc3164(t, f"m{i}", tag="app", hostname="h", pid=i, iso_timestamp=iso) for i, t in enumerate(times)]
    batch = batch_from_lines(lines)
    parser = make_parser(tz=SHANGHAI, year=times[-1].year)
    parts = [batch.slice(0, cut), batch.slice(cut)]
    for part in parts:
        parser.prescan(part)
    events = pl.concat([parser.parse_lines(p).events for p in parts]).sort("line_no")
    assert events["ts"].to_list() == [t.astimezone(UTC) for t in times]
    assert events["action_raw"].to_list() == ["app"] * len(times)
    assert [json.loads(a)["procid"] for a in events["attrs"]] == [str(i) for i in range(len(times))]


_FRAGMENTS = st.sampled_from(
    ["<13>", "<999>", "1 ", "2021-03-06T04:07:38Z", "2021-03-06T04:07:38", "Mar  6 ", "Feb 29 ", "MMM 1 ", "04:07:28",
     ".123", " ", "\t", "host ", "tag[1]: ", "tag: ", "- ", '[id a="\\"]"]', '[x', "]", "last message repeated 2 times",
     "message repeated 3 times: [", "---", ":", "\ufeff", "ímynd", "中文"]
)  # fmt: skip


@PROPERTY
@given(lines=st.lists(_LINE_TEXT | st.lists(_FRAGMENTS, max_size=8).map("".join), min_size=1, max_size=12))
def test_any_text_is_accounted_for(lines: list[str]) -> None:
    batch = batch_from_lines(lines)
    result = make_parser(tz=UTC_ZONE, year=2020).parse_lines(batch)
    assert_accounted(batch, result)


@PROPERTY
@given(data=st.binary(max_size=400))
def test_random_bytes_never_crash(data: bytes) -> None:
    batch = batch_from_bytes(data)
    if batch.height:
        assert_accounted(batch, make_parser(tz=UTC_ZONE, year=2020).parse_lines(batch))


def test_rfc3164_day_is_space_padded_in_corpus_style() -> None:
    # render and parse agree with what syslogd writes ("Feb  6"), see plaso/syslog line 15
    line = render_rfc3164(
        datetime(2015, 2, 6, 15, 16, 30, tzinfo=UTC), "Test", tag="process", pid=2085, hostname="victoria"
    )
    assert line == (DATA / "plaso" / "syslog").read_text().splitlines()[14].replace(
        "Test message with single character day", "Test"
    )
    assert event(parse([line], year=2015), 1)["ts"].date() == date(2015, 2, 6)
