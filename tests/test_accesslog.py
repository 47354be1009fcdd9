"""nginx / Apache access logs: format-string compilation, canonical columns, quarantine reasons,
property tests (render -> parse round trip, never crash, every line accounted for) and
conformance against the corpora copied under tests/data (see tests/data/ATTRIBUTION.md)."""

from __future__ import annotations

import json
import sys
import types
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forensics.errors import UsageError
from forensics.formats import accesslog
from forensics.formats.accesslog import APACHE, NGINX, AccessLogFormat, compile_log_format, slow_parse
from forensics.formats.base import FormatOptions, ParseError, ParseResult

DATA = Path(__file__).parent / "data"


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def make_batch(lines: list[str] | list[bytes] | list[str | bytes]) -> pl.DataFrame:
    """A line batch as ingest hands it over; blank lines are set aside like ingest does."""
    rows = []
    offset = 0
    for n, line in enumerate(lines, start=1):
        raw = line if isinstance(line, bytes) else str(line).encode("utf-8")
        if raw.strip():
            rows.append((n, offset, raw, raw.decode("utf-8", "replace").rstrip("\r")))
        offset += len(raw) + 1
    schema = {"line_no": pl.Int64, "byte_offset": pl.Int64, "raw": pl.Binary, "text": pl.String}
    return pl.DataFrame(rows, schema=schema, orient="row")


def file_batch(rel: str) -> pl.DataFrame:
    data = (DATA / rel).read_bytes()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return make_batch(lines)


def parse(
    fmt: AccessLogFormat, lines: list[str] | pl.DataFrame, log_format: str | None = None, **kw: Any
) -> ParseResult:
    batch = lines if isinstance(lines, pl.DataFrame) else make_batch(lines)
    return fmt.parser(FormatOptions(source="test", path="test.log", log_format=log_format, **kw)).parse_lines(batch)


def assert_accounted(batch: pl.DataFrame, result: ParseResult) -> None:
    events = result.events["line_no"].to_list()
    quarantined = result.quarantine["line_no"].to_list()
    assert len(events) == len(set(events))
    assert len(quarantined) == len(set(quarantined))
    assert not set(events) & set(quarantined)
    assert set(events) | set(quarantined) == set(batch["line_no"].to_list())


def attrs(result: ParseResult, line_no: int) -> dict[str, Any]:
    row = result.events.filter(pl.col("line_no") == line_no)
    assert row.height == 1, f"line {line_no} is not an event"
    return dict(json.loads(row["attrs"][0]))


def event(result: ParseResult, line_no: int) -> dict[str, Any]:
    rows = result.events.filter(pl.col("line_no") == line_no).to_dicts()
    assert len(rows) == 1, f"line {line_no} is not an event"
    return rows[0]


def reasons(result: ParseResult) -> dict[int, str]:
    return dict(zip(result.quarantine["line_no"].to_list(), result.quarantine["reason"].to_list(), strict=True))


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


COMBINED_LINE = (
    '203.0.113.7 - alice [07/Dec/2016:11:05:07 +0100] "GET /orders/view?id=42&x=1 HTTP/1.1" 200 571 '
    '"https://shop.example/list" "Mozilla/5.0 (X11)"'
)


# ---------------------------------------------------------------------------------------------
# compiling format strings
# ---------------------------------------------------------------------------------------------


def test_combined_field_names_are_the_contract() -> None:
    assert compile_log_format("combined", "nginx").field_names == [
        "remote_addr",
        "remote_user",
        "time_local",
        "request",
        "status",
        "body_bytes_sent",
        "http_referer",
        "http_user_agent",
    ]
    assert compile_log_format("combined", "apache").field_names == [
        "remote_addr",
        "remote_logname",
        "remote_user",
        "time_local",
        "request",
        "status",
        "body_bytes_sent",
        "http_referer",
        "http_user_agent",
    ]


@pytest.mark.parametrize("flavor", ["nginx", "apache"])
@pytest.mark.parametrize("preset", ["combined", "common", "vhost_combined", "main"])
def test_every_preset_compiles_and_names_its_time_field(flavor: Any, preset: str) -> None:
    cf = compile_log_format(preset, flavor)
    assert cf.preset == preset
    assert cf.time_field is not None and cf.time_field.name == "time_local"


def test_main_preset_is_combined_plus_forwarded_for() -> None:
    assert compile_log_format("main", "nginx").field_names[-1] == "http_x_forwarded_for"


@pytest.mark.parametrize(
    ("directive", "name"),
    [
        ("%h", "remote_addr"),
        ("%a", "remote_ip"),
        ("%{c}a", "peer_ip"),
        ("%l", "remote_logname"),
        ("%u", "remote_user"),
        ("%r", "request"),
        ("%>s", "status"),
        ("%s", "status"),
        ("%b", "body_bytes_sent"),
        ("%B", "body_bytes_sent"),
        ("%{Referer}i", "http_referer"),
        ("%{User-Agent}i", "http_user_agent"),
        ("%{X-Request-ID}i", "http_x_request_id"),
        ("%{Content-Type}o", "sent_http_content_type"),
        ("%{UNIQUE_ID}e", "env_unique_id"),
        ("%{JSESSIONID}C", "cookie_jsessionid"),
        ("%{SSL_PROTOCOL}x", "ssl_protocol"),
        ("%v", "server_name"),
        ("%V", "host"),
        ("%D", "request_time_us"),
        ("%T", "request_time_s"),
        ("%{ms}T", "request_time_ms"),
        ("%I", "bytes_received"),
        ("%O", "bytes_sent"),
        ("%{remote}p", "remote_port"),
        ("%U", "uri"),
        ("%m", "request_method"),
        ("%H", "server_protocol"),
        ("%400,501{User-agent}i", "http_user_agent"),
        ("%!200,304{Referer}i", "http_referer"),
    ],
)
def test_apache_directive_names(directive: str, name: str) -> None:
    cf = compile_log_format(f"%t {directive}", "apache")
    assert cf.field_names == ["time_local", name]


def test_repeated_names_get_a_suffix() -> None:
    cf = compile_log_format("%t %s %>s %b %B", "apache")
    assert cf.field_names == ["time_local", "status", "status_2", "body_bytes_sent", "body_bytes_sent_2"]


def test_unknown_preset_suggests_the_closest() -> None:
    with pytest.raises(UsageError, match="did you mean 'combined'"):
        compile_log_format("combind", "nginx")
    with pytest.raises(UsageError, match="did you mean 'vhost_combined'"):
        NGINX.parser(FormatOptions(source="s", path="p", log_format="vhost_combine"))


