"""Parser bugs found by random exploration (FORENSICS_HYPOTHESIS=explore), kept as minimal cases."""

from __future__ import annotations

import json

import polars as pl
import pytest

from forensics.formats.accesslog import APACHE, NGINX
from forensics.formats.base import FormatOptions, ParseResult


def _result(fmt: str, line: str) -> ParseResult:
    parser = NGINX.parser(FormatOptions(source="t", path="t.log", log_format=fmt))
    batch = pl.DataFrame(
        {"line_no": [1], "byte_offset": [0], "raw": [line.encode()], "text": [line]},
        schema={"line_no": pl.Int64, "byte_offset": pl.Int64, "raw": pl.Binary, "text": pl.String},
    )
    return parser.parse_lines(batch)


def _events(fmt: str, line: str) -> pl.DataFrame:
    return _result(fmt, line).events


def _parse(fmt: str, line: str) -> pl.DataFrame:
    """The quarantine rows."""
    return _result(fmt, line).quarantine


def test_unquoted_xff_chain_followed_by_status() -> None:
    """An unquoted X-Forwarded-For chain ('a, b') followed by an unquoted field: the chain keeps both
    hops and the next field gets its own value (items of a chain never hold a comma)."""
    fmt = '$remote_user $request_time $proxy_add_x_forwarded_for $status\t[$time_local] "$request" $body_bytes_sent'
    line = '- 0.000 0.0.0.0, 10.1.2.3 100\t[01/Jan/2000:00:00:00 +0000] "-" 0'
    assert _parse(fmt, line).height == 0
    events = _events(fmt, line)
    assert events["status"].to_list() == [100]
    assert json.loads(events["attrs"][0])["proxy_add_x_forwarded_for"] == "0.0.0.0, 10.1.2.3"


BITBUCKET_LIKE = "%h | %u | %t | %>s"


def test_a_separator_column_never_swallows_the_next_column() -> None:
    """' | ' columns: a line with one column too many is refused, not read with ' | ' inside a value."""
    parser = APACHE.parser(FormatOptions(source="t", path="t.log", log_format=BITBUCKET_LIKE))
    lines = [
        "1.2.3.4 | alice | bob | [01/Jan/2024:00:00:00 +0000] | 200",
        "1.2.3.4 | alice smith | [01/Jan/2024:00:00:00 +0000] | 200",
    ]
    batch = pl.DataFrame(
        {"line_no": [1, 2], "byte_offset": [0, 60], "raw": [x.encode() for x in lines], "text": lines},
        schema={"line_no": pl.Int64, "byte_offset": pl.Int64, "raw": pl.Binary, "text": pl.String},
    )
    result = parser.parse_lines(batch)
    assert result.events["actor_id"].to_list() == ["alice smith"]
    assert result.quarantine["line_no"].to_list() == [1]
    assert result.quarantine["reason"][0] == "line does not match log format (expected '[' at column 19)"


def test_separator_columns_cannot_reach_across_a_separator() -> None:
    """Each ' | ' column's pattern stops at its separator. A lazy '.*?' per column could reach across
    them, which made a bad line with many columns backtrack polynomially (30 s for 380 bytes)."""
    import re

    from forensics.formats.accesslog import _field_pattern, compile_log_format

    fmt = '%h | %{protocol}n | %{request_id}n | %u | %t | "%r" | %>s | %{labels}n | %{ms}T | %{session}n |'
    cf = compile_log_format(fmt, "apache")
    separated = [i for i, e in enumerate(cf.elements) if getattr(e, "name", None) in ("note_labels", "remote_user")]
    assert len(separated) == 2
    for i in separated:
        pattern = re.compile(_field_pattern(cf.elements, i, "strict", cf.escape))
        assert pattern.fullmatch("refs, cache:hit")  # blanks and commas are fine
        assert pattern.fullmatch("refs | cache:hit") is None  # the separator is not
    parser = APACHE.parser(FormatOptions(source="t", path="t.log", log_format=fmt))
    line = '1.2.3.4 | https | r1 | u | [01/Jan/2024:00:00:00 +0000] | "GET / HTTP/1.1" | ' + " | ".join(["1"] * 60)
    batch = pl.DataFrame(
        {"line_no": [1], "byte_offset": [0], "raw": [(line + " |x").encode()], "text": [line + " |x"]},
        schema={"line_no": pl.Int64, "byte_offset": pl.Int64, "raw": pl.Binary, "text": pl.String},
    )
    assert parser.parse_lines(batch).quarantine.height == 1


@pytest.mark.parametrize(
    ("flavor", "fmt", "line", "field", "value"),
    [
        # the separator's mark inside a value, without blanks around it, is data
        (
            "apache",
            '%a | %u | %t | "%r" | %>s | %{X-Forwarded-For}i | %D',
            '1.2.3.4 | alice | [01/Mar/2024:10:00:00 +0800] | "POST /x|y HTTP/2.0" | 404 | a|b | 1234',
            "http_x_forwarded_for",
            "a|b",
        ),
        (
            "nginx",
            '$remote_addr | $remote_user | [$time_local] | "$request" | $status | $http_x_trace',
            '1.2.3.4 | a|b | [01/Mar/2024:10:00:00 +0800] | "-" | 404 | -',
            "remote_user",
            "a|b",
        ),
        # ' ?' glued to the next field is not a column separator
        (
            "nginx",
            "$remote_addr [$time_local] $uri ?$args $status",
            "1.2.3.4 [01/Mar/2024:10:00:00 +0800] /a?b ? 404",
            "uri",
            "/a?b",
        ),
        # an X-Forwarded-For chain ending in ', ' before a ' | ' column
        (
            "nginx",
            "$remote_addr | $http_x_forwarded_for | [$time_local] | $status",
            "1.2.3.4 | 1.1.1.1,  | [01/Mar/2024:10:00:00 +0800] | 200",
            "http_x_forwarded_for",
            "1.1.1.1, ",
        ),
    ],
)
def test_separator_rule_keeps_what_parsed_before(flavor: str, fmt: str, line: str, field: str, value: str) -> None:
    """Lines the old first-blank rule read must still read the same (a review compared both on generated lines)."""
    fmt_obj = APACHE if flavor == "apache" else NGINX
    parser = fmt_obj.parser(FormatOptions(source="t", path="t.log", log_format=fmt))
    batch = pl.DataFrame(
        {"line_no": [1], "byte_offset": [0], "raw": [line.encode()], "text": [line]},
        schema={"line_no": pl.Int64, "byte_offset": pl.Int64, "raw": pl.Binary, "text": pl.String},
    )
    result = parser.parse_lines(batch)
    assert result.quarantine.height == 0, result.quarantine["reason"].to_list()
    assert json.loads(result.events["attrs"][0])[field] == value
