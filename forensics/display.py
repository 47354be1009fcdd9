"""The one function every log-derived string passes before it reaches the PDF or the HTML exhibit.

Logs are written by the people whose conduct is in question. A value shown in the exhibit must therefore never
stop the build (a character no embedded font can draw is a typst error), never reorder what the reader sees
(bidi overrides and isolates), never hide text (zero-width characters) and never bloat the document (a 100 kB
field). ``display_text`` makes every string total:

* control, format (bidi, zero-width), unassigned, private-use, surrogate and line/paragraph separator
  characters are shown as visible escapes ``⟨U+202E⟩``;
* characters none of the exhibit's fonts has in its character map are shown the same way;
* values longer than ``limit`` characters are cut, with the full value's SHA-256 and a pointer to exhibit.json,
  which always holds the full (masked) value.

The escape brackets ⟨⟩ are drawn by typst's embedded Libertinus Serif and DejaVu Sans Mono.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

DEFAULT_LIMIT = 300  # characters of one value shown in a table cell or a line of the documents
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cn", "Co", "Cs", "Zl", "Zp"})
# Printable ASCII and the escape brackets are drawn by typst's embedded fonts whatever CJK font is chosen.
_ALWAYS_DRAWN = frozenset(range(0x20, 0x7F)) | {0x27E8, 0x27E9, 0x2026}

_coverage: frozenset[int] | None = None


def escape_char(char: str) -> str:
    return f"⟨U+{ord(char):04X}⟩"


@lru_cache(maxsize=8)
def font_coverage(files: tuple[Path, ...]) -> frozenset[int]:
    """Code points the given font files (every face of a collection) map to a glyph, plus what typst always draws."""
    from fontTools.ttLib import TTCollection, TTFont

    points: set[int] = set(_ALWAYS_DRAWN)
    for path in files:
        try:
            fonts = (
                TTCollection(str(path), lazy=True).fonts
                if path.suffix.lower() in {".ttc", ".otc"}
                else [TTFont(str(path), lazy=True)]
            )
        except Exception:  # an unreadable font contributes nothing; its characters are escaped instead
            continue
        for font in fonts:
            points.update((font.getBestCmap() or {}).keys())
    return frozenset(points)


def use_fonts(files: Iterable[Path]) -> None:
    """Set the drawable set from the fonts the exhibit embeds (build calls this before deriving the view)."""
    global _coverage
    _coverage = font_coverage(tuple(sorted(files)))


def _drawable() -> frozenset[int]:
    global _coverage
    if _coverage is None:
        try:
            from forensics.exhibit.pdf import find_cjk_fonts

            _coverage = font_coverage(find_cjk_fonts(None).files)
        except Exception:  # no CJK font: the exhibit build reports that itself; escape all but ASCII here
            _coverage = frozenset(_ALWAYS_DRAWN)
    return _coverage


def _needs_escape(char: str, drawable: frozenset[int]) -> bool:
    return unicodedata.category(char) in _ESCAPED_CATEGORIES or ord(char) not in drawable


def _pieces(value: str, cover: frozenset[int]) -> Iterable[str]:
    for char in value:
        yield escape_char(char) if _needs_escape(char, cover) else char


def escape_text(value: str, drawable: frozenset[int] | None = None) -> str:
    """Every character that could stop, reorder or hide the display replaced by its visible ⟨U+XXXX⟩ escape."""
    if value.isascii() and value.isprintable():
        return value  # the common case, without a per-character pass
    return "".join(_pieces(value, _drawable() if drawable is None else drawable))


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def display_text(value: object, limit: int = DEFAULT_LIMIT, drawable: frozenset[int] | None = None) -> str:
    """The display form of one log-derived value: escaped, and cut so the shown form is at most ``limit`` characters
    (plus a note with the full value's SHA-256; exhibit.json holds the full value)."""
    text = value if isinstance(value, str) else str(value)
    if len(text) <= limit and text.isascii() and text.isprintable():
        return text
    cover = _drawable() if drawable is None else drawable
    shown: list[str] = []
    size = 0
    for count, piece in enumerate(_pieces(text, cover)):
        if size + len(piece) > limit:
            return (
                "".join(shown) + f"… [shown {count} of {len(text)} characters; "
                f"full value SHA-256 {_sha256(text)} in exhibit.json]"
            )
        shown.append(piece)
        size += len(piece)
    return "".join(shown)
