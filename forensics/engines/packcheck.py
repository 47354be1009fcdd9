"""`forensics packs test`: every check of a pack must translate to Spark SQL (and, with a JVM, analyse).

The translation (forensics.engines.transpile) needs no JVM, so it always runs: a check whose SQL cannot be
written in Spark SQL is refused with its file:line before any case meets it. When pyspark and a Java
runtime are present, each translated statement is also analysed by Spark (`spark.sql(...)` resolves
names, types and functions eagerly, without running anything) against empty views of the canonical
schema, with placeholder values of the parameters' types bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from forensics.engines.transpile import TranspileError, check_spark_sql

if TYPE_CHECKING:
    from forensics.packs import Check, Pack

PLACEHOLDER_TIME = datetime(2024, 1, 1, tzinfo=UTC)
# values of the parameters the runner computes (forensics.packs.RUNNER_PARAMS), by type
RUNNER_VALUES: dict[str, Any] = {
    "padded_start": PLACEHOLDER_TIME,
    "padded_end": PLACEHOLDER_TIME,
    "skew_seconds": 0.0,
    "expected_sources": ["s"],
    "heartbeat_sources": ["s"],
    "expected_nodes": ["s/n"],
}
TYPE_VALUES: dict[str, Any] = {
    "string": "x",
    "strings": ["x"],
    "timestamp": PLACEHOLDER_TIME,
    "duration": 60.0,
    "integer": 1,
    "float": 1.0,
    "boolean": True,
}


@dataclass(frozen=True)
class SparkCheck:
    check_id: str
    where: str  # file (and line when refused)
    ok: bool
    detail: str  # "translated", "translated and analysed by Spark", or the refusal


def spark_check_pack(pack: Pack, analyse: bool | None = None) -> list[SparkCheck]:
    """Translate every check; analyse on Spark when `analyse` (None: when pyspark and Java are present)."""
    from forensics.engines.spark_session import pyspark_missing

    if analyse is None:
        analyse = pyspark_missing() is None
    translated: list[tuple[Check, str | None, SparkCheck]] = []
    for check in pack.checks:
        text = check.path.read_text(encoding="utf-8")
        try:
            spark_sql = check_spark_sql(check.path, text, check.sql)
            translated.append((check, spark_sql, SparkCheck(check.id, str(check.path), True, "translated")))
        except TranspileError as exc:
            translated.append((check, None, SparkCheck(check.id, str(check.path), False, str(exc))))
    if not analyse:
        return [r for _, _, r in translated]
    return _analyse(pack, translated)


def _analyse(pack: Pack, translated: list[tuple[Check, str | None, SparkCheck]]) -> list[SparkCheck]:
    from forensics.engines.ddl import events_struct, quarantine_struct
    from forensics.engines.spark import RUN_COLUMNS, spark_args
    from forensics.engines.spark_session import get_spark

    session = get_spark().newSession()
    session.createDataFrame([], schema=events_struct()).createOrReplaceTempView("events")
    session.createDataFrame([], schema=quarantine_struct()).createOrReplaceTempView("quarantine")
    session.createDataFrame([], schema="sha256 STRING, path STRING").createOrReplaceTempView("inputs")
    session.createDataFrame([], schema=", ".join(f"`{c}` STRING" for c in RUN_COLUMNS)).createOrReplaceTempView(
        "runs"
    )
    out: list[SparkCheck] = []
    for check, spark_sql, result in translated:
        if spark_sql is None:
            out.append(result)
            continue
        values = {name: _placeholder(pack, name) for name in check.params}
        try:
            session.sql(spark_sql, args=spark_args(values))  # analysis is eager; nothing runs
        except Exception as exc:  # AnalysisException, ParseException: Spark's own words, first line
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            out.append(SparkCheck(check.id, f"{check.path}:1", False, f"{check.path}:1: Spark refuses it: {first}"))
            continue
        out.append(SparkCheck(check.id, str(check.path), True, "translated and analysed by Spark"))
    return out


def _placeholder(pack: Pack, name: str) -> Any:
    if name in RUNNER_VALUES:
        return RUNNER_VALUES[name]
    param = pack.params.get(name)
    if param is None:  # $<role>_sources and other lists the runner binds
        return ["s"]
    return TYPE_VALUES[param.type]
