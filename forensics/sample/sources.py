"""Background records of the four sources: merchant back office, open-API gateway, logistics, security."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final, cast

import numpy as np
import polars as pl
import pyarrow as pa

from forensics.sample.constants import (
    ALERT_HOST,
    API_NODES,
    DAY_US,
    HOUR_US,
    MB_NODES,
    NODE_SYSTEM,
    SPAN_DAYS,
    SPAN_START,
    US,
    _us,
)
from forensics.sample.world import (
    KEY,
    T0,
    World,
    _order_str,
    _pick_orders,
)

# merchant_backend: the back office's audit log (JSON lines, local time without offset)

MB_SCHEMA: Final[dict[str, Any]] = {
    "ts": pl.Int64,
    "node": pl.String,
    "shop_id": pl.String,
    "account": pl.String,
    "account_type": pl.String,
    "op_code": pl.String,
    "order_ids": pl.String,  # JSON array text
    "desensitized": pl.Boolean,
    "export_task_id": pl.String,
    "export_filter": pl.String,  # JSON object text
    "record_count": pl.Int64,
    "client_ip": pl.String,
    "terminal": pl.String,
    "user_agent": pl.String,
    "request_id": pl.String,
    "result": pl.String,
    "touch": pl.String,  # canonical action when the row touches the case order (ground truth only)
    "tag": pl.String,  # scenario label (ground truth only)
}

MB_OPS: Final[tuple[tuple[str, float], ...]] = (
    ("LOGIN", 6.0),
    ("LOGOUT", 3.0),
    ("ORDER_LIST_QUERY", 26.0),
    ("ORDER_DETAIL_VIEW", 28.0),
    ("RECEIVER_INFO_DECRYPT", 6.0),
    ("WAYBILL_PRINT_REQUEST", 8.0),
    ("ITEM_EDIT", 10.0),
    ("REFUND_AGREE", 5.0),
    ("SHOP_CONFIG_UPDATE", 0.7),
    ("PERMISSION_GRANT", 0.3),
)
TERMINALS: Final[tuple[str, ...]] = ("千牛PC", "WEB", "千牛APP")
TERMINAL_UA: Final[tuple[str, ...]] = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) AliWorkBench/9.08.05N",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; V2227A) AppleWebKit/537.36 (KHTML, like Gecko) AliApp(QN/9.8.0) WindVane/8.5.0",
)
CARRIERS: Final[tuple[str, ...]] = (
    "中通快递",
    "圆通速递",
    "韵达快递",
    "申通快递",
    "极兔速递",
    "顺丰速运",
    "邮政快递包裹",
)
SURNAMES: Final[str] = "张王李赵刘陈杨黄周吴徐孙马朱胡郭何林罗高"


MB_LOGIN: Final[int] = [c for c, _ in MB_OPS].index("LOGIN")
MB_PRINT: Final[int] = [c for c, _ in MB_OPS].index("WAYBILL_PRINT_REQUEST")


def _mb_background(
    world: World, rng: np.random.Generator, acc: np.ndarray, op: np.ndarray, ts: np.ndarray
) -> tuple[pl.DataFrame, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Ordinary back-office activity (lists, views, decrypts, prints, edits, logins) of the accounts `acc` at
    `ts` doing `op` (chunks.day_counts: staff start their day in the morning, so logins are never at night).

    Also returns the print requests' (ts, shop, order): the logistics log prints what they asked for."""
    codes = [c for c, _ in MB_OPS]
    n = len(acc)
    shop = np.searchsorted(world.acc_start, acc, side="right") - 1
    is_login = op == MB_LOGIN
    order = _pick_orders(world, rng, shop, ts)
    terminal = rng.choice(3, n, p=[0.55, 0.25, 0.2])
    failed = is_login & (rng.random(n) < 0.08)
    frame = pl.DataFrame(
        {
            "ts": ts,
            "node": pl.Series(MB_NODES).gather(rng.integers(0, len(MB_NODES), n)),
            "shop_id": world.shop_id.gather(shop),
            "account": world.acc_name.gather(acc),
            "account_type": pl.Series(["main", "sub"]).gather(world.acc_sub[acc].astype(np.int64)),
            "op_code": pl.Series(codes).gather(op),
            "order": _order_str(world, order),
            "client_ip": pl.select(
                pl.when(pl.Series(terminal) == 2)
                .then(world.acc_mobile_ip.gather(acc))
                .otherwise(world.acc_home_ip.gather(acc))
            ).to_series(),
            "terminal": pl.Series(TERMINALS).gather(terminal),
            "user_agent": pl.Series(TERMINAL_UA).gather(terminal),
            "failed": failed,
            "k": rng.integers(1, 11, n),  # a list page of up to 10 orders
        }
    )
    frame = _mb_with_list_orders(world, frame, shop, ts, op == codes.index("ORDER_LIST_QUERY"))
    prints = (op == MB_PRINT) & (order >= 0)  # a print request without an order falls back to a list query
    return _mb_finish_background(frame), (ts[prints], shop[prints], order[prints])


