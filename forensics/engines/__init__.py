"""Where pack and verdict SQL runs: DuckDB (default, in-process) or Apache Spark (optional extra).

The pack SQL is written once in DuckDB's dialect; `forensics.engines.transpile` turns it into Spark SQL with
sqlglot. Importing this package never imports pyspark: `spark_session.get_spark` does, on first use, and a
missing pyspark or JVM becomes one clear `ForensicsError`.
"""
