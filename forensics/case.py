"""The case directory: layout, case.toml, and the DuckDB catalog over the stored events.

Layout (DESIGN.md):
    case.toml  case.duckdb  events/source=S/date=D/*.parquet  quarantine/source=S/*.parquet
    manifest.json  custody.log  raw/ (--preserve copies, content-addressed)  exhibits/
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from forensics.addresses import register_client_ip
from forensics.errors import ForensicsError, UsageError
from forensics.schema import EVENT_SCHEMA, QUARANTINE_SCHEMA

CASE_TOML_TEMPLATE = """\
# case.toml: the matter this case folder is about. Every check reads its parameters from here
# (override one with `forensics check CASE --param name=value`). Times without an offset are read
# in [window].tz. Personal information entered here is masked in exhibits unless --unmask is given.

[case]
caption = ""              # e.g. "薛某诉某平台个人信息保护纠纷"
court = ""                # e.g. "杭州互联网法院"
case_number = ""
exhibit_number = "E-1"
submitting_party = ""
languages = ["zh", "en"]  # exhibit language(s): zh, en

# [[parties]]
# role = "plaintiff"      # plaintiff | defendant | third_party
# name = ""
# phone = ""

[order]
ids = []                  # the order(s) in dispute
merchant_id = ""          # the shop that fulfilled it
# created_at = "2024-03-01T10:00:00+08:00"
# waybill_no = ""

[window]                  # the incident window
start = ""                # e.g. "2024-03-01T00:00:00"
end = ""
tz = "Asia/Shanghai"

[fraudster]               # what the callers knew, and what they did not (personal-information field names)
knew = []                 # e.g. ["receiver_name", "receiver_phone", "receiver_address", "waybill_no"]
did_not_know = []         # e.g. ["order_no", "order_created_at", "order_amount"]

# One table per disclosure channel: which fields it shows and which actions reveal them.
# [exposure.paper_waybill]
# title_en = "Printed express waybill"
# title_zh = "纸质快递面单"
# fields = ["receiver_name", "receiver_phone", "receiver_address", "waybill_no", "item"]
# actions = ["waybill.print", "waybill.reprint"]

[completeness]
max_clock_skew = "5m"     # the window is padded by the measured skew between sources, at most this

