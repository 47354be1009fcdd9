"""Benchmark: what grouping stored copies by their values (the Spark hash fix) costs against the old hash() grouping.

    .venv/bin/python bench/copies.py --case /work/tmp/v10/case            # an ingested case, e.g. 10 M events
    .venv/bin/python bench/copies.py --events 1000000 --workdir /work/tmp  # generate and ingest one first

The completeness check (queries/order-leak/07_completeness.sql) finds one record stored from more than one input.
Until December 2026 it grouped rows by `hash(...)` of their columns, which is 32-bit on Spark and made distinct
records "copies" at 10 M events; it now groups by the values themselves. This script runs the bundled pack and a
copy of it whose `copies` CTE is the old hash grouping (DuckDB's 64-bit hash: the baseline the fix replaced),
alternately in the same process, --repeat times each, and prints the best completeness-check and whole-pack times of
each and their ratio. The verdicts of both must be equal (the hash variant may only be faster, never different, on
a world without collisions), or the script says so and exits 1.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from forensics.case import Case  # noqa: E402
from forensics.packs import load_pack, run_pack  # noqa: E402

PACK = ROOT / "queries" / "order-leak"
# The copies CTE as it was before the fix (07_completeness.sql at b6af73d), over today's in_window CTE.
HASH_COPIES = """copies AS (
    SELECT source, coalesce(node, '') AS node, min(ts) AS ts, count(*) AS stored,
           count(DISTINCT src_sha256) AS inputs
    FROM in_window
    GROUP BY source, coalesce(node, ''),
             CASE WHEN seq IS NOT NULL THEN hash(seq) ELSE hash(
                 ts, ts_raw, actor_id, actor_type, merchant_id, action, action_raw, outcome, order_ids, fields,
                 masked, record_count, export_scope, ip, user_agent, session_id, request_id, http_method, url_path,
                 status, bytes, attrs) END,
             seq IS NULL
    HAVING count(DISTINCT src_sha256) > 1
),
duplicates AS ("""


def hash_variant(into: Path) -> Path:
    """A copy of the bundled pack whose copies CTE is the old hash grouping."""
    pack = into / "order-leak-hash"
    shutil.copytree(PACK, pack)
    sql_path = pack / "07_completeness.sql"
    sql = sql_path.read_text(encoding="utf-8")
    start, end = sql.index("copies AS ("), sql.index("duplicates AS (")
    sql_path.write_text(sql[:start] + HASH_COPIES + sql[end + len("duplicates AS (") :], encoding="utf-8")
    return pack


def case_of(args: argparse.Namespace) -> Case:
    if args.case:
        return Case(Path(args.case))
    from bench.check import prepare  # the same generated-and-ingested worlds as bench/check.py

    case, _ = prepare(Path(args.workdir), args.events, fresh=False)
    return case


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", help="an ingested case folder")
    parser.add_argument("--events", type=int, default=1_000_000, help="without --case: world size to generate")
    parser.add_argument("--workdir", default="/work/tmp/forensics-bench-copies")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    case = case_of(args)
    with tempfile.TemporaryDirectory() as tmp:
        packs = {"values (now)": load_pack("order-leak"), "hash() (before)": load_pack(str(hash_variant(Path(tmp))))}
        best: dict[str, tuple[float, float]] = {}
        verdicts: dict[str, dict[str, str]] = {}
        for _ in range(args.repeat):
            for name, pack in packs.items():  # alternated, so a load change hits both alike
                t0 = time.perf_counter()
                result = run_pack(case, pack)
                total = time.perf_counter() - t0
                completeness = next(c.run.seconds for c in result.checks if c.check.id == "completeness")
                old = best.get(name, (float("inf"), float("inf")))
                best[name] = (min(old[0], completeness), min(old[1], total))
                verdicts[name] = dict(result.verdicts)
    with case.connect() as con:
        events = con.execute("SELECT count(*) FROM events").fetchone()[0]  # type: ignore[index]
    print(f"case {case.root} ({events:,} events), best of {args.repeat}, load {os.getloadavg()[0]:.1f}")
    print("| copies grouped by | completeness check s | whole pack s |")
    print("|---|---:|---:|")
    for name, (completeness, total) in best.items():
        print(f"| {name} | {completeness:.2f} | {total:.2f} |")
    now, before = best["values (now)"], best["hash() (before)"]
    print(f"values / hash: completeness {now[0] / before[0]:.2f}, pack {now[1] / before[1]:.2f}")
    if verdicts["values (now)"] != verdicts["hash() (before)"]:
        print(f"VERDICTS DIFFER: {verdicts}")
        sys.exit(1)


if __name__ == "__main__":
    main()
