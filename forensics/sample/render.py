"""Rendering: records -> the exact lines each system writes; quirks: the malformed lines real systems produce."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import polars as pl

from forensics.errors import UsageError
from forensics.sample.constants import (
    CSV_HEADER,
    DAY_US,
    GAP_END,
    GAP_NODE,
    GAP_START,
    HOUR_US,
    OPEN_API_SKEW_S,
    SPAN_START,
    US,
    ZONE,
    _us,
)

# Rendering: records -> the exact lines each system writes, with file, line kind and ground-truth tags

LINE_SCHEMA: Final[dict[str, Any]] = {
    "file": pl.String,
    "ts": pl.Int64,  # as the system logged it (UTC µs): orders lines within a file
    "tie": pl.Int64,
    "line": pl.String,
    "kind": pl.String,  # event | quarantine | blank | structural
    "reason": pl.String,  # expected quarantine reason keyword
    "touch": pl.String,
    "tag": pl.String,
}
PLACEHOLDER: Final[str] = "\x00QUIRK\x00"  # swapped for raw (non-UTF-8) bytes when the file is written
SNOWFLAKE_EPOCH_MS: Final[int] = 1_577_836_800_000  # 2020-01-01T00:00:00Z


def _local(ts: pl.Expr) -> pl.Expr:
    # Asia/Shanghai has been UTC+8 without DST since 1991, so a fixed shift is exact and much faster.
    return pl.from_epoch(ts, time_unit="us").dt.offset_by("8h")


def _jstr(name: str) -> pl.Expr:
    return pl.when(pl.col(name).is_null()).then(pl.lit("null")).otherwise(pl.lit('"') + pl.col(name) + pl.lit('"'))


def _with_rank(frame: pl.DataFrame, by: str, bases: dict[str, int], name: str) -> pl.DataFrame:
    """Per-writer sequence numbers in time order (the counter each node keeps)."""
    return (
        frame.with_row_index("uid")
        .with_columns(pl.col("uid").cast(pl.Int64))
        .sort([pl.col(by).cast(pl.Enum(list(bases))), "ts", "uid"])  # Enum: sorts as integers
        .with_columns(
            (pl.col(by).replace_strict(bases, return_dtype=pl.Int64) + pl.int_range(pl.len()).over(by)).alias(name)
        )
    )


def _in_gap(host: str) -> pl.Expr:
    return (pl.col(host) == GAP_NODE) & (pl.col("ts") >= _us(GAP_START)) & (pl.col("ts") < _us(GAP_END))


def _mb_lines(frame: pl.DataFrame) -> pl.DataFrame:
    """Numbered back-office records (any subset of days) -> their JSON lines."""
    node_num = pl.col("node").str.slice(3, 2).cast(pl.Int64)
    log_id = (pl.col("ts") // 1000 - SNOWFLAKE_EPOCH_MS) * (1 << 22) + node_num * (1 << 12) + pl.col("seq") % 4096
    line = pl.concat_str(
        [
            pl.lit('{"log_id":"'),
            log_id.cast(pl.String),
            pl.lit('","seq":'),
            pl.col("seq").cast(pl.String),
            pl.lit(',"node":"'),
            pl.col("node"),
            pl.lit('","shop_id":"'),
            pl.col("shop_id"),
            pl.lit('","account":"'),
            pl.col("account"),
            pl.lit('","account_type":"'),
            pl.col("account_type"),
            pl.lit('","op_code":"'),
            pl.col("op_code"),
            pl.lit('","order_ids":'),
            pl.col("order_ids"),
            pl.lit(',"desensitized":'),
            pl.col("desensitized").cast(pl.String).fill_null("null"),
            pl.lit(',"export_task_id":'),
            _jstr("export_task_id"),
            pl.lit(',"export_filter":'),
            pl.col("export_filter").fill_null("null"),
            pl.lit(',"record_count":'),
            pl.col("record_count").cast(pl.String).fill_null("null"),
            pl.lit(',"client_ip":"'),
            pl.col("client_ip"),
            pl.lit('","terminal":"'),
            pl.col("terminal"),
            pl.lit('","user_agent":"'),
            pl.col("user_agent"),
            pl.lit('","request_id":'),
            _jstr("request_id"),
            pl.lit(',"result":"'),
            pl.col("result"),
            pl.lit('","op_time":"'),
            _local(pl.col("ts")).dt.strftime("%Y-%m-%d %H:%M:%S%.3f"),
            pl.lit('"}'),
        ]
    )
    file = pl.concat_str(
        [
            pl.lit("merchant_backend/"),
            pl.col("node"),
            pl.lit("/audit-"),
            _local(pl.col("ts")).dt.strftime("%Y%m%d"),
            pl.lit(".jsonl.gz"),
        ]
    )
    return _lines(frame, file, line)


def _lines(frame: pl.DataFrame, file: pl.Expr, line: pl.Expr, ts: pl.Expr | None = None) -> pl.DataFrame:
    return frame.select(
        file=file,
        ts=ts if ts is not None else pl.col("ts"),
        tie=pl.col("uid") * 2 if "uid" in frame.columns else pl.int_range(pl.len(), dtype=pl.Int64) * 2,
        line=line,
        kind=pl.lit("event"),
        reason=pl.lit(None, dtype=pl.String),
        touch=pl.col("touch") if "touch" in frame.columns else pl.lit(None, dtype=pl.String),
        tag=pl.col("tag"),
    ).cast(LINE_SCHEMA)  # type: ignore[arg-type]


def _gap_jump(frame: pl.DataFrame, host: str, seq: str) -> dict[str, Any]:
    """What the gap looks like from outside: the last record before it and the first after, with their seqs."""
    node = frame.filter(pl.col(host) == GAP_NODE)
    before = node.filter(pl.col("ts") < _us(GAP_START)).tail(1)
    after = node.filter(pl.col("ts") >= _us(GAP_END)).head(1)
    return {
        "last_before": _iso(int(before["ts"][0])) if before.height else None,
        "seq_before": int(before[seq][0]) if before.height else None,
        "first_after": _iso(int(after["ts"][0])) if after.height else None,
        "seq_after": int(after[seq][0]) if after.height else None,
        "missing_records": int(node.filter(_in_gap(host)).height),
    }


def _iso(ts_us: int) -> str:
    return datetime.fromtimestamp(ts_us / US, tz=ZONE).isoformat(timespec="milliseconds")


API_LOGGED: Final[pl.Expr] = pl.col("ts") + pl.col("req_ms") * 1000 + OPEN_API_SKEW_S * US  # nginx logs at request end


def _api_lines(frame: pl.DataFrame) -> pl.DataFrame:
    """Numbered gateway records (any subset of days) -> their access-log lines."""
    logged = API_LOGGED
    stamp = _local(pl.col("ts")).dt.strftime("%Y-%m-%d %H:%M:%S").str.replace_all(" ", "+").str.replace_all(":", "%3A")
    args = pl.concat_str(
        [
            pl.lit("method="),
            pl.col("method"),
            pl.lit("&app_key="),
            pl.col("app_key"),
            pl.lit("&timestamp="),
            stamp,
            pl.lit("&format=json&v=2.0&sign_method=hmac-sha256"),
            pl.when(pl.col("order").is_not_null()).then(pl.lit("&tid=") + pl.col("order")).otherwise(pl.lit("")),
            pl.when(pl.col("method") == "taobao.logistics.online.send")
            .then(pl.lit("&company_code=ZTO&out_sid=") + pl.col("waybill"))
            .otherwise(pl.lit("")),
            pl.lit("&sign="),
            pl.col("request_id").str.to_uppercase(),
        ]
    )
    seconds = pl.col("req_ms") // 1000
    millis = (pl.col("req_ms") % 1000).cast(pl.String).str.pad_start(3, "0")
    line = pl.concat_str(
        [
            pl.col("ip"),
            pl.lit(" - - ["),
            _local(logged).dt.strftime("%d/%b/%Y:%H:%M:%S"),
            pl.lit(' +0800] "GET /router/rest?'),
            args,
            pl.lit(' HTTP/1.1" '),
            pl.col("status").cast(pl.String),
            pl.lit(" "),
            pl.col("bytes").cast(pl.String),
            pl.lit(' "-" "'),
            pl.col("ua"),
            pl.lit('" '),
            seconds.cast(pl.String),
            pl.lit("."),
            millis,
            pl.lit(" "),
            pl.col("app_key"),
            pl.lit(" "),
            pl.col("request_id"),
            pl.lit(" "),
            pl.col("node"),
        ]
    )
    file = pl.concat_str(
        [
            pl.lit("open_api/"),
            pl.col("node"),
            pl.lit("/access.log-"),
            _local(logged).dt.strftime("%Y%m%d"),
            pl.lit(".gz"),
        ]
    )
    # nginx second resolution: lines are written in order of the logged second, ties in arrival order
    return _lines(frame, file, line, ts=(logged // US) * US)


def _lg_lines(frame: pl.DataFrame) -> pl.DataFrame:
    """Numbered print records (any subset of the span) -> their CSV rows, without the header."""
    stamp = pl.from_epoch(pl.col("ts"), time_unit="us")
    line = pl.concat_str(
        [
            stamp.dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            pl.col("waybill"),
            pl.col("order"),
            pl.col("shop_id"),
            pl.col("terminal"),
            pl.col("carrier"),
            pl.col("name_masked"),
            pl.col("phone_masked"),
            pl.col("count").cast(pl.String),
        ],
        separator=",",
    )
    file = pl.concat_str([pl.lit("logistics/waybill_print_"), stamp.dt.strftime("%Y%m%d"), pl.lit(".csv")])
    return _lines(frame, file, line)


def _csv_headers(lines: pl.DataFrame) -> pl.DataFrame:
    """The header line of every CSV file among `lines` (ordered before every row: ts and tie -1)."""
    headers = (
        lines.select("file")
        .unique()
        .sort("file")
        .with_columns(
            ts=pl.lit(-1, dtype=pl.Int64),
            tie=pl.lit(-1, dtype=pl.Int64),
            line=pl.lit(CSV_HEADER),
            kind=pl.lit("structural"),
            reason=pl.lit(None, dtype=pl.String),
            touch=pl.lit(None, dtype=pl.String),
            tag=pl.lit("csv-header"),
        )
    )
    return headers.cast(LINE_SCHEMA)  # type: ignore[arg-type]


def _render_sec(sec: pl.DataFrame, bases: dict[str, int], variant: str) -> tuple[pl.DataFrame, dict[str, Any]]:
    frame = _with_rank(sec, "host", bases, "seq")
    gap_info: dict[str, Any] = {}
    if variant == "gap":
        gap_info = _gap_jump(frame, "host", "seq")
        frame = frame.filter(~_in_gap("host"))
    line = pl.concat_str(
        [
            pl.lit("<"),
            pl.col("pri").cast(pl.String),
            pl.lit(">1 "),
            _local(pl.col("ts")).dt.strftime("%Y-%m-%dT%H:%M:%S%.3f"),
            pl.lit("+08:00 "),
            pl.col("host"),
            pl.lit(" "),
            pl.col("app"),
            pl.lit(" "),
            pl.col("procid"),
            pl.lit(" "),
            pl.col("msgid"),
            pl.lit(' [meta sequenceId="'),
            pl.col("seq").cast(pl.String),
            pl.lit('"]'),
            pl.col("sd"),
            pl.lit(" "),
            pl.col("msg"),
        ]
    )
    file = pl.concat_str([pl.lit("security/syslog-"), _local(pl.col("ts")).dt.strftime("%Y%m%d"), pl.lit(".log.gz")])
    return _lines(frame, file, line), gap_info


# --------------------------------------------------------------------------------------------------
# Quirks: the malformed lines real systems produce, all on the first day (a baseline day, long before the window)


@dataclass
class Quirks:
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # file -> extra lines
    replace: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)  # file -> (tie, values)
    raw: dict[str, dict[str, bytes]] = field(default_factory=dict)  # file -> placeholder -> bytes written instead

    def add(self, twin: dict[str, Any], **values: Any) -> None:
        self.rows.setdefault(twin["file"], []).append(twin | values)

    def change(self, row: dict[str, Any], **values: Any) -> None:
        self.replace.setdefault(row["file"], []).append((row["tie"], values))


def _quirk_target(lines: pl.DataFrame, prefix: str, frac: float) -> dict[str, Any]:
    """An ordinary event line of a source on the first day of the span, well before the window opens."""
    pool = (
        lines.filter((pl.col("ts") < _us(SPAN_START) + DAY_US) & (pl.col("ts") >= _us(SPAN_START) + HOUR_US))
        .filter(pl.col("file").str.starts_with(prefix) & (pl.col("kind") == "event") & pl.col("touch").is_null())
        .sort(["file", "ts", "tie"])
    )
    plain = pool.filter(pl.col("tag").is_null())
    pool = plain if plain.height else pool.filter(pl.col("tag") == "control")
    if not pool.height:
        raise UsageError(f"too few events to place the malformed-line samples in {prefix}; use more --events")
    row: dict[str, Any] = pool.row(int(pool.height * frac), named=True)
    return row


def _quirks_mb(lines: pl.DataFrame, q: Quirks) -> None:
    """Back-office quirks, one per node file on the first day (called with the lines of the chunk holding them)."""
    if lines.filter(pl.col("file").str.starts_with("merchant_backend/mb-01/")).height:
        # A writer killed mid-line, then the record written again in full on restart (same seq: no gap).
        twin = _quirk_target(lines, "merchant_backend/mb-01/", 0.4)
        q.add(
            twin,
            line=twin["line"][: len(twin["line"]) * 3 // 5],
            tie=twin["tie"] - 1,
            kind="quarantine",
            reason="JSON",
            tag="quirk-truncated-json",
        )
    if lines.filter(pl.col("file").str.starts_with("merchant_backend/mb-02/")).height:
        blank = _quirk_target(lines, "merchant_backend/mb-02/", 0.5)
        q.add(blank, line="", tie=blank["tie"] + 1, kind="blank", reason="blank", tag="quirk-blank-line")
    if lines.filter(pl.col("file").str.starts_with("merchant_backend/mb-03/")).height:
        # A legacy component wrote one record's account name in GBK into the UTF-8 log: the record is lost.
        bad = _quirk_target(lines, "merchant_backend/mb-03/", 0.6)
        account = json.loads(bad["line"])["account"]
        q.raw[bad["file"]] = {PLACEHOLDER: bad["line"].encode().replace(account.encode(), account.encode("gbk"))}
        q.change(bad, line=PLACEHOLDER, kind="quarantine", reason="invalid utf-8", tag="quirk-invalid-utf8")


def _quirks_api(lines: pl.DataFrame, q: Quirks) -> None:
    # nginx ran out of disk mid-write: the line stops inside the user agent.
    cut = _quirk_target(lines, "open_api/api-02/", 0.5)
    stop = cut["line"].index('"-" "') + 14
    q.change(cut, line=cut["line"][:stop], kind="quarantine", reason="truncated", tag="quirk-cut-user-agent")


def _quirks_lg(lines: pl.DataFrame, q: Quirks) -> None:
    # A CSV row exported with one cell missing (the print terminal was empty and the exporter skipped it).
    short = _quirk_target(lines, "logistics/", 0.5)
    cells = short["line"].split(",")
    q.change(
        short, line=",".join(cells[:4] + cells[5:]), kind="quarantine", reason="cells", tag="quirk-csv-missing-cell"
    )


def _quirks_sec(lines: pl.DataFrame, q: Quirks) -> None:
    # A DLP alert whose message held a line break: the second physical line is no syslog record.
    alert = lines.filter(pl.col("tag") == "alert-dlp-continuation").row(0, named=True)
    q.add(
        alert,
        line="  matched fields: receiver_name,receiver_phone,receiver_address (sample withheld)",
        tie=alert["tie"] + 1,
        kind="quarantine",
        reason="continuation",
        tag="quirk-syslog-continuation",
    )
