"""`forensics demo`: the whole pipeline on the bundled sample case (sample_logs/xue-case)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from forensics.errors import ForensicsError

MARKER = ".forensics-demo"


@dataclass
class DemoResult:
    out_dir: Path
    case_dir: Path
    pdf: Path
    summary: list[str] = field(default_factory=list)


def sample_case_dir() -> Path:
    """The bundled sample, from a source checkout or from the installed wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "sample_logs" / "xue-case", here / "_sample_logs" / "xue-case"):
        if (candidate / "plan.toml").exists():
            return candidate
    raise ForensicsError("the bundled sample case (sample_logs/xue-case) is missing from this installation")


def _prepare(out_dir: Path) -> None:
    """Start from an empty folder; only a previous demo's folder is ever removed."""
    if out_dir.exists() and any(out_dir.iterdir()):
        if not (out_dir / MARKER).exists():
            raise ForensicsError(f"{out_dir} exists and is not a previous demo's folder; pass -o NEW_FOLDER")
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MARKER).write_text("created by `forensics demo`; safe to delete\n", encoding="utf-8")


def run_demo(out_dir: Path, progress: Callable[[str], None] | None = None) -> DemoResult:
    from forensics.case import init_case
    from forensics.checkrun import check_case
    from forensics.exhibit import build_exhibit
    from forensics.ingest import IngestOptions, ingest_plan

    say = progress or (lambda _msg: None)
    sample = sample_case_dir()
    _prepare(out_dir)
    case_dir = out_dir / "case"
    say(f"init {case_dir}")
    case = init_case(case_dir)
    shutil.copyfile(sample / "case.toml", case.toml_path)
    say(f"ingest {sample / 'plan.toml'}")
    report = ingest_plan(case, sample / "plan.toml", IngestOptions())
    say(f"ingested {report.events} events from {len(report.files)} files ({report.quarantined} quarantined)")
    say("check order-leak")
    result = check_case(case, None, {})[0].to_json()  # verified first, recorded in custody
    say("exhibit")
    exhibit = build_exhibit(case, out_dir / "exhibit", lang="zh-en", unmask=False, number=None, font_path=None)
    verdicts = {c["id"]: c["verdict"] for c in result["checks"]}
    summary = [
        f"ingested {report.events:,} events from {len(report.files)} files; "
        f"{report.quarantined} lines quarantined, every line accounted for",
        "verdicts: " + ", ".join(f"{k} {v.upper()}" for k, v in verdicts.items()),
        f"exhibit manifest sha256 {exhibit.manifest_sha256}; re-verify with `forensics verify {exhibit.out_dir}`",
    ]
    return DemoResult(out_dir=out_dir, case_dir=case_dir, pdf=exhibit.pdf, summary=summary)