@pytest.mark.parametrize(
    ("fmt", "flavor", "message"),
    [
        ("$remote_addr $status", "nginx", "no time field"),
        ("%h %Z %t", "apache", "unknown Apache directive"),
        ("%h %{Referer} %t", "apache", "does not start a known Apache directive"),
        ("$remote_addr $ [$time_local]", "nginx", "not followed by a variable"),
        ("%{%Y-%m-%d %Q}t", "apache", "unsupported strftime code"),
        ("log_format main escape=yaml '$time_local'", "nginx", "unknown nginx escape"),
    ],
)
def test_bad_format_strings_are_usage_errors(fmt: str, flavor: Any, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        compile_log_format(fmt, flavor)


def test_nginx_format_pasted_from_nginx_conf() -> None:
    pasted = """log_format main '$remote_addr - $remote_user [$time_local] "$request" '
                    '$status $body_bytes_sent "$http_referer" '
                    '"$http_user_agent" "$http_x_forwarded_for"';"""
    cf = compile_log_format(pasted, "nginx")
    assert cf.field_names == compile_log_format("main", "nginx").field_names
    assert cf.escape == "hex"
    json_cf = compile_log_format("log_format j escape=json '[$time_local] \"$http_user_agent\"';", "nginx")
    assert json_cf.escape == "backslash"


def test_apache_format_pasted_from_httpd_conf() -> None:
    pasted = r'"%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-agent}i\""'
    assert compile_log_format(pasted, "apache").format_string == accesslog.PRESETS["apache"]["combined"].replace(
        "User-Agent", "User-agent"
    )


def test_render_is_the_inverse_of_parsing() -> None:
    cf = compile_log_format("combined", "nginx")
    values = slow_parse(cf, COMBINED_LINE)
    assert isinstance(values, dict)
    assert cf.render(values) == COMBINED_LINE


# ---------------------------------------------------------------------------------------------
# canonical columns
# ---------------------------------------------------------------------------------------------


def test_combined_line_canonical_columns() -> None:
    result = parse(NGINX, [COMBINED_LINE])
    ev = event(result, 1)
    assert ev["ts"] == datetime(2016, 12, 7, 10, 5, 7, tzinfo=UTC)
    assert ev["ts_raw"] == "07/Dec/2016:11:05:07 +0100"
    assert ev["ts_offset"] == "+0100"
    assert ev["ip"] == "203.0.113.7"
    assert (ev["actor_id"], ev["actor_type"]) == ("alice", "account")
    assert (ev["action"], ev["action_raw"], ev["http_method"]) == ("http.request", "GET", "GET")
    assert ev["url_path"] == "/orders/view"
    assert (ev["status"], ev["outcome"], ev["bytes"]) == (200, "success", 571)
    assert ev["user_agent"] == "Mozilla/5.0 (X11)"
    assert ev["byte_offset"] == 0
    a = attrs(result, 1)
    assert a["request_uri"] == "/orders/view?id=42&x=1"
    assert a["args"] == "id=42&x=1"
    assert a["server_protocol"] == "HTTP/1.1"
    assert a["http_referer"] == "https://shop.example/list"
    assert result.events.schema["ts"] == pl.Datetime("us", "UTC")
    assert result.events.schema["status"] == pl.Int32
    assert result.events.schema["bytes"] == pl.Int64


def test_dash_fields() -> None:
    line = '192.0.2.1 - - [07/Dec/2016:11:05:07 +0100] "-" 400 - "-" "-"'
    result = parse(NGINX, [line])
    ev = event(result, 1)
    assert (ev["actor_id"], ev["actor_type"]) == (None, "anonymous")
    assert ev["bytes"] is None  # '-' is "not recorded", not zero
    assert (ev["http_method"], ev["url_path"], ev["user_agent"]) == (None, None, None)
    assert ev["outcome"] == "failure"
    a = attrs(result, 1)
    assert (a["remote_user"], a["body_bytes_sent"], a["http_referer"], a["request"]) == ("-", "-", "-", "-")
    assert a["request_method"] is None


@pytest.mark.parametrize(
    ("request_line", "method", "uri", "path", "args", "proto"),
    [
        ("GET /a?b=1 HTTP/1.1", "GET", "/a?b=1", "/a", "b=1", "HTTP/1.1"),
        ("GET /a b HTTP/1.0", "GET", "/a b", "/a b", None, "HTTP/1.0"),
        ("GET /old", "GET", "/old", "/old", None, None),
        ("GET http://proxy.example:8080/p?q HTTP/1.1", "GET", "http://proxy.example:8080/p?q", "/p", "q", "HTTP/1.1"),
        ("CONNECT host.example:443 HTTP/2.0", "CONNECT", "host.example:443", "host.example:443", None, "HTTP/2.0"),
        ("POST /x HTTP/2", "POST", "/x", "/x", None, "HTTP/2"),
        ("hello", None, None, None, None, None),
        ("", None, None, None, None, None),
    ],
)
def test_request_line_derivation(
    request_line: str, method: str | None, uri: str | None, path: str | None, args: str | None, proto: str | None
) -> None:
    line = f'192.0.2.1 - - [07/Dec/2016:11:05:07 +0100] "{request_line}" 200 1 "-" "-"'
    result = parse(NGINX, [line])
    a = attrs(result, 1)
    assert (a["request_method"], a["request_uri"], a["uri"], a["args"], a["server_protocol"]) == (
        method,
        uri,
        path,
        args,
        proto,
    )
    assert event(result, 1)["url_path"] == path


def test_x_forwarded_for_chain_goes_to_forwarded_for_not_ip() -> None:
    """Issue 15.5: ip is the connecting peer; the header (any client can write it) is kept hop by hop."""
    lines = [
        '10.0.0.5 - - [07/Dec/2016:11:05:07 +0100] "GET / HTTP/1.1" 200 1 "-" "ua" "198.51.100.9, 10.0.0.1"',
        '10.0.0.5 - - [07/Dec/2016:11:05:07 +0100] "GET / HTTP/1.1" 200 1 "-" "ua" "-"',
        '10.0.0.5 - - [07/Dec/2016:11:05:07 +0100] "GET / HTTP/1.1" 200 1 "-" "ua" "2001:db8::1"',
    ]
    result = parse(NGINX, lines, "main")
    assert result.events["ip"].to_list() == ["10.0.0.5", "10.0.0.5", "10.0.0.5"]
    assert result.events["forwarded_for"].to_list() == [["198.51.100.9", "10.0.0.1"], None, ["2001:db8::1"]]
    assert attrs(result, 1)["http_x_forwarded_for"] == "198.51.100.9, 10.0.0.1"  # the whole chain is kept


def test_ipv6_remote_addr_with_port_after_a_colon() -> None:
    fmt = "$remote_addr:$remote_port [$time_local] $status"
    result = parse(
        NGINX, ["2001:db8::7:51234 [07/Dec/2016:11:05:07 +0100] 204", "::1:80 [07/Dec/2016:11:05:07 +0100] 204"], fmt
    )
    assert result.events["ip"].to_list() == ["2001:db8::7", "::1"]
    assert attrs(result, 1)["remote_port"] == "51234"


def test_request_and_session_ids() -> None:
    fmt = '[$time_local] $request_id $cookie_session_id "$request" $status'
    result = parse(NGINX, ['[07/Dec/2016:11:05:07 +0100] 9f86d081 s-77 "GET / HTTP/1.1" 200'], fmt)
    ev = event(result, 1)
    assert (ev["request_id"], ev["session_id"]) == ("9f86d081", "s-77")


def test_apache_escaped_quotes_take_the_careful_path_and_stay_verbatim() -> None:
    line = r'1.2.3.4 - - [07/Dec/2016:11:05:07 +0100] "GET /q?a=\"x\" HTTP/1.1" 200 5 "-" "Bot \"v2\" \\ end"'
    result = parse(APACHE, [line])
    a = attrs(result, 1)
    assert a["request"] == r"GET /q?a=\"x\" HTTP/1.1"
    assert a["http_user_agent"] == r"Bot \"v2\" \\ end"
    assert event(result, 1)["url_path"] == "/q"


def test_nginx_hex_escapes_stay_verbatim() -> None:
    line = r'1.2.3.4 - - [07/Dec/2016:11:05:07 +0100] "GET /\x22x\x22 HTTP/1.1" 200 5 "-" "\xE4\xB8\xAD"'
    result = parse(NGINX, [line])
    assert attrs(result, 1)["http_user_agent"] == r"\xE4\xB8\xAD"
    assert event(result, 1)["url_path"] == r"/\x22x\x22"


def test_unescaped_quote_accepted_only_when_unambiguous() -> None:
    # old Apache (< 2.0.46) did not escape quotes; one quoted field can still be read one way only
    common_line = '1.2.3.4 - - [25/Apr/2021:06:15:33 +0000] "GET /a?t=<script>alert("x")</script> HTTP/1.0" 404 1164'
    read = attrs(parse(APACHE, [common_line], "common"), 1)
    assert (read["uri"], read["args"]) == ("/a", 't=<script>alert("x")</script>')
    # with two quoted fields the raw quote could belong to either: refuse, and say so
    ambiguous = '1.2.3.4 - - [25/Apr/2021:06:15:33 +0000] "GET / HTTP/1.0" 200 1 "a" "b" "c"'
    reason = reasons(parse(NGINX, [ambiguous]))[1]
    column = ambiguous.index(' "c') + 1
    assert reason.startswith(f"line does not match log format (unexpected text at column {column} ")
    assert "ambiguous" in reason


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (
            '1.2.3.4 - - [07/Dec/2016:11:05:07 +0100] "GET / HTTP/1.1" 200 5 "-" "Mozilla/5.0 (compatible',
            "truncated line: unterminated quoted field http_user_agent",
        ),
        (
            '1.2.3.4 - - [07/Dec/2016:11:05:07 +0100] "GET / HTTP/1.1" 200 5',
            "truncated line: ends before http_referer (expected ' ' at column 64)",
        ),
        (
            '1.2.3.4 - - 07/Dec/2016:11:05:07 +0100 "GET / HTTP/1.1" 200 5 "-" "-"',
            "line does not match log format (expected '[' at column 13)",
        ),
        (
            '1.2.3.4 - - [07/Dec/2016:11:05:07 +0100] GET / HTTP/1.1" 200 5 "-" "-"',
            "line does not match log format (expected '\"' at column 42)",
        ),
        (
            '1.2.3.4 - - [07/Dec/2016:11:05:07 +0100] "GET / HTTP/1.1" 200 5 "-" "-" extra',
            "line does not match log format (unexpected text at column 72 after the last field)",
        ),
        (
            '1.2.3.4 - - [07/Dec/2016:11:05:07 +0100] "GET / HTTP/1.1" OK 5 "-" "-"',
            "status is not a number 'OK'",
        ),
        (
            '1.2.3.4 - - [07/Dec/2016:11:05:07 +0100] "GET / HTTP/1.1" 200 5k "-" "-"',
            "body_bytes_sent is not a number '5k'",
        ),
        (
            '1.2.3.4 - - [31/Feb/2016:11:05:07 +0100] "GET / HTTP/1.1" 200 5 "-" "-"',
            "unparseable timestamp '31/Feb/2016:11:05:07 +0100' in field time_local",
        ),
        (
            '1.2.3.4 - - [07/Dec/2016:11:05:07] "GET / HTTP/1.1" 200 5 "-" "-"',
            "timestamp has no UTC offset '07/Dec/2016:11:05:07' although the log format writes one in field time_local",
        ),
    ],
)
def test_quarantine_reasons_are_specific(line: str, reason: str) -> None:
    result = parse(NGINX, [COMBINED_LINE, line])
    assert result.events["line_no"].to_list() == [1]
    assert reasons(result) == {2: reason}
    assert result.quarantine["raw"][0] == line.encode()


