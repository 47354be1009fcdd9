"""W3C extended log format (IIS): plaso's and lars's IIS corpora, directive handling, generated input."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forensics.case import init_case
from forensics.errors import UsageError
from forensics.formats import REGISTRY
from forensics.formats.base import FormatOptions, ParseError, ParseResult
from forensics.formats.w3c import W3C, render_fields, render_record, render_value, tokenize
from forensics.ingest import IngestOptions, ingest_paths

DATA = Path(__file__).resolve().parent / "data"

# ------------------------------------------------------------------ helpers (what ingest hands a parser)


def batch_of(data: bytes, first_line: int = 1) -> pl.DataFrame:
    """One row per non-blank line, as ingest splits: CR and BOM removed from the text."""
    rows = []
    offset = 0
    for i, raw in enumerate(data.split(b"\n")):
        body = raw[:-1] if raw.endswith(b"\r") else raw
        if body.strip():
            rows.append((first_line + i, offset, body, body.decode("utf-8").removeprefix("\ufeff")))
        offset += len(raw) + 1
    schema = {"line_no": pl.Int64, "byte_offset": pl.Int64, "raw": pl.Binary, "text": pl.String}
    return pl.DataFrame(rows, schema=schema, orient="row")


def lines_batch(lines: list[str]) -> pl.DataFrame:
    return batch_of("\n".join(lines).encode())


def parse(batch: pl.DataFrame, **opts: Any) -> ParseResult:
    return W3C.parser(FormatOptions(source="iis", path="test.log", **opts)).parse_lines(batch)


def parse_file(rel: str, **opts: Any) -> tuple[pl.DataFrame, ParseResult]:
    batch = batch_of((DATA / rel).read_bytes())
    return batch, parse(batch, **opts)


def assert_accounted(batch: pl.DataFrame, result: ParseResult) -> None:
    back = sorted(
        result.events["line_no"].to_list()
        + result.quarantine["line_no"].to_list()
        + result.structural["line_no"].to_list()
    )
    assert back == sorted(batch["line_no"].to_list())


def reasons(result: ParseResult) -> dict[int, str]:
    return dict(zip(result.quarantine["line_no"].to_list(), result.quarantine["reason"].to_list(), strict=True))


def event(result: ParseResult, line_no: int) -> dict[str, Any]:
    rows = result.events.filter(pl.col("line_no") == line_no).to_dicts()
    assert len(rows) == 1, (line_no, reasons(result))
    return rows[0]


def attrs(result: ParseResult, line_no: int) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(event(result, line_no)["attrs"])
    return value


HEADER = [
    "#Software: Microsoft Internet Information Services 10.0",
    "#Version: 1.0",
    "#Date: 2021-04-01 00:00:21",
]

# ------------------------------------------------------------------ plaso's IIS corpus


def _plaso_tests() -> dict[str, dict[str, Any]]:
    expectations = json.loads((DATA / "plaso/plaso_parser_expectations.json").read_text())
    return {t["files"][-1]: t for t in expectations["tests"] if t["files"][0] == "iis"}


@pytest.mark.parametrize(
    ("name", "structural"),
    [
        ("iis6.log", 4),
        ("iis7_sqli.log", 4),
        ("iis7_owa.log", 2),  # IIS 7 wrote neither #Version nor #Date here
        ("iis_without_date.log", 4),
        ("iis10_edge_cases.log", 4),
        ("iis10_cookies.log", 4),
    ],
)
def test_plaso_iis_event_counts(name: str, structural: int) -> None:
    """Every record plaso extracts is an event here too, with no warnings (no quarantine)."""
    test = _plaso_tests()[name]
    batch, result = parse_file(f"plaso/{name}")
    assert_accounted(batch, result)
    assert result.events.height == test["expected_event_data"]
    assert result.quarantine.height == test["expected_extraction_warnings"] == 0
    assert result.structural.height == structural
    assert set(result.structural["reason"].to_list()) == {"W3C directive"}


def test_plaso_iis_field_values() -> None:
    """plaso's asserted values. plaso keeps the '+' IIS writes for a blank in the user agent; that is
    our raw field (attrs) while the canonical user_agent reads it as the blank the client sent."""
    checked = 0
    for name, test in _plaso_tests().items():
        # the transcribed values of testProcessWithIIS10Log are those of iis10.log's one record (the event
        # count, 15, is iis10_edge_cases.log's): check each against the file it describes
        values_file = "iis10.log" if name == "iis10_edge_cases.log" else name
        _, result = parse_file(f"plaso/{values_file}")
        ordered = result.events.sort("line_no")
        for case in test["events"]:
            want = case["expected"]
            ev = ordered.row(case["index"], named=True)
            raw = json.loads(ev["attrs"])
            assert ev["ts"] == datetime.fromisoformat(want["last_written_time"])
            if "source_ip" not in want:
                assert raw["cs-version"] == want["protocol_version"]
                checked += 1
                continue
            assert ev["ip"] == want["source_ip"]
            assert raw["s-ip"] == want["dest_ip"] and int(raw["s-port"]) == want["dest_port"]
            assert ev["http_method"] == want["http_method"] and ev["status"] == want["http_status"]
            assert ev["url_path"] == want["requested_uri_stem"]
            assert raw["cs(User-Agent)"] == want["user_agent"]
            assert ev["user_agent"] == want["user_agent"].replace("+", " ")
            checked += 1
    assert checked == 5


def test_iis_edge_cases() -> None:
    _, result = parse_file("plaso/iis10_edge_cases.log")
    # IIS left two blanks around an empty field on these lines; plaso reads them as ordinary records
    first = event(result, 5)
    assert (first["actor_id"], first["actor_type"], first["ip"], first["node"]) == (
        "random\\ranuser1",
        "account",
        "::1",
        "::1",
    )
    assert first["user_agent"] == "Microsoft WinRM Client" and first["outcome"] == "success"
    assert event(result, 6)["outcome"] == "failure"  # 500
    assert attrs(result, 8)["cs-uri-stem"] == "/api/v1.0/$metadata"
    assert attrs(result, 10)["sc-win32-status"] == "214784354254"  # kept as written, not squeezed into an int
    assert event(result, 11)["actor_id"] == "RanDomain\\EX04$" and event(result, 11)["http_method"] == "RPC_IN_DATA"
    assert event(result, 9)["ts"] == datetime(2022, 1, 1, 18, 41, 57, tzinfo=UTC)
    assert event(result, 9)["ts_raw"] == "2022-01-01 18:41:57" and event(result, 9)["ts_offset"] == "UTC"
    cookies = parse_file("plaso/iis10_cookies.log")[1]
    assert attrs(cookies, 5)["cs(Cookie)"] == 'OutlookSession="{AAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE}"'


def test_date_from_directive_when_records_have_no_date() -> None:
    _, result = parse_file("plaso/iis_without_date.log")
    assert event(result, 6)["ts"] == datetime(2013, 7, 30, 0, 0, 3, tzinfo=UTC)
    assert event(result, 6)["ts_raw"] == "2013-07-30 00:00:03"
    assert event(result, 15)["ts"] == datetime(2013, 7, 30, 0, 0, 13, tzinfo=UTC)  # last line, no newline


# ------------------------------------------------------------------ lars's IIS fixtures


@pytest.mark.parametrize(
    ("name", "events", "bad"),
    [
        ("INTERNET_EXAMPLE", [6], {}),
        ("INTRANET_EXAMPLE", [6], {}),
        # IIS 7 writes files without #Version (plaso's iis7_owa.log); lars's fixture checks its refusal,
        # we read the records because #Fields alone says how
        ("MISSING_VERSION", [4], {}),
        # a repeated #Version (a restart appending to the same file) changes nothing about the records
        ("REPEAT_VERSION", [5], {}),
        # #Fields may be rewritten: each record is read with the one in force at its line
        ("REPEAT_FIELDS", [5], {}),
        # lars refuses the file; we refuse the directive and still read the record its #Fields describes
        ("BAD_VERSION", [4], {2: "unsupported W3C log version '2.0' (only 1.0 is defined)"}),
        (
            "INVALID_DIRECTIVE",
            [],
            {3: "unknown W3C directive #Foo", 5: "record before any #Fields directive (the fields cannot be named)"},
        ),
        ("MISSING_FIELDS", [], {4: "record before any #Fields directive (the fields cannot be named)"}),
        (
            "DUPLICATE_FIELD_NAMES",
            [],
            {
                4: "#Fields directive names field 'c-ip' twice",
                5: "no usable #Fields directive (the one at line 4 was refused",
            },
        ),
        ("BAD_DATA_EXAMPLE_01", [], {4: "c-ip is not an IP address '172.224.24.300'"}),
        ("BAD_DATA_EXAMPLE_02", [], {4: "c-ip is not an IP address 'foo.bar'"}),
    ],
)
def test_lars_iis_fixtures(name: str, events: list[int], bad: dict[int, str]) -> None:
    """Where lars raises for the whole file, we account line by line: each bad line is quarantined
    with its reason and the rest is kept."""
    batch, result = parse_file(f"lars/test_iis.{name}.log")
    assert_accounted(batch, result)
    assert result.events["line_no"].to_list() == events
    got = reasons(result)
    assert set(got) == set(bad)
    for line_no, prefix in bad.items():
        assert got[line_no].startswith(prefix), got[line_no]


def test_lars_iis_field_values() -> None:
    _, result = parse_file("lars/test_iis.INTERNET_EXAMPLE.log")
    ev, raw = event(result, 6), attrs(result, 6)
    assert ev["ts"] == datetime(2002, 5, 24, 20, 18, 1, tzinfo=UTC)
    assert (ev["ip"], ev["actor_id"], ev["actor_type"], ev["node"]) == (
        "172.224.24.114",
        None,
        "anonymous",
        "206.73.118.24",
    )
    assert (ev["http_method"], ev["url_path"], ev["status"], ev["bytes"]) == ("GET", "/Default.htm", 200, 7930)
    assert ev["user_agent"] == "Mozilla/4.0 (compatible; MSIE 5.01; Windows 2000 Server)"
    assert raw["cs(Referrer)"] == "http://64.224.24.114/" and raw["cs-uri-query"] == "-"
    repeat = parse_file("lars/test_iis.REPEAT_FIELDS.log")[1]
    assert event(repeat, 5)["ts"] == datetime(2002, 5, 24, 20, 18, 1, tzinfo=UTC)  # the second #Fields is used


def test_lars_string_cases() -> None:
    """lars's _string_parse cases, read as a cs(User-Agent) field. Two on purpose differences:
    %XX is kept as written (the '+' IIS substitutes for a blank is the only encoding IIS applies to
    this field), and a quoted string without its closing quote ('\"\"\"') is a malformed record,
    not a quote character."""
    cases = json.loads((DATA / "lars/lars_field_decoding_cases.json").read_text())
    checked = 0
    for case in cases:
        if case["function"] != "iis._string_parse":
            continue
        lines = [*HEADER, "#Fields: date time cs(User-Agent)", f"2021-04-01 00:00:21 {case['input']}"]
        result = parse(lines_batch(lines))
        if case["input"] == '"""':
            assert reasons(result)[5] == "unterminated quoted string starting at column 21"
        elif "%" in case["input"]:
            assert event(result, 5)["user_agent"] == "%28foo bar%29" != case["expected"]
        else:
            assert event(result, 5)["user_agent"] == case["expected"], case
        checked += 1
    assert checked == 11


