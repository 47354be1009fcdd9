"""Found by tests/test_differential.py (mutated lines). Format `$remote_addr [$time_local] "$request" $status`,
minimal line:

    1.2.3.4 [29/Feb/1972:00:33:21 +0000] "GET / HTTP/1.1" "x" 200

An extra quoted token after a quoted field, when the format ends with an unquoted field, is accepted
as an event whose last field is empty: status becomes null and `"x" 200` is silently dropped (not in
attrs, not quarantined). A line the format cannot account for must be quarantined, or read so that
every byte lands in a field (as the parser does when the quoted field is not followed by the last
field: it then reads request = 'GET / HTTP/1.1" "x'). Fixed: the quote split kept only the first
parts of the line (polars split_exact drops the rest); it now keeps the remainder and the line takes the
careful path.
"""

from __future__ import annotations

import json

import polars as pl

from forensics.formats.accesslog import APACHE, NGINX
from forensics.formats.base import FormatOptions

REASON = "accesslog: trailing unquoted field read as '' after an extra quoted token; rest of line dropped"


def _parse(fmt: str, line: bytes, apache: bool = False) -> pl.DataFrame:
    fmt_obj = APACHE if apache else NGINX
    parser = fmt_obj.parser(FormatOptions(source="t", path="r.log", log_format=fmt))
    batch = pl.DataFrame({"line_no": [1], "byte_offset": [0], "raw": [line], "text": [line.decode()]})
    result = parser.parse_lines(batch)
    assert result.events.height + result.quarantine.height == 1
    return result.events


def test_extra_quoted_token_before_last_field_nginx() -> None:
    line = b'1.2.3.4 [29/Feb/1972:00:33:21 +0000] "GET / HTTP/1.1" "x" 200'
    events = _parse('$remote_addr [$time_local] "$request" $status', line)
    # quarantined, or read with the status where the line has it (the request then holds '" "x')
    assert events.height == 0 or json.loads(events["attrs"][0])["status"] == "200"


def test_extra_quoted_token_before_last_field_apache() -> None:
    line = b'[29/Feb/1972:00:33:21 +0000] "a" "b" 1.2.3.4'
    events = _parse('%t "%{Referer}i" %h', line, apache=True)
    assert events.height == 0 or json.loads(events["attrs"][0])["remote_addr"] != ""