def test_zoneless_time_format_needs_tz() -> None:
    fmt = '%h [%{%Y-%m-%d %H:%M:%S}t] "%r" %>s'
    lines = ['1.2.3.4 [2024-03-01 10:00:00] "GET / HTTP/1.1" 200', '1.2.3.4 [2024-03-01 10:00:01] "GET / HTTP/1.1" 200']
    with pytest.raises(ParseError, match=r"test\.log:1: .*--tz"):
        parse(APACHE, lines, fmt)
    result = parse(APACHE, lines, fmt, tz=ZoneInfo("Asia/Shanghai"))
    assert result.events["ts"].to_list()[0] == datetime(2024, 3, 1, 2, 0, 0, tzinfo=UTC)
    assert result.events["ts_offset"].to_list()[0] == "Asia/Shanghai"


def test_strftime_time_with_spaces_and_offset_unbracketed() -> None:
    fmt = "%{%Y-%m-%d %H:%M:%S %z}t %h %>s"
    result = parse(APACHE, ["2024-03-01 10:00:00 +0800 1.2.3.4 200"], fmt)
    assert event(result, 1)["ts"] == datetime(2024, 3, 1, 2, 0, 0, tzinfo=UTC)
    assert event(result, 1)["ip"] == "1.2.3.4"


@pytest.mark.parametrize(
    ("fmt", "line", "expected"),
    [
        ("$msec $status", "1481105107.250 200", datetime(2016, 12, 7, 10, 5, 7, 250000, tzinfo=UTC)),
        ("$time_iso8601 $status", "2016-12-07T11:05:07+01:00 200", datetime(2016, 12, 7, 10, 5, 7, tzinfo=UTC)),
    ],
)
def test_other_nginx_time_variables(fmt: str, line: str, expected: datetime) -> None:
    assert event(parse(NGINX, [line], fmt), 1)["ts"] == expected