# ------------------------------------------------------------------ directives and malformed records


def test_fields_may_change_mid_file_and_across_batches() -> None:
    parser = W3C.parser(FormatOptions(source="iis", path="x.log"))
    first = parser.parse_lines(
        lines_batch([*HEADER, "#Fields: date time c-ip sc-status", "2021-04-01 00:00:22 10.0.0.1 200"])
    )
    assert event(first, 5)["status"] == 200
    second = parser.parse_lines(
        batch_of(
            b"2021-04-01 00:00:23 10.0.0.2 404\n#Fields: time cs-method sc-status\n00:00:24 POST 201\n"
            b"00:00:25 GET 200 extra",
            first_line=6,
        )
    )
    assert event(second, 6)["ip"] == "10.0.0.2"  # still the first #Fields
    assert event(second, 8)["ts"] == datetime(2021, 4, 1, 0, 0, 24, tzinfo=UTC)  # the #Date of the first batch
    assert (event(second, 8)["http_method"], event(second, 8)["ip"]) == ("POST", None)
    assert reasons(second) == {9: "record has 4 fields but #Fields (line 7) declares 3"}
    assert second.structural["line_no"].to_list() == [7]


def test_malformed_records_are_quarantined_with_reasons() -> None:
    lines = [
        *HEADER,
        "#Fields: date time c-ip sc-status sc-bytes cs(User-Agent)",
        "2021-04-01 25:00:00 10.0.0.1 200 1 -",
        "2021-13-01 00:00:00 10.0.0.1 200 1 -",
        "2021-04-01 00:00:00 10.0.0.1 OK 1 -",
        "2021-04-01 00:00:00 10.0.0.1 200 many -",
        '2021-04-01 00:00:00 10.0.0.1 200 1 "unterminated',
        '2021-04-01 00:00:00 10.0.0.1 200 1 "a"b',
        "2021-04-01 00:00:00 10.0.0.1 200 1",
        "#Version",
        "#Date: yesterday",
        "2021-04-01 00:00:01 fe80::1%eth0 200 - -",
    ]
    result = parse(lines_batch(lines))
    got = reasons(result)
    assert got[5].startswith("bad date/time: unparseable timestamp '2021-04-01 25:00:00")
    assert got[6].startswith("bad date/time: unparseable timestamp '2021-13-01 00:00:00")
    assert got[7] == "sc-status is not a number 'OK'"
    assert got[8] == "sc-bytes is not a number 'many'"
    assert got[9] == "unterminated quoted string starting at column 36"
    assert got[10].startswith("text right after the closing quote at column 39")
    assert got[11] == "record has 5 fields but #Fields (line 4) declares 6"
    assert got[12] == "malformed W3C directive (expected '#Name: value')"
    assert got[13] == "#Date directive is not a date and time 'yesterday'"
    assert event(result, 14)["ip"] == "fe80::1%eth0"  # an IPv6 address with its zone is an address
    assert result.events.height == 1


