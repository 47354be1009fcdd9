"""Case world: the seed case's platform as realistic, synthetic sample logs with ground truth.

`generate(out_dir, variant, events, seed)` writes four sources (merchant back office JSON lines,
open-API nginx access log, logistics e-waybill print CSV in GB18030, data-security syslog), one
mapping file per source, an ingest plan, a filled case.toml, a README and ground_truth.json that
says what every check should conclude and where every malformed line is.

Generation streams (stream.py): after the world (shops, accounts, up to 5 M orders) and what is bounded by the
span (the scripted case, routine exports, the security log), background records are drawn, numbered, rendered
and appended to the files one time chunk at a time (chunks.py: a day, or down to an hour of a day for big
worlds; no chunk expects more than 450 k events), so memory does not grow with the events: peak RSS about
0.5 GB at 1 M events, 1.3 GB at 10 M, 1.6 GB at 50 M (bench/RESULTS.md). Everything is vectorized (numpy draws,
polars string building, zlib/zstd in threads); the only per-line Python is the handful of scripted case events.

Modules: constants (span, nodes, the case's facts), world (shops, accounts, orders), chunks (the time chunks,
each principal's events per day), sources (background records per source), variants (the scripted case,
decoys, controls), render (lines and quirks), stream (the chunk loop), writers (appending files and their
accounting), truth (ground_truth.json), texts (mappings, plan, case.toml, README).
Same arguments give the same bytes: the world and everything up front come from one Generator seeded with
`seed`, each chunk from its own Generator seeded [seed, 2, chunk number] (a day's hours: [seed, 1, source,
day]), gzip headers carry no name or mtime, and every sort has a total tiebreak.

All personal data is synthetic and obviously fake (测试用户甲, phones 1380013xxxx, documentation
IP ranges 198.51.100.0/24 and 203.0.113.0/24, carrier-grade NAT 100.64.0.0/10).
"""

from __future__ import annotations

import difflib
import json
import shutil
from pathlib import Path
from typing import Final

import numpy as np

from forensics.errors import UsageError
from forensics.sample.constants import (
    CSV_HEADER,
    DEFAULT_EVENTS,
    DEFAULT_SEED,
    FACTS,
    GAP_END,
    GAP_NODE,
    GAP_START,
    MAX_EVENTS,
    VARIANTS,
    ZSTD_ABOVE,
    CaseFacts,
    SampleResult,
)
from forensics.sample.sources import _exporter_count
from forensics.sample.stream import write_world
from forensics.sample.texts import MAPPINGS, PLAN, _case_toml, _readme
from forensics.sample.truth import _ground_truth
from forensics.sample.world import build_world

__all__ = [
    "CSV_HEADER",
    "DEFAULT_EVENTS",
    "DEFAULT_SEED",
    "FACTS",
    "GAP_END",
    "GAP_NODE",
    "GAP_START",
    "MAX_EVENTS",
    "VARIANTS",
    "CaseFacts",
    "SampleResult",
    "generate",
]

# Entry point


def _check_variant(variant: str) -> str:
    if variant in VARIANTS:
        return variant
    close = difflib.get_close_matches(variant, VARIANTS, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise UsageError(f"unknown sample variant {variant!r}{hint} (choose one of {', '.join(VARIANTS)})")


GENERATED: Final[tuple[str, ...]] = (
    "merchant_backend",
    "open_api",
    "logistics",
    "security",
    "mappings",
    "plan.toml",
    "case.toml",
    "ground_truth.json",
    "README.md",
)


def _prepare(out_dir: Path) -> None:
    """Refuse a non-empty folder unless it is an earlier sample (then replace only what this module writes)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir} is a file; give a folder for the sample")
    if out_dir.exists() and any(out_dir.iterdir()):
        if not (out_dir / "ground_truth.json").exists():
            raise UsageError(f"{out_dir} is not empty and holds no earlier sample; choose a new folder")
        for name in GENERATED:
            target = out_dir / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)


def _write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")
    return path


def generate(
    out_dir: Path, variant: str = "clean", events: int = DEFAULT_EVENTS, seed: int = DEFAULT_SEED
) -> SampleResult:
    """Write the case world for `variant` into out_dir; see the module docstring and OUT/README.md."""
    variant = _check_variant(variant)
    if not 1_000 <= events <= MAX_EVENTS:
        raise UsageError(f"--events must be between 1000 and {MAX_EVENTS} (got {events})")
    _prepare(out_dir)
    rng = np.random.default_rng(seed)
    world = build_world(rng, events)
    written, info = write_world(out_dir, world, rng, variant, events, seed, zstd=events > ZSTD_ABOVE)
    info |= {"shops": len(world.shop_id), "accounts": len(world.acc_name), "exporters": _exporter_count(world)}
    files = [w.path for w in written]
    files += [_write_text(out_dir / "mappings" / f"{name}.toml", text) for name, text in MAPPINGS.items()]
    plan = _write_text(out_dir / "plan.toml", PLAN)
    case_toml = _write_text(out_dir / "case.toml", _case_toml())
    truth = _ground_truth(variant, seed, events, written, info)
    truth_path = _write_text(out_dir / "ground_truth.json", json.dumps(truth, ensure_ascii=False, indent=1) + "\n")
    readme = _write_text(out_dir / "README.md", _readme(variant, seed, events, truth, info))
    return SampleResult(
        out_dir=out_dir,
        plan_path=plan,
        case_toml_path=case_toml,
        ground_truth_path=truth_path,
        files=[*files, plan, case_toml, truth_path, readme],
        events_written=int(truth["totals"]["events"]),
    )
