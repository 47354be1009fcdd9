"""One SparkSession per process, configured for forensics (UTC, quiet, small local shuffles).

pyspark is an optional extra (`pip install forensics[spark]`) and needs a Java runtime; both absences are
reported as a `ForensicsError` saying what to install, never as a Py4J traceback.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forensics.errors import ForensicsError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DEFAULT_MASTER = "local[2]"
# local mode: the default 200 shuffle partitions turn every GROUP BY over a small case into 200 tiny tasks
LOCAL_SHUFFLE_PARTITIONS = "4"

# errors only: Spark's INFO/WARN start-up chatter would bury the check's own output
LOG_CONFIG = Path(__file__).with_name("log4j2.properties")

_LOCK = threading.Lock()
_SESSION: dict[str, Any] = {}


def pyspark_missing() -> str | None:
    """Why Spark cannot start here (pyspark not installed, no JVM), or None when it can."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed: pip install 'forensics[spark]'"
    if java_executable() is None:
        return (
            "no Java runtime found for Spark (JAVA_HOME unset and no `java` on PATH): "
            "install a Java runtime, e.g. apt install default-jre-headless"
        )
    return None


def java_executable() -> str | None:
    """The `java` Spark will launch: $JAVA_HOME/bin/java when set, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = Path(home) / "bin" / "java"
        return str(candidate) if candidate.is_file() else None
    return shutil.which("java")


def get_spark(master: str = DEFAULT_MASTER, warehouse: str | Path | None = None) -> SparkSession:
    """The process's SparkSession, created on first call.

    Spark allows one active session per JVM, so a later call with another master gets the existing session
    (its master is in `spark.sparkContext.master`); `stop_spark()` ends it. `warehouse` sets
    `spark.sql.warehouse.dir` (the local catalog's tables) and only applies when the session is created.
    """
    with _LOCK:
        session = _SESSION.get("spark")
        if session is not None and not _stopped(session):
            return session
        missing = pyspark_missing()
        if missing:
            raise ForensicsError(missing)
        session = _build(master, warehouse)
        _SESSION["spark"] = session
        return session


def stop_spark() -> None:
    """Stop the process's session (tests and long-running callers that want the JVM's memory back)."""
    with _LOCK:
        session = _SESSION.pop("spark", None)
        if session is not None:
            session.stop()


def _stopped(session: Any) -> bool:
    try:
        return session.sparkContext._jsc is None
    except Exception:
        return True


def _build(master: str, warehouse: str | Path | None) -> SparkSession:
    from pyspark.sql import SparkSession

    # Python UDFs (client_ip) run in worker processes: in local mode, this interpreter (which has forensics)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    java_opts = f"-Duser.timezone=UTC -Dlog4j2.configurationFile=file:{LOG_CONFIG}"
    builder = (
        SparkSession.builder.master(master)
        .appName("forensics")
        # every timestamp inside is UTC; Spark's default would be the machine's zone
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.extraJavaOptions", java_opts)
        .config("spark.executor.extraJavaOptions", java_opts)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        # ANSI mode: an overflow or a bad cast is an error, as in DuckDB, not a silent NULL
        .config("spark.sql.ansi.enabled", "true")
        # json_valid() is translated to try_parse_json(): accept duplicate keys as DuckDB does
        .config("spark.sql.variant.allowDuplicateKeys", "true")
        .config("spark.sql.parquet.int96RebaseModeInRead", "CORRECTED")
        .config("spark.sql.parquet.datetimeRebaseModeInRead", "CORRECTED")
    )
    if master.startswith("local"):
        builder = builder.config("spark.sql.shuffle.partitions", LOCAL_SHUFFLE_PARTITIONS).config(
            "spark.default.parallelism", LOCAL_SHUFFLE_PARTITIONS
        )
    if warehouse is not None:
        builder = builder.config("spark.sql.warehouse.dir", str(Path(warehouse).resolve()))
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # Py4J/JVM start-up failures arrive as assorted exception types
        raise ForensicsError(
            f"Spark did not start (master {master}): {str(exc).strip().splitlines()[0] if str(exc).strip() else exc}; "
            "check the Java runtime (apt install default-jre-headless) and the --master URL"
        ) from exc
    session.sparkContext.setLogLevel("ERROR")
    return session
