"""The canonical schema (forensics/schema.py) as Spark/Hive types and DDL.

`forensics schema --dialect spark|hive` prints it, so a platform can create a warehouse table a pack runs
on (`forensics check --engine spark --table events=DB.TABLE`); the Spark engine reads the case's Parquet
with the same types. No JVM is needed here.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from forensics.errors import UsageError
from forensics.schema import EVENT_SCHEMA, PARTITION_KEYS, QUARANTINE_SCHEMA

DIALECTS = ("spark", "hive")


def spark_type(arrow_type: Any) -> str:
    """Spark SQL type of one canonical Arrow type (timestamps are UTC instants: Spark's TIMESTAMP)."""
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMP"
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return f"ARRAY<{spark_type(arrow_type.value_type)}>"
    if pa.types.is_int64(arrow_type):
        return "BIGINT"
    if pa.types.is_int32(arrow_type):
        return "INT"
    if pa.types.is_boolean(arrow_type):
        return "BOOLEAN"
    if pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type):
        return "BINARY"
    if pa.types.is_date(arrow_type):
        return "DATE"
    if pa.types.is_floating(arrow_type):
        return "DOUBLE"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "STRING"
    raise ValueError(f"no Spark type for {arrow_type}")  # a schema.py change must extend this table


def events_struct() -> str:
    """The events view's columns as a Spark DDL schema string (canonical columns, then `date`)."""
    cols = [f"`{f.name}` {spark_type(f.type)}" for f in EVENT_SCHEMA]
    return ", ".join([*cols, "`date` DATE"])


def quarantine_struct() -> str:
    return ", ".join(f"`{f.name}` {spark_type(f.type)}" for f in QUARANTINE_SCHEMA)


def schema_ddl(dialect: str, table: str = "forensics.events") -> str:
    """CREATE TABLE for the canonical events, partitioned like a case (source, date)."""
    if dialect not in DIALECTS:
        raise UsageError(f"unknown dialect {dialect!r}: use one of {', '.join(DIALECTS)}")
    width = max(len(f.name) for f in EVENT_SCHEMA) + 2
    lines = []
    for f in EVENT_SCHEMA:
        if dialect == "hive" and f.name in PARTITION_KEYS:
            continue  # Hive declares partition columns only in PARTITIONED BY
        not_null = "" if f.nullable or dialect == "hive" else " NOT NULL"
        lines.append(f"  {('`' + f.name + '`').ljust(width)} {spark_type(f.type)}{not_null}")
    lines.append(f"  {'`date`'.ljust(width)} DATE" if dialect == "spark" else "")
    body = ",\n".join(line for line in lines if line)
    head = (
        "-- forensics canonical events (forensics/schema.py); ts is a UTC instant, attrs is JSON text.\n"
        "-- Each row's row_digest is SHA-256 of its canonical text (docs/internals.md).\n"
    )
    if dialect == "spark":
        return f"{head}CREATE TABLE {table} (\n{body}\n)\nUSING PARQUET\nPARTITIONED BY (source, date);\n"
    parts = ",\n".join(
        f"  `{name}` {'DATE' if name == 'date' else spark_type(EVENT_SCHEMA.field(name).type)}"
        for name in PARTITION_KEYS
    )
    return f"{head}CREATE TABLE {table} (\n{body}\n)\nPARTITIONED BY (\n{parts}\n)\nSTORED AS PARQUET;\n"