def _exporter_count(world: World) -> int:
    return int(np.clip(len(world.acc_name) // 50, 8, 2000))


def _mb_exports(world: World, rng: np.random.Generator) -> pl.DataFrame:
    """Routine exports: a few accounts export the last days' orders every morning (fulfilment spreadsheets).

    Daily, at a steady size, on every node in turn, so they are positive controls for export logging and never
    a spike against their own baseline. The case shop is not among them: its exports are scripted.
    """
    n_acc = len(world.acc_name)
    count = _exporter_count(world)
    first_other = int(world.acc_count[0])
    exporters = np.sort(rng.choice(np.arange(first_other, n_acc), count, replace=False))
    size = rng.integers(5, 1500, count)
    masked = rng.random(count) < 0.85
    status = rng.integers(0, 3, count)
    e = np.repeat(np.arange(count), SPAN_DAYS)
    day = np.tile(np.arange(SPAN_DAYS), count)
    ts = _us(SPAN_START) + day * DAY_US + (8 * HOUR_US) + rng.integers(0, 3 * HOUR_US, len(e))
    local_day = pl.Series([(SPAN_START + timedelta(days=int(d))).date() for d in range(SPAN_DAYS)]).gather(day)
    records = (size[e] * rng.uniform(0.95, 1.05, len(e))).astype(np.int64) + 1
    acc = exporters[e]
    shop = np.searchsorted(world.acc_start, acc, side="right") - 1
    base = pl.DataFrame(
        {
            "ts": ts,
            "node": pl.Series(MB_NODES).gather((e + day) % len(MB_NODES)),
            "shop_id": world.shop_id.gather(shop),
            "account": world.acc_name.gather(acc),
            "account_type": pl.Series(["main", "sub"]).gather(world.acc_sub[acc].astype(np.int64)),
            "desensitized": masked[e],
            "task": 70_000_000 + np.arange(len(e)) * 7 + 11,
            "day": local_day,
            "status": pl.Series(["ALL", "WAIT_SELLER_SEND_GOODS", "TRADE_FINISHED"]).gather(status[e]),
            "record_count": records,
            "client_ip": world.acc_home_ip.gather(acc),
        }
    )
    creates = base.select(
        "ts",
        "node",
        "shop_id",
        "account",
        "account_type",
        op_code=pl.lit("EXPORT_TASK_CREATE"),
        order_ids=pl.lit("[]"),
        desensitized="desensitized",
        export_task_id=pl.lit("EXP") + pl.col("task").cast(pl.String),
        export_filter=pl.concat_str(
            [
                pl.lit('{"created_from":"'),
                (pl.col("day") - pl.duration(days=2)).dt.strftime("%Y-%m-%d"),
                pl.lit('","created_to":"'),
                pl.col("day").dt.strftime("%Y-%m-%d"),
                pl.lit('","status":"'),
                pl.col("status"),
                pl.lit('"}'),
            ]
        ),
        record_count="record_count",
        client_ip="client_ip",
        terminal=pl.lit(TERMINALS[0]),
        user_agent=pl.lit(TERMINAL_UA[0]),
        request_id=pl.lit(None, dtype=pl.String),
        result=pl.lit("SUCCESS"),
        touch=pl.lit(None, dtype=pl.String),
        tag=pl.lit(None, dtype=pl.String),
    )
    downloads = creates.with_columns(
        ts=pl.col("ts") + pl.Series(rng.integers(60, 600, len(e))) * US,
        node=pl.Series(MB_NODES).gather((e + day + 1) % len(MB_NODES)),
        op_code=pl.lit("EXPORT_FILE_DOWNLOAD"),
    )
    return pl.concat([creates, downloads]).cast(MB_SCHEMA)  # type: ignore[arg-type]


def _mb_with_list_orders(
    world: World, frame: pl.DataFrame, shop: np.ndarray, ts: np.ndarray, is_list: np.ndarray
) -> pl.DataFrame:
    """An order list page shows the shop's k most recent orders (created before the query), newest first."""
    rows = np.flatnonzero(is_list)
    before = (
        np.searchsorted(world.order_key, shop[rows] * KEY + (ts[rows] - T0), side="right")
        - world.order_start[shop[rows]]
    )
    k = np.minimum(frame["k"].to_numpy()[rows], before)
    offsets = np.concatenate([[0], np.cumsum(k)]).astype(np.int64)
    newest = world.order_start[shop[rows]] + before - 1
    flat = np.repeat(newest, k) - (np.arange(offsets[-1]) - np.repeat(offsets[:-1], k))
    ids = pa.array(world.order_id[flat]).cast(pa.string())
    lists = cast(pl.Series, pl.from_arrow(pa.LargeListArray.from_arrays(pa.array(offsets), ids)))
    joined = pl.Series("list", [None] * frame.height, dtype=pl.String).scatter(rows, lists.list.join('","'))
    return frame.with_columns(joined.replace("", None))


def _mb_finish_background(frame: pl.DataFrame) -> pl.DataFrame:
    op = pl.col("op_code")
    order_bound = op.is_in(["ORDER_DETAIL_VIEW", "RECEIVER_INFO_DECRYPT", "WAYBILL_PRINT_REQUEST", "REFUND_AGREE"])
    # An order-bound operation with no order created yet falls back to an (empty) list query.
    frame = frame.with_columns(
        op_code=pl.when(order_bound & pl.col("order").is_null()).then(pl.lit("ORDER_LIST_QUERY")).otherwise(op)
    )
    return frame.select(
        "ts",
        "node",
        "shop_id",
        "account",
        "account_type",
        "op_code",
        order_ids=pl.when(op == "ORDER_LIST_QUERY")
        .then(pl.concat_str([pl.lit('["'), pl.col("list"), pl.lit('"]')]).fill_null("[]"))
        .when(order_bound)
        .then(pl.concat_str([pl.lit('["'), pl.col("order"), pl.lit('"]')]))
        .otherwise(pl.lit("[]")),
        # A print request sends the full receiver to the printer; pages and lists are desensitized.
        desensitized=pl.when(op.is_in(["ORDER_LIST_QUERY", "ORDER_DETAIL_VIEW"]))
        .then(True)
        .when(op.is_in(["RECEIVER_INFO_DECRYPT", "WAYBILL_PRINT_REQUEST"]))
        .then(False)
        .otherwise(None),
        export_task_id=pl.lit(None, dtype=pl.String),
        export_filter=pl.lit(None, dtype=pl.String),
        record_count=pl.when(op == "ORDER_LIST_QUERY").then(pl.col("k")).otherwise(None),
        client_ip="client_ip",
        terminal="terminal",
        user_agent="user_agent",
        request_id=pl.lit(None, dtype=pl.String),
        result=pl.when(pl.col("failed")).then(pl.lit("FAIL")).otherwise(pl.lit("SUCCESS")),
        touch=pl.lit(None, dtype=pl.String),
        tag=pl.lit(None, dtype=pl.String),
    )


# --------------------------------------------------------------------------------------------------
# open_api: the ISV gateway's nginx access log (and the back-office rows that mirror it)

API_METHODS: Final[tuple[tuple[str, float], ...]] = (
    ("taobao.trades.sold.get", 25.0),
    ("taobao.trade.fullinfo.get", 30.0),
    ("taobao.top.oaid.decrypt", 10.0),
    ("taobao.logistics.online.send", 10.0),
    ("cainiao.waybill.ii.get", 10.0),
    ("taobao.item.seller.get", 10.0),
    ("taobao.refunds.receive.get", 5.0),
)
ORDER_METHODS: Final[frozenset[str]] = frozenset(
    {"taobao.trade.fullinfo.get", "taobao.top.oaid.decrypt", "taobao.logistics.online.send", "cainiao.waybill.ii.get"}
)
MIRRORED: Final[dict[str, str]] = {
    "taobao.trade.fullinfo.get": "ORDER_DETAIL_VIEW",
    "taobao.top.oaid.decrypt": "RECEIVER_INFO_DECRYPT",
}

API_SCHEMA: Final[dict[str, Any]] = {
    "ts": pl.Int64,  # true instant the request reached the gateway
    "node": pl.String,
    "ip": pl.String,
    "method": pl.String,
    "order": pl.String,
    "waybill": pl.String,
    "app_key": pl.String,
    "ua": pl.String,
    "status": pl.Int64,
    "bytes": pl.Int64,
    "req_ms": pl.Int64,
    "request_id": pl.String,
    "shop_id": pl.String,
    "account": pl.String,
    "touch": pl.String,
    "tag": pl.String,
}


def _hex_ids(rng: np.random.Generator, n: int) -> pl.Series:
    """nginx $request_id: 32 hex digits."""
    digits = np.frombuffer(rng.bytes(16 * n).hex().encode("ascii"), dtype="S32")
    return pl.Series("request_id", digits).cast(pl.String)


def _api_background(
    world: World, rng: np.random.Generator, shop: np.ndarray, m: np.ndarray, ts: np.ndarray
) -> pl.DataFrame:
    """Gateway calls of the ERP apps of `shop` at `ts`, method index `m` into API_METHODS."""
    methods = [x for x, _ in API_METHODS]
    n = len(shop)
    app = world.shop_app[shop]
    order = _pick_orders(world, rng, shop, ts)
    needs_order = np.isin(m, [methods.index(x) for x in ORDER_METHODS])
    m = np.where(needs_order & (order < 0), methods.index("taobao.trades.sold.get"), m)
    status = rng.choice([200, 400, 403, 429, 502], n, p=[0.965, 0.01, 0.01, 0.01, 0.005])
    return pl.DataFrame(
        {
            "ts": ts,
            "node": pl.Series(API_NODES).gather(rng.integers(0, len(API_NODES), n)),
            "ip": world.app_ip.gather(app),
            "method": pl.Series(methods).gather(m),
            "order": _order_str(world, order),
            "waybill": pl.Series(73_500_000_000_000 + np.maximum(order, 0) * 7 + 3).cast(pl.String),
            "app_key": world.app_key.gather(app),
            "ua": world.app_ua.gather(app),
            "status": status,
            "bytes": rng.integers(300, 20_000, n),
            "req_ms": rng.integers(8, 900, n),
            "request_id": _hex_ids(rng, n),
            "shop_id": world.shop_id.gather(shop),
            "account": world.acc_name.gather(world.acc_start[shop]),
            "touch": pl.Series([None] * n, dtype=pl.String),
            "tag": pl.Series([None] * n, dtype=pl.String),
        },
        schema=API_SCHEMA,
    ).with_columns(order=pl.when(pl.col("method").is_in(list(ORDER_METHODS))).then(pl.col("order")).otherwise(None))


def _api_mirrors(api: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """Order views and decrypts through the gateway are audited by the back office with the same request_id."""
    rows = api.filter(pl.col("method").is_in(list(MIRRORED)) & (pl.col("status") == 200))
    n = rows.height
    return rows.select(
        ts=pl.col("ts") + pl.Series(rng.integers(3_000, 60_000, n)),
        node=pl.Series(MB_NODES).gather(rng.integers(0, len(MB_NODES), n)),
        shop_id="shop_id",
        account="account",
        account_type=pl.lit("main"),
        op_code=pl.col("method").replace_strict(MIRRORED),
        order_ids=pl.concat_str([pl.lit('["'), pl.col("order"), pl.lit('"]')]),
        desensitized=pl.col("method") != "taobao.top.oaid.decrypt",
        export_task_id=pl.lit(None, dtype=pl.String),
        export_filter=pl.lit(None, dtype=pl.String),
        record_count=pl.lit(None, dtype=pl.Int64),
        client_ip="ip",
        terminal=pl.lit("OPEN_API"),
        user_agent="ua",
        request_id="request_id",
        result=pl.lit("SUCCESS"),
        touch="touch",
        tag="tag",
    )


# --------------------------------------------------------------------------------------------------
# logistics: the e-waybill print log (CSV, Chinese headers, GB18030, UTC with Z)

LG_SCHEMA: Final[dict[str, Any]] = {
    "ts": pl.Int64,
    "waybill": pl.String,
    "order": pl.String,
    "shop_id": pl.String,
    "terminal": pl.String,
    "carrier": pl.String,
    "name_masked": pl.String,
    "phone_masked": pl.String,
    "count": pl.Int64,
    "touch": pl.String,
    "tag": pl.String,
}


def _concat(*parts: str | pl.Series) -> pl.Series:
    exprs = [pl.lit(p) for p in parts]
    return pl.select(pl.concat_str(exprs)).to_series()


def _lg_rows(
    world: World, rng: np.random.Generator, ts: np.ndarray, shop: np.ndarray, order: np.ndarray, count: np.ndarray
) -> pl.DataFrame:
    n = len(ts)
    surname = pl.Series(list(SURNAMES)).gather(rng.integers(0, len(SURNAMES), n))
    return pl.DataFrame(
        {
            "ts": ts,
            "waybill": pl.Series(73_500_000_000_000 + np.maximum(order, 0) * 7 + 3).cast(pl.String),
            "order": _order_str(world, order),
            "shop_id": world.shop_id.gather(shop),
            "terminal": _concat("CAINIAO-PRINT-PC-", pl.Series((shop * 2654435761) % 65536).cast(pl.String)),
            "carrier": pl.Series(CARRIERS).gather(shop % len(CARRIERS)),
            "name_masked": _concat(surname, "**"),
            "phone_masked": _concat(
                "138****", pl.Series(rng.integers(0, 10_000, n)).cast(pl.String).str.pad_start(4, "0")
            ),
            "count": count,
            "touch": pl.Series([None] * n, dtype=pl.String),
            "tag": pl.Series([None] * n, dtype=pl.String),
        },
        schema=LG_SCHEMA,
    ).filter(pl.col("order").is_not_null())


def _lg_background(
    world: World,
    rng: np.random.Generator,
    shop: np.ndarray,
    ts: np.ndarray,
    prints: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> pl.DataFrame:
    """Prints from the print component (standalone) plus the prints back-office print requests triggered."""
    n = len(shop)
    order = _pick_orders(world, rng, shop, ts - 2 * HOUR_US)
    count = rng.choice([1, 2, 3], n, p=[0.9, 0.08, 0.02])  # a reprint keeps the waybill number
    standalone = _lg_rows(world, rng, ts, shop, order, count)
    req_ts, req_shop, req_order = prints
    m = len(req_ts)
    mirrored = _lg_rows(
        world, rng, req_ts + rng.integers(800_000, 3_000_000, m), req_shop, req_order, np.ones(m, dtype=np.int64)
    )
    return pl.concat([standalone, mirrored])


# --------------------------------------------------------------------------------------------------
# security: the data-security system's syslog (RFC 5424): heartbeats from every node, DLP alerts

SEC_SCHEMA: Final[dict[str, Any]] = {
    "ts": pl.Int64,
    "host": pl.String,
    "app": pl.String,
    "procid": pl.String,
    "msgid": pl.String,
    "pri": pl.Int64,
    "sd": pl.String,  # structured data after [meta sequenceId=...]
    "msg": pl.String,
    "tag": pl.String,
}
HEARTBEAT_SD: Final[str] = '[dsagent@32473 system="{system}" status="ok"]'


def _heartbeats(rng: np.random.Generator) -> pl.DataFrame:
    """One heartbeat a minute from the data-security agent on every node, at a node-specific second."""
    nodes = list(NODE_SYSTEM)
    minutes = SPAN_DAYS * 24 * 60
    node_idx = np.repeat(np.arange(len(nodes)), minutes)
    minute = np.tile(np.arange(minutes), len(nodes))
    second = rng.integers(0, 60, len(nodes))[node_idx]
    ts = _us(SPAN_START) + minute * 60 * US + second * US + rng.integers(0, 1000, len(node_idx)) * 1000
    node_s = pl.Series(nodes).gather(node_idx)
    frame = pl.DataFrame(
        {
            "ts": ts,
            "host": node_s,
            "procid": pl.Series([str(2000 + 37 * i) for i in range(len(nodes))]).gather(node_idx),
            "sd": pl.Series([HEARTBEAT_SD.format(system=NODE_SYSTEM[x]) for x in nodes]).gather(node_idx),
        }
    )
    return frame.select(
        "ts",
        "host",
        app=pl.lit("dsagent"),
        procid="procid",
        msgid=pl.lit("HEARTBEAT"),
        pri=pl.lit(134, dtype=pl.Int64),  # local0.info
        sd="sd",
        msg=pl.lit("heartbeat ok"),
        tag=pl.lit(None, dtype=pl.String),
    )


def _dlp_stats(rng: np.random.Generator) -> pl.DataFrame:
    """The DLP engine reports its scan statistics every ten minutes: its own steady pulse next to the alerts."""
    n = SPAN_DAYS * 24 * 6
    frame = pl.DataFrame(
        {
            "ts": _us(SPAN_START) + np.arange(n) * 600 * US + 7 * US + rng.integers(0, 1000, n) * 1000,
            "scanned": rng.integers(2_000, 60_000, n),
        }
    )
    return frame.select(
        "ts",
        host=pl.lit(ALERT_HOST),
        app=pl.lit("dlp"),
        procid=pl.lit("808"),
        msgid=pl.lit("DLP_STATS"),
        pri=pl.lit(134, dtype=pl.Int64),  # local0.info
        sd=pl.lit('[dsagent@32473 system="dsc" status="ok"]'),
        msg=pl.lit("rule engine stats: rules=37 scanned=") + pl.col("scanned").cast(pl.String),
        tag=pl.lit(None, dtype=pl.String),
    )


DLP_EXPORT_MIN_RECORDS: Final[int] = 500  # DLP rule: an unmasked export download of at least this many records
BULK_DECRYPTS: Final[int] = 120  # DLP rule fires at 100 decrypts by one account in 10 minutes


def _dlp_export_alerts(mb: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    rows = mb.filter(
        (pl.col("op_code") == "EXPORT_FILE_DOWNLOAD")
        & ~pl.col("desensitized")
        & (pl.col("record_count") >= DLP_EXPORT_MIN_RECORDS)
    )
    return rows.select(
        ts=pl.col("ts") + pl.Series(rng.integers(5, 30, rows.height)) * US,
        host=pl.lit(ALERT_HOST),
        app=pl.lit("dlp"),
        procid=pl.lit("808"),
        msgid=pl.lit("DLP_EXPORT"),
        pri=pl.lit(132, dtype=pl.Int64),  # local0.warning
        sd=pl.lit('[dsagent@32473 system="dsc" rule="R-EXPORT-PI"]'),
        msg=pl.concat_str(
            [
                pl.lit("unmasked export downloaded: account="),
                pl.col("account"),
                pl.lit(" shop="),
                pl.col("shop_id"),
                pl.lit(" task="),
                pl.col("export_task_id"),
                pl.lit(" records="),
                pl.col("record_count").cast(pl.String),
            ]
        ),
        tag=pl.when(pl.col("tag").is_not_null()).then(pl.lit("alert-") + pl.col("tag")).otherwise(None),
    )
