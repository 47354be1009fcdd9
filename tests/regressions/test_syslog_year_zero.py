"""Found by `forensics fuzz --format syslog --examples 2000 --seed 1`: minimal line

    <0>1 0-02-29T00:00:00.0+00:00 - - - 0 [0@32473][:@32473 0="0"]

RFC 5424 requires a four-digit year (DATE-FULLYEAR = 4DIGIT); the parser hands the timestamp to
forensics.timeparse, whose %Y accepts "0", so the line becomes an event dated 0000-02-29, which no
Python datetime can hold (exhibits, the timeline). It must be quarantined. Root cause in
timeparse.py (see test_timeparse_offset_range.py::test_years_must_have_four_digits); not ours to fix.
"""

from __future__ import annotations

import polars as pl

from forensics.formats.base import FormatOptions
from forensics.formats.syslog import SYSLOG

LINE = b'<0>1 0-02-29T00:00:00.0+00:00 - - - 0 [0@32473][:@32473 0="0"]'


def test_rfc5424_year_zero_is_quarantined() -> None:
    parser = SYSLOG.parser(FormatOptions(source="t", path="y0.log"))
    batch = pl.DataFrame({"line_no": [1], "byte_offset": [0], "raw": [LINE], "text": [LINE.decode()]})
    result = parser.parse_lines(batch)
    assert result.events.height == 0
    assert result.quarantine.height == 1


def test_rfc5424_four_digit_year_is_an_event() -> None:
    line = LINE.replace(b" 0-02-29", b" 2024-02-29")
    parser = SYSLOG.parser(FormatOptions(source="t", path="y.log"))
    batch = pl.DataFrame({"line_no": [1], "byte_offset": [0], "raw": [line], "text": [line.decode()]})
    result = parser.parse_lines(batch)
    assert result.events.height == 1
    assert result.events["ts"][0].year == 2024
