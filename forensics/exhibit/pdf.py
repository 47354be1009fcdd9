"""PDF/A-2b rendering with typst.

The typst template (templates/exhibit.typ, shipped code) is copied into EXHIBIT/typst/ next to view.json (data)
and compiled with the exhibit folder as root, so the charts under EXHIBIT/charts/ resolve and anyone can
re-render the PDF from the folder. Log-derived text reaches typst only through ``json("view.json")``.

Fonts are pinned: system fonts are ignored; typst's own embedded fonts give Latin and monospace text and the
CJK font found here (Noto CJK from Debian's fonts-noto-cjk, or --font-path) gives Chinese. Without a CJK font the
build stops with a clear error instead of printing tofu boxes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, Final

import typst

from forensics.errors import ForensicsError

TEMPLATE = "exhibit.typ"
PDF_STANDARD: Final = "a-2b"
SYSTEM_FONT_DIRS = (
    Path("/usr/share/fonts"),
    Path("/usr/local/share/fonts"),
    Path.home() / ".local/share/fonts",
    Path.home() / ".fonts",
    Path("/Library/Fonts"),
    Path("/System/Library/Fonts"),
    Path("C:/Windows/Fonts"),
)
# Preferred families, best first: serif for body text, sans for headings (the usual 宋体/黑体 pairing).
SERIF_FAMILIES = ("Noto Serif CJK SC", "Source Han Serif SC", "Noto Serif SC", "SimSun", "Songti SC", "AR PL UMing CN")
SANS_FAMILIES = (
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "Noto Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
)
_PROBE = "证明目的"  # must be covered by the chosen CJK font
CJK_HELP = (
    "install a CJK font (Debian/Ubuntu: apt-get install fonts-noto-cjk; macOS and Windows ship one) "
    "or pass --font-path FILE_OR_DIR with a font that has Chinese glyphs"
)


@dataclass(frozen=True)
class FontChoice:
    serif: str  # family for body text
    sans: str  # family for headings
    files: tuple[Path, ...]  # the font files chosen

    @property
    def folders(self) -> list[str]:
        """typst takes font folders, not files: the folders holding the chosen files."""
        return sorted({str(p.parent) for p in self.files})


def _covers_cjk(path: Path, index: int) -> bool:
    """Does the font's character map hold the probe characters? (fontTools ships with matplotlib.)"""
    from fontTools.ttLib import TTFont

    try:
        font = TTFont(str(path), fontNumber=index, lazy=True)
        cmap = font.getBestCmap() or {}
    except Exception:  # an unreadable font file is simply not a candidate
        return False
    return all(ord(ch) in cmap for ch in _PROBE)


def _font_index(paths: list[Path]) -> dict[str, list[tuple[Path, int]]]:
    fonts = typst.Fonts(include_system_fonts=False, include_embedded_fonts=False, font_paths=[str(p) for p in paths])
    index: dict[str, list[tuple[Path, int]]] = {}
    for info in fonts.fonts():
        if info.path is None:  # typst's own embedded fonts have no file
            continue
        index.setdefault(info.family, []).append((Path(info.path), int(info.index)))
    return index


def _pick(index: dict[str, list[tuple[Path, int]]], preferred: tuple[str, ...]) -> str | None:
    for family in preferred:
        if family in index and _covers_cjk(*index[family][0]):
            return family
    return None


def find_cjk_fonts(font_path: Path | None = None) -> FontChoice:
    """Choose the CJK fonts: from font_path when given (a file or folder), else from the system font folders."""
    if font_path is not None:
        if not font_path.exists():
            raise ForensicsError(f"--font-path {font_path}: no such file or folder; {CJK_HELP}")
        index = _font_index([font_path])
        covering = [f for f, locs in sorted(index.items()) if _covers_cjk(*locs[0])]
        if not covering:
            raise ForensicsError(f"--font-path {font_path}: no font there has Chinese glyphs; {CJK_HELP}")
        serif = _pick(index, SERIF_FAMILIES) or covering[0]
        sans = _pick(index, SANS_FAMILIES) or serif
    else:
        index = _font_index([d for d in SYSTEM_FONT_DIRS if d.is_dir()])
        serif_found = _pick(index, SERIF_FAMILIES)
        sans_found = _pick(index, SANS_FAMILIES)
        if serif_found is None and sans_found is None:
            raise ForensicsError(f"no Chinese (CJK) font found on this system; {CJK_HELP}")
        serif = serif_found or str(sans_found)
        sans = sans_found or serif
    files = tuple(sorted({p for fam in {serif, sans} for p, _ in index[fam]}))
    return FontChoice(serif=serif, sans=sans, files=files)


def template_text() -> str:
    return resources.files("forensics.exhibit").joinpath("templates", TEMPLATE).read_text(encoding="utf-8")


def write_typst_sources(exhibit_dir: Path, view: dict[str, Any], fonts: FontChoice) -> Path:
    """EXHIBIT/typst/exhibit.typ + view.json; returns the .typ path."""
    src = exhibit_dir / "typst"
    src.mkdir(parents=True, exist_ok=True)
    data = dict(view, fonts={"serif": fonts.serif, "sans": fonts.sans})
    (src / "view.json").write_text(
        json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8"
    )
    main = src / TEMPLATE
    main.write_text(template_text(), encoding="utf-8")
    return main


def compile_pdf(main: Path, root: Path, out: Path, fonts: FontChoice, when: datetime) -> None:
    """Compile to PDF/A-2b. The timestamp is the exhibit's generation time, so rebuilding is reproducible."""
    try:
        pdf, warnings = typst.compile_with_warnings(
            str(main),
            root=str(root),
            font_paths=fonts.folders,
            ignore_system_fonts=True,
            pdf_standards=PDF_STANDARD,
            timestamp=int(when.timestamp()),
        )
    except typst.TypstError as exc:
        where = "\n".join(str(getattr(exc, "diagnostic", None) or exc).splitlines()[:12])
        raise ForensicsError(f"{main}: typst could not render the exhibit: {where}") from exc
    missing = [str(w) for w in warnings if "font" in str(w).lower()]
    if missing:
        raise ForensicsError(f"{main}: {missing[0]}; {CJK_HELP}")
    if not isinstance(pdf, bytes):
        raise ForensicsError(f"{main}: typst returned no PDF")
    out.write_bytes(pdf)
