"""The case directory: layout, case.toml, and the DuckDB catalog over the stored events.

Layout (DESIGN.md):
    case.toml  case.duckdb  events/source=S/date=D/*.parquet  quarantine/source=S/*.parquet
    manifest.json  custody.log  raw/ (--preserve copies, content-addressed)  exhibits/
    mappings/ (every mapping used, content-addressed)  .lock (while a writer runs)  .staging/ (per run)

Dependencies run one way: case -> seal (hashing, manifest, custody log); custody (verify) -> case.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from forensics.addresses import register_client_ip
from forensics.errors import ForensicsError, UsageError
from forensics.limits import apply_limits
from forensics.schema import EVENT_SCHEMA, QUARANTINE_SCHEMA
from forensics.seal import append_custody, read_custody, write_manifest

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

# How each source system's logs come about, for the exhibit (each key also has a _zh variant):
# [sources.merchant_backend]
# description = ""         # what the system is
# operator = ""            # who runs it
# how_logged = ""          # what writes a line, and when
# retention = ""           # how long logs are kept
# clock_sync = ""          # how its clock is kept right (NTP, ...)

[completeness]
max_clock_skew = "5m"     # the window is padded by the measured skew between sources, at most this
# Each source must be shown continuous by heartbeats from its nodes, sequence numbers on every event, or hourly
# volume against baseline days. A source whose events name no node can name the hosts that heartbeat for it:
# [completeness.sources.print_service]
# heartbeat_nodes = ["lg-01", "lg-02"]

# Which of this platform's sources plays each role the checks depend on (`forensics packs show order-leak`).
# Unset roles keep the sample platform's names (merchant_backend, open_api, logistics, security).
# [roles]
# back_office = ["admin_audit"]             # merchant back office (one or more sources)
# open_api = ["isv_gateway"]                # open platform API
# logistics_print = ["print_service"]       # waybill printing
# security_monitor = ["sec_monitor"]        # per-node heartbeats, DLP alerts
# absent = ["open_api"]                     # a role this platform does not have (stated in the exhibit scope)

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
        except tomllib.TOMLDecodeError as exc:  # the user's file to fix: a usage error (exit 2)
            raise UsageError(f"{self.toml_path}: {exc}") from exc

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

        The views read exactly the Parquet files the manifest lists (never a glob: a file or a
        symlinked folder slipped into events/ must not change a result), minus the outputs of
        retracted inputs. case.duckdb is never consulted. External access is switched off
        afterwards: only the listed files can be read, and nothing can be installed.
        """
        manifest = self.manifest()
        events, quarantine = listed_outputs(self, manifest)
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        apply_limits(con)  # hostile: memory limit and threads on every case connection
        try:
            con.execute(_events_view_sql([str(p) for p in events]))
            con.execute(_quarantine_view_sql([str(p) for p in quarantine]))
        except duckdb.Error as exc:
            con.close()
            raise ForensicsError(
                f"{self.root}: the stored events cannot be read ({exc}); run forensics verify"
            ) from exc
        _load_inputs_and_runs(con, self, manifest)
        register_client_ip(con, lambda: self.config)  # client_ip(ip, forwarded_for): [addresses] trusted_proxies
        # DuckDB allows its spill folder (<cwd>/.tmp) by default: point it inside the case instead.
        con.execute("SET temp_directory = $dir", {"dir": str((self.root / ".tmp").resolve())})
        con.execute("SET allowed_paths = $files", {"files": [str(p) for p in [*events, *quarantine]]})
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


def retracted_inputs(manifest: dict[str, Any]) -> set[tuple[str, int]]:
    """(sha256, generation) of every input the user retracted (forensics retract)."""
    return {
        (str(i.get("sha256")), int(i.get("generation", 1)))
        for i in manifest.get("inputs", [])
        if isinstance(i, dict) and i.get("retracted")
    }