def test_tz_is_honoured_for_writers_that_log_local_time() -> None:
    lines = [*HEADER, "#Fields: date time c-ip", "2021-04-01 08:00:00 10.0.0.1"]
    local = parse(lines_batch(lines), tz=ZoneInfo("Asia/Shanghai"))
    assert event(local, 5)["ts"] == datetime(2021, 4, 1, 0, 0, tzinfo=UTC)
    assert event(local, 5)["ts_offset"] == "Asia/Shanghai"
    assert event(parse(lines_batch(lines)), 5)["ts"] == datetime(2021, 4, 1, 8, 0, tzinfo=UTC)


def test_log_format_is_refused_and_sniff() -> None:
    with pytest.raises(ParseError, match="--log-format does not apply to W3C logs"):
        W3C.parser(FormatOptions(source="iis", path="x.log", log_format="combined"))
    with pytest.raises(ParseError, match="read line by line"):
        W3C.parser(FormatOptions(source="iis", path="x.log")).parse_document("{}")
    assert W3C.sniff([*HEADER, "#Fields: date time c-ip"]) == 1.0
    assert W3C.sniff(['1.2.3.4 - - [01/Jan/2020:00:00:00 +0000] "GET / HTTP/1.1" 200 1']) == 0.0


def test_ingest_iis_into_a_case(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(REGISTRY, "w3c", ("forensics.formats.w3c", "W3C"))
    case = init_case(tmp_path / "case")
    report = ingest_paths(case, [DATA / "plaso/iis6.log"], IngestOptions(format="w3c", source="iis"))
    f = report.files[0]
    assert (f.lines, f.events, f.quarantined, f.blank, f.structural) == (16, 12, 0, 0, 4)
    entry = case.manifest()["inputs"][0]
    assert [s["line_no"] for s in entry["structural_sample"]] == [1, 2, 3, 4]
    _, rows = case.query_readonly("SELECT count(*), min(ts), max(ts) FROM events WHERE source = 'iis'")
    assert rows[0] == (
        12,
        datetime(2013, 7, 30, tzinfo=UTC),
        datetime(2015, 10, 16, 13, 1, 2, tzinfo=UTC),
    )


def test_render_refuses_what_w3c_cannot_carry() -> None:
    with pytest.raises(UsageError, match="line break"):
        render_value("a\nb")
    with pytest.raises(UsageError, match="twice"):
        render_fields(["date", "time", "date"])
    assert render_value(None) == "-" and render_value("") == '""' and render_value("#x") == '"#x"'
    assert tokenize('a "b ""c""" d') == ["a", 'b "c"', "d"]


# ------------------------------------------------------------------ generated input (hypothesis)

_NAMES = ["c-ip", "cs-username", "cs-method", "cs-uri-stem", "cs-uri-query", "sc-status", "cs(User-Agent)", "x-note"]
_VALUE = st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\n\r"), max_size=12)
# whole seconds between 1990 and 2100, built aware (W3C times are UTC)
_TIMES = st.integers(0, 110 * 365 * 86_400).map(lambda s: datetime(1990, 1, 1, tzinfo=UTC) + timedelta(seconds=s))


@st.composite
def _w3c_file(draw: st.DrawFn) -> tuple[list[str], list[dict[str, str | None]], list[datetime]]:
    names = ["date", "time", *draw(st.lists(st.sampled_from(_NAMES), unique=True, max_size=5))]
    records: list[dict[str, str | None]] = []
    times: list[datetime] = []
    for _ in range(draw(st.integers(1, 6))):
        when = draw(_TIMES)
        values: dict[str, str | None] = {"date": when.strftime("%Y-%m-%d"), "time": when.strftime("%H:%M:%S")}
        for n in names[2:]:
            if n == "c-ip":
                values[n] = draw(st.ip_addresses().map(str) | st.none())
            elif n == "sc-status":
                values[n] = draw(st.integers(100, 599).map(str) | st.none())
            else:
                values[n] = draw(_VALUE | st.none())
        records.append(values)
        times.append(when)
    lines = [*HEADER, render_fields(names), *[render_record(names, r) for r in records]]
    return lines, records, times


@given(_w3c_file())
@settings(max_examples=100, deadline=None)
def test_rendered_records_read_back(case: tuple[list[str], list[dict[str, str | None]], list[datetime]]) -> None:
    lines, records, times = case
    result = parse(lines_batch(lines))
    assert result.quarantine.height == 0, reasons(result)
    assert result.structural.height == 4
    events = result.events.sort("line_no")
    for row, values, when in zip(events.iter_rows(named=True), records, times, strict=True):
        assert json.loads(row["attrs"]) == {k: "-" if v is None else v for k, v in values.items()}
        assert row["ts"] == when
        assert row["ip"] == values.get("c-ip")
        ua = values.get("cs(User-Agent)")
        assert row["user_agent"] == (None if ua in (None, "-") else ua.replace("+", " "))


_LINE = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\n\r"), max_size=40),
    st.sampled_from(
        [
            "#Fields: date time c-ip sc-status",
            "#Fields: time cs-method",
            "#Fields: date date",
            "#Version: 1.0",
            "#Version: 9",
            "#Date: 2020-02-29 00:00:00",
            "#Remark",
            '2020-01-01 00:00:00 10.0.0.1 "2 00"',
            "2020-01-01 00:00:00 10.0.0.1 200",
            "00:00:01 GET",
        ]
    ),
)