def test_apache_epoch_time() -> None:
    result = parse(APACHE, ["1481105107123 200"], "%{msec}t %>s")
    assert event(result, 1)["ts"] == datetime(2016, 12, 7, 10, 5, 7, 123000, tzinfo=UTC)


def test_uri_followed_by_query_string() -> None:
    result = parse(APACHE, ["[07/Dec/2016:11:05:07 +0100] GET /a/b?x=1 200"], "[%{%d/%b/%Y:%H:%M:%S %z}t] %m %U%q %>s")
    a = attrs(result, 1)
    assert (a["uri"], a["query_string"]) == ("/a/b", "?x=1")


def test_parse_document_is_refused() -> None:
    with pytest.raises(ParseError, match="line by line"):
        NGINX.parser(FormatOptions(source="s", path="p")).parse_document("x")


def test_large_batches_split_across_workers_give_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [COMBINED_LINE.replace("alice", f"u{i}") for i in range(40)] + ["garbage"] * 3
    whole = parse(NGINX, lines)
    monkeypatch.setattr(accesslog, "_PARALLEL_MIN_ROWS", 10)
    split = parse(NGINX, lines)
    assert split.events.equals(whole.events)
    assert split.quarantine.equals(whole.quarantine)


# ---------------------------------------------------------------------------------------------
# mapping files (forensics.mapping is written in parallel: a stand-in checks our side of it)
# ---------------------------------------------------------------------------------------------


def test_mapping_columns_override_and_failures_quarantine(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, list[str]] = {}

    def evaluate_columns(mapping: object, fields: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        seen["columns"] = fields.columns
        view = fields.filter(pl.col("uri").str.starts_with("/orders"))
        mapped = view.select("line_no", pl.lit("order.view").alias("action"))
        failures = fields.filter(~pl.col("uri").str.starts_with("/orders")).select(
            "line_no", pl.lit("action: no rule for uri").alias("reason")
        )
        return mapped, failures

    monkeypatch.setitem(sys.modules, "forensics.mapping", types.SimpleNamespace(evaluate_columns=evaluate_columns))
    lines = [COMBINED_LINE, COMBINED_LINE.replace("/orders/view", "/health"), "not a log line"]
    batch = make_batch(lines)
    result = NGINX.parser(FormatOptions(source="s", path="p", mapping=object())).parse_lines(batch)  # type: ignore[arg-type]
    assert_accounted(batch, result)
    assert result.events["action"].to_list() == ["order.view"]
    assert reasons(result)[2] == "action: no rule for uri"
    assert "line_no" in seen["columns"] and "request_method" in seen["columns"]


def test_real_mapping_over_access_log_fields(tmp_path: Path) -> None:
    mapping_module = pytest.importorskip("forensics.mapping")
    doc = {
        "format": "nginx",
        "source": "gateway",
        "columns": {
            "action": "CASE WHEN uri LIKE '/orders/%' THEN 'order.view' ELSE 'http.request' END",
            "order_ids": "[regexp_extract(args, 'id=([0-9]+)', 1)]",
        },
    }
    mapping = mapping_module.mapping_from_dict(doc, path=tmp_path / "gateway.toml", sha256="0" * 64)
    lines = [COMBINED_LINE, COMBINED_LINE.replace("/orders/view?id=42&x=1", "/health")]
    result = NGINX.parser(FormatOptions(source="gateway", path="p", mapping=mapping)).parse_lines(make_batch(lines))
    assert result.events["action"].to_list() == ["order.view", "http.request"]
    assert result.events["order_ids"].to_list()[0] == ["42"]
    assert result.events["ip"].to_list() == ["203.0.113.7"] * 2  # columns the mapping leaves alone stay ours


# ---------------------------------------------------------------------------------------------
# sniffing
# ---------------------------------------------------------------------------------------------


def test_sniff() -> None:
    combined = file_batch("elastic-examples/apache_logs")["text"].head(20).to_list()
    assert NGINX.sniff(combined) == 1.0
    assert 0.9 < APACHE.sniff(combined) < 1.0  # nginx and Apache look alike; nginx wins the tie
    apache_escaped = [*combined[:5], r'1.2.3.4 - - [07/Dec/2016:11:05:07 +0100] "GET /\"x\" HTTP/1.1" 200 1']
    assert APACHE.sniff(apache_escaped) > NGINX.sniff(apache_escaped)
    syslog = ["Mar  1 10:00:00 host sshd[1]: Accepted password for root", "<34>1 2024-03-01T10:00:00Z h a - - - m"]
    assert NGINX.sniff(syslog) == 0.0
    assert NGINX.sniff([]) == 0.0


# ---------------------------------------------------------------------------------------------
# property tests
# ---------------------------------------------------------------------------------------------

_OFFSETS = [timezone(timedelta(minutes=m)) for m in (-720, -420, -210, 0, 60, 330, 480, 525, 840)]
_datetimes = st.builds(
    lambda d, tz: d.replace(tzinfo=tz),
    st.datetimes(min_value=datetime(1995, 1, 1), max_value=datetime(2040, 1, 1)),  # noqa: DTZ001 (zone added)
    st.sampled_from(_OFFSETS),
).map(lambda d: d.replace(microsecond=0))
_token = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._~%@+=-", min_size=1, max_size=12
)
_ipv4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
_ipv6 = st.lists(st.integers(0, 0xFFFF).map(lambda n: f"{n:x}"), min_size=8, max_size=8).map(":".join)
_ip = st.one_of(_ipv4, _ipv6)
_chain = st.one_of(st.just("-"), st.lists(_ip, min_size=1, max_size=4).map(", ".join))
_safe_chars = st.characters(min_codepoint=0x20, max_codepoint=0x2FF, blacklist_characters='"\\')


def _quoted_text(flavor: str) -> st.SearchStrategy[str]:
    units = [_safe_chars, st.sampled_from([r"\x22", r"\xE4", r"\x5C"])]
    if flavor == "apache":
        units.append(st.sampled_from([r"\"", r"\\"]))
    return st.lists(st.one_of(*units), max_size=25).map("".join)


def _request(flavor: str) -> st.SearchStrategy[str]:
    path = st.lists(st.one_of(_token, st.sampled_from([r"\x22", "ä", "中"])), min_size=1, max_size=4).map(
        lambda p: "/" + "/".join(p)
    )
    query = st.one_of(st.just(""), _token.map(lambda t: "?" + t))
    return st.one_of(
        st.just("-"),
        st.builds(
            lambda m, p, q, v: f"{m} {p}{q} {v}",
            st.sampled_from(["GET", "POST", "HEAD", "PUT"]),
            path,
            query,
            st.sampled_from(["HTTP/1.0", "HTTP/1.1", "HTTP/2.0"]),
        ),
    )


