"""The floor: what any ingest must spend on this machine, however it is written, next to the targets.

    .venv/bin/python bench/floor.py --lines 1000000

The evidence store must hash every input byte (SHA-256 and SM3), hash every stored row's canonical
text (SHA-256) and write the canonical rows to Parquet. This script times only those mandatory steps,
each at the fastest speed this machine offers (OpenSSL through hashlib over one contiguous buffer, so
no per-row call overhead; Parquet written uncompressed, the cheapest writer setting), and leaves out
everything else (line split, decode, parse, building the canonical text, the Merkle tree, the
manifest). Summed and divided by the cores, it is an upper bound on the lines/s any implementation
can reach, compiled or not, printed beside the issue's targets and the baselines measured in the same run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import ingest as bench_ingest


def _seconds(fn) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _stored_events(path: Path, kind: str, work: Path):  # type: ignore[no-untyped-def]
    """Ingest once to get exactly the rows the store holds for this input."""
    import polars as pl

    from forensics.case import init_case
    from forensics.ingest import IngestOptions, ingest_paths
    from forensics.schema import EVENT_COLUMNS

    case = init_case(work / "case")
    if kind == "nginx":
        options = IngestOptions(format="nginx", source="bench")
    else:
        mapping = work / "mapping.toml"
        mapping.write_text(bench_ingest.JSONL_MAPPING)
        options = IngestOptions(mapping=mapping, source="bench")
    ingest_paths(case, [path], options)
    return pl.read_parquet(case.events_dir / "**" / "*.parquet", hive_partitioning=False).select(EVENT_COLUMNS)


# Access-log raw fields that the stored row also holds as canonical columns (remote_addr -> ip,
# time_local -> ts_raw, ...) or that are derived from `request`: what `attrs` would lose if it held
# only unmapped raw fields, as DESIGN.md words it (`--slim-attrs`, a hypothetical schema).
_MAPPED_OR_DERIVED = (
    "remote_addr", "remote_user", "time_local", "http_user_agent", "status", "body_bytes_sent",
    "request_method", "request_uri", "uri", "args", "server_protocol",
)  # fmt: skip


def _slim_attrs(events):  # type: ignore[no-untyped-def]
    import polars as pl

    keys = [k for k in json.loads(events["attrs"][0]) if k not in _MAPPED_OR_DERIVED]
    kept = pl.col("attrs").str.json_decode(pl.Struct({k: pl.String for k in keys}))
    return events.with_columns(kept.struct.json_encode().alias("attrs"))


def floor(kind: str, path: Path, lines: int, slim_attrs: bool = False) -> dict[str, float]:
    from forensics.custody import canonical_row_text

    data = path.read_bytes()
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        work = Path(tmp)
        events = _stored_events(path, kind, work)
        if slim_attrs:
            events = _slim_attrs(events)
        canonical = "".join(canonical_row_text(events.drop("row_digest")).to_list()).encode("utf-8")
        steps = {
            "sha256 of the input": _seconds(lambda: hashlib.sha256(data).digest()),
            "sm3 of the input": _seconds(lambda: hashlib.new("sm3", data).digest()),
            "sha256 of the canonical rows": _seconds(lambda: hashlib.sha256(canonical).digest()),
            "parquet write (uncompressed)": _seconds(
                lambda: events.write_parquet(work / "floor.parquet", compression="uncompressed")
            ),
        }
    cores = os.cpu_count() or 1
    cpu = sum(steps.values())
    return {**steps, "cpu_seconds": cpu, "cores": cores, "max_lines_per_s": lines / (cpu / cores)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--dir", type=Path, default=Path("bench/out"))
    ap.add_argument(
        "--slim-attrs",
        action="store_true",
        help="nginx floor if attrs held only unmapped raw fields (not what ingest stores today)",
    )
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    report = {}
    for kind, gen, baseline, target in (
        ("nginx", bench_ingest.generate_nginx, "polars-regex", "max(1.5 M/s, 2x baseline)"),
        ("jsonl", bench_ingest.generate_jsonl, "duckdb-read_json", "0.8x baseline"),
    ):
        path = args.dir / f"{kind}-{args.lines}.{'log' if kind == 'nginx' else 'jsonl'}"
        if not path.exists():
            gen(path, args.lines)
        fl = floor(kind, path, args.lines, slim_attrs=args.slim_attrs and kind == "nginx")
        base = bench_ingest.measure(baseline, path)
        ours = bench_ingest.measure(f"forensics-{kind}", path)
        base_rate = args.lines / base["seconds"]
        need = max(1_500_000, 2 * base_rate) if kind == "nginx" else 0.8 * base_rate
        report[kind] = {
            "floor": fl,
            "baseline_lines_per_s": base_rate,
            "forensics_lines_per_s": args.lines / ours["seconds"],
        }
        slim = " (attrs: unmapped raw fields only)" if args.slim_attrs and kind == "nginx" else ""
        print(f"\n{kind}{slim}: {path.stat().st_size / 1e6:,.0f} MB, {args.lines:,} lines")
        for step, sec in fl.items():
            if step not in ("cpu_seconds", "cores", "max_lines_per_s"):
                print(f"  {step:32s} {sec:6.3f} s")
        print(f"  {'mandatory CPU':32s} {fl['cpu_seconds']:6.3f} s  over {fl['cores']:.0f} cores")
        print(f"  floor (upper bound on any ingest) {fl['max_lines_per_s']:>12,.0f} lines/s")
        print(f"  target {target:25s} {need:>12,.0f} lines/s  (baseline {base_rate:,.0f})")
        print(f"  forensics ingest now             {args.lines / ours['seconds']:>12,.0f} lines/s")
        print(f"  target reachable at all: {'yes' if fl['max_lines_per_s'] >= need else 'NO'}")
    (args.dir / "floor.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