@given(st.lists(_LINE, max_size=25), st.integers(0, 25))
@settings(max_examples=100, deadline=None)
def test_random_lines_never_crash_and_are_all_accounted(lines: list[str], cut: int) -> None:
    """Any text, split into two batches anywhere: every non-blank line comes back exactly once."""
    data = "\n".join(lines).encode()
    batch = batch_of(data)
    parser = W3C.parser(FormatOptions(source="iis", path="x.log"))
    head, tail = batch.head(cut), batch.slice(cut)
    results = [parser.parse_lines(head), parser.parse_lines(tail)]
    back = sorted(
        n for r in results for part in (r.events, r.quarantine, r.structural) for n in part["line_no"].to_list()
    )
    assert back == batch["line_no"].to_list()
    for r in results:
        if r.events.height:
            assert r.events["ts"].null_count() == 0
            assert r.events["ts"].dtype == pl.Datetime("us", "UTC")
        assert r.quarantine["reason"].null_count() == 0


def test_a_day_of_records_is_fast_enough() -> None:
    """Vectorized: 50k records parse in well under the time a per-line path would need."""
    start = datetime(2021, 4, 1, tzinfo=UTC)
    body = [
        f"{(start + timedelta(seconds=i)):%Y-%m-%d %H:%M:%S} 10.0.{i % 250}.1 GET /p{i} - 200 {i} Mozilla/5.0+(X11)"
        for i in range(50_000)
    ]
    lines = [*HEADER, "#Fields: date time c-ip cs-method cs-uri-stem cs-uri-query sc-status sc-bytes cs(User-Agent)"]
    result = parse(lines_batch(lines + body))
    assert result.events.height == 50_000 and result.quarantine.height == 0
    assert result.events["bytes"].sum() == sum(range(50_000))