# (directive as written in the format, field name, value strategy); times are handled apart
_PIECES: dict[str, list[tuple[str, str, st.SearchStrategy[str]]]] = {
    "nginx": [
        ("$remote_addr", "remote_addr", _ip),
        ("$remote_user", "remote_user", st.one_of(st.just("-"), _token)),
        ('"$request"', "request", _request("nginx")),
        ("$status", "status", st.integers(100, 599).map(str)),
        ("$body_bytes_sent", "body_bytes_sent", st.one_of(st.just("-"), st.integers(0, 10**12).map(str))),
        ('"$http_referer"', "http_referer", _quoted_text("nginx")),
        ('"$http_user_agent"', "http_user_agent", _quoted_text("nginx")),
        ('"$http_x_forwarded_for"', "http_x_forwarded_for", _chain),
        ("$proxy_add_x_forwarded_for", "proxy_add_x_forwarded_for", _chain.filter(lambda c: c != "-")),
        ("$request_time", "request_time", st.floats(0, 1000).map(lambda f: f"{f:.3f}")),
        ("$request_id", "request_id", st.text(alphabet="0123456789abcdef", min_size=32, max_size=32)),
    ],
    "apache": [
        ("%h", "remote_addr", _ip),
        ("%l", "remote_logname", st.one_of(st.just("-"), _token)),
        ("%u", "remote_user", st.one_of(st.just("-"), _token)),
        ('"%r"', "request", _request("apache")),
        ("%>s", "status", st.integers(100, 599).map(str)),
        ("%b", "body_bytes_sent", st.one_of(st.just("-"), st.integers(1, 10**12).map(str))),
        ('"%{Referer}i"', "http_referer", _quoted_text("apache")),
        ('"%{User-Agent}i"', "http_user_agent", _quoted_text("apache")),
        ("%{X-Forwarded-For}i", "http_x_forwarded_for", _chain.filter(lambda c: c != "-")),
        ("%D", "request_time_us", st.integers(0, 10**9).map(str)),
        ("%v", "server_name", _token),
    ],
}
_TIMES: dict[str, list[tuple[str, str, Any]]] = {
    "nginx": [
        ("[$time_local]", "time_local", lambda d: d.strftime("%d/%b/%Y:%H:%M:%S %z")),
        ("$time_iso8601", "time_iso8601", lambda d: d.isoformat()),
    ],
    "apache": [
        ("%t", "time_local", lambda d: d.strftime("%d/%b/%Y:%H:%M:%S %z")),
        ("%{%Y-%m-%d %H:%M:%S %z}t", "time_local", lambda d: d.strftime("%Y-%m-%d %H:%M:%S %z")),
    ],
}


@st.composite
def formats_and_lines(draw: st.DrawFn) -> tuple[str, str, list[tuple[dict[str, str], datetime]]]:
    flavor = draw(st.sampled_from(["nginx", "apache"]))
    pieces = draw(st.lists(st.sampled_from(_PIECES[flavor]), min_size=1, max_size=7, unique_by=lambda p: p[1]))
    time_piece = draw(st.sampled_from(_TIMES[flavor]))
    pieces_at = draw(st.integers(0, len(pieces)))
    order: list[Any] = [*pieces[:pieces_at], time_piece, *pieces[pieces_at:]]
    separators = [draw(st.sampled_from([" ", " | ", "\t", " - "])) for _ in order[1:]]
    fmt = order[0][0] + "".join(sep + piece[0] for sep, piece in zip(separators, order[1:], strict=True))
    rows = []
    for _ in range(draw(st.integers(1, 4))):
        when = draw(_datetimes)
        values = {name: draw(strategy) for _, name, strategy in pieces}
        values[time_piece[1]] = time_piece[2](when)
        rows.append((values, when))
    return flavor, fmt, rows


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(formats_and_lines())
def test_round_trip_render_then_parse(case: tuple[str, str, list[tuple[dict[str, str], datetime]]]) -> None:
    flavor, fmt, rows = case
    cf = compile_log_format(fmt, flavor)
    lines = [cf.render(values) for values, _ in rows]
    fmt_obj = NGINX if flavor == "nginx" else APACHE
    result = parse(fmt_obj, lines, fmt)
    assert result.quarantine.height == 0, reasons(result)
    for n, (values, when) in enumerate(rows, start=1):
        got = attrs(result, n)
        assert {k: got[k] for k in values} == values
        assert event(result, n)["ts"] == when.astimezone(UTC)
        # the careful per-line path reads the line exactly as the vectorized one does
        assert slow_parse(cf, lines[n - 1]) == {k: got[k] for k in cf.field_names}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(formats_and_lines(), st.lists(st.sampled_from(['"', "\\", " ", "x", "[", "]", ","]), max_size=3), st.data())
def test_quote_split_fast_path_reads_like_the_full_regex(
    case: tuple[str, str, list[tuple[dict[str, str], datetime]]], noise: list[str], data: st.DataObject
) -> None:
    flavor, fmt, rows = case
    cf = compile_log_format(fmt, flavor)
    lines = [cf.render(values) for values, _ in rows]
    for ch in noise:  # sprinkle quotes and backslashes so both routes see odd lines too
        n = data.draw(st.integers(0, len(lines) - 1))
        pos = data.draw(st.integers(0, len(lines[n])))
        lines[n] = lines[n][:pos] + ch + lines[n][pos:]
    batch = make_batch(lines)
    split_fields, split_rest = accesslog._fast_fields(cf, batch)
    segments = accesslog._quote_segments
    try:
        accesslog._quote_segments = lambda _cf: None  # type: ignore[assignment]
        regex_fields, _ = accesslog._fast_fields(cf, batch)
    finally:
        accesslog._quote_segments = segments
    # a line either route takes must be read identically; what one route leaves to the careful
    # path, the careful path reads the way the other route did
    for row in split_fields.to_dicts():
        other = regex_fields.filter(pl.col("line_no") == row["line_no"]).to_dicts()
        expected = other[0] if other else slow_parse(cf, lines[row["line_no"] - 1])
        assert isinstance(expected, dict), expected
        assert {k: row[k] for k in cf.field_names} == {k: expected[k] for k in cf.field_names}
    for row in regex_fields.to_dicts():
        if row["line_no"] in split_rest["line_no"].to_list():
            assert slow_parse(cf, lines[row["line_no"] - 1]) == {k: row[k] for k in cf.field_names}


_line_text = st.text(
    alphabet=st.one_of(
        st.characters(blacklist_categories=["Cs"], blacklist_characters="\n\r"), st.sampled_from('"[] -\\')
    ),
    max_size=200,
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.one_of(_line_text, st.just(COMBINED_LINE)), min_size=1, max_size=12),
    st.sampled_from(["combined", "main", "vhost_combined"]),
)
def test_random_text_never_crashes_and_every_line_is_accounted(lines: list[str], preset: str) -> None:
    for fmt in (NGINX, APACHE):
        batch = make_batch(lines)
        result = parse(fmt, batch, preset)
        assert_accounted(batch, result)
        assert result.quarantine["reason"].null_count() == 0


