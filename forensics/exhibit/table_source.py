"""What the exhibit states when its events came from a warehouse table (`exhibit --engine spark --table events=T`).

The findings are then about the table as Spark read it at one time, not about sealed raw files: no custody
chain or raw-line hash backs its rows, and their row_digest values were computed by the table's producer. The
record (exhibit.json ``source``) keeps the values as read; the view words them in zh and en, every value taken
from the catalog, the table or the command line passing ``display_text`` (a catalog version or a master URL is
text someone else chose). The digest is described in words, as forensics.engines.warehouse computes it.
"""

from __future__ import annotations

from typing import Any, TypeGuard

from forensics.display import display_text

KIND = "warehouse_table"
# what verify compares between the exhibit and a re-read of the table: any change means the table changed
PINNED = ("digest", "rows", "rows_without_row_digest", "version")
DIGEST_ZH = (
    "摘要在 Spark 上计算：按 row_digest 前 3 位十六进制字符将各行分为 4096 组，每组内 row_digest 值排序后逐行"
    "（各以换行结尾）计算 SHA-256，再对各非空组的“组号:组摘要”按组号顺序计算 SHA-256。"
    "它固定的是表中 row_digest 值的集合，不从各列重新计算 row_digest。"
)
DIGEST_EN = (
    "The digest is computed on Spark: rows are grouped by the first 3 hex digits of row_digest (4096 groups); "
    "each group's row_digest values, sorted and each followed by a newline, are hashed with SHA-256; the digest "
    "is the SHA-256 of '<group>:<group digest>' lines of every non-empty group in group order. It pins the "
    "multiset of the table's row_digest values; it does not recompute row_digest from the columns."
)


def is_table(source: Any) -> TypeGuard[dict[str, Any]]:
    return isinstance(source, dict) and source.get("kind") == KIND


def source_record(pack: dict[str, Any]) -> dict[str, Any] | None:
    """exhibit.json ``source``: the table as described on Spark, with the engine that read it and when."""
    source = pack.get("source")
    return dict(source) if is_table(source) else None


def changed(recorded: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """What differs between the table the exhibit read and the table read now (empty: the same rows)."""
    return [f"{k} was {recorded.get(k)!r}, now {now.get(k)!r}" for k in PINNED if recorded.get(k) != now.get(k)]


def _shown(value: Any, limit: int = 120) -> str:
    return display_text("" if value is None else str(value), limit=limit)


def source_view(record: dict[str, Any]) -> dict[str, Any] | None:
    """The words both renderers print: one summary line near the verdicts and the basis paragraphs."""
    source = record.get("source")
    if not is_table(source):
        return None
    table = _shown(source.get("table"))
    rows = int(source.get("rows") or 0)
    unsigned = int(source.get("rows_without_row_digest") or 0)
    digest = _shown(source.get("digest"), limit=80)
    version = source.get("version")
    version_zh = f"目录版本 {_shown(version)}" if version is not None else "该表的目录不保存版本"
    version_en = f"catalog version {_shown(version)}" if version is not None else "the catalog keeps no version"
    spark, master, at = _shown(source.get("spark_version")), _shown(source.get("master")), _shown(source.get("read_at"))
    summary = {
        "zh": (
            f"本证据的结论依据数据仓库表 {table}（{version_zh}，{rows:,} 行，摘要 {digest}），"
            f"于 {at} 读取；不依据经封存的原始日志文件。"
        ),
        "en": (
            f"The findings are based on the warehouse table {table} ({version_en}, {rows:,} rows, digest {digest}) "
            f"as read at {at}, not on sealed raw log files."
        ),
    }
    basis = [
        {
            "zh": f"数据来源：数据仓库表 {table}；{version_zh}；共 {rows:,} 行，其中 {unsigned:,} 行没有 row_digest。",
            "en": (
                f"Source: warehouse table {table}; {version_en}; {rows:,} rows, {unsigned:,} of them without "
                "row_digest."
            ),
        },
        {
            "zh": f"读取引擎：Apache Spark {spark}（master {master}），读取时间 {at}。表摘要：{digest}。",
            "en": f"Read by Apache Spark {spark} (master {master}) at {at}. Table digest: {digest}.",
        },
        {"zh": DIGEST_ZH, "en": DIGEST_EN},
        {
            "zh": (
                "各项结论针对的是该表在上述时间被读取时的内容，而非经封存的原始日志文件：这些行没有保管链"
                "记录，也没有原始日志行的哈希值作为支撑；row_digest 值由该表的生成方计算，本工具未从原始日志"
                "重新计算。核验者可用 forensics verify --engine spark 重新读取该表，比较摘要、行数与版本。"
            ),
            "en": (
                "The verdicts are about the table as read at that time, not about sealed raw log files: no "
                "custody chain or raw-line hashes back its rows, and its row_digest values were computed by the "
                "table's producer, not re-derived here from raw logs. A verifier re-reads the table with "
                "forensics verify --engine spark and compares its digest, row count and version."
            ),
        },
    ]
    return {"summary": summary, "basis": basis}


def summary_line(record: dict[str, Any]) -> str | None:
    """The terminal line `forensics exhibit` prints first for such an exhibit."""
    source = record.get("source")
    if not is_table(source):
        return None
    version = source.get("version")
    return (
        f"source: warehouse table {_shown(source.get('table'))} "
        f"({'version ' + _shown(version) if version is not None else 'no catalog version'}, "
        f"{source.get('rows')} rows, digest {_shown(source.get('digest'), 80)}), not sealed raw files"
    )
