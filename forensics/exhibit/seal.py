"""What an exhibit commits to: the page stamp, the custody head it was built on, the case.toml and parameters.

The stamp printed on every page cannot be the hash of the PDF that prints it, so it is the SHA-256 of a canonical
list of every *input* of the rendering: exhibit.json (the content), typst/exhibit.typ (the layout) and each chart.
typst/view.json, the PDF and the HTML are functions of those inputs, and ``verify`` re-derives them, so a stamp can
be kept only while nothing the court reads changes. The formula is public: a forger can recompute it, which is why
verify also re-derives exhibit.json from the case and checks the custody log (and a signature or trusted timestamp
pins the case itself).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from forensics.custody import GENESIS, canonical_json

STAMP_FORMAT = "forensics-exhibit-stamp/1"
LAYOUT = "typst/exhibit.typ"


def stamp_inputs(folder: Path) -> dict[str, str]:
    """SHA-256 of every rendering input present in an exhibit folder, by path relative to it."""
    paths = [folder / "exhibit.json", folder / LAYOUT, *sorted((folder / "charts").glob("*.svg"))]
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths if p.is_file()}


def stamp_of(inputs: dict[str, str]) -> str:
    return hashlib.sha256(canonical_json({"format": STAMP_FORMAT, "files": inputs}).encode("utf-8")).hexdigest()


def exhibit_stamp(folder: Path) -> str:
    """The exhibit digest printed on every page: it commits to the exhibit as rendered."""
    return stamp_of(stamp_inputs(folder))


def custody_head(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The last custody entry an exhibit was built on (seq 0 and the genesis hash for an empty log)."""
    if not entries:
        return {"seq": 0, "hash": GENESIS}
    return {"seq": int(entries[-1].get("seq") or len(entries)), "hash": str(entries[-1].get("hash"))}


def params_sha256(params: dict[str, Any]) -> str:
    """Digest of the parameters bound into the pack's checks, as recorded in exhibit.json."""
    return hashlib.sha256(canonical_json(params).encode("utf-8")).hexdigest()


def bytes_sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None
