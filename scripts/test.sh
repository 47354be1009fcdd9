#!/usr/bin/env bash
# The whole test command: set-up, lint, types, tests. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --spark  # Java + pyspark: the Spark differential tests run too
.venv/bin/ruff check forensics tests bench
.venv/bin/mypy
# two workers, whole files per worker (module fixtures are built once); a file or -k still works as arguments.
# tests/conftest.py keeps all tests/test_spark_*.py on one worker: one JVM, one Spark session for them all.
.venv/bin/pytest -n 2 --dist loadfile "$@"
