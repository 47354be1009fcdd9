"""Found by tests/test_differential.py (mutated lines, `%t %u`): minimal line

    [01/Jan/2000:00:00:00 +3000] 00000

forensics.timeparse.normalize accepts any two-digit offset: "+30:00" moves the event 30 hours and
"+08:99" reads as 9h39m, with no error, so one corrupted byte can shift an event into or out of an
incident window silently. Real UTC offsets lie in -12:00..+14:00 with minutes below 60; anything else
should be an "unparseable timestamp" quarantine. Fixed: offsets beyond ±14:00 or with minutes >= 60
are errors.
"""

from __future__ import annotations

import polars as pl
import pytest

from forensics.timeparse import normalize


@pytest.mark.parametrize(
    "text", ["01/Jan/2000:00:00:00 +3000", "2024-01-01T00:00:00+08:99", "2024-01-01T00:00:00-24:00"]
)
def test_impossible_offsets_are_errors(text: str) -> None:
    norm = normalize(pl.Series([text]))
    assert norm.ts[0] is None
    assert norm.error[0] is not None


@pytest.mark.parametrize(
    "text", ["2024-01-01T00:00:00+14:00", "2024-01-01T00:00:00-12:00", "2024-01-01T00:00:00+05:45"]
)
def test_real_extreme_offsets_are_read(text: str) -> None:
    norm = normalize(pl.Series([text]))
    assert norm.error[0] is None and norm.ts[0] is not None


# Found by `forensics fuzz --mapping mappings/azure_ad_audit.toml --seed 1`: a mutation turned the
# year 1972 into 0, minimal record {"ActivityDateTime": "0-02-29T00:00:00Z", ...}. polars' %Y reads
# any number of digits, so normalize returns 0000-02-29 as a valid UTC time; the event then cannot
# become a Python datetime (exhibit, timeline). A year must be four digits (ISO 8601, RFC 3339).
@pytest.mark.parametrize("text", ["0-02-29T00:00:00Z", "-0001-01-01T00:00:00Z", "01/Jan/0:00:00:00 +0000"])
def test_years_must_have_four_digits(text: str) -> None:
    norm = normalize(pl.Series([text]))
    assert norm.ts[0] is None
    assert norm.error[0] is not None