@settings(max_examples=100, deadline=None)
@given(formats_and_lines(), st.data())
def test_truncated_lines_are_accounted(
    case: tuple[str, str, list[tuple[dict[str, str], datetime]]], data: st.DataObject
) -> None:
    flavor, fmt, rows = case
    cf = compile_log_format(fmt, flavor)
    lines = [cf.render(values) for values, _ in rows]
    cut = [line[: data.draw(st.integers(0, len(line)))] for line in lines]
    batch = make_batch(lines + cut)
    result = parse(NGINX if flavor == "nginx" else APACHE, batch, fmt)
    assert_accounted(batch, result)
    assert set(range(1, len(lines) + 1)) <= set(result.events["line_no"].to_list())


# ---------------------------------------------------------------------------------------------
# corpus conformance
# ---------------------------------------------------------------------------------------------


def test_elastic_examples_apache_logs() -> None:
    batch = file_batch("elastic-examples/apache_logs")
    assert batch.height == 10_000
    result = parse(APACHE, batch)
    assert_accounted(batch, result)
    assert result.events.height == 9_999
    assert reasons(result) == {8899: "truncated line: unterminated quoted field http_user_agent"}
    first = event(result, 1)
    assert first["ts"] == datetime(2015, 5, 17, 10, 5, 3, tzinfo=UTC)
    assert (first["ip"], first["status"], first["bytes"]) == ("83.149.9.216", 200, 203023)
    assert first["url_path"] == "/presentations/logstash-monitorama-2013/images/kibana-search.png"
    # Apache's \xHH escapes of non-ASCII referer bytes are kept exactly as written
    for n in (5851, 5853, 5860):
        assert (
            attrs(result, n)["http_referer"]
            == r"http://\xe4\xe5\xe3\xf2\xff\xf0\xed\xee\xe5-\xec\xfb\xeb\xee.\xf0\xf4/"
        )
    assert result.events["bytes"].null_count() == 669  # size "-" is "not recorded", never 0
    assert {"GET", "HEAD", "OPTIONS", "POST"} <= set(result.events["http_method"].to_list())
    # nginx reads the same file the same way (combined is common to both servers)
    assert parse(NGINX, batch).events.drop("attrs").equals(result.events.drop("attrs"))


def test_plaso_apache_access_mixed_formats() -> None:
    """plaso tries several line grammars on every line of this 15-line file and extracts 14 events
    with one warning (line 8, a truncated user agent). We parse with the one format string the
    server was configured with, so a file that mixes common, combined and vhost_combined lines is
    read once per format: each run keeps its own lines and quarantines the others with a reason.
    Across the three runs the same 14 lines become events and line 8 is quarantined every time."""
    batch = file_batch("plaso/apache_access.log")
    expected = {"common": {1, 13, 14, 15}, "combined": {2, 3, 4, 5, 6, 7}, "vhost_combined": {9, 10, 11, 12}}
    union: set[int] = set()
    for preset, lines in expected.items():
        result = parse(APACHE, batch, preset)
        assert_accounted(batch, result)
        assert set(result.events["line_no"].to_list()) == lines, preset
        assert 8 in reasons(result)
        union |= lines
    assert reasons(parse(APACHE, batch, "combined"))[8] == "truncated line: unterminated quoted field http_user_agent"
    assert len(union) == 14  # plaso: expected_event_data 14, expected_extraction_warnings 1

    expectations = json.loads((DATA / "plaso/plaso_parser_expectations.json").read_text())
    test = next(t for t in expectations["tests"] if "apache_access" in t["test"])
    assert test["expected_event_data"] == len(union)
    plaso_order = sorted(union)  # plaso's event index follows the file order of parsed lines
    runs = {preset: parse(APACHE, batch, preset) for preset in expected}
    for case in test["events"]:
        line_no = plaso_order[case["index"]]
        preset = next(p for p, lines in expected.items() if line_no in lines)
        ev, a = event(runs[preset], line_no), attrs(runs[preset], line_no)
        want = case["expected"]
        assert a["request"] == want["http_request"]
        assert ev["status"] == want["http_response_code"]
        assert ev["bytes"] == want["http_response_bytes"]
        assert ev["ip"] == want["ip_address"]
        assert ev["ts"] == utc(want["recorded_time"])
        assert ev["actor_id"] == want["username"]
        if "http_request_user_agent" in want:
            assert ev["user_agent"] == want["http_request_user_agent"]
        if want.get("server_name"):
            assert (a["server_name"], a["server_port"]) == (want["server_name"], str(want["port_number"]))
    # the unescaped quotes in lines 13-14 are read as plaso reads them
    assert attrs(runs["common"], 14)["request"] == 'GET /$%7B("TextString"+"123456")%7D/actionChain1.action HTTP/1.0'


# filebeat's grok guesses the shape of every line; we read each line with the log_format that
# wrote it (these seven lines come from four different nginx configurations).
_XFF_FIRST = (
    "$proxy_add_x_forwarded_for - $remote_user [$time_local] "
    '"$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"'
)
_BEATS_NGINX_FORMATS = {
    0: _XFF_FIRST,
    183: "main",
    341: _XFF_FIRST,
    527: "combined",
    732: '"$http_x_forwarded_for" ' + accesslog.PRESETS["nginx"]["combined"],
    884: "$http_x_forwarded_for " + accesslog.PRESETS["nginx"]["combined"],
    1124: "combined",
}


def test_elastic_beats_nginx_expected_cases() -> None:
    """Conformance with filebeat's expected output for the fields we cover.

    Where we differ, on purpose: filebeat's source.address is the first *public* address of the
    chain; ours (`ip`) is the first address as written, the client the proxies were told about,
    and the whole chain stays in attrs. filebeat keeps "-" as the user agent; we null it."""
    cases = json.loads((DATA / "elastic-beats/nginx-access/test.log-expected.cases.json").read_text())
    raw = (DATA / "elastic-beats/nginx-access/test.log").read_bytes()
    assert len(cases) == 7
    for case in cases:
        offset = case["log_offset"]
        assert raw[offset:].split(b"\n", 1)[0].decode() == case["input"]
        result = parse(NGINX, [case["input"]], _BEATS_NGINX_FORMATS[offset])
        assert result.quarantine.height == 0, reasons(result)
        ev, a = event(result, 1), attrs(result, 1)
        want = case["expected"]
        assert ev["ts"] == utc(want["@timestamp"])
        assert ev["http_method"] == want.get("http.request.method")
        assert a["request_uri"] == want.get("url.original")
        assert a["server_protocol"] == (f"HTTP/{want['http.version']}" if "http.version" in want else None)
        assert ev["status"] == want["http.response.status_code"]
        assert ev["bytes"] == want["http.response.body.bytes"]
        assert a["http_referer"] == want["http.request.referrer"]
        ua = want["user_agent.original"]
        assert ev["user_agent"] == (None if ua == "-" else ua)
        chain = [
            str(a[k])
            for k in ("http_x_forwarded_for", "proxy_add_x_forwarded_for", "remote_addr")
            if a.get(k, "-") != "-"
        ]
        addresses = [x.strip() for text in chain for x in text.split(",")]
        assert list(dict.fromkeys(addresses)) == want["nginx.access.remote_ip_list"]
        # issue 15.5: ip is the connecting peer (the last address nginx saw), the rest is the client's claim
        assert ev["ip"] == want["nginx.access.remote_ip_list"][-1] or ev["ip"] == a.get("remote_addr")
        hops = ev["forwarded_for"] or []
        assert [*hops, ev["ip"]][0] == want["nginx.access.remote_ip_list"][0]


