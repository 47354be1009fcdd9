"""A warehouse table in the canonical schema as the `events` view (`check --engine spark --table events=DB.TABLE`).

A platform's ETL may already hold its logs in the canonical schema (`forensics schema --dialect spark`).
The check then runs on that table instead of a case's sealed files, and says so: the JSON's and custody
entry's `source` names the table, the catalog's version of it when the catalog keeps one (Delta history,
Iceberg snapshots), its row count and a digest computed on Spark:

    bucket(row)   = the first 3 hex digits of row_digest (4096 buckets)
    bucket_digest = SHA-256 of the bucket's row_digest values, sorted, each followed by "\\n"
    digest        = SHA-256 of "<bucket>:<bucket_digest>\\n" for every non-empty bucket, in bucket order

It is a digest of the multiset of the table's own `row_digest` values (order-free, computed in parallel,
never collecting the table on the driver); it does not re-derive them from the columns, so it pins the
rows only as far as the table's producer computed row_digest honestly. A table has no raw files and no
custody chain: the verdicts are about the table as read at that time.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any

from forensics.engines.ddl import spark_type
from forensics.errors import ForensicsError, UsageError
from forensics.schema import EVENT_SCHEMA

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}")
DIGEST_METHOD = "sha256 of 4096 bucket digests over sorted row_digest values (forensics/engines/warehouse.py)"
BUCKET_SQL = """
SELECT substr(row_digest, 1, 3) AS bucket,
       sha2(concat(array_join(array_sort(collect_list(row_digest)), '\\n'), '\\n'), 256) AS digest
FROM {view}
WHERE row_digest IS NOT NULL
GROUP BY substr(row_digest, 1, 3)
"""


def checked_name(table: str) -> str:
    """A table name as [catalog.]db.table of plain identifiers (it is written into SQL text)."""
    if not TABLE_NAME.fullmatch(table):
        raise UsageError(f"--table events={table}: give [catalog.]database.table of letters, digits and _")
    return table


def events_from_table(spark: SparkSession, table: str) -> DataFrame:
    """The table's canonical columns with their canonical types, plus `date` (the UTC date of ts if absent)."""
    name = checked_name(table)
    try:
        frame = spark.table(name)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ForensicsError(f"--table events={name}: Spark cannot read it: {first}") from exc
    present = {c.lower(): c for c in frame.columns}
    missing = [f.name for f in EVENT_SCHEMA if f.name.lower() not in present]
    if missing:
        raise ForensicsError(
            f"--table events={name}: not in the canonical schema, missing column(s) {', '.join(missing)} "
            "(see forensics schema --dialect spark)"
        )
    columns = [f"CAST(`{present[f.name.lower()]}` AS {spark_type(f.type)}) AS `{f.name}`" for f in EVENT_SCHEMA]
    date = f"CAST(`{present['date']}` AS DATE)" if "date" in present else "CAST(`ts` AS DATE)"
    try:
        return frame.selectExpr(*columns, f"{date} AS `date`")
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ForensicsError(f"--table events={name}: a column has the wrong type: {first}") from exc


def describe_table(spark: SparkSession, table: str, frame: DataFrame) -> dict[str, Any]:
    """What the check read: table, catalog version (or None), row count, digest (see the module docstring)."""
    name = checked_name(table)
    frame.createOrReplaceTempView("_forensics_source")
    rows = int(frame.count())
    buckets = spark.sql(BUCKET_SQL.format(view="_forensics_source")).collect()
    unsigned = int(frame.where("row_digest IS NULL").count())
    spark.catalog.dropTempView("_forensics_source")
    text = "".join(f"{b['bucket']}:{b['digest']}\n" for b in sorted(buckets, key=lambda b: str(b["bucket"])))
    return {
        "kind": "warehouse_table",
        "table": name,
        "version": table_version(spark, name),
        "rows": rows,
        "rows_without_row_digest": unsigned,
        "digest": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "digest_method": DIGEST_METHOD,
    }


def table_version(spark: SparkSession, name: str) -> str | None:
    """The catalog's version of the table when it keeps one (Delta: history version; Iceberg: snapshot id)."""
    for sql, column in (
        (f"DESCRIBE HISTORY {name} LIMIT 1", "version"),
        (f"SELECT snapshot_id FROM {name}.snapshots ORDER BY committed_at DESC LIMIT 1", "snapshot_id"),
    ):
        try:
            found = spark.sql(sql).collect()
        except Exception:  # plain Parquet/Hive tables have neither: no version to state
            continue
        if found:
            return str(found[0][column])
    return None
