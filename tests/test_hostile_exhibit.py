"""Issue 12, display: nothing a log line holds can stop, bloat, reorder or unmask the exhibit.

Each test puts hostile content into a finding row (the order trail's raw action, the column a user agent or any
free-text log field lands in) and renders the real exhibit: PDF/A through typst, HTML through jinja2.
"""

from __future__ import annotations

import copy
import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_exhibit import _inputs, _masker, pdf_pages

from forensics.display import display_text
from forensics.exhibit.build import ExhibitResult, render_exhibit
from forensics.exhibit.model import RecordInputs
from forensics.exhibit.pdf import FontChoice

PHONE_RUN = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


@pytest.fixture(scope="module")
def fonts(exhibit_fonts: FontChoice) -> FontChoice:
    return exhibit_fonts


def _with_row_values(*values: str) -> RecordInputs:
    """The fixture case with one order-trail row per value (each a copy of the first row, its raw action replaced)."""
    src = _inputs()
    pack = copy.deepcopy(src.pack)
    trail = next(c for c in pack["checks"] if c["id"] == "order-trail")
    first, column = trail["results"][0], trail["columns"].index("action_raw")
    rows = [[*first[:column], value, *first[column + 1 :]] for value in values]
    trail["results"] = rows + trail["results"][1:]
    trail["rows"] = len(trail["results"])
    return RecordInputs(**{**src.__dict__, "pack": pack})


def _render(tmp: Path, value: str, fonts: FontChoice) -> ExhibitResult:
    return render_exhibit(_with_row_values(value), _masker(), tmp / "E-3", fonts)


def _pages(result: ExhibitResult) -> list[str]:
    return [page.replace("\u200b", "") for page in pdf_pages(result.pdf)]


@pytest.fixture(scope="module")
def baseline_pages(tmp_path_factory: pytest.TempPathFactory, fonts: FontChoice) -> int:
    return len(_pages(_render(tmp_path_factory.mktemp("base"), "Mozilla/5.0", fonts)))


ONE_CHARACTER = {
    "nul": "UA \x00 end",
    "u0001": "UA \x01 end",
    "emoji": "UA 😀 end",
    "private-use": "UA \ue5e5 end",
    "cjk-ext-b": "UA 𪚥 end",
    "surrogate": "UA \ud800 lone surrogate",
}
BIDI_FILE_NAME = "UA gnp.exe 1234-5678 \u202egnp.exe\u202c"
BIDI_PHONE = "UA \u202e87654321831\u202c"  # reversed by U+202E it would read as the phone number 13812345678


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory, fonts: FontChoice) -> tuple[ExhibitResult, str]:
    """One exhibit holding every value below, each in its own row: if any one of them could stop the build, this
    render fails and so does every test that reads it. Returns the result and its text without whitespace (long
    values wrap anywhere in the PDF, with no zero-width characters inserted: compare without line breaks)."""
    values = [*ONE_CHARACTER.values(), BIDI_FILE_NAME, BIDI_PHONE]
    result = render_exhibit(_with_row_values(*values), _masker(), tmp_path_factory.mktemp("hostile") / "E-3", fonts)
    return result, re.sub(r"\s", "", "".join(_pages(result)))


@pytest.mark.parametrize("name", list(ONE_CHARACTER))
def test_one_character_cannot_stop_the_exhibit(hostile: tuple[ExhibitResult, str], name: str) -> None:
    result, text = hostile
    bad = next(c for c in ONE_CHARACTER[name][3:] if c != " ")
    assert f"⟨U+{ord(bad):04X}⟩" in text
    assert f"⟨U+{ord(bad):04X}⟩" in (result.html).read_text(encoding="utf-8")


def test_bidi_override_cannot_reorder_a_file_name(hostile: tuple[ExhibitResult, str]) -> None:
    _, text = hostile
    assert "⟨U+202E⟩gnp.exe⟨U+202C⟩" in text
    assert "\u202e" not in text


def test_bidi_override_cannot_show_a_masked_phone(hostile: tuple[ExhibitResult, str]) -> None:
    result, text = hostile
    html = result.html.read_text(encoding="utf-8")
    assert "⟨U+202E⟩87654321831⟨U+202C⟩" in html and "⟨U+202E⟩87654321831⟨U+202C⟩" in text  # rows never split
    assert text.count("⟨U+202E⟩") == html.count("⟨U+202E⟩") == 2  # this row's and the file name's
    assert "13812345678" not in text and "13812345678" not in html


def test_a_100kb_field_keeps_the_page_count(tmp_path: Path, fonts: FontChoice, baseline_pages: int) -> None:
    result = _render(tmp_path, "A" * 100_000, fonts)
    pages = _pages(result)
    assert len(pages) <= baseline_pages + 1
    assert "full value SHA-256" in re.sub(r"\s+", " ", "".join(pages))


def test_display_text_is_bounded_and_escapes() -> None:
    out = display_text("\x00" * 10_000, limit=100)
    assert len(out.split("…")[0]) <= 100 and "⟨U+0000⟩" in out and "10000 characters" in out
    assert display_text("plain") == "plain"


@given(st.text(st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF), max_size=400))
@settings(max_examples=200, deadline=None)
def test_display_text_leaves_nothing_that_reorders_or_hides(value: str) -> None:
    out = display_text(value)
    assert all(unicodedata.category(c) not in {"Cc", "Cf", "Cn", "Co", "Cs", "Zl", "Zp"} for c in out)
    assert len(out) <= 300 + 160


hostile_chars = st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF)
phone_forms = st.sampled_from(
    ["\u202e87654321831\u202c", "\u2067138\u20691234\u20665678\u2069", "1\u200b3812345678", "\u202d13812345678"]
)


@given(st.text(hostile_chars, max_size=60), phone_forms, st.text(hostile_chars, max_size=60))
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_row_content_builds_bounded_and_unmasks_nothing(
    tmp_path_factory: pytest.TempPathFactory, fonts: FontChoice, baseline_pages: int, pre: str, phone: str, post: str
) -> None:
    result = _render(tmp_path_factory.mktemp("prop"), pre + phone + post + "x" * 5000, fonts)
    pages = _pages(result)
    assert len(pages) <= baseline_pages + 1
    # what a reader sees after bidi resolution: the escapes leave no control that could reorder the digits
    assert not PHONE_RUN.search(re.sub(r"\s", "", "".join(pages)))