def test_elastic_beats_nginx_logs_with_vhost_prefix() -> None:
    host_xff = "$host $proxy_add_x_forwarded_for - $remote_user [$time_local] " + (
        '"$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"'
    )
    batch = file_batch("elastic-beats/nginx-access/test-with-host.log")
    result = parse(NGINX, batch, host_xff)
    assert_accounted(batch, result)
    # lines 2, 9, 10 carry a trailing "$http_x_forwarded_for" (main); lines 5 and 6 put the chain
    # and $remote_addr apart ("$http_x_forwarded_for" quoted on 5, bare on 6)
    assert set(reasons(result)) == {2, 5, 6, 9, 10}
    bare_chain = parse(NGINX, batch, "$host $http_x_forwarded_for " + accesslog.PRESETS["nginx"]["combined"])
    assert event(bare_chain, 6)["ip"] == "10.2.2.121"  # the peer, not the header (issue 15.5)
    assert event(bare_chain, 6)["forwarded_for"][0] == "2a02:cf40:10ff:f00f:0000:0000:0:8000"
    assert attrs(bare_chain, 6)["remote_addr"] == "10.2.2.121"
    assert attrs(result, 8)["proxy_add_x_forwarded_for"] == "unix:"
    assert attrs(result, 8)["request"] == "hello" and attrs(result, 8)["request_method"] is None
    assert event(result, 4)["ip"] == "81.2.69.143" and attrs(result, 4)["host"] == "example.com:80"

    access = file_batch("elastic-beats/nginx-access/access.log")
    result = parse(NGINX, access)
    assert_accounted(access, result)
    assert set(reasons(result)) == {13}  # a vhost_combined line among combined ones
    assert result.events["ts"].to_list()[0] == datetime(2016, 10, 25, 12, 49, 33, tzinfo=UTC)
    vhost = parse(NGINX, access, "$host " + accesslog.PRESETS["nginx"]["combined"])
    assert event(vhost, 13)["status"] == 206 and event(vhost, 13)["bytes"] == 7648063


def test_elastic_beats_apache_access() -> None:
    batch = file_batch("elastic-beats/apache-access/test.log")
    common, combined, main = (parse(APACHE, batch, p) for p in ("common", "combined", "main"))
    for r in (common, combined, main):
        assert_accounted(batch, r)
    assert set(common.events["line_no"].to_list()) == {1, 3}
    assert set(combined.events["line_no"].to_list()) == {2, 6}
    assert set(main.events["line_no"].to_list()) == {4, 5}
    assert event(common, 1)["ip"] == "::1"
    assert event(common, 3)["bytes"] is None and event(common, 3)["status"] == 408
    assert attrs(common, 3)["request"] == "-"
    assert event(main, 5)["ip"] == "monitoring-server"  # %h is a host name when HostnameLookups is on
    vhost = parse(APACHE, batch, '%v %h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"')
    assert attrs(vhost, 7)["server_name"] == "vhost1.domaine.fr" and event(vhost, 7)["ip"] == "123.123.123.123"

    vhost_only = parse(
        APACHE,
        file_batch("elastic-beats/apache-access/test-vhost.log"),
        '%v %h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"',
    )
    assert event(vhost_only, 1)["ts"] == datetime(2019, 7, 4, 7, 20, 46, tzinfo=UTC)

    # mod_ssl's ssl_request_log: LogFormat "%t %h %{SSL_PROTOCOL}x %{SSL_CIPHER}x \"%r\" %b"
    ssl = parse(
        APACHE,
        file_batch("elastic-beats/apache-access/ssl-request.log"),
        r"%t %h %{SSL_PROTOCOL}x %{SSL_CIPHER}x \"%r\" %b",
    )
    assert ssl.quarantine.height == 0
    assert attrs(ssl, 1)["ssl_protocol"] == "TLSv1.2" and attrs(ssl, 1)["ssl_cipher"] == "ECDHE-RSA-AES128-GCM-SHA256"
    assert "&amp;opts=" in attrs(ssl, 1)["args"]  # HTML entities in the URL are data, kept as written
    assert event(ssl, 2)["bytes"] is None and event(ssl, 2)["outcome"] == "unknown"  # no status in this format


def test_lars_apache_examples() -> None:
    ex1 = parse(APACHE, file_batch("lars/test_apache.EXAMPLE_01.log"), "common")
    assert ex1.events["ip"].to_list() == ["64.242.88.10", "lordgun.org"]
    assert ex1.events["actor_id"].to_list() == [None, "foo"]
    assert ex1.events["ts"].to_list()[1] == datetime(2004, 3, 8, 1, 1, 53, tzinfo=UTC)
    ex2 = parse(APACHE, file_batch("lars/test_apache.EXAMPLE_02.log"), "combined")
    assert ex2.events["bytes"].to_list() == [14745, 43]
    # lars reads rows without any time (EXAMPLE_03: "%{remote}p,%{local}p %B"); we cannot place
    # such rows in an incident window, so the format itself is refused up front
    with pytest.raises(UsageError, match="no time field"):
        compile_log_format("%{remote}p,%{local}p %B", "apache")
    ex4 = parse(APACHE, file_batch("lars/test_apache.EXAMPLE_04.log"), "%{%Y-%m-%dT%H:%M:%S%z}t %H %m %U%q %>s %b")
    assert ex4.events["ts"].to_list() == [
        datetime(2004, 3, 8, 0, 56, 39, tzinfo=UTC),
        datetime(2004, 3, 7, 22, 1, 53, tzinfo=UTC),
    ]
    assert attrs(ex4, 1)["query_string"] == "?rev=1.6" and event(ex4, 2)["http_method"] == "HEAD"
    long_host = parse(APACHE, file_batch("lars/test_apache.INVALID_REMOTE_HOST.log"))
    assert long_host.events["ip"][0].startswith("this.is.an.extermely.long.hostname")  # kept as data
    assert long_host.events["ts"][0] == datetime(2001, 10, 8, 11, 45, 9, tzinfo=UTC)
    invalid_chars = parse(APACHE, file_batch("lars/test_apache.INVALID_CHARS.log"), "common")
    assert "M-BM-" not in attrs(invalid_chars, 1)["request"] and "\u00ae" in attrs(invalid_chars, 1)["request"]
    # a comma-separated remote host list is an X-Forwarded-For chain logged in place of %h
    hosts = file_batch("lars/test_apache.MULTIPLE_REMOTE_HOSTS.log")
    assert parse(APACHE, hosts).quarantine.height == 1
    xff = parse(APACHE, hosts, '%{X-Forwarded-For}i %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"')
    assert event(xff, 1)["ip"] is None  # no peer field in this format: a header is never the ip (issue 15.5)
    assert event(xff, 1)["forwarded_for"][0] == "172.16.102.33"


