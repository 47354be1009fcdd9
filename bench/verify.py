"""verify's peak memory and throughput on a large case (issue 10: < 1 GB peak RSS at any size).

    .venv/bin/python bench/verify.py --lines 2000000              # one 2 M-line nginx input
    .venv/bin/python bench/verify.py --lines 2000000 --files 20   # the same lines as 20 inputs
    .venv/bin/python bench/verify.py --lines 10000000

The case is built once by `forensics ingest` (not measured); then `verify_case` (deep: every row
digest recomputed with hashlib, every Merkle root rebuilt) runs in its own child process so its peak
RSS is its own. The machine is shared and noisy: compare figures within one run.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import generate_nginx


def build(work: Path, lines: int, files: int) -> Path:
    from forensics.case import init_case
    from forensics.ingest import IngestOptions, ingest_paths

    work.mkdir(parents=True, exist_ok=True)
    per = lines // files
    paths = []
    for n in range(files):
        path = work / f"access-{n:03d}.log"
        generate_nginx(path, per, seed=n + 1)
        paths.append(path)
    case = init_case(work / "case")
    ingest_paths(case, paths, IngestOptions(format="nginx", source="bench"))
    for path in paths:
        path.unlink()
    return case.root


def child(root: str, deep: bool) -> None:
    from forensics.case import Case
    from forensics.custody import verify_case

    t0 = time.perf_counter()
    report = verify_case(Case(Path(root)), deep=deep)
    seconds = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    problems = [f"{p.kind} {p.path}: {p.detail}" for p in report.problems[:5]]
    print(
        json.dumps(
            {
                "ok": report.ok,
                "rows": report.checked.get("rows", 0),
                "seconds": seconds,
                "rss_mb": rss_mb,
                "problems": problems,
            }
        )
    )


def measure(root: Path, deep: bool) -> dict[str, Any]:
    args = [sys.executable, __file__, "--child", str(root), "deep" if deep else "fast"]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=2_000_000)
    ap.add_argument("--files", type=int, default=1)
    ap.add_argument("--dir", type=Path, default=Path("bench/out/verify"))
    ap.add_argument("--child", nargs=2, metavar=("CASE", "MODE"), help=argparse.SUPPRESS)
    ap.add_argument("--build", nargs=3, metavar=("WORK", "LINES", "FILES"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1] == "deep")
        return
    if args.build:
        build(Path(args.build[0]), int(args.build[1]), int(args.build[2]))
        return
    import shutil

    work = args.dir / f"{args.lines}-{args.files}"
    shutil.rmtree(work, ignore_errors=True)
    t0 = time.perf_counter()
    # built in a child too: on Linux a child's peak RSS starts at its parent's
    subprocess.run([sys.executable, __file__, "--build", str(work), str(args.lines), str(args.files)], check=True)
    root = work / "case"
    print(f"case built in {time.perf_counter() - t0:.0f} s: {args.lines:,} lines in {args.files} input(s)")
    for deep in (False, True):
        r = measure(root, deep)
        rate = r["rows"] / r["seconds"] if r["rows"] else 0
        print(
            f"verify {'deep' if deep else 'fast'}: ok={r['ok']} {r['seconds']:.1f} s, "
            f"{rate:,.0f} rows/s, peak RSS {r['rss_mb']:.0f} MB {r['problems'] or ''}"
        )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
