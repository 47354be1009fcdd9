"""--corpus: real lines of the user's platform, mutated, as extra examples."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from hypothesis import strategies as st

from forensics.errors import ForensicsError, UsageError
from forensics.fuzz.model import CORPUS_FILE_BYTES, CORPUS_LINES, MAX_LINES, Sample, Target
from forensics.fuzz.properties import parse_sample
from forensics.reader import ReadStats
from forensics.testing.common import GeneratedLine
from forensics.testing.hostile import mutations
from forensics.testing.structured import GeneratedDocument

# ---------------------------------------------------------------- corpus: real lines, mutated


def read_corpus(directory: Path, kind: Literal["lines", "document"]) -> list[tuple[Path, bytes]]:
    """(file, bytes) for the files under directory (decompressed, at most CORPUS_FILE_BYTES each)."""
    from forensics.reader import iter_blocks

    files = (
        [directory]
        if directory.is_file()
        else sorted(p for p in directory.rglob("*") if p.is_file() and not p.name.startswith("."))
    )
    out = []
    for path in files:
        chunks, size = [], 0
        try:
            for block in iter_blocks(path, ReadStats()):
                chunks.append(block)
                size += len(block)
                if size >= CORPUS_FILE_BYTES:
                    break
        except ForensicsError:
            continue
        data = b"".join(chunks)
        if kind == "lines" and size >= CORPUS_FILE_BYTES:
            data = data[: data.rfind(b"\n") + 1]  # whole lines only
        if data.strip():
            out.append((path, data))
    if not out:
        raise UsageError(f"--corpus {directory}: no readable, non-empty file")
    return out


def corpus_samples(files: list[tuple[Path, bytes]], kind: str, header: Callable[[int, bytes], bool]) -> list[Sample]:
    """Line formats: one sample per file (capped at CORPUS_LINES lines in all); documents: one per file."""
    if kind == "document":
        return [Sample(raw=data, document=GeneratedDocument(data, [], broken=True)) for _, data in files]
    samples, budget = [], CORPUS_LINES
    for _, data in files:
        lines = data.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        lines = lines[:budget]
        budget -= len(lines)
        gl = [GeneratedLine(raw, None, kind="header" if header(i, raw) else "corpus") for i, raw in enumerate(lines)]
        samples.append(Sample(raw=b"\n".join(lines) + b"\n", lines=gl))
        if budget <= 0:
            break
    return samples


def corpus_pass(target: Target) -> dict[str, Any]:
    """Parse the unmutated corpus once: how much of the real data does this format definition read?"""
    totals: Counter[str] = Counter()
    for sample in target.corpus_samples:
        outcome = parse_sample(target, sample)
        totals["files"] += 1
        totals["lines"] += outcome.lines
        if outcome.refused is not None:
            totals["refused"] += 1
            continue
        totals["events"] += outcome.result.events.height
        totals["quarantined"] += outcome.result.quarantine.height + outcome.undecodable.height
    return {k: totals[k] for k in ("files", "lines", "events", "quarantined", "refused")}


def corpus_strategy(samples: list[Sample]) -> st.SearchStrategy[Sample]:
    """Small samples cut from real files, each line mutated or not."""

    @st.composite
    def build(draw: st.DrawFn) -> Sample:
        source = draw(st.sampled_from(samples))
        if source.document is not None:
            raw = draw(st.one_of(st.just(source.raw), mutations(source.raw)))
            return Sample(raw=raw, document=GeneratedDocument(raw, [], broken=True))
        header = [ln for ln in source.lines if ln.kind == "header"]
        body = [ln for ln in source.lines if ln.kind != "header"] or source.lines
        picked = draw(st.lists(st.sampled_from(body), min_size=1, max_size=MAX_LINES))
        lines: list[GeneratedLine] = list(header)
        for line in picked:
            raw = draw(st.one_of(st.just(line.raw), mutations(line.raw))).replace(b"\n", b" ")
            lines.append(GeneratedLine(raw, None, kind="corpus"))
        return Sample(raw=b"\n".join(ln.raw for ln in lines) + b"\n", lines=lines)

    return build()


def attach_corpus(target: Target, corpus: Path) -> None:
    mapping = target.base.mapping
    csv_header = target.fmt.name in ("csv", "tsv") and mapping is not None and mapping.csv.header

    def header(i: int, raw: bytes) -> bool:
        """Lines that only mean something at the top of a file: a CSV header, W3C directives."""
        return (csv_header and i == 0) or (target.fmt.name == "w3c" and raw.startswith(b"#"))

    files = read_corpus(corpus, target.fmt.kind)
    target.corpus_samples = corpus_samples(files, target.fmt.kind, header)
