"""`forensics packs test`: fixtures (small canonical-event cases) run through the real runner and compared."""

from __future__ import annotations

import hashlib
import json
import tempfile
import tomllib
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from forensics.case import Case
from forensics.errors import ForensicsError, UsageError
from forensics.packs.model import Pack, suggest
from forensics.packs.params import parse_duration, parse_timestamp
from forensics.packs.results import PackResult
from forensics.packs.run import run_pack

# ---------------------------------------------------------------- fixtures (packs test)


@dataclass(frozen=True)
class FixtureResult:
    fixture: str
    check_id: str
    expected_verdict: str
    verdict: str
    expected_rows: int | None
    rows: int
    reason: str

    @property
    def ok(self) -> bool:
        rows_ok = self.expected_rows is None or self.expected_rows == self.rows
        return self.verdict == self.expected_verdict and rows_ok

    @property
    def detail(self) -> str:
        rows = "" if self.expected_rows is None else f", rows {self.rows} (expected {self.expected_rows})"
        return f"verdict {self.verdict} (expected {self.expected_verdict}){rows}: {self.reason}"


def _expand_fixture_line(record: dict[str, Any], line_no: int, where: str) -> list[dict[str, Any]]:
    """A fixture line is one canonical event, or a '$every' template repeated over a time range.

    Templates keep fixtures small: a day of per-minute heartbeats is one line.
    """
    record.setdefault("line_no", line_no)
    if "$every" not in record:
        return [record]
    try:
        step = timedelta(seconds=parse_duration(record.pop("$every")))
        start = parse_timestamp(record.pop("$from"), "UTC")
        end = parse_timestamp(record.pop("$to"), "UTC")
    except (KeyError, UsageError) as exc:
        raise ForensicsError(f"{where}: '$every' needs '$from' and '$to' times ({exc})") from exc
    seq = record.pop("$seq_from", None)
    out: list[dict[str, Any]] = []
    moment, k = start, 0
    while moment < end:
        event = dict(record, ts=moment.isoformat(), line_no=line_no * 100_000 + k)
        if seq is not None:
            event["seq"] = int(seq) + k
        out.append(event)
        moment, k = moment + step, k + 1
    return out


def read_fixture_events(path: Path) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ForensicsError(f"{path}:{number}: not a JSON object: {exc.msg}") from exc
        if not isinstance(record, dict):
            raise ForensicsError(f"{path}:{number}: each line is one JSON object (a canonical event)")
        events.extend(_expand_fixture_line(record, number, f"{path}:{number}"))
    return events


def materialize_case(root: Path, events: list[dict[str, Any]], case_toml: str, default_sha: str) -> Case:
    """Write canonical events as a case folder (hive-partitioned Parquet) so checks run on the real path."""
    import polars as pl
    import pyarrow.parquet as pq

    from forensics.schema import EVENT_COLUMNS, EVENT_SCHEMA
    from forensics.seal import row_digests, write_manifest
    from forensics.store import conform_events

    root.mkdir(parents=True, exist_ok=True)
    (root / "case.toml").write_text(case_toml, encoding="utf-8")
    for sub in ("events", "quarantine"):
        (root / sub).mkdir(exist_ok=True)
    outputs: list[dict[str, Any]] = []  # Case.connect reads only the files a manifest lists
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for event in events:
        groups.setdefault((str(event.get("source", "")), str(event.get("src_sha256", default_sha))), []).append(event)
    for part, ((source, sha), rows) in enumerate(sorted(groups.items())):
        frame = _fixture_frame(rows)
        conformed = conform_events(frame, source, sha)
        conformed = conformed.with_columns(row_digests(conformed.drop("row_digest")).alias("row_digest"))
        dated = conformed.with_columns(pl.col("ts").dt.date().cast(pl.String).alias("_date"))
        for (day,), chunk in dated.group_by("_date", maintain_order=True):
            target = root / "events" / f"source={source}" / f"date={day}" / f"fixture-{part:04d}.parquet"
            target.parent.mkdir(parents=True, exist_ok=True)
            table = chunk.drop("_date").select(EVENT_COLUMNS).to_arrow().cast(EVENT_SCHEMA)
            pq.write_table(table, target)
            rel = target.relative_to(root).as_posix()
            outputs.append({"path": rel, "kind": "events", "rows": chunk.height, "input_sha256": sha})
    write_manifest(Case(root), {"inputs": [], "outputs": outputs})
    return Case(root)


def _fixture_frame(rows: list[dict[str, Any]]) -> Any:
    import polars as pl

    from forensics.schema import EVENT_SCHEMA

    target = pl.from_arrow(EVENT_SCHEMA.empty_table())
    assert isinstance(target, pl.DataFrame)
    columns: dict[str, list[Any]] = {name: [] for name in target.columns if name not in ("source", "src_sha256")}
    for row in rows:
        unknown = set(row) - set(target.columns)
        if unknown:
            name = sorted(unknown)[0]
            raise ForensicsError(f"fixture event has unknown column {name!r}{suggest(name, target.columns)}")
        for name in columns:
            value = row.get(name)
            if name == "ts":
                value = parse_timestamp(value, "UTC")
            columns[name].append(value)
    if "row_digest" in columns:
        columns["row_digest"] = ["" for _ in rows]
    columns["byte_offset"] = [v if v is not None else 0 for v in columns["byte_offset"]]
    columns["outcome"] = [v if v is not None else "success" for v in columns["outcome"]]
    schema = {name: dtype for name, dtype in target.schema.items() if name in columns}
    return pl.DataFrame(columns, schema=schema)


def _fixture_expectations(folder: Path) -> tuple[list[dict[str, Any]], dict[str, str]]:
    path = folder / "expect.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ForensicsError(f"{folder}: fixture has no expect.toml") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ForensicsError(f"{path}: {exc}") from exc
    expects = data.get("expect", [])
    if not isinstance(expects, list) or not expects:
        raise ForensicsError(f"{path}:1: give at least one [[expect]] table with check, verdict and rows")
    params = {str(k): str(v) for k, v in data.get("params", {}).items()}
    return expects, params


def run_fixture(pack: Pack, folder: Path) -> tuple[PackResult, list[FixtureResult]]:
    expects, params = _fixture_expectations(folder)
    events_path = folder / "events.jsonl"
    events = read_fixture_events(events_path)
    sha = hashlib.sha256(events_path.read_bytes()).hexdigest()
    case_toml = (folder / "case.toml").read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="forensics-fixture-") as tmp:
        case = materialize_case(Path(tmp) / "case", events, case_toml, sha)
        result = run_pack(case, pack, params)
    out: list[FixtureResult] = []
    for exp in expects:
        got = result.check(str(exp["check"]))
        out.append(
            FixtureResult(
                fixture=folder.name,
                check_id=got.check.id,
                expected_verdict=str(exp["verdict"]),
                verdict=got.verdict,
                expected_rows=int(exp["rows"]) if "rows" in exp else None,
                rows=len(got.run.rows),
                reason=got.reason,
            )
        )
    return result, out


def fixture_dirs(pack: Pack) -> list[Path]:
    if not pack.fixtures_dir.is_dir():
        return []
    return sorted(p for p in pack.fixtures_dir.iterdir() if (p / "events.jsonl").is_file())


def test_pack(pack: Pack) -> list[FixtureResult]:
    """Run each fixture of the pack (a small canonical-event case) and compare verdicts and row counts."""
    results: list[FixtureResult] = []
    for folder in fixture_dirs(pack):
        results.extend(run_fixture(pack, folder)[1])
    return results


test_pack.__test__ = False  # type: ignore[attr-defined]  # a library function, not a pytest test