def test_lars_time_cases() -> None:
    cases = json.loads((DATA / "lars/lars_field_decoding_cases.json").read_text())
    checked = 0
    for case in cases:
        if case["function"] == "apache._time_parse_common":
            line = f'1.2.3.4 - - {case["input"]} "GET / HTTP/1.0" 200 1'
        elif case["function"] == "apache._time_parse_format":
            line = f'1.2.3.4 - - [{case["input"]}] "GET / HTTP/1.0" 200 1'
        else:
            continue  # string decoding: we keep escapes verbatim instead of decoding them (see attrs tests)
        fmt = (
            "common"
            if case["function"].endswith("common")
            else "%h %l %u [%{" + case["extra_args"][0] + '}t] "%r" %>s %b'
        )
        result = parse(APACHE, [line], fmt)
        if "expected_error" in case:
            assert result.events.height == 0, case
        else:
            want = datetime.fromisoformat(case["expected"]["$datetime_naive_utc"]).replace(tzinfo=UTC)
            assert event(result, 1)["ts"] == want, case
        checked += 1
    assert checked == 18


_VRL_PRESETS = {"combined", "common", "main"}
# ingress-nginx's default log-format-upstream, the format VRL calls ingress_upstreaminfo
_INGRESS = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" '
    "$request_length $request_time [$proxy_upstream_name] [$proxy_alternative_upstream_name] $upstream_addr "
    "$upstream_response_length $upstream_response_time $upstream_status $req_id"
)
_NGINX_COMBINED_GZIP = accesslog.PRESETS["nginx"]["combined"] + ' "$gzip_ratio"'
_VRL_FIELDS = {
    "compression": "@gzip_ratio",  # VRL name -> (our canonical column or raw field, converter)
    "client": "ip",
    "remote_addr": "@remote_addr",  # `ip` is the X-Forwarded-For client when the format logs one
    "host": "ip",
    "user": "actor_id",
    "remote_user": "actor_id",
    "status": "status",
    "size": "bytes",
    "body_bytes_size": "bytes",
    "request": "@request",
    "message": "@request",
    "method": "http_method",
    "path": "url_path",
    "protocol": "@server_protocol",
    "referer": "@http_referer",
    "referrer": "@http_referer",
    "http_referer": "@http_referer",
    "agent": "@http_user_agent",
    "http_user_agent": "@http_user_agent",
    "http_x_forwarded_for": "@http_x_forwarded_for",
    "identity": "@remote_logname",
    "upstream_addr": "@upstream_addr",
    "req_id": "@req_id",
    "proxy_upstream_name": "@proxy_upstream_name",
}


def _vrl_cases() -> list[dict[str, Any]]:
    cases = json.loads((DATA / "vrl/vrl_parser_cases.json").read_text())
    out = []
    for c in cases:
        fn, fmt = c.get("function"), (c.get("args") or {}).get("format")
        if fn == "parse_common_log" and "%+" in (c.get("args") or {}).get(
            "timestamp_format", c.get("vrl_extra_args", "")
        ):
            out.append({**c, "_flavor": "apache", "_format": '%h %l %u [%{%Y-%m-%dT%H:%M:%SZ}t] "%r" %>s %b'})
        elif fn == "parse_common_log":
            out.append({**c, "_flavor": "apache", "_format": "common"})
        elif fn == "parse_apache_log" and fmt in _VRL_PRESETS:
            out.append({**c, "_flavor": "apache", "_format": fmt})
        elif fn == "parse_nginx_log" and fmt == "combined" and c["input"].count('"') == 8:
            # VRL's combined accepts an optional trailing "$gzip_ratio" ("compression"); nginx's
            # combined has no such field, so these lines are read with the format that wrote them
            out.append({**c, "_flavor": "nginx", "_format": _NGINX_COMBINED_GZIP})
        elif fn == "parse_nginx_log" and fmt in _VRL_PRESETS:
            out.append({**c, "_flavor": "nginx", "_format": fmt})
        elif fn == "parse_nginx_log" and fmt == "ingress_upstreaminfo":
            out.append({**c, "_flavor": "nginx", "_format": _INGRESS})
    return out


def test_vrl_conformance() -> None:
    """VRL's parse_nginx_log / parse_apache_log / parse_common_log test cases.

    Where we differ, on purpose: VRL accepts lines that carry no time at all ("- - - - - - -",
    `[-]`) as empty records; a record we cannot place in time is quarantined. VRL reads combined
    lines whose referer and agent are written unquoted ("... 84170 - -"); the combined format
    quotes them, so we quarantine the line rather than guess. Error-log cases (format "error")
    are not access logs and are not read by this module."""
    cases = _vrl_cases()
    assert len(cases) >= 20
    accepted = refused = 0
    for case in cases:
        fmt = NGINX if case["_flavor"] == "nginx" else APACHE
        result = parse(fmt, [case["input"]], case["_format"])
        want = case.get("expected")
        if want is None or not want or "timestamp" not in want:
            assert result.events.height == 0, case["case"]  # VRL error, or a record without a time
            refused += 1
            continue
        if result.events.height == 0:  # combined with the referer and agent unquoted
            assert case["input"].endswith(" - -"), (case["case"], reasons(result))
            assert reasons(result)[1].startswith("line does not match log format (expected '\"'")
            refused += 1
            continue
        ev, a = event(result, 1), attrs(result, 1)
        stamp = want["timestamp"]
        assert ev["ts"] == utc(stamp["$timestamp"] if isinstance(stamp, dict) else stamp), case["case"]
        for key, value in want.items():
            target = _VRL_FIELDS.get(key)
            if target is None:
                continue
            got = a.get(target[1:]) if target.startswith("@") else ev[target]
            assert got == value, (case["case"], key, got, value)
        accepted += 1
    assert (accepted, refused) == (20, 10)
