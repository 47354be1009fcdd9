"""Pack and verdict SQL on Apache Spark: the case's views registered from the manifest, SQL transpiled.

`SparkEngine.for_case` registers the same views `Case.connect` gives DuckDB, from the same list of files
(`case.listed_outputs`: the manifest's outputs minus those of retracted inputs, never a glob):
`events` (canonical columns + `date`, read with the canonical types), `quarantine`, `inputs`, `runs`.
Each engine has its own Spark session (`SparkSession.newSession()`: own temp views and UDFs, shared JVM).

A warehouse table can stand in for the events (`--table events=DB.TABLE`): it must have the canonical
columns (`forensics schema --dialect spark`); what was read is described by `source()` (name, version
when the catalog keeps one, row count, digest) for the check's JSON and custody entry.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forensics.engines.base import QueryError, Rows
from forensics.engines.ddl import events_struct, quarantine_struct
from forensics.engines.spark_session import DEFAULT_MASTER, get_spark
from forensics.engines.transpile import to_spark
from forensics.errors import ForensicsError, UsageError
from forensics.schema import EVENT_COLUMNS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from forensics.case import Case

VIEWS = ("events", "quarantine", "inputs", "runs")
_READS_DATA = re.compile(r"\b(events|quarantine)\b", re.IGNORECASE)
NUMERIC_INPUT_COLUMNS = {"bytes", "decompressed_bytes", "lines", "records", "events", "quarantined", "blank"}
RUN_COLUMNS = ("seq", "at", "action", "command", "tool_version", "details", "prev_hash", "hash")
# Every statement of a pack reads the events again (tens of Spark jobs per pack): up to this much Parquet on
# disk, the events are kept in Spark's cache for the engine's life (memory first, spilling to the executors'
# local disk, so a large case cannot exhaust memory) and dropped when the engine closes. Larger cases, and
# warehouse tables, are read from their files by each statement as before.
CACHE_EVENTS_MAX_BYTES = 256 * 1024 * 1024


class SparkEngine:
    """The engine interface (forensics.engines.base.Engine) over a Spark session."""

    name = "spark"

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark
        self._source: dict[str, Any] | None = None
        self._tag = f"forensics-{id(self):x}"
        self._case: Case | None = None
        self._udfs = False
        self._memo: dict[tuple[str, str], tuple[list[str], list[tuple[Any, ...]]]] = {}
        self._cached: list[DataFrame] = []

    # ------------------------------------------------------------ building

    @classmethod
    def for_case(
        cls,
        case: Case,
        master: str = DEFAULT_MASTER,
        tables: Mapping[str, str] | None = None,
    ) -> SparkEngine:
        """An engine with the case's views; `tables` maps a view name to a catalog table read instead."""
        engine = cls(get_spark(master).newSession())
        engine.spark.conf.set("spark.sql.session.timeZone", "UTC")
        tables = dict(tables or {})
        unknown = sorted(set(tables) - {"events"})
        if unknown:
            raise UsageError(f"--table {unknown[0]}=...: only the events view can be a warehouse table")
        manifest = case.manifest()
        if "events" in tables:
            engine._register_table("events", tables["events"])
        else:
            engine._register_case_events(case, manifest)
        engine._register_case_rest(case, manifest)
        engine._case = case
        return engine

    def _register_case_events(self, case: Case, manifest: dict[str, Any]) -> None:
        from forensics.case import listed_outputs

        events, _ = listed_outputs(case, manifest)
        frame = self._parquet(events, case.events_dir, events_struct())
        view = frame.select(*[f"`{c}`" for c in [*EVENT_COLUMNS, "date"]])
        if events and sum(p.stat().st_size for p in events) <= CACHE_EVENTS_MAX_BYTES:
            view = self._cache(view)
        view.createOrReplaceTempView("events")

    def _cache(self, frame: DataFrame) -> DataFrame:
        from pyspark import StorageLevel

        cached = frame.persist(StorageLevel.MEMORY_AND_DISK)
        self._cached.append(cached)
        return cached

    def _register_case_rest(self, case: Case, manifest: dict[str, Any]) -> None:
        from forensics.case import listed_outputs

        _, quarantine = listed_outputs(case, manifest)
        self._parquet(quarantine, case.quarantine_dir, quarantine_struct()).createOrReplaceTempView("quarantine")
        self._inputs(manifest).createOrReplaceTempView("inputs")
        self._runs(case).createOrReplaceTempView("runs")

    def _parquet(self, files: list[Path], base: Path, schema: str) -> DataFrame:
        """Exactly these files (never their folder), partition columns taken from their hive paths."""
        if not files:
            return self.spark.createDataFrame([], schema=schema)
        reader = self.spark.read.schema(schema).option("basePath", str(base.resolve()))
        try:
            return reader.parquet(*[str(p.resolve()) for p in files])
        except Exception as exc:
            raise ForensicsError(f"{base.parent}: the stored events cannot be read on Spark ({_first_line(exc)}); "
                                 "run forensics verify") from exc

    def _inputs(self, manifest: dict[str, Any]) -> DataFrame:
        from forensics.case import INPUT_COLUMNS

        # the same table Case.connect builds: a retracted input is no longer evidence of this case
        inputs = [i for i in manifest.get("inputs", []) if not i.get("retracted")]
        rows = [tuple(None if i.get(c) is None else str(i.get(c)) for c in INPUT_COLUMNS) for i in inputs]
        frame = self.spark.createDataFrame(rows, schema=", ".join(f"`{c}` STRING" for c in INPUT_COLUMNS))
        return frame.selectExpr(
            *[f"TRY_CAST(`{c}` AS BIGINT) AS `{c}`" if c in NUMERIC_INPUT_COLUMNS else f"`{c}`" for c in INPUT_COLUMNS]
        )

    def _runs(self, case: Case) -> DataFrame:
        from forensics.seal import read_custody

        entries = [
            {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in entry.items()}
            for entry in read_custody(case)
        ]
        rows = [tuple(None if e.get(k) is None else str(e.get(k)) for k in RUN_COLUMNS) for e in entries]
        return self.spark.createDataFrame(rows, schema=", ".join(f"`{k}` STRING" for k in RUN_COLUMNS))

    def _register_udfs(self, case: Case) -> None:
        """client_ip(ip, forwarded_for): the same Python function DuckDB calls (forensics/addresses.py)."""
        from pyspark.sql.functions import udf

        from forensics.addresses import client_address, trusted_proxies

        try:
            networks: Any = trusted_proxies(case.config)
        except ForensicsError as exc:  # fails only the queries that call client_ip, as on DuckDB
            networks = exc

        def client_ip(ip: str | None, forwarded_for: list[str | None] | None) -> str | None:
            if isinstance(networks, ForensicsError):
                raise networks
            return client_address(ip, forwarded_for, networks)

        self.spark.udf.register("client_ip", udf(client_ip, "string", useArrow=False))

    def _register_table(self, view: str, table: str) -> None:
        from forensics.engines.warehouse import describe_table, events_from_table

        frame = events_from_table(self.spark, table)
        frame.createOrReplaceTempView(view)
        self._source = describe_table(self.spark, table, frame)

    # ------------------------------------------------------------ the engine interface

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> Rows:
        # inputs/runs are fixed for the engine's life: a statement over them only (the runner asks for the input
        # paths once per check) is answered from memory instead of another Spark job
        key = None if _READS_DATA.search(sql) else (sql, repr(sorted((params or {}).items())))
        if key is not None and key in self._memo:
            columns, rows = self._memo[key]
            return Rows(list(columns), list(rows))
        result = self._run(sql, params)
        if key is not None:
            self._memo[key] = (list(result.columns), list(result.rows))
        return result

    def _run(self, sql: str, params: Mapping[str, Any] | None) -> Rows:
        spark_sql = to_spark(sql)
        if not self._udfs and self._case is not None and "CLIENT_IP(" in spark_sql.upper():
            self._register_udfs(self._case)  # a Python UDF starts Python workers: only for SQL that calls it
            self._udfs = True
        try:
            frame = self.spark.sql(spark_sql, args=spark_args(params or {}))
            columns = list(frame.columns)
            table = frame.toArrow()
        except Exception as exc:  # AnalysisException, Py4JJavaError, ...: one line, the engine's own words
            raise QueryError(f"Spark SQL failed: {_first_line(exc)}") from exc
        values = [column.to_pylist() for column in table.columns]
        return Rows(columns, [tuple(_plain(v) for v in row) for row in zip(*values, strict=True)])

    @contextmanager
    def timeout(self, seconds: float | None, what: str, hint: str = "(--timeout); narrow the query") -> Iterator[None]:
        """Cancel the statement's Spark jobs after `seconds` (the same --timeout DuckDB honours)."""
        if not seconds or seconds <= 0:
            yield
            return
        fired = threading.Event()
        context = self.spark.sparkContext

        def stop() -> None:
            fired.set()
            context.cancelJobGroup(self._tag)

        context.setJobGroup(self._tag, what, interruptOnCancel=True)
        timer = threading.Timer(seconds, stop)
        timer.daemon = True
        timer.start()
        try:
            yield
        except QueryError as exc:
            if fired.is_set():
                raise ForensicsError(f"{what}: stopped after {seconds:g} s {hint}") from exc
            raise
        finally:
            timer.cancel()

    def close(self) -> None:
        for view in VIEWS:
            self.spark.catalog.dropTempView(view)
        for frame in self._cached:  # the cache's memory and spill files go back to the session
            frame.unpersist()
        self._cached = []

    def source(self) -> dict[str, Any] | None:
        return self._source


def spark_args(params: Mapping[str, Any]) -> dict[str, Any]:
    """Bound parameters as Spark literal columns (lists as array(...) of text literals)."""
    from pyspark.sql import functions as F

    out: dict[str, Any] = {}
    for name, value in params.items():
        if isinstance(value, list | tuple):
            if not all(isinstance(v, str) for v in value):
                raise UsageError(f"parameter ${name}: only lists of text can be bound on Spark")
            # array() of no element is still accepted where ARRAY<STRING> is expected (a cast is not a literal)
            out[name] = F.array(*[F.lit(v) for v in value])
        elif isinstance(value, datetime) and value.tzinfo is None:
            raise UsageError(f"parameter ${name}: a time without a zone cannot be bound (times are UTC inside)")
        elif value is None:
            out[name] = F.lit(None).cast("string")
        elif isinstance(value, str | int | float | bool | datetime | date):
            out[name] = F.lit(value)
        else:
            out[name] = F.lit(str(value))
    return out


def _plain(value: Any) -> Any:
    """Arrow's Python values as DuckDB's: struct rows are dicts already; times stay tz-aware."""
    return value


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