# [addresses]             # ip is always the connecting peer; list proxies whose X-Forwarded-For you trust
# trusted_proxies = []    # e.g. ["10.0.0.0/8"]: packs may then use client_ip(ip, forwarded_for)
"""


@dataclass(frozen=True)
class Case:
    root: Path

    @property
    def events_dir(self) -> Path:
        return self.root / "events"

    @property
    def quarantine_dir(self) -> Path:
        return self.root / "quarantine"

    @property
    def raw_dir(self) -> Path:
        return self.root / "raw"

    @property
    def exhibits_dir(self) -> Path:
        return self.root / "exhibits"

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    @property
    def custody_path(self) -> Path:
        return self.root / "custody.log"

    @property
    def db_path(self) -> Path:
        return self.root / "case.duckdb"

    @property
    def toml_path(self) -> Path:
        return self.root / "case.toml"

    @property
    def config(self) -> dict[str, Any]:
        try:
            with self.toml_path.open("rb") as fh:
                return tomllib.load(fh)
        except FileNotFoundError:
            return {}
        except tomllib.TOMLDecodeError as exc:
            raise ForensicsError(f"{self.toml_path}: {exc}") from exc

    def manifest(self) -> dict[str, Any]:
        if not self.manifest_path.exists():
            return {"inputs": [], "outputs": []}
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ForensicsError(f"{self.manifest_path}: manifest is damaged ({exc}); run forensics verify") from exc
        if not isinstance(data, dict):
            raise ForensicsError(f"{self.manifest_path}: manifest is damaged (not an object); run forensics verify")
        return data

    def connect(self) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB connection with the case views, sandboxed to the case folder.

        Views use absolute paths of this machine, so a case folder stays portable (case.duckdb,
        for interactive use, holds relative ones). External access is switched off afterwards:
        only the events and quarantine folders can be read, and nothing can be installed.
        """
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        try:
            con.execute(_events_view_sql(self.events_dir))
            con.execute(_quarantine_view_sql(self.quarantine_dir))
        except duckdb.Error as exc:
            con.close()
            raise ForensicsError(
                f"{self.root}: the stored events cannot be read ({exc}); run forensics verify"
            ) from exc
        _load_inputs_and_runs(con, self)
        register_client_ip(con, lambda: self.config)  # client_ip(ip, forwarded_for): [addresses] trusted_proxies
        # DuckDB allows its spill folder (<cwd>/.tmp) by default: point it inside the case instead.
        con.execute("SET temp_directory = $dir", {"dir": str((self.root / ".tmp").resolve())})
        allowed = [str(self.events_dir.resolve()) + "/", str(self.quarantine_dir.resolve()) + "/"]
        con.execute("SET allowed_directories = $dirs", {"dirs": allowed})
        con.execute("SET enable_external_access = false")
        con.execute("SET autoinstall_known_extensions = false")
        con.execute("SET autoload_known_extensions = false")
        con.execute("SET enable_progress_bar = false")  # library code never prints
        con.execute("SET lock_configuration = true")
        return con

    def query_readonly(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run one user SELECT. Anything else (COPY, ATTACH, PRAGMA, SET, DDL...) is refused."""
        con = self.connect()
        try:
            statements = con.extract_statements(sql)
        except duckdb.Error as exc:
            raise UsageError(f"SQL does not parse: {exc}") from exc
        if len(statements) != 1:
            raise UsageError(f"give exactly one SELECT statement (got {len(statements)})")
        if statements[0].type != duckdb.StatementType.SELECT:
            raise UsageError(f"only SELECT queries are allowed (got {statements[0].type.name})")
        try:
            rel = con.execute(sql)
            columns = [d[0] for d in rel.description or []]
            return columns, rel.fetchall()
        except duckdb.Error as exc:
            raise ForensicsError(f"query failed: {exc}") from exc
        finally:
            con.close()


def _events_view_sql(events_dir: Path, relative: bool = False) -> str:
    if not any(events_dir.glob("source=*/date=*/*.parquet")):
        cols = ", ".join(f"CAST(NULL AS {_duck_type(f.type)}) AS {f.name}" for f in EVENT_SCHEMA)
        return f"CREATE OR REPLACE VIEW events AS SELECT {cols}, CAST(NULL AS DATE) AS date WHERE false"
    pattern = "events/*/*/*.parquet" if relative else str(events_dir.resolve() / "*" / "*" / "*.parquet")
    return (
        "CREATE OR REPLACE VIEW events AS SELECT * FROM read_parquet("
        f"'{pattern}', hive_partitioning = true, hive_types = {{'source': VARCHAR, 'date': DATE}}, "
        "union_by_name = true)"
    )


def _quarantine_view_sql(quarantine_dir: Path, relative: bool = False) -> str:
    if not any(quarantine_dir.glob("source=*/*.parquet")):
        cols = ", ".join(f"CAST(NULL AS {_duck_type(f.type)}) AS {f.name}" for f in QUARANTINE_SCHEMA)
        return f"CREATE OR REPLACE VIEW quarantine AS SELECT {cols} WHERE false"
    pattern = "quarantine/*/*.parquet" if relative else str(quarantine_dir.resolve() / "*" / "*.parquet")
    return (
        f"CREATE OR REPLACE VIEW quarantine AS SELECT * FROM read_parquet('{pattern}', "
        "hive_partitioning = true, hive_types = {'source': VARCHAR})"
    )


def _duck_type(arrow_type: Any) -> str:
    import pyarrow as pa

    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMPTZ"
    if pa.types.is_list(arrow_type):
        return "VARCHAR[]"
    if pa.types.is_int64(arrow_type):
        return "BIGINT"
    if pa.types.is_int32(arrow_type):
        return "INTEGER"
    if pa.types.is_boolean(arrow_type):
        return "BOOLEAN"
    if pa.types.is_binary(arrow_type):
        return "BLOB"
    return "VARCHAR"


INPUT_COLUMNS = (
    "path",
    "source",
    "format",
    "sha256",
    "sm3",
    "bytes",
    "decompressed_bytes",
    "decompressed_sha256",
    "lines",
    "records",
    "events",
    "quarantined",
    "blank",
    "ingested_at",
)


def _load_inputs_and_runs(con: duckdb.DuckDBPyConnection, case: Case) -> None:
    import pyarrow as pa

    inputs = case.manifest().get("inputs", [])
    table = pa.table({c: [None if i.get(c) is None else str(i.get(c)) for i in inputs] for c in INPUT_COLUMNS})
    con.register("_inputs_arrow", table)
    casts = ", ".join(
        f"TRY_CAST({c} AS BIGINT) AS {c}"
        if c in {"bytes", "decompressed_bytes", "lines", "records", "events", "quarantined", "blank"}
        else c
        for c in INPUT_COLUMNS
    )
    con.execute(f"CREATE TABLE inputs AS SELECT {casts} FROM _inputs_arrow")
    con.unregister("_inputs_arrow")
    from forensics.custody import read_custody

    runs = [
        {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in entry.items()}
        for entry in read_custody(case)
    ]
    keys = ["seq", "at", "action", "command", "tool_version", "details", "prev_hash", "hash"]
    con.register(
        "_runs_arrow", pa.table({k: [None if r.get(k) is None else str(r.get(k)) for r in runs] for k in keys})
    )
    con.execute("CREATE TABLE runs AS SELECT * FROM _runs_arrow")
    con.unregister("_runs_arrow")


def write_catalog(case: Case) -> None:
    """(Re)write case.duckdb with relative-path views, for `cd CASE && duckdb case.duckdb`."""
    import contextlib
    import os

    tmp = case.db_path.with_suffix(".duckdb.tmp")
    tmp.unlink(missing_ok=True)
    con = duckdb.connect(str(tmp))
    try:
        # DuckDB binds a view when it is created and resolves relative paths against the working
        # directory, so create the views from inside the case folder.
        with contextlib.chdir(case.root):
            con.execute(_events_view_sql(case.events_dir, relative=True))
            con.execute(_quarantine_view_sql(case.quarantine_dir, relative=True))
    finally:
        con.close()
    os.replace(tmp, case.db_path)


def init_case(path: Path) -> Case:
    """Create the case folder. Refuses a non-empty folder that is not a case (nothing is overwritten)."""
    case = Case(path)
    if path.exists() and any(path.iterdir()) and not case.toml_path.exists():
        raise ForensicsError(f"{path} exists and is not an empty folder or a case; choose a new path")
    for sub in (case.events_dir, case.quarantine_dir, case.exhibits_dir):
        sub.mkdir(parents=True, exist_ok=True)
    if not case.toml_path.exists():
        case.toml_path.write_text(CASE_TOML_TEMPLATE, encoding="utf-8")
    if not case.manifest_path.exists():
        from forensics.custody import append_custody, write_manifest

        write_manifest(case, {"inputs": [], "outputs": []})
        append_custody(case, "init", {"path": str(path)})
    write_catalog(case)
    return case


def open_case(path: Path) -> Case:
    case = Case(path)
    if not case.toml_path.exists() or not case.manifest_path.exists():
        raise ForensicsError(f"{path} is not a case folder (no case.toml/manifest.json); run `forensics init {path}`")
    return case
