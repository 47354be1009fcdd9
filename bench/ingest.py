"""Ingest throughput and peak memory, next to plain baselines on the same file, in one run.

    .venv/bin/python bench/ingest.py --lines 2000000            # nginx combined + JSON lines
    .venv/bin/python bench/ingest.py --lines 2000000 --gzip     # the same, gzip'd input
    .venv/bin/python bench/ingest.py --lines 200000 --files 2000  # rotated logs: one file vs 2000 gzip'd files
                                                                  # (nginx without, JSON lines with a mapping)

Each measurement runs in its own child process so its peak RSS is its own. Baselines:
- nginx: a plain polars `str.extract_groups` regex parse of the same file to Parquet (no hashing,
  no provenance, no quarantine);
- JSON lines: DuckDB `read_json` of the same file to Parquet.
Ratios within one run are what to compare (the machine is shared and noisy).
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

COMBINED_RE = (
    r'^(\S+) \S+ (\S+) \[([^\]]+)\] "(\S+) (\S+) (\S+)" (\d{3}) (\d+|-) "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)"$'
)

JSONL_MAPPING = '''\
source = "bench_json"
format = "jsonl"
[timestamp]
expr = "op_time"
[columns]
actor_id = "account"
merchant_id = "shop_id"
action = """CASE op_code WHEN 'RECEIVER_INFO_DECRYPT' THEN 'order.view_unmasked'
  WHEN 'ORDER_DETAIL_VIEW' THEN 'order.view' ELSE 'other' END"""
action_raw = "op_code"
outcome = "CASE result WHEN 'SUCCESS' THEN 'success' ELSE 'failure' END"
order_ids = "CAST(order_ids AS VARCHAR[])"
ip = "client_ip"
node = "node"
seq = "TRY_CAST(seq AS BIGINT)"
'''


def _write_lines(path: Path, n: int, rng: np.random.Generator, render: Callable[[int, int, int], str]) -> None:
    """n lines, render(row number, index in its chunk, random second of the day) each, written in chunks."""
    with _open(path) as fh:
        chunk = 200_000
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            secs = rng.integers(0, 86400, size=m)
            fh.write("".join(render(start + i, i, int(secs[i])) + "\n" for i in range(m)).encode())


def generate_nginx(path: Path, n: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    ips = [f"10.{a}.{b}.{c}" for a, b, c in rng.integers(0, 255, size=(512, 3))]
    agents = [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0",
        "okhttp/4.12.0",
    ]
    paths = ["/order/detail?id=", "/order/list?page=", "/api/v1/receiver?oid=", "/static/app.js?v="]

    def line(row: int, i: int, s: int) -> str:
        return (
            f"{ips[i % 512]} - - [01/Mar/2024:{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d} +0800] "
            f'"GET {paths[i % 4]}{row} HTTP/1.1" {200 if i % 17 else 404} {(i * 37) % 50000} '
            f'"-" "{agents[i % 3]}"'
        )

    _write_lines(path, n, rng, line)


def generate_jsonl(path: Path, n: int, seed: int = 1) -> None:
    codes = ["LOGIN", "ORDER_LIST_QUERY", "ORDER_DETAIL_VIEW", "RECEIVER_INFO_DECRYPT", "EXPORT_TASK_CREATE"]

    def line(row: int, i: int, s: int) -> str:
        return json.dumps(
            {
                "log_id": f"L{row}",
                "seq": row,
                "node": f"mb-0{i % 4 + 1}",
                "shop_id": f"S{i % 3000}",
                "account": f"acct{i % 9000}",
                "op_code": codes[i % 5],
                "order_ids": [f"O{row * 7 % 10_000_000}"],
                "desensitized": i % 5 != 3,
                "client_ip": f"10.0.{i % 255}.{i % 7}",
                "result": "SUCCESS",
                "op_time": f"2024-03-01T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}.123+08:00",
            }
        )

    _write_lines(path, n, np.random.default_rng(seed), line)


_GZIP = False


def _open(path: Path):  # type: ignore[no-untyped-def]
    return gzip.open(path, "wb", compresslevel=1) if _GZIP else path.open("wb")


# ---------------------------------------------------------------- children


def child(kind: str, path: str, work: str) -> None:
    t0 = time.perf_counter()
    if kind == "forensics-nginx":
        _run_forensics(Path(path), Path(work), ["--format", "nginx", "--source", "bench"])
    elif kind == "forensics-jsonl":
        mapping = Path(work) / "mapping.toml"
        mapping.write_text(JSONL_MAPPING)
        _run_forensics(Path(path), Path(work), ["--mapping", str(mapping)])
    elif kind == "polars-regex":
        import polars as pl

        lines = pl.scan_csv(
            path, has_header=False, separator="\x1f", quote_char=None, new_columns=["line"], infer_schema=False
        )
        parsed = lines.select(pl.col("line").str.extract_groups(COMBINED_RE)).unnest("line")
        parsed.sink_parquet(Path(work) / "baseline.parquet")
    elif kind == "duckdb-read_json":
        import duckdb

        duckdb.sql(
            f"COPY (SELECT * FROM read_json('{path}', format='newline_delimited')) TO '{work}/baseline.parquet' "
            "(FORMAT parquet)"
        )
    seconds = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "rss_mb": rss_mb}))


def _run_forensics(path: Path, work: Path, args: list[str]) -> None:
    from forensics.case import init_case
    from forensics.ingest import IngestOptions, ingest_paths

    case = init_case(work / "case")
    fmt = args[args.index("--format") + 1] if "--format" in args else "auto"
    mapping = Path(args[args.index("--mapping") + 1]) if "--mapping" in args else None
    report = ingest_paths(case, [path], IngestOptions(format=fmt, mapping=mapping, source="bench"))
    f = report.files[0]
    assert f.lines == f.events + f.quarantined + f.blank, "accounting"


def many_files(path: Path, lines: int, files: int, kind: str) -> None:
    """The same lines as one file and as `files` gzip'd files (a rotated-log dump): per-file overhead."""
    folder = path.parent / f"{path.name}-in-{files}-files"
    if not folder.exists():
        folder.mkdir()
        with _open_text(path) as fh:
            data = fh.readlines()
        per = -(-len(data) // files)
        for i in range(files):
            with gzip.open(folder / f"part.{i:05d}{path.suffix}.gz", "wb", compresslevel=1) as out:
                out.writelines(data[i * per : (i + 1) * per])
    one = measure(kind, path)
    many = measure(kind, folder)
    print(f"{kind:28} {'seconds':>8} {'lines/s':>10} {'RSS MB':>7}")
    print(f"{'1 file':28} {one['seconds']:8.1f} {lines / one['seconds']:10,.0f} {one['rss_mb']:7.0f}")
    print(f"{f'{files} gzip files':28} {many['seconds']:8.1f} {lines / many['seconds']:10,.0f} {many['rss_mb']:7.0f}")
    print(f"per-file overhead: {(many['seconds'] - one['seconds']) / files * 1000:.1f} ms")


def _open_text(path: Path):  # type: ignore[no-untyped-def]
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def measure(kind: str, path: Path) -> dict[str, float]:
    with tempfile.TemporaryDirectory(dir=path.parent) as work:
        out = subprocess.run(
            [sys.executable, __file__, "--child", kind, str(path), work], check=True, capture_output=True, text=True
        )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    global _GZIP
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--gzip", action="store_true")
    ap.add_argument("--only", choices=["nginx", "jsonl"])
    ap.add_argument("--dir", type=Path, default=Path("bench/out"))
    ap.add_argument("--files", type=int, help="instead: one file against its lines split into this many gzip'd files")
    ap.add_argument("--child", nargs=3, metavar=("KIND", "PATH", "WORK"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    _GZIP = args.gzip
    args.dir.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if args.gzip else ""
    rows = []
    if args.only in (None, "nginx") and not args.files:
        path = args.dir / f"nginx-{args.lines}.log{suffix}"
        if not path.exists():
            generate_nginx(path, args.lines)
        base = measure("polars-regex", path) if not args.gzip else None
        ours = measure("forensics-nginx", path)
        rows.append(("nginx combined", path, ours, base, "polars str.extract_groups -> Parquet"))
    if args.files:
        for kind, name, generator in (("nginx", "log", generate_nginx), ("jsonl", "jsonl", generate_jsonl)):
            if args.only in (None, kind):
                path = args.dir / f"{kind}-{args.lines}.{name}{suffix}"
                if not path.exists():
                    generator(path, args.lines)
                many_files(path, args.lines, args.files, f"forensics-{kind}")
        return
    if args.only in (None, "jsonl"):
        path = args.dir / f"jsonl-{args.lines}.jsonl{suffix}"
        if not path.exists():
            generate_jsonl(path, args.lines)
        base = measure("duckdb-read_json", path)
        ours = measure("forensics-jsonl", path)
        rows.append(("JSON lines", path, ours, base, "DuckDB read_json -> Parquet"))
    print(f"{'input':16} {'MB':>7} {'forensics l/s':>14} {'RSS MB':>7} {'baseline l/s':>13} {'RSS MB':>7} {'ratio':>6}")
    for name, path, ours, base, base_name in rows:
        mb = path.stat().st_size / 1e6
        ol = args.lines / ours["seconds"]
        if base:
            bl = args.lines / base["seconds"]
            print(
                f"{name:16} {mb:7.0f} {ol:14,.0f} {ours['rss_mb']:7.0f} {bl:13,.0f} {base['rss_mb']:7.0f} "
                f"{ol / bl:6.2f}"
            )
            print(f"{'':16} baseline: {base_name}")
        else:
            print(f"{name:16} {mb:7.0f} {ol:14,.0f} {ours['rss_mb']:7.0f} {'-':>13} {'-':>7} {'-':>6}")


if __name__ == "__main__":
    main()
