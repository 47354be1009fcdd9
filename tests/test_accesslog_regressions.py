"""Parser bugs found by random exploration (FORENSICS_HYPOTHESIS=explore), kept as minimal cases."""

from __future__ import annotations

import json

import polars as pl

from forensics.formats.accesslog import NGINX
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