def listed_outputs(case: Case, manifest: dict[str, Any], *, relative: bool = False) -> tuple[list[Path], list[Path]]:
    """The events and quarantine Parquet files the views read: the manifest's outputs, in order,
    without those of retracted inputs. A listed path that leaves the case or passes through a
    symlink is refused (DuckDB would follow it)."""
    retracted = retracted_inputs(manifest)
    root = case.root.resolve()
    events: list[Path] = []
    quarantine: list[Path] = []
    for out in manifest.get("outputs", []):
        key = (str(out.get("input_sha256")), int(out.get("generation", 1)))
        if key in retracted:
            continue
        rel = Path(str(out.get("path")))
        full = root / rel
        if rel.is_absolute() or ".." in rel.parts or full.resolve() != full:
            raise ForensicsError(
                f"{case.root}: manifest output {rel} is a symlink or leaves the case; run forensics verify"
            )
        target = rel if relative else full
        if out.get("kind") == "events":
            events.append(target)
        elif out.get("kind") == "quarantine":
            quarantine.append(target)
    return events, quarantine


def _sql_list(paths: list[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


def _events_view_sql(files: list[str]) -> str:
    if not files:
        cols = ", ".join(f"CAST(NULL AS {_duck_type(f.type)}) AS {f.name}" for f in EVENT_SCHEMA)
        return f"CREATE OR REPLACE VIEW events AS SELECT {cols}, CAST(NULL AS DATE) AS date WHERE false"
    return (
        f"CREATE OR REPLACE VIEW events AS SELECT * FROM read_parquet({_sql_list(files)}, "
        "hive_partitioning = true, hive_types = {'source': VARCHAR, 'date': DATE}, union_by_name = true)"
    )


def _quarantine_view_sql(files: list[str]) -> str:
    if not files:
        cols = ", ".join(f"CAST(NULL AS {_duck_type(f.type)}) AS {f.name}" for f in QUARANTINE_SCHEMA)
        return f"CREATE OR REPLACE VIEW quarantine AS SELECT {cols} WHERE false"
    return (
        f"CREATE OR REPLACE VIEW quarantine AS SELECT * FROM read_parquet({_sql_list(files)}, "
        "hive_partitioning = true, hive_types = {'source': VARCHAR})"
    )


def catalog_view_sql(case: Case, manifest: dict[str, Any]) -> dict[str, str]:
    """The view definitions case.duckdb must hold for this manifest (relative paths)."""
    events, quarantine = listed_outputs(case, manifest, relative=True)
    return {
        "events": _events_view_sql([p.as_posix() for p in events]),
        "quarantine": _quarantine_view_sql([p.as_posix() for p in quarantine]),
    }


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


def _load_inputs_and_runs(con: duckdb.DuckDBPyConnection, case: Case, manifest: dict[str, Any]) -> None:
    import pyarrow as pa

    # a retracted input is no longer evidence of this case: it leaves the inputs table with its rows
    inputs = [i for i in manifest.get("inputs", []) if not i.get("retracted")]
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
    """(Re)write case.duckdb with relative-path views, for `cd CASE && duckdb case.duckdb`.

    A convenience only: forensics itself never reads it (connect() builds the views from the
    manifest), and verify reports a catalog whose views differ from what the manifest implies."""
    tmp = case.db_path.with_suffix(".duckdb.tmp")
    tmp.unlink(missing_ok=True)
    con = duckdb.connect(str(tmp))
    try:
        # DuckDB binds a view when it is created and resolves relative paths against the working
        # directory, so create the views from inside the case folder (the SQL is made before: the
        # case root may itself be a relative path).
        views = catalog_view_sql(case, case.manifest())
        with contextlib.chdir(case.root):
            for sql in views.values():
                con.execute(sql)
    finally:
        con.close()
    os.replace(tmp, case.db_path)


def refresh_catalog(case: Case) -> None:
    """write_catalog after a seal; the catalog is a convenience, so failing to write it is not fatal
    (verify then reports it stale)."""
    with contextlib.suppress(duckdb.Error, OSError, ForensicsError):
        write_catalog(case)


def stored_catalog_sql(case: Case) -> dict[str, str] | None:
    """The view definitions case.duckdb holds now (None when there is no catalog)."""
    if not case.db_path.exists():
        return None
    con = duckdb.connect(str(case.db_path), read_only=True)
    try:
        rows = con.execute("SELECT view_name, sql FROM duckdb_views() WHERE NOT internal").fetchall()
    finally:
        con.close()
    return {str(name): str(sql) for name, sql in rows}


def expected_catalog_sql(case: Case, manifest: dict[str, Any]) -> dict[str, str]:
    """The definitions write_catalog would store, as DuckDB prints them back."""
    views = catalog_view_sql(case, manifest)
    con = duckdb.connect()
    try:
        with contextlib.chdir(case.root):
            for sql in views.values():
                con.execute(sql)
        rows = con.execute("SELECT view_name, sql FROM duckdb_views() WHERE NOT internal").fetchall()
    finally:
        con.close()
    return {str(name): str(sql) for name, sql in rows}


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
        write_manifest(case, {"inputs": [], "outputs": []})
        append_custody(case, "init", {"path": str(path)})
    write_catalog(case)
    return case


def open_case(path: Path) -> Case:
    case = Case(path)
    if not case.toml_path.exists() or not case.manifest_path.exists():
        raise ForensicsError(f"{path} is not a case folder (no case.toml/manifest.json); run `forensics init {path}`")
    return case


# ---------------------------------------------------------------- one writer at a time

# (case root, thread) holding the lock -> nesting depth; another thread is another writer
_HELD: dict[tuple[Path, int], int] = {}


@dataclass(frozen=True)
class LockHolder:
    pid: int
    host: str
    command: str
    since: str

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}, `{self.command}`, since {self.since}"


@dataclass
class CaseLock:
    """What case_lock yields: `notice` says when a crashed run's lock was taken over."""

    path: Path
    notice: str | None = None


@contextlib.contextmanager
def case_lock(case: Case, command: str) -> Iterator[CaseLock]:
    """Hold CASE/.lock (created with O_EXCL) while a command writes to the case.

    A second writer fails at once naming the holder (pid, host, command, since). A lock left by a
    run that died on this host (its pid is gone) is taken over, and `notice` says so. A read-only
    case is refused here, before anything is written. Nested use in one process is allowed (the
    exhibit builder may run a check)."""
    key = (case.root.resolve(), threading.get_ident())
    lock = CaseLock(case.root / ".lock")
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield lock
        finally:
            _HELD[key] -= 1
        return
    lock.notice = _acquire(lock.path, command)
    _HELD[key] = 1
    try:
        yield lock
    finally:
        del _HELD[key]
        lock.path.unlink(missing_ok=True)


def _acquire(path: Path, command: str) -> str | None:
    from forensics.seal import now_iso

    body = json.dumps({"pid": os.getpid(), "host": os.uname().nodename, "command": command, "since": now_iso()})
    notice = None
    for _attempt in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _read_holder(path)
            if holder is None or not _is_stale(holder):
                who = holder.describe() if holder else "a holder that left no readable record"
                raise ForensicsError(
                    f"{path.parent}: the case is in use by another run ({who}); wait for it to finish "
                    f"(if that run is gone, delete {path})"
                ) from None
            path.unlink(missing_ok=True)  # its process is gone: the lock is a crash's leftover
            notice = (
                f"took over {path}: the run that held it ({holder.describe()}) is no longer running; "
                f"run `forensics verify {path.parent}` to confirm the case is intact"
            )
            continue
        except OSError as exc:
            raise ForensicsError(
                f"{path.parent}: cannot lock the case ({exc.strerror or exc}); a read-only case cannot be "
                "changed: copy it to a writable folder first"
            ) from exc
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(body + "\n")
        return notice
    raise ForensicsError(f"{path.parent}: the case lock keeps reappearing; another run is starting, try again")


def _read_holder(path: Path) -> LockHolder | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return LockHolder(int(data["pid"]), str(data["host"]), str(data["command"]), str(data["since"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _is_stale(holder: LockHolder) -> bool:
    """Only a lock of this host can be judged: its pid no longer exists."""
    if holder.host != os.uname().nodename:
        return False
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def run_staging(case: Case) -> Path:
    """A staging folder of this run alone (a crashed run's leftovers are another run's business)."""
    import secrets

    return case.root / ".staging" / f"{os.getpid()}-{secrets.token_hex(4)}"
