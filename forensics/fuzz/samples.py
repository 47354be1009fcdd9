"""Building samples: well-formed lines (per format), mutated and hostile ones, documents."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from forensics.fuzz.model import MAX_LINES, Sample
from forensics.testing.common import GeneratedLine
from forensics.testing.hostile import UTF8_BOM, hostile_lines, mutated, mutations
from forensics.testing.structured import GeneratedDocument

# ---------------------------------------------------------------- building samples per format


def _no_lf(line: GeneratedLine) -> GeneratedLine:
    if b"\n" in line.raw:
        return GeneratedLine(line.raw.replace(b"\n", b" "), None, kind="hostile")
    return line


def line_samples(
    valid: st.SearchStrategy[GeneratedLine] | None, header: tuple[GeneratedLine, ...] = (), gb18030: bool = True
) -> st.SearchStrategy[Sample]:
    """Small files: well-formed lines, mutated ones and hostile ones, in any order, maybe CRLF/BOM/GB18030."""
    # Weights by hand: st.one_of flattens nested one_ofs, so hostile_lines' ten shapes would
    # otherwise outnumber the well-formed lines ten to one.
    hostile = hostile_lines().map(lambda b: GeneratedLine(b, None, kind="hostile"))
    blank = st.sampled_from([b"", b"   ", b"\r"]).map(lambda b: GeneratedLine(b, None, kind="blank"))
    choices: tuple[tuple[int, st.SearchStrategy[GeneratedLine]], ...] = ((4, hostile), (1, blank))
    if valid is not None:
        mutant = mutated(valid.map(lambda g: g.raw)).map(lambda b: GeneratedLine(b, None, kind="mutated"))
        choices = ((5, valid), (2, mutant), (2, hostile), (1, blank))
    return _line_samples(st.lists(weighted(choices), min_size=1, max_size=MAX_LINES), header, gb18030)


def weighted(choices: tuple[tuple[int, st.SearchStrategy[Any]], ...]) -> st.SearchStrategy[Any]:
    """Draw from one of the strategies with the given integer weights (shrinks toward the first)."""
    table = [s for w, s in choices for _ in range(w)]

    @st.composite
    def pick(draw: st.DrawFn) -> Any:
        return draw(table[draw(st.integers(0, len(table) - 1))])

    return pick()


@st.composite
def _line_samples(
    draw: st.DrawFn, items: st.SearchStrategy[list[GeneratedLine]], header: tuple[GeneratedLine, ...], gb18030: bool
) -> Sample:
    lines = _sort_rfc3164([_no_lf(x) for x in draw(items)])
    lines = [*header, *lines]  # structural lines first (a CSV header, W3C directives)
    encoding = "utf-8"
    # Variations on non-zero draws: hypothesis shrinks toward 0, so a minimal example is plain UTF-8 LF.
    if gb18030 and draw(_ONE_IN_10) == 9:
        encoding = "gb18030"
        lines = [_reencode(ln) for ln in lines]
    if draw(_ONE_IN_6) == 5:  # a CRLF file: the reader strips the CR, values must not change
        lines = [GeneratedLine(ln.raw + b"\r", ln.expected, ln.kind, ln.note, ln.meta) for ln in lines]
    if draw(_ONE_IN_8) == 7 and encoding == "utf-8":  # a BOM before the first line is not data
        first = lines[0]
        lines[0] = GeneratedLine(UTF8_BOM + first.raw, first.expected, first.kind, first.note, first.meta)
    # An empty last line only exists when a newline ends it.
    trailing = draw(st.booleans()) or lines[-1].raw == b""
    raw = b"\n".join(ln.raw for ln in lines) + (b"\n" if trailing else b"")
    return Sample(raw=raw, encoding=encoding, lines=lines)


_ONE_IN_10 = st.integers(0, 9)
_ONE_IN_8 = st.integers(0, 7)
_ONE_IN_6 = st.integers(0, 5)


def _reencode(line: GeneratedLine) -> GeneratedLine:
    if line.kind in ("valid", "header"):
        try:
            return GeneratedLine(
                line.raw.decode("utf-8").encode("gb18030"), line.expected, line.kind, line.note, line.meta
            )
        except UnicodeError:
            return GeneratedLine(line.raw, None, kind="hostile")
    return line


def _sort_rfc3164(lines: list[GeneratedLine]) -> list[GeneratedLine]:
    """Well-formed RFC 3164 lines in time order, as a real file has them (year inference walks them)."""
    slots = [i for i, ln in enumerate(lines) if ln.expected and "ts_local" in ln.expected]
    ordered = sorted((lines[i] for i in slots), key=lambda ln: ln.expected["ts_local"][1] if ln.expected else 0)
    out = list(lines)
    for i, ln in zip(slots, ordered, strict=True):
        out[i] = ln
    return out


@st.composite
def document_samples(draw: st.DrawFn, docs: st.SearchStrategy[GeneratedDocument]) -> Sample:
    doc = draw(docs)
    if draw(st.integers(0, 3)) == 3:
        raw = draw(mutations(doc.raw))
        if raw != doc.raw:
            return Sample(raw=raw, document=GeneratedDocument(raw, doc.records, broken=True))
    return Sample(raw=doc.raw, document=doc)


def drop_mapped(line: GeneratedLine, mapping: Any) -> GeneratedLine:
    """With a mapping on top of a built-in parser, its columns replace the parser's: only 'an event' is known."""
    if mapping is None or line.expected is None:
        return line
    expected = {k: v for k, v in line.expected.items() if k not in mapping.columns}
    expected["event"] = True
    return GeneratedLine(line.raw, expected, line.kind, line.note, line.meta)
