"""Case world: the seed case's platform as realistic, synthetic sample logs with ground truth.

`generate(out_dir, variant, events, seed)` writes four sources (merchant back office JSON lines,
open-API nginx access log, logistics e-waybill print CSV in GB18030, data-security syslog), one
mapping file per source, an ingest plan, a filled case.toml, a README and ground_truth.json that
says what every check should conclude and where every malformed line is.

Everything is vectorized (numpy draws, polars string building, zlib/zstd in threads): 10 M events take
about 45 CPU-seconds and under a minute on two cores (bench/sample.py); the only per-line Python is the
handful of scripted case events. Memory is bounded by writing one source (one back-office node) at a time.
Same arguments give the same bytes: one seeded numpy Generator draws everything in a fixed order, gzip
headers carry no name or mtime, and every sort has a total tiebreak.

All personal data is synthetic and obviously fake (测试用户甲, phones 1380013xxxx, documentation
IP ranges 198.51.100.0/24 and 203.0.113.0/24, carrier-grade NAT 100.64.0.0/10).
"""

from __future__ import annotations

import difflib
import gzip
import io
import json
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final, cast
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pyarrow as pa
import zstandard

from forensics.errors import UsageError

VARIANTS: Final[tuple[str, ...]] = ("clean", "guilty", "gap")
DEFAULT_EVENTS: Final[int] = 30_000  # the committed sample_logs/xue-case size (a few MB)
DEFAULT_SEED: Final[int] = 7
MAX_EVENTS: Final[int] = 50_000_000
# Up to this many events logs are gzip'd (level 6, the logrotate classic); above it zstd level 1 (.zst), which is
# several times faster to write at platform scale. Ingest reads both transparently.
ZSTD_ABOVE: Final[int] = 1_000_000
WRITERS: Final[int] = 4  # file writer threads

ZONE: Final[ZoneInfo] = ZoneInfo("Asia/Shanghai")
# Three days either side of the window: baselines for volumes, silences, habits and per-principal rates.
SPAN_START: Final[datetime] = datetime(2024, 3, 1, tzinfo=ZONE)
SPAN_DAYS: Final[int] = 9
SPAN_END: Final[datetime] = SPAN_START + timedelta(days=SPAN_DAYS)
WINDOW_START: Final[datetime] = datetime(2024, 3, 4, tzinfo=ZONE)
WINDOW_END: Final[datetime] = datetime(2024, 3, 7, tzinfo=ZONE)
ORDERS_FROM: Final[datetime] = datetime(2024, 2, 10, tzinfo=ZONE)

MB_NODES: Final[tuple[str, ...]] = ("mb-01", "mb-02", "mb-03", "mb-04")
API_NODES: Final[tuple[str, ...]] = ("api-01", "api-02")
LG_NODES: Final[tuple[str, ...]] = ("lg-01", "lg-02")
NODE_SYSTEM: Final[dict[str, str]] = (
    {n: "merchant_backend" for n in MB_NODES} | {n: "open_api" for n in API_NODES} | {n: "logistics" for n in LG_NODES}
)
ALERT_HOST: Final[str] = "dsc-01"
OPEN_API_SKEW_S: Final[int] = 2  # the open-API gateway's clock runs this far ahead of the back office
GAP_NODE: Final[str] = "mb-02"
GAP_START: Final[datetime] = datetime(2024, 3, 5, 13, 0, tzinfo=ZONE)
GAP_END: Final[datetime] = datetime(2024, 3, 5, 16, 0, tzinfo=ZONE)

NGINX_LOG_FORMAT: Final[str] = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" '
    '"$http_user_agent" $request_time $app_key $request_id $hostname'
)
CSV_HEADER: Final[str] = "打印时间,面单号,订单号,店铺,打印终端,快递公司,收件人(脱敏),收件电话(脱敏),打印次数"

US: Final[int] = 1_000_000
DAY_US: Final[int] = 86_400 * US
HOUR_US: Final[int] = 3_600 * US
# Relative activity per local hour: quiet nights, a morning and an evening peak (order handling, buyers online).
HOUR_WEIGHTS: Final = (2, 1, 1, 1, 1, 2, 4, 8, 14, 20, 24, 24, 18, 20, 24, 24, 22, 18, 16, 18, 22, 20, 12, 6)


def _us(moment: datetime) -> int:
    return int(moment.timestamp()) * US + moment.microsecond


@dataclass(frozen=True)
class CaseFacts:
    """The seed case as it appears in this world (all of it synthetic)."""

    order_id: str = "3921046718520307744"
    item: str = "怪味豆 x3"
    amount: str = "29.70"
    shop_id: str = "S6600001"
    shop_main: str = "测试零食铺"
    shop_subs: tuple[str, ...] = ("测试零食铺:客服01", "测试零食铺:客服02", "测试零食铺:打包01")
    insider: str = "测试零食铺:客服02"  # the sub-account that leaks in the guilty variant
    insider_ip: str = "203.0.113.77"
    insider_ua: str = "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Firefox/115.0"
    plaintiff_name: str = "测试用户甲"
    plaintiff_phone: str = "13800130001"
    plaintiff_masked_name: str = "测****"
    plaintiff_masked_phone: str = "138****0001"
    buyer_nickname: str = "test_buyer_jia"
    waybill_no: str = "73501234567890"
    carrier: str = "中通快递"
    print_terminal: str = "CAINIAO-PRINT-PC-7F3A"
    print_app: str = "23999001"
    created_at: datetime = datetime(2024, 3, 4, 20, 13, 7, tzinfo=ZONE)
    paid_at: datetime = datetime(2024, 3, 4, 20, 13, 41, tzinfo=ZONE)
    printed_at: datetime = datetime(2024, 3, 5, 9, 41, 25, tzinfo=ZONE)
    shipped_at: datetime = datetime(2024, 3, 5, 9, 43, 10, tzinfo=ZONE)
    delivered_at: datetime = datetime(2024, 3, 6, 10, 20, tzinfo=ZONE)
    calls: tuple[datetime, ...] = (
        datetime(2024, 3, 6, 15, 2, 11, tzinfo=ZONE),
        datetime(2024, 3, 6, 15, 40, 37, tzinfo=ZONE),
        datetime(2024, 3, 6, 19, 11, 5, tzinfo=ZONE),
    )


FACTS: Final[CaseFacts] = CaseFacts()


@dataclass
class SampleResult:
    out_dir: Path
    plan_path: Path
    case_toml_path: Path
    ground_truth_path: Path
    files: list[Path]  # every file written, relative paths resolved against out_dir
    events_written: int  # lines expected to become events across all sources


# --------------------------------------------------------------------------------------------------
# The world: shops, accounts, orders, ISV apps


@dataclass
class World:
    shop_id: pl.Series  # str, index 0 is the case shop
    shop_p: np.ndarray  # activity share per shop
    shop_app: np.ndarray  # the ERP app each shop uses
    acc_start: np.ndarray  # accounts of shop s are acc_start[s] .. acc_start[s] + acc_count[s] - 1
    acc_count: np.ndarray
    acc_name: pl.Series
    acc_sub: np.ndarray  # bool
    acc_home_ip: pl.Series
    acc_mobile_ip: pl.Series
    order_start: np.ndarray  # orders of shop s, sorted by creation time
    order_count: np.ndarray
    order_id: np.ndarray  # int64
    order_created: np.ndarray  # µs UTC
    order_key: np.ndarray  # shop * KEY + created offset, sorted: finds "orders created before t"
    app_key: pl.Series
    app_ip: pl.Series
    app_ua: pl.Series


KEY: Final[int] = 10**13
T0: Final[int] = _us(ORDERS_FROM)

ISV_UAS: Final[tuple[str, ...]] = (
    "top-sdk-java-20230420",
    "top-sdk-php-20220910",
    "top-sdk-net-20231105",
    "Apache-HttpClient/4.5.13 (Java/1.8.0_312)",
    "python-requests/2.31.0",
    "okhttp/4.9.3",
)


def _ips(rng: np.random.Generator, n: int, prefix: tuple[int, int], span: int) -> pl.Series:
    """n addresses prefix.x.y.z inside a block of `span` second octets (e.g. 100.64.0.0/10)."""
    b = prefix[1] + rng.integers(0, span, n)
    c = rng.integers(0, 256, n)
    d = rng.integers(1, 255, n)
    frame = pl.DataFrame({"b": b, "c": c, "d": d})
    return frame.select(
        pl.concat_str([pl.lit(f"{prefix[0]}."), pl.col("b"), pl.lit("."), pl.col("c"), pl.lit("."), pl.col("d")])
    ).to_series()


def build_world(rng: np.random.Generator, events: int) -> World:
    n_shops = int(np.clip(events // 20, 200, 5000))
    weight = rng.pareto(1.2, n_shops) + 0.2
    weight[0] = np.quantile(weight, 0.05)  # the case shop is a small snack shop
    shop_p = weight / weight.sum()
    shop_num = 6600001 + np.arange(n_shops) * 3 + rng.integers(0, 3, n_shops)
    shop_num[0] = 6600001
    shop_id = pl.Series("shop_id", [f"S{x}" for x in shop_num.tolist()], dtype=pl.String)

    subs = rng.integers(0, 5, n_shops)
    subs[0] = len(FACTS.shop_subs)
    acc_count = subs + 1
    acc_start = np.concatenate([[0], np.cumsum(acc_count)[:-1]])
    n_acc = int(acc_count.sum())
    acc_shop = np.repeat(np.arange(n_shops), acc_count)
    acc_rank = np.arange(n_acc) - acc_start[acc_shop]
    acc_sub = acc_rank > 0
    names = pl.DataFrame({"s": acc_shop, "r": acc_rank}).select(
        pl.when(pl.col("r") == 0)
        .then(pl.lit("测试店铺") + pl.col("s").cast(pl.String).str.pad_start(5, "0"))
        .otherwise(
            pl.lit("测试店铺")
            + pl.col("s").cast(pl.String).str.pad_start(5, "0")
            + pl.lit(":客服")
            + pl.col("r").cast(pl.String).str.pad_start(2, "0")
        )
    )
    acc_name = names.to_series().scatter(list(range(len(FACTS.shop_subs) + 1)), [FACTS.shop_main, *FACTS.shop_subs])

    n_orders = max(2000, events // 2)
    per_shop = rng.multinomial(n_orders - n_shops, shop_p) + 1
    order_shop = np.repeat(np.arange(n_shops), per_shop)
    created = _sample_times(rng, len(order_shop), T0, (_us(SPAN_END) - T0) // DAY_US)
    order_start = np.concatenate([[0], np.cumsum(per_shop)[:-1]])
    order_key_raw = order_shop * KEY + (created - T0)
    sort = np.argsort(order_key_raw, kind="stable")
    order_ids = 3_700_000_000_000_000_000 + np.cumsum(rng.integers(1, 1_000_000_000, len(order_shop)))
    perm = rng.permutation(len(order_shop))

    n_apps = 40
    return World(
        shop_id=shop_id,
        shop_p=shop_p,
        shop_app=rng.integers(0, n_apps, n_shops),
        acc_start=acc_start,
        acc_count=acc_count,
        acc_name=acc_name.alias("account"),
        acc_sub=acc_sub,
        acc_home_ip=_ips(rng, n_acc, (100, 64), 64),
        acc_mobile_ip=_ips(rng, n_acc, (100, 64), 64),
        order_start=order_start,
        order_count=per_shop,
        order_id=order_ids[perm],
        order_created=created[sort],
        order_key=order_key_raw[sort],
        app_key=pl.Series("app_key", 23000101 + np.arange(n_apps)).cast(pl.String),
        app_ip=pl.Series("ip", [f"198.51.100.{10 + i}" for i in range(n_apps)]),
        app_ua=pl.Series("ua", [ISV_UAS[i % len(ISV_UAS)] for i in range(n_apps)]),
    )


def _sample_times(
    rng: np.random.Generator, n: int, start_us: int, days: int, day: np.ndarray | None = None
) -> np.ndarray:
    """Business-hours rhythm: a day (uniform unless given), an hour by HOUR_WEIGHTS, a uniform instant in it."""
    p = np.array(HOUR_WEIGHTS, dtype=np.float64)
    if day is None:
        day = rng.integers(0, days, n)
    hour = rng.choice(24, n, p=p / p.sum())
    within = rng.integers(0, HOUR_US, n)
    out: np.ndarray = start_us + day * DAY_US + hour * HOUR_US + within
    return out


def _even_days(principal: np.ndarray, kind: np.ndarray, block: np.ndarray) -> np.ndarray:
    """Spread each principal's work of each kind evenly over the span's days (counts differ by at most one).

    Real staff and ERP apps do about the same work every day; purely random days would make some principal's
    busiest day look like mass access against its own baseline. Within a principal, work is grouped by
    `block` (the shop an app works for) before dealing out days, so every block is spread evenly too.
    The draws are i.i.d., so a stable sort keeps a random order inside each group.
    """
    group = principal.astype(np.int64) * 64 + kind  # kinds < 64
    order = np.argsort(group * 2**20 + block, kind="stable")  # blocks (shops) < 2**20
    sorted_group = group[order]
    starts = np.flatnonzero(np.r_[True, sorted_group[1:] != sorted_group[:-1]])
    sizes = np.diff(np.r_[starts, len(order)])
    rank = np.arange(len(order)) - np.repeat(starts, sizes)
    day = np.empty(len(order), dtype=np.int64)
    day[order] = (rank + sorted_group * 7) % SPAN_DAYS
    return day


def _local_hour(ts: np.ndarray) -> np.ndarray:
    out: np.ndarray = ((ts - _us(SPAN_START)) % DAY_US) // HOUR_US  # SPAN_START is a local midnight
    return out


def _pick_shops(world: World, rng: np.random.Generator, n: int) -> np.ndarray:
    out: np.ndarray = rng.choice(len(world.shop_p), n, p=world.shop_p)
    return out


def _pick_accounts(world: World, rng: np.random.Generator, shop: np.ndarray) -> np.ndarray:
    out: np.ndarray = world.acc_start[shop] + (rng.random(len(shop)) * world.acc_count[shop]).astype(np.int64)
    return out


def _pick_orders(world: World, rng: np.random.Generator, shop: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """An order of `shop` created before `ts` (index into the world's orders), or -1 if there is none."""
    before = np.searchsorted(world.order_key, shop * KEY + (ts - T0), side="right") - world.order_start[shop]
    idx = world.order_start[shop] + (rng.random(len(shop)) * before).astype(np.int64)
    out: np.ndarray = np.where(before > 0, idx, -1)
    return out


def _order_str(world: World, idx: np.ndarray) -> pl.Series:
    ids = pl.Series(world.order_id[np.maximum(idx, 0)]).cast(pl.String)
    return pl.select(pl.when(pl.Series(idx) >= 0).then(ids).otherwise(None)).to_series()


# --------------------------------------------------------------------------------------------------
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


def _mb_background(world: World, rng: np.random.Generator, n: int) -> pl.DataFrame:
    """Ordinary back-office activity of every shop: lists, views, decrypts, prints, edits, logins."""
    codes = [c for c, _ in MB_OPS]
    weights = np.array([w for _, w in MB_OPS])
    op = rng.choice(len(codes), n, p=weights / weights.sum())
    shop = _pick_shops(world, rng, n)
    acc = _pick_accounts(world, rng, shop)
    ts = _sample_times(rng, n, _us(SPAN_START), SPAN_DAYS, _even_days(acc, op, np.zeros(n, np.int64)))
    is_login = op == codes.index("LOGIN")
    # Staff start their day in the morning: a login in the small hours is what account-anomaly looks for.
    ts = np.where(is_login & (_local_hour(ts) < 7), ts + 8 * HOUR_US, ts)
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
    return _mb_finish_background(frame)


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


def _api_background(world: World, rng: np.random.Generator, n: int) -> pl.DataFrame:
    methods = [m for m, _ in API_METHODS]
    weights = np.array([w for _, w in API_METHODS])
    m = rng.choice(len(methods), n, p=weights / weights.sum())
    shop = _pick_shops(world, rng, n)
    app = world.shop_app[shop]
    ts = _sample_times(rng, n, _us(SPAN_START), SPAN_DAYS, _even_days(app, m, shop))
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


def _lg_background(world: World, rng: np.random.Generator, n: int, mb: pl.DataFrame) -> pl.DataFrame:
    """Prints from the print component (standalone) plus the prints back-office print requests triggered."""
    shop = _pick_shops(world, rng, n)
    ts = _sample_times(rng, n, _us(SPAN_START), SPAN_DAYS, _even_days(shop, np.zeros(n, np.int64), shop))
    order = _pick_orders(world, rng, shop, ts - 2 * HOUR_US)
    count = rng.choice([1, 2, 3], n, p=[0.9, 0.08, 0.02])  # a reprint keeps the waybill number
    standalone = _lg_rows(world, rng, ts, shop, order, count)
    requests = mb.filter((pl.col("op_code") == "WAYBILL_PRINT_REQUEST") & (pl.col("order_ids") != "[]"))
    m = requests.height
    shop_of = pl.DataFrame({"shop_id": world.shop_id, "s": np.arange(len(world.shop_id))})
    req_shop = requests.select("shop_id").join(shop_of, on="shop_id", how="left", maintain_order="left")["s"]
    order_num = requests["order_ids"].str.slice(2, 19).cast(pl.Int64)
    index_of = pl.DataFrame({"oid": world.order_id, "i": np.arange(len(world.order_id))})
    req_order = pl.DataFrame({"oid": order_num}).join(index_of, on="oid", how="left", maintain_order="left")["i"]
    mirrored = _lg_rows(
        world,
        rng,
        requests["ts"].to_numpy() + rng.integers(800_000, 3_000_000, m),
        req_shop.to_numpy(),
        req_order.to_numpy(),
        np.ones(m, dtype=np.int64),
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


# --------------------------------------------------------------------------------------------------
# The scripted part: the case, decoys, positive controls, a bulk-access episode, the variants


@dataclass
class Script:
    mb: list[dict[str, Any]] = field(default_factory=list)
    api: list[dict[str, Any]] = field(default_factory=list)
    lg: list[dict[str, Any]] = field(default_factory=list)
    sec: list[dict[str, Any]] = field(default_factory=list)


def _at(moment: datetime, ms: int = 0) -> int:
    return _us(moment) + ms * 1000


def _mb_row(**kw: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(MB_SCHEMA)
    row.update(order_ids="[]", account_type="main", result="SUCCESS", terminal="千牛PC", user_agent=TERMINAL_UA[0])
    row.update(kw)
    return row


def _case_accounts(world: World) -> list[tuple[str, int]]:
    return [(world.acc_name[i], i) for i in range(int(world.acc_count[0]))]


def _script_case(world: World, script: Script, variant: str) -> None:
    """The order's own trail: the print component fetches a waybill number, prints once, ships."""
    home = world.acc_home_ip[0]
    print_ua = "CainiaoPrint/3.2.1 (Windows NT 10.0; Win64; x64)"
    common = {"ip": home, "app_key": FACTS.print_app, "ua": print_ua, "status": 200, "shop_id": FACTS.shop_id}
    script.api.append(
        common
        | {
            "ts": _at(FACTS.printed_at, -3_412),
            "node": "api-01",
            "method": "cainiao.waybill.ii.get",
            "order": FACTS.order_id,
            "bytes": 1_873,
            "req_ms": 212,
            "request_id": "5f0c2a91d3b84e7a9c61e2f04b7d3a18",
            "touch": "api.call",
            "tag": "case-waybill-number",
        }
    )
    script.api.append(
        common
        | {
            "ts": _at(FACTS.shipped_at, 87),
            "node": "api-02",
            "method": "taobao.logistics.online.send",
            "order": FACTS.order_id,
            "waybill": FACTS.waybill_no,
            "bytes": 412,
            "req_ms": 95,
            "request_id": "a3e19b07c6d54f2e8b1a0c9d7e6f5a42",
            "touch": "api.call",
            "tag": "case-ship",
        }
    )
    script.lg.append(
        {
            "ts": _at(FACTS.printed_at, 418),
            "waybill": FACTS.waybill_no,
            "order": FACTS.order_id,
            "shop_id": FACTS.shop_id,
            "terminal": FACTS.print_terminal,
            "carrier": FACTS.carrier,
            "name_masked": FACTS.plaintiff_masked_name,
            "phone_masked": FACTS.plaintiff_masked_phone,
            "count": 1,
            "touch": "waybill.print",
            "tag": "case-print",
        }
    )
    _script_case_shop_routine(world, script)
    if variant == "guilty":
        _script_insider(world, script)


def _script_case_shop_routine(world: World, script: Script) -> None:
    """The shop's staff log in every morning; on the first day each uses every terminal, IP and browser it has."""
    for day in range(SPAN_DAYS):
        base = SPAN_START + timedelta(days=day, hours=8, minutes=55)
        for rank, (name, acc) in enumerate(_case_accounts(world)):
            who = {"shop_id": FACTS.shop_id, "account": name, "account_type": "sub" if rank else "main"}
            at = _at(base + timedelta(minutes=3 * rank, seconds=17 * rank), 120 + rank)
            terminals = range(len(TERMINALS)) if day == 0 else range(1)
            for t in terminals:
                ip = world.acc_mobile_ip[acc] if TERMINALS[t] == "千牛APP" else world.acc_home_ip[acc]
                script.mb.append(
                    _mb_row(
                        ts=at + t * 2 * HOUR_US,
                        node=MB_NODES[(day + rank + t) % 4],
                        op_code="LOGIN",
                        client_ip=ip,
                        terminal=TERMINALS[t],
                        user_agent=TERMINAL_UA[t],
                        tag="case-shop-login",
                        **who,
                    )
                )


def _shop_orders_created(world: World, shop: int, start: datetime, end: datetime) -> np.ndarray:
    lo, hi = world.order_start[shop], world.order_start[shop] + world.order_count[shop]
    created = world.order_created[lo:hi]
    out: np.ndarray = np.arange(lo, hi)[(created >= _us(start)) & (created < _us(end))]
    return out


def _script_decoys(world: World, script: Script) -> None:
    """Legitimate work by the case shop that a sloppy check would confuse with the leak."""
    main = FACTS.shop_main
    home = world.acc_home_ip[0]
    other = _shop_orders_created(world, 0, ORDERS_FROM, datetime(2024, 3, 5, tzinfo=ZONE))
    other_id = str(world.order_id[other[0]]) if len(other) else "3700000000000000001"
    script.mb.append(
        _mb_row(
            ts=_at(datetime(2024, 3, 5, 11, 2, 13, tzinfo=ZONE), 508),
            node="mb-04",
            shop_id=FACTS.shop_id,
            account=main,
            op_code="RECEIVER_INFO_DECRYPT",
            order_ids=f'["{other_id}"]',
            desensitized=False,
            client_ip=home,
            tag="decoy-other-order-decrypt",
        )
    )
    feb = len(_shop_orders_created(world, 0, datetime(2024, 2, 1, tzinfo=ZONE), datetime(2024, 3, 1, tzinfo=ZONE)))
    refunded = min(feb // 10 + 1, 15)  # February's refunded orders, for the accountant: a handful
    export = {
        "shop_id": FACTS.shop_id,
        "account": main,
        "export_task_id": "EXP70031542",
        "export_filter": '{"created_from":"2024-02-01","created_to":"2024-02-29","status":"REFUNDED"}',
        "record_count": refunded,
        "desensitized": True,
        "client_ip": home,
    }
    script.mb.append(
        _mb_row(
            ts=_at(datetime(2024, 3, 6, 10, 15, 40, tzinfo=ZONE), 77),
            node="mb-01",
            op_code="EXPORT_TASK_CREATE",
            tag="decoy-february-export",
            **export,
        )
    )
    script.mb.append(
        _mb_row(
            ts=_at(datetime(2024, 3, 6, 10, 17, 2, tzinfo=ZONE), 940),
            node="mb-03",
            op_code="EXPORT_FILE_DOWNLOAD",
            tag="decoy-february-export",
            **export,
        )
    )


def _script_insider(world: World, script: Script) -> None:
    """Guilty variant: a sub-account, from an IP and browser it never used, decrypts and exports the order."""
    day = datetime(2024, 3, 5, 22, 47, 3, tzinfo=ZONE)
    who = {
        "shop_id": FACTS.shop_id,
        "account": FACTS.insider,
        "account_type": "sub",
        "client_ip": FACTS.insider_ip,
        "terminal": "WEB",
        "user_agent": FACTS.insider_ua,
    }
    listed = [str(world.order_id[i]) for i in _shop_orders_created(world, 0, WINDOW_START, day)[:19]]
    # A small shop: a handful of orders on those two days (kept under mass-access's 20-order floor at any scale).
    in_scope = min(len(_shop_orders_created(world, 0, WINDOW_START, datetime(2024, 3, 6, tzinfo=ZONE))) + 1, 19)
    export = {
        "export_task_id": "EXP70031977",
        "export_filter": '{"created_from":"2024-03-04","created_to":"2024-03-05","status":"ALL"}',
        "record_count": in_scope,
        "desensitized": False,
    }
    order_list = '["' + '","'.join([FACTS.order_id, *listed]) + '"]'
    script.mb += [
        _mb_row(ts=_at(day, 201), node="mb-02", op_code="LOGIN", tag="insider-login", **who),
        _mb_row(
            ts=_at(day + timedelta(seconds=72), 655),
            node="mb-04",
            op_code="ORDER_LIST_QUERY",
            order_ids=order_list,
            desensitized=True,
            record_count=len(listed) + 1,
            touch="order.list",
            tag="insider-list",
            **who,
        ),
        _mb_row(
            ts=_at(day + timedelta(seconds=119), 30),
            node="mb-03",
            op_code="RECEIVER_INFO_DECRYPT",
            order_ids=f'["{FACTS.order_id}"]',
            desensitized=False,
            touch="order.view_unmasked",
            tag="insider-decrypt",
            **who,
        ),
        _mb_row(
            ts=_at(day + timedelta(seconds=277), 777),
            node="mb-01",
            op_code="EXPORT_TASK_CREATE",
            tag="insider-export",
            **export,
            **who,
        ),
        _mb_row(
            ts=_at(day + timedelta(seconds=369), 410),
            node="mb-04",
            op_code="EXPORT_FILE_DOWNLOAD",
            tag="insider-export-download",
            **export,
            **who,
        ),
        _mb_row(ts=_at(day + timedelta(seconds=507), 5), node="mb-03", op_code="LOGOUT", tag="insider-logout", **who),
    ]


def _script_controls(world: World, rng: np.random.Generator, script: Script) -> None:
    """Positive controls: every node records decrypts, views and prints by other shops on every window day.

    (Exports need none: the routine exporters export on every node every day.)
    """
    days = (WINDOW_END - WINDOW_START).days
    for day in range(days):
        for k, node in enumerate(MB_NODES):
            base = WINDOW_START + timedelta(days=day, hours=10, minutes=7 * k)
            shop = int(rng.integers(1, len(world.shop_p)))
            acc = int(world.acc_start[shop])
            oid = str(world.order_id[int(world.order_start[shop])])  # the shop's oldest order
            who = {
                "node": node,
                "shop_id": world.shop_id[shop],
                "account": world.acc_name[acc],
                "client_ip": world.acc_home_ip[acc],
                "tag": "control",
            }
            script.mb += [
                _mb_row(
                    ts=_at(base, 11), op_code="ORDER_DETAIL_VIEW", order_ids=f'["{oid}"]', desensitized=True, **who
                ),
                _mb_row(
                    ts=_at(base + timedelta(minutes=1), 12),
                    op_code="RECEIVER_INFO_DECRYPT",
                    order_ids=f'["{oid}"]',
                    desensitized=False,
                    **who,
                ),
            ]
        for k, node in enumerate(API_NODES):
            base = WINDOW_START + timedelta(days=day, hours=11, minutes=5 * k)
            shop = int(rng.integers(1, len(world.shop_p)))
            app = int(world.shop_app[shop])
            oid = str(world.order_id[int(world.order_start[shop])])
            for j, method in enumerate(("taobao.trade.fullinfo.get", "taobao.top.oaid.decrypt")):
                script.api.append(
                    {
                        "ts": _at(base + timedelta(seconds=20 * j), 5),
                        "node": node,
                        "ip": world.app_ip[app],
                        "method": method,
                        "order": oid,
                        "app_key": world.app_key[app],
                        "ua": world.app_ua[app],
                        "status": 200,
                        "bytes": 2_048,
                        "req_ms": 40,
                        "request_id": f"c0{day}{k}{j}" + "0" * 27,
                        "shop_id": world.shop_id[shop],
                        "account": world.acc_name[int(world.acc_start[shop])],
                        "tag": "control",
                    }
                )
        shop = int(rng.integers(1, len(world.shop_p)))
        order = np.array([int(world.order_start[shop])])
        ts = np.array([_at(WINDOW_START + timedelta(days=day, hours=14))])
        script.lg += (
            _lg_rows(world, rng, ts, np.array([shop]), order, np.array([1]))
            .with_columns(tag=pl.lit("control"))
            .to_dicts()
        )


def _script_bulk(world: World, rng: np.random.Generator, script: Script) -> None:
    """Background mass access by another shop (alerted by DLP): the case shop must not inherit it."""
    shop = 2
    acc = int(world.acc_start[shop] + world.acc_count[shop] - 1)
    start = datetime(2024, 3, 2, 16, 20, tzinfo=ZONE)  # before the window: a DLP alert, not the case's problem
    orders = world.order_start[shop] + rng.integers(0, int(world.order_count[shop]), BULK_DECRYPTS)
    for i, o in enumerate(orders):
        script.mb.append(
            _mb_row(
                ts=_at(start + timedelta(seconds=4 * i), int(rng.integers(0, 1000))),
                node=MB_NODES[i % 4],
                shop_id=world.shop_id[shop],
                account=world.acc_name[acc],
                account_type="sub" if world.acc_sub[acc] else "main",
                op_code="RECEIVER_INFO_DECRYPT",
                order_ids=f'["{world.order_id[o]}"]',
                desensitized=False,
                client_ip=world.acc_home_ip[acc],
                tag="bulk",
            )
        )
    script.sec.append(
        {
            "ts": _at(start + timedelta(minutes=10, seconds=5)),
            "host": ALERT_HOST,
            "app": "dlp",
            "procid": "808",
            "msgid": "BULK_ACCESS",
            "pri": 132,
            "sd": '[dsagent@32473 system="dsc" rule="R-BULK-DECRYPT"]',
            "msg": f"bulk receiver decrypt: account={world.acc_name[acc]} shop={world.shop_id[shop]} "
            f"count={BULK_DECRYPTS} window=10m",
            "tag": "bulk-alert",
        }
    )
    # One unmasked export on the first day big enough for DLP; its alert is the one written with a line break.
    shop = 3
    acc = int(world.acc_start[shop])
    export = {
        "node": "mb-04",
        "shop_id": world.shop_id[shop],
        "account": world.acc_name[acc],
        "client_ip": world.acc_home_ip[acc],
        "export_task_id": "EXP60000317",
        "record_count": 850,
        "desensitized": False,
        "export_filter": '{"created_from":"2024-02-10","created_to":"2024-03-02","status":"ALL"}',
    }
    moment = datetime(2024, 3, 1, 15, 20, 9, tzinfo=ZONE)
    script.mb += [
        _mb_row(ts=_at(moment, 310), op_code="EXPORT_TASK_CREATE", tag="dlp-export", **export),
        _mb_row(
            ts=_at(moment + timedelta(minutes=3), 45), op_code="EXPORT_FILE_DOWNLOAD", tag="dlp-continuation", **export
        ),
    ]


# --------------------------------------------------------------------------------------------------
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


def _render_mb(mb: pl.DataFrame, bases: dict[str, int], variant: str) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Back-office records -> JSON lines. The gap variant drops the gap node's lines after numbering them."""
    frame = _with_rank(mb, "node", bases, "seq")
    gap_info: dict[str, Any] = {}
    if variant == "gap":
        gap_info = _gap_jump(frame, "node", "seq")
        frame = frame.filter(~_in_gap("node"))
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
    return _lines(frame, file, line), gap_info


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


def _render_api(api: pl.DataFrame) -> pl.DataFrame:
    frame = api.with_row_index("uid").with_columns(pl.col("uid").cast(pl.Int64))
    logged = pl.col("ts") + pl.col("req_ms") * 1000 + OPEN_API_SKEW_S * US  # nginx logs at request end
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


def _render_lg(lg: pl.DataFrame) -> pl.DataFrame:
    frame = lg.with_row_index("uid").with_columns(pl.col("uid").cast(pl.Int64))
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
    lines = _lines(frame, file, line)
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
    return pl.concat([headers.cast(LINE_SCHEMA), lines])  # type: ignore[arg-type]


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
    """Back-office quirks, one per node file on the first day (called once per node's lines)."""
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


# --------------------------------------------------------------------------------------------------
# Assembly


def _in_span(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter((pl.col("ts") >= _us(SPAN_START)) & (pl.col("ts") < _us(SPAN_END)))


@dataclass
class Records:
    """Every source's records before rendering, plus the counters' starting values."""

    mb: pl.DataFrame
    api: pl.DataFrame
    lg: pl.DataFrame
    sec: pl.DataFrame
    mb_bases: dict[str, int]
    sec_bases: dict[str, int]


def _build_records(world: World, rng: np.random.Generator, variant: str, events: int) -> Records:
    script = Script()
    _script_case(world, script, variant)
    _script_decoys(world, script)
    _script_controls(world, rng, script)
    _script_bulk(world, rng, script)
    api = _in_span(
        pl.concat([_api_background(world, rng, round(events * 0.25)), pl.DataFrame(script.api, schema=API_SCHEMA)])
    )
    mb = _in_span(
        pl.concat(
            [
                _mb_background(world, rng, round(events * 0.55)),
                _mb_exports(world, rng),
                _api_mirrors(api, rng),
                pl.DataFrame(script.mb, schema=MB_SCHEMA),
            ]
        )
    )
    lg = _in_span(
        pl.concat([_lg_background(world, rng, round(events * 0.06), mb), pl.DataFrame(script.lg, schema=LG_SCHEMA)])
    )
    sec = _in_span(
        pl.concat(
            [
                _heartbeats(rng),
                _dlp_stats(rng),
                _dlp_export_alerts(mb, rng),
                pl.DataFrame(script.sec, schema=SEC_SCHEMA),
            ]
        )
    )
    mb_bases = {n: int(rng.integers(10_000_000, 90_000_000)) for n in MB_NODES}
    sec_bases = {n: int(rng.integers(1, 5_000_000)) for n in [*NODE_SYSTEM, ALERT_HOST]}
    return Records(mb, api, lg, sec, mb_bases, sec_bases)


def _write_world(out_dir: Path, records: Records, variant: str, zstd: bool) -> tuple[list[WrittenFile], dict[str, Any]]:
    """Render and write source by source (one back-office node at a time), so memory stays bounded."""
    written: list[WrittenFile] = []
    info: dict[str, Any] = {}
    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        for node in MB_NODES:
            part = records.mb.filter(pl.col("node") == node)
            lines, gap = _render_mb(part, {node: records.mb_bases[node]}, variant)
            del part
            if node == GAP_NODE:
                info["merchant_backend"] = gap
            written += _emit(pool, out_dir, lines, _quirks_mb, zstd)
        written += _emit(pool, out_dir, _render_api(records.api), _quirks_api, zstd)
        written += _emit(pool, out_dir, _render_lg(records.lg), _quirks_lg, zstd)
        lines, info["security"] = _render_sec(records.sec, records.sec_bases, variant)
        written += _emit(pool, out_dir, lines, _quirks_sec, zstd)
    return sorted(written, key=lambda w: w.file), info


@dataclass
class WrittenFile:
    file: str  # relative to the sample folder
    path: Path
    counts: dict[str, int]  # lines, events, quarantined, blank, structural
    notable: pl.DataFrame  # tagged, order-touching and malformed lines, with their line_no


COUNT_KEYS: Final[tuple[str, ...]] = ("lines", "events", "quarantined", "blank", "structural")
NOTABLE: Final[pl.Expr] = pl.col("tag").is_not_null() | pl.col("touch").is_not_null() | (pl.col("kind") != "event")


def _compress(data: bytes, file: str, zstd: bool) -> tuple[bytes, str]:
    """gzip (no name, mtime 0: same bytes every run) or zstd for files named .gz; others stay plain."""
    if not file.endswith(".gz"):
        return data, file
    if zstd:
        return zstandard.ZstdCompressor(level=1).compress(data), file.removesuffix(".gz") + ".zst"
    return gzip.compress(data, compresslevel=6, mtime=0), file


def _write_file(out_dir: Path, file: str, frame: pl.DataFrame, quirks: Quirks, zstd: bool) -> WrittenFile:
    """Order one file's lines, apply its quirks, write it (GB18030 for CSV, compressed logs) and account for it."""
    if file in quirks.rows:
        frame = pl.concat([frame, pl.DataFrame(quirks.rows[file], schema=LINE_SCHEMA)])
    frame = frame.sort(["ts", "tie"]).with_row_index("line_no", offset=1)
    for tie, values in quirks.replace.get(file, []):
        at = int(frame.filter(pl.col("tie") == tie)["line_no"][0]) - 1
        frame = frame.with_columns([frame[k].scatter(at, v) for k, v in values.items()])
    buffer = io.BytesIO()
    frame.select("line").write_csv(buffer, include_header=False, quote_style="never", line_terminator="\n")
    data = buffer.getvalue()
    for key, value in quirks.raw.get(file, {}).items():
        data = data.replace(key.encode("utf-8"), value)
    if file.endswith(".csv"):
        data = data.decode("utf-8").encode("gb18030")
    data, file = _compress(data, file, zstd)
    path = out_dir / file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    kinds = frame["kind"].value_counts()
    count = dict(zip(kinds["kind"].to_list(), kinds["count"].to_list(), strict=True))
    counts = {"lines": frame.height} | {
        name: int(count.get(kind, 0))
        for name, kind in (
            ("events", "event"),
            ("quarantined", "quarantine"),
            ("blank", "blank"),
            ("structural", "structural"),
        )
    }
    notable = frame.filter(NOTABLE).select(
        pl.lit(file).alias("file"), "line_no", "ts", "kind", "reason", "touch", "tag"
    )
    return WrittenFile(file, path, counts, notable)


def _emit(
    pool: ThreadPoolExecutor,
    out_dir: Path,
    lines: pl.DataFrame,
    quirk: Callable[[pl.DataFrame, Quirks], None],
    zstd: bool,
) -> list[WrittenFile]:
    """Place a source's quirks, then write its files in threads (polars and zlib release the GIL)."""
    quirks = Quirks()
    quirk(lines, quirks)
    jobs = sorted((str(key[0]), frame) for key, frame in lines.partition_by("file", as_dict=True).items())
    del lines
    return list(pool.map(lambda job: _write_file(out_dir, job[0], job[1], quirks, zstd), jobs))


# --------------------------------------------------------------------------------------------------
# Ground truth

VERDICTS: Final[dict[str, dict[str, str]]] = {
    "clean": {
        "unmasked-view": "clean",
        "export-scope": "clean",
        "waybill-print": "found",
        "order-trail": "info",
        "field-exposure": "info",
        "completeness": "clean",
        "account-anomaly": "clean",
        "mass-access": "clean",
    },
    "guilty": {
        "unmasked-view": "flagged",
        "export-scope": "flagged",
        "waybill-print": "found",
        "order-trail": "info",
        "field-exposure": "info",
        "completeness": "clean",
        "account-anomaly": "flagged",
        "mass-access": "clean",
    },
    # Every "expects none" check that depends on merchant_backend loses its footing in the gap (DESIGN.md:
    # absence must be earned), so all of them are inconclusive, not only the two about the order.
    "gap": {
        "unmasked-view": "inconclusive",
        "export-scope": "inconclusive",
        "waybill-print": "found",
        "order-trail": "info",
        "field-exposure": "info",
        "completeness": "flagged",
        "account-anomaly": "inconclusive",
        "mass-access": "inconclusive",
    },
}
FLAGGED_TAGS: Final[dict[str, str]] = {
    "insider-decrypt": "order.view_unmasked",
    "insider-export": "order.export",
    "insider-export-download": "order.export_download",
}


def _line_refs(notable: pl.DataFrame, condition: pl.Expr) -> list[dict[str, Any]]:
    rows = notable.filter(condition).sort(["file", "line_no"])
    return [
        {"file": r["file"], "line": r["line_no"], "tag": r["tag"], "touch": r["touch"], "ts": _iso(r["ts"])}
        for r in rows.iter_rows(named=True)
    ]


def _ground_truth(
    variant: str, seed: int, events: int, written: list[WrittenFile], info: dict[str, Any]
) -> dict[str, Any]:
    lines = pl.concat([w.notable for w in written])
    file_counts = {w.file: w.counts for w in written}
    in_window = (pl.col("ts") >= _us(WINDOW_START)) & (pl.col("ts") < _us(WINDOW_END))
    trail = (
        lines.filter((pl.col("kind") == "event") & pl.col("touch").is_not_null() & in_window)
        .group_by("touch")
        .len()
        .sort("touch")
    )
    quirks = lines.filter(pl.col("kind").is_in(["quarantine", "blank"])).sort(["file", "line_no"])
    checks = dict(VERDICTS[variant])
    truth: dict[str, Any] = {
        "variant": variant,
        "seed": seed,
        "events_requested": events,
        "order_id": FACTS.order_id,
        "merchant_id": FACTS.shop_id,
        "waybill_no": FACTS.waybill_no,
        "plaintiff": {"name": FACTS.plaintiff_name, "phone": FACTS.plaintiff_phone},
        "window": {"start": WINDOW_START.isoformat(), "end": WINDOW_END.isoformat(), "tz": ZONE.key},
        "checks": checks,
        "trail": {r[0]: r[1] for r in trail.iter_rows()},
        "trail_rule": "events whose order_ids contain order_id, canonical ts inside the window, all sources",
        "lines": file_counts,
        "totals": {k: sum(c[k] for c in file_counts.values()) for k in COUNT_KEYS},
        "quarantine": [
            {
                "file": r["file"],
                "line": r["line_no"],
                "kind": r["tag"].removeprefix("quirk-"),
                "expect": r["kind"],
                "reason": r["reason"],
            }
            for r in quirks.iter_rows(named=True)
        ],
        "case_events": _line_refs(lines, pl.col("touch").is_not_null() & (pl.col("kind") == "event")),
        "decoys": _line_refs(lines, pl.col("tag").str.starts_with("decoy-")),
        "clock_skew": {
            "open_api": {
                "relative_to": "merchant_backend",
                "seconds": OPEN_API_SKEW_S,
                "shared_request_ids": info["shared_request_ids"],
                "note": "nginx writes $time_local at request end with 1 s resolution: expect 1-3 s per pair",
            }
        },
        "facts": _facts_json(),
    }
    if variant == "guilty":
        truth["flagged_lines"] = [
            ref | {"action": FLAGGED_TAGS[ref["tag"]]}
            for ref in _line_refs(lines, pl.col("tag").is_in(list(FLAGGED_TAGS)))
        ]
        truth["account_anomaly"] = {
            "account": FACTS.insider,
            "new_ip": FACTS.insider_ip,
            "new_user_agent": FACTS.insider_ua,
            "lines": _line_refs(lines, pl.col("tag").str.starts_with("insider-")),
        }
    if variant == "gap":
        truth["completeness"] = {
            "source": "merchant_backend",
            "node": GAP_NODE,
            "start": GAP_START.isoformat(),
            "end": GAP_END.isoformat(),
            "merchant_backend": info["merchant_backend"],
            "heartbeats": info["security"],
        }
    return truth


def _facts_json() -> dict[str, Any]:
    return {
        "item": FACTS.item,
        "order_created_at": FACTS.created_at.isoformat(),
        "order_paid_at": FACTS.paid_at.isoformat(),
        "waybill_printed_at": FACTS.printed_at.isoformat(),
        "shipped_at": FACTS.shipped_at.isoformat(),
        "delivered_at": FACTS.delivered_at.isoformat(),
        "fraud_calls": [c.isoformat() for c in FACTS.calls],
        "fraud_caller_prefix": "00",
    }


# --------------------------------------------------------------------------------------------------
# Mapping files, plan, case.toml, README

ORDER_FIELDS: Final[str] = (
    "['receiver_name', 'receiver_phone', 'receiver_address', 'item', 'order_no', 'order_created_at', "
    "'order_amount', 'buyer_nickname']"
)
RECEIVER_FIELDS: Final[str] = "['receiver_name', 'receiver_phone', 'receiver_address']"
WAYBILL_FIELDS: Final[str] = "['receiver_name', 'receiver_phone', 'receiver_address', 'waybill_no', 'item']"

MAPPINGS: Final[dict[str, str]] = {
    "merchant_backend": f"""\
# merchant back-office audit log (商家后台操作审计日志): one JSON object per line, gzip'd per node per day.
# op_time is local time WITHOUT an offset: the zone below is what makes it a point in time.
source = "merchant_backend"
format = "jsonl"
tz = "Asia/Shanghai"
encoding = "utf-8"
description = "merchant back-office audit log (JSON lines, local time, per-node sequence numbers)"

[timestamp]
expr = "op_time"
formats = ["%Y-%m-%d %H:%M:%S%.f"]

[columns]
action = '''CASE op_code
    WHEN 'LOGIN' THEN 'auth.login'
    WHEN 'LOGOUT' THEN 'auth.logout'
    WHEN 'ORDER_LIST_QUERY' THEN 'order.list'
    WHEN 'ORDER_DETAIL_VIEW' THEN 'order.view'
    WHEN 'RECEIVER_INFO_DECRYPT' THEN 'order.view_unmasked'
    WHEN 'EXPORT_TASK_CREATE' THEN 'order.export'
    WHEN 'EXPORT_FILE_DOWNLOAD' THEN 'order.export_download'
    WHEN 'WAYBILL_PRINT_REQUEST' THEN 'waybill.print'
    WHEN 'PERMISSION_GRANT' THEN 'permission.change'
    WHEN 'SHOP_CONFIG_UPDATE' THEN 'config.change'
    ELSE 'other' END'''
action_raw = "op_code"
outcome = "CASE result WHEN 'SUCCESS' THEN 'success' WHEN 'FAIL' THEN 'failure' ELSE 'unknown' END"
actor_id = "account"
actor_type = "CASE account_type WHEN 'main' THEN 'account' WHEN 'sub' THEN 'sub_account' ELSE 'unknown' END"
merchant_id = "shop_id"
order_ids = "CAST(order_ids AS VARCHAR[])"
# what the operation put on screen or in a file (masked or not: see `masked`)
fields = '''CASE op_code
    WHEN 'ORDER_LIST_QUERY' THEN {ORDER_FIELDS}
    WHEN 'ORDER_DETAIL_VIEW' THEN {ORDER_FIELDS}
    WHEN 'RECEIVER_INFO_DECRYPT' THEN {RECEIVER_FIELDS}
    WHEN 'EXPORT_FILE_DOWNLOAD' THEN {ORDER_FIELDS}
    WHEN 'WAYBILL_PRINT_REQUEST' THEN {WAYBILL_FIELDS}
    ELSE CAST([] AS VARCHAR[]) END'''
masked = "CAST(desensitized AS BOOLEAN)"
record_count = "CAST(record_count AS BIGINT)"
export_scope = "export_filter"
ip = "client_ip"
user_agent = "user_agent"
request_id = "request_id"
node = "node"
seq = "CAST(seq AS BIGINT)"
""",
    "open_api": f"""\
# open-platform (ISV/ERP) gateway access log: nginx, custom log_format (given in plan.toml), $time_local +0800.
# Raw fields are the nginx variables without '$' plus request_method, request_uri, uri, args, server_protocol.
source = "open_api"
format = "nginx"
description = "open-platform gateway nginx access log (ISV calls, app_key, request_id)"

[timestamp]
expr = "time_local"
formats = ["%d/%b/%Y:%H:%M:%S"]

[columns]
action = '''CASE regexp_extract(args, '(?:^|&)method=([^&]+)', 1)
    WHEN 'taobao.trades.sold.get' THEN 'order.list'
    WHEN 'taobao.trade.fullinfo.get' THEN 'order.view'
    WHEN 'taobao.top.oaid.decrypt' THEN 'order.view_unmasked'
    ELSE 'api.call' END'''
action_raw = "regexp_extract(args, '(?:^|&)method=([^&]+)', 1)"
outcome = '''CASE WHEN TRY_CAST(status AS INTEGER) < 400 THEN 'success'
    WHEN TRY_CAST(status AS INTEGER) >= 400 THEN 'failure' ELSE 'unknown' END'''
actor_id = "app_key"
actor_type = "'isv_app'"
order_ids = '''CASE WHEN regexp_extract(args, '(?:^|&)tid=([0-9,]+)', 1) = '' THEN CAST([] AS VARCHAR[])
    ELSE string_split(regexp_extract(args, '(?:^|&)tid=([0-9,]+)', 1), ',') END'''
fields = '''CASE regexp_extract(args, '(?:^|&)method=([^&]+)', 1)
    WHEN 'taobao.trade.fullinfo.get' THEN {ORDER_FIELDS}
    WHEN 'taobao.top.oaid.decrypt' THEN {RECEIVER_FIELDS}
    ELSE CAST([] AS VARCHAR[]) END'''
masked = '''CASE regexp_extract(args, '(?:^|&)method=([^&]+)', 1)
    WHEN 'taobao.trade.fullinfo.get' THEN true
    WHEN 'taobao.top.oaid.decrypt' THEN false
    ELSE NULL END'''
ip = "remote_addr"
user_agent = "http_user_agent"
request_id = "request_id"
http_method = "request_method"
url_path = "uri"
status = "TRY_CAST(status AS INTEGER)"
bytes = "TRY_CAST(body_bytes_sent AS BIGINT)"
node = "hostname"
""",
    "logistics": f"""\
# e-waybill print log (电子面单打印日志): CSV with Chinese headers, GB18030, one file per UTC day, times in UTC ('Z').
source = "logistics"
format = "csv"
encoding = "gb18030"
description = "logistics platform e-waybill print log (CSV, GB18030, UTC)"

[timestamp]
expr = '"打印时间"'
formats = ["%Y-%m-%dT%H:%M:%S"]

[columns]
action = '''CASE WHEN TRY_CAST("打印次数" AS INTEGER) > 1 THEN 'waybill.reprint' ELSE 'waybill.print' END'''
action_raw = "'E_WAYBILL_PRINT'"
outcome = "'success'"
actor_id = '"店铺"'
actor_type = "'account'"
merchant_id = '"店铺"'
order_ids = '''string_split("订单号", ',')'''
fields = "{WAYBILL_FIELDS}"
masked = "false"
user_agent = '"打印终端"'

[csv]
delimiter = ","
header = true
""",
    "security": """\
# data-security system syslog (数据安全系统): RFC 5424 with offsets. Every node's agent (hostname = node) sends a
# heartbeat a minute with a per-host sequenceId; the DLP engine (host dsc-01) sends bulk-access and export alerts
# and its scan statistics every ten minutes (DLP_STATS, mapped to 'other').
source = "security"
format = "syslog"
description = "data-security syslog: per-node heartbeats (meta sequenceId) and DLP alerts"

[timestamp]
expr = "timestamp"

[columns]
action = '''CASE msgid WHEN 'HEARTBEAT' THEN 'system.heartbeat'
    WHEN 'BULK_ACCESS' THEN 'security.alert' WHEN 'DLP_EXPORT' THEN 'security.alert' ELSE 'other' END'''
action_raw = "msgid"
outcome = "'success'"
actor_id = '''COALESCE(NULLIF(regexp_extract(msg, 'account=([^ ]+)', 1), ''), app_name)'''
actor_type = '''CASE WHEN regexp_extract(msg, 'account=([^ ]+)', 1) <> '' THEN 'account' ELSE 'system' END'''
merchant_id = '''NULLIF(regexp_extract(msg, 'shop=([^ ]+)', 1), '')'''
record_count = '''TRY_CAST(NULLIF(regexp_extract(msg, '(?:count|records)=([0-9]+)', 1), '') AS BIGINT)'''
node = "hostname"
seq = '''TRY_CAST("meta.sequenceId" AS BIGINT)'''
""",
}

PLAN: Final[str] = f"""\
# Ingest plan for this sample (globs are relative to this file):
#   forensics init CASE && forensics ingest CASE --plan plan.toml

[[input]]
glob = "merchant_backend/*/*.jsonl.*"          # .gz (or .zst above 1 M events)
mapping = "mappings/merchant_backend.toml"

[[input]]
glob = "open_api/*/access.log-*"
format = "nginx"
log_format = '{NGINX_LOG_FORMAT}'
mapping = "mappings/open_api.toml"

[[input]]
glob = "logistics/*.csv"
mapping = "mappings/logistics.toml"
encoding = "gb18030"

[[input]]
glob = "security/syslog-*"
format = "syslog"
mapping = "mappings/security.toml"
"""


def _toml_list(values: list[str] | tuple[str, ...]) -> str:
    return "[" + ", ".join(json.dumps(v, ensure_ascii=False) for v in values) + "]"


def _case_toml() -> str:
    f = FACTS
    order_fields = [
        "receiver_name",
        "receiver_phone",
        "receiver_address",
        "item",
        "order_no",
        "order_created_at",
        "order_amount",
        "buyer_nickname",
    ]
    masked_page = ["item", "order_no", "order_created_at", "order_amount", "buyer_nickname"]
    waybill = ["receiver_name", "receiver_phone", "receiver_address", "waybill_no", "item"]
    return f"""\
# case.toml written by `forensics sample`: the seed case (DIGEST.md) in a synthetic world.
# Every person, phone, shop and order here is fake. Times without an offset are read in [window].tz.

[case]
caption = "测试用户甲诉某电商平台个人信息保护纠纷（合成样例）"
court = "杭州互联网法院"
case_number = "（2024）浙0192民初00000号（样例）"
exhibit_number = "E-3"
submitting_party = "被告：某电商平台运营者（样例）"
languages = ["zh", "en"]

[[parties]]
role = "plaintiff"
name = "{f.plaintiff_name}"
phone = "{f.plaintiff_phone}"

[[parties]]
role = "defendant"
name = "某电商平台运营有限公司（样例）"

[[parties]]
role = "third_party"
name = "{f.shop_main}"

[order]
ids = ["{f.order_id}"]
merchant_id = "{f.shop_id}"
created_at = "{f.created_at.isoformat()}"
waybill_no = "{f.waybill_no}"
item = "{f.item}"

[window]
start = "{WINDOW_START.replace(tzinfo=None).isoformat()}"
end = "{WINDOW_END.replace(tzinfo=None).isoformat()}"
tz = "{ZONE.key}"

[fraudster]
knew = ["receiver_name", "receiver_phone", "receiver_address", "waybill_no", "item", "buyer_nickname", "alipay_account"]
did_not_know = ["order_no", "order_created_at", "order_amount"]

# Known fields anyone can derive from others (the court: searching the phone number printed on the
# waybill finds the Alipay account, whose profile shows the nickname).
[fraudster.derivable]
alipay_account = ["receiver_phone"]
buyer_nickname = ["receiver_phone"]

[facts]                      # what the parties agree happened (not derived from the logs)
order_paid_at = "{f.paid_at.isoformat()}"
waybill_printed_at = "{f.printed_at.isoformat()}"
delivered_at = "{f.delivered_at.isoformat()}"
fraud_calls = {_toml_list([c.isoformat() for c in f.calls])}
fraud_caller_prefix = "00"

[exposure.masked_order_page]
title_en = "Back-office order page (masked)"
title_zh = "商家后台订单页（脱敏）"
fields = {_toml_list(masked_page)}
actions = ["order.list", "order.view"]

[exposure.unmasked_view]
title_en = "Back-office receiver decrypt (unmasked)"
title_zh = "商家后台查看完整收货信息（解密）"
fields = {_toml_list(order_fields)}
actions = ["order.view_unmasked"]

[exposure.export_file]
title_en = "Order export file"
title_zh = "订单导出文件"
fields = {_toml_list(order_fields)}
actions = ["order.export", "order.export_download"]

[exposure.paper_waybill]
title_en = "Printed express waybill"
title_zh = "纸质快递面单"
fields = {_toml_list(waybill)}
actions = ["waybill.print", "waybill.reprint"]

# How each source system's logs come about (shown in the exhibit; a field left out is reported as not provided).
[sources.merchant_backend]
description = "Merchant back office (order pages, receiver decrypt, exports): audit log"
description_zh = "商家后台（订单页面、收件信息解密查看、导出）审计日志"
operator = "The platform operator (defendant); synthetic sample"
operator_zh = "平台运营者（被告）；合成样例"
how_logged = "Each back-office request writes one JSON line on the application server after the access decision"
how_logged_zh = "每次后台请求在应用服务器作出访问决定后写入一行 JSON 记录"
retention = "180 days, one file per node and day, gzip"
retention_zh = "保存 180 天，按节点和日期分文件并压缩"
clock_sync = "NTP against the platform's time servers"
clock_sync_zh = "通过 NTP 与平台时间服务器同步"

[sources.open_api]
description = "Open API gateway used by third-party (ISV) software: access log"
description_zh = "第三方软件（ISV）使用的开放接口网关访问日志"
operator = "The platform operator (defendant); synthetic sample"
operator_zh = "平台运营者（被告）；合成样例"
how_logged = "The gateway's web server writes one access-log line per API call"
how_logged_zh = "网关的 Web 服务器对每次接口调用写入一行访问日志"
retention = "90 days, one file per node and day"
retention_zh = "保存 90 天，按节点和日期分文件"
clock_sync = "NTP against the platform's time servers"
clock_sync_zh = "通过 NTP 与平台时间服务器同步"

[sources.logistics]
description = "Electronic waybill service: print and reprint records"
description_zh = "电子面单服务的打印及补打记录"
operator = "The platform's logistics service; synthetic sample"
operator_zh = "平台物流服务；合成样例"
how_logged = "Each print job writes one CSV row with the terminal and the fields printed"
how_logged_zh = "每次打印作业写入一行 CSV 记录，含打印终端和所印字段"
retention = "1 year, one file per day"
retention_zh = "保存 1 年，按日分文件"
clock_sync = "NTP; each row carries its UTC offset"
clock_sync_zh = "NTP 同步；每行自带时区偏移"

[sources.security]
description = "Host security log (logins, heartbeats) of every node"
description_zh = "各节点主机安全日志（登录、心跳）"
operator = "The platform operator (defendant); synthetic sample"
operator_zh = "平台运营者（被告）；合成样例"
how_logged = "syslog from each host to a central collector; a heartbeat every minute per node"
how_logged_zh = "各主机经 syslog 发送至集中收集端；每个节点每分钟一次心跳"
retention = "180 days"
retention_zh = "保存 180 天"
clock_sync = "NTP; the collector stamps each line with its offset"
clock_sync_zh = "NTP 同步；收集端为每行标注时区偏移"

[completeness]
max_clock_skew = "5m"
baseline_days = 2            # the dump holds the two whole days before and after the (padded) window

[completeness.sources.security]
heartbeat_action = "system.heartbeat"
heartbeat_interval = "1m"
nodes = {_toml_list(list(NODE_SYSTEM))}  # every node expected to send heartbeats

[completeness.sources.logistics]
heartbeat_nodes = {_toml_list(list(LG_NODES))}  # its CSV names no host: the print service runs on these
"""


def _readme(variant: str, seed: int, events: int, truth: dict[str, Any], info: dict[str, Any]) -> str:
    f = FACTS
    checks = list(VERDICTS["clean"])
    verdicts = "| check | " + " | ".join(VARIANTS) + " |\n|---|" + "---|" * len(VARIANTS) + "\n"
    verdicts += "\n".join(f"| {c} | " + " | ".join(VERDICTS[v][c] for v in VARIANTS) + " |" for c in checks)
    quirks = "\n".join(
        f"| `{q['file']}` | {q['line']} | {q['kind']} | {q['expect']} (`{q['reason']}`) |" for q in truth["quarantine"]
    )
    totals = truth["totals"]
    return f"""\
# Sample case world: 薛某 v. platform, synthetic (`{variant}` variant)

Generated by `forensics sample OUT --variant {variant} --events {events} --seed {seed}`
(library: `forensics.sample.generate`). Same arguments, same bytes. Everything here is synthetic:
people (测试用户甲, phone {f.plaintiff_phone}), shops (测试店铺NNNNN, 测试零食铺), orders, IPs (100.64.0.0/10,
198.51.100.0/24, 203.0.113.0/24 are reserved ranges) and app keys.

## The story (DIGEST.md, in this world)
A buyer (测试用户甲, nickname `{f.buyer_nickname}`) ordered {f.item} (order `{f.order_id}`, {f.amount} CNY) from
shop `{f.shop_id}` ({f.shop_main}) at {f.created_at.isoformat()}. The shop printed the e-waybill `{f.waybill_no}`
({f.carrier}) once through the logistics platform's print component at {f.printed_at.isoformat()} and shipped it;
it was delivered {f.delivered_at.isoformat()}. Fraud calls (numbers starting 00) came at
{", ".join(c.strftime("%m-%d %H:%M") for c in f.calls)} (local). Incident window: {WINDOW_START.isoformat()} to
{WINDOW_END.isoformat()} ({ZONE.key}). The logs span {SPAN_START.date()} to {SPAN_END.date()} (local, end
exclusive): three days either side of the window are the baselines (volumes, silences, habits, per-principal rates).
case.toml sets `baseline_days = 2` because the window padded by the clock skew already swallows the adjacent days.

Variants: **clean** (the seed case: the shop never viewed, decrypted or exported the order; one waybill print),
**guilty** (sub-account `{f.insider}` logs in from {f.insider_ip} with a browser it never used, lists orders,
decrypts this order's receiver and creates and downloads an unmasked export whose filter covers the order's
creation date), **gap** (clean, but node `{GAP_NODE}` wrote nothing and its agent sent no heartbeat from
{GAP_START.strftime("%m-%d %H:%M")} to {GAP_END.strftime("%H:%M")} local; both sequence counters jump).

## The platform
Compressed logs are gzip'd (`.gz`); worlds above {ZSTD_ABOVE:,} events use zstd (`.zst`) instead, same content.

- **merchant_backend**: merchant back office (商家后台), nodes {", ".join(MB_NODES)}.
  `merchant_backend/<node>/audit-YYYYMMDD.jsonl.gz` (local day). JSON lines; `op_time` is local time **without
  offset** (the mapping sets Asia/Shanghai); per-node `seq`; snowflake `log_id`; `order_ids` JSON array;
  `export_filter` JSON object; Chinese account names.
- **open_api**: open-platform gateway for ISV/ERP apps, nodes {", ".join(API_NODES)}.
  `open_api/<node>/access.log-YYYYMMDD.gz`. nginx with a custom `log_format` (in plan.toml); `$time_local` +0800
  with 1 s resolution, written at request end; `$app_key`, `$request_id`, `$hostname`. Its clock runs
  {OPEN_API_SKEW_S} s ahead.
- **logistics**: the logistics platform's e-waybill printing. `logistics/waybill_print_YYYYMMDD.csv` (UTC day).
  CSV with Chinese headers in **GB18030**; UTC times with `Z`; receiver masked; `打印次数` > 1 is a reprint.
- **security**: data-security system (DLP + node agents). `security/syslog-YYYYMMDD.log.gz`. RFC 5424 with
  +08:00; a `dsagent` heartbeat every minute from every node above (`[meta sequenceId]` per host); `dlp` alerts
  (`BULK_ACCESS`, `DLP_EXPORT`) and scan statistics every ten minutes (`DLP_STATS`) from `{ALERT_HOST}`.

Back office operations: LOGIN, LOGOUT, ORDER_LIST_QUERY, ORDER_DETAIL_VIEW (desensitized), RECEIVER_INFO_DECRYPT,
EXPORT_TASK_CREATE (filter + record count, no order ids), EXPORT_FILE_DOWNLOAD, WAYBILL_PRINT_REQUEST, ITEM_EDIT,
REFUND_AGREE, SHOP_CONFIG_UPDATE, PERMISSION_GRANT. ISV order views (`taobao.trade.fullinfo.get`) and receiver
decrypts (`taobao.top.oaid.decrypt`) that succeed are also audited by the back office (terminal `OPEN_API`) with the
gateway's `request_id`: join on it to measure the open_api clock skew. Back-office print requests also appear in
the logistics log 1-3 s later.

Background: ~{events} records from {info["shops"]} shops ({info["accounts"]} main and sub-accounts, each with a
home and a mobile IP), 40 ISV apps, business-hours rhythm, every principal doing about the same work every day,
failed logins, reprints, legitimate decrypts by other shops on every node every day and routine morning exports by
{info["exporters"]} accounts rotating over the nodes (positive controls: "this event type is logged here"), one
bulk-decrypt episode by another shop on 03-02 (before the window; DLP `BULK_ACCESS` alert) and DLP alerts for
unmasked exports of >= {DLP_EXPORT_MIN_RECORDS} records. Decoys inside the window: the case shop decrypts a
different order and exports February's refunded orders; neither touches the case order.

## Expected verdicts (order-leak pack; ground_truth.json "checks")
{verdicts}

## Files
`plan.toml` (ingest everything: `forensics init CASE && forensics ingest CASE --plan plan.toml`),
`mappings/*.toml` (one per source), `case.toml` (the matter, exposure map, completeness settings),
`ground_truth.json` (expected verdicts, trail counts, per-file line accounting, every malformed line, the lines a
check must flag). Totals: {totals["lines"]} lines, {totals["events"]} events, {totals["quarantined"]} quarantined,
{totals["blank"]} blank, {totals["structural"]} structural (CSV headers).

## Malformed lines (all on the first day, {SPAN_START.date()}, well before the window)
| file | line | what | expected |
|---|---|---|---|
{quirks}

The truncated JSON line is a partial write followed by the full record (same `seq`: no gap). The GBK line is a
record lost to quarantine, so mb-03's `seq` skips one number that day.

## Regenerate
`forensics sample sample_logs/xue-case` (defaults: clean, 30000 events, seed 7) rewrites this folder byte for byte;
it replaces only the files the generator writes. Other variants and sizes: `--variant guilty|gap --events N`.
"""


# --------------------------------------------------------------------------------------------------
# Entry point


def _check_variant(variant: str) -> str:
    if variant in VARIANTS:
        return variant
    close = difflib.get_close_matches(variant, VARIANTS, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise UsageError(f"unknown sample variant {variant!r}{hint} (choose one of {', '.join(VARIANTS)})")


GENERATED: Final[tuple[str, ...]] = (
    "merchant_backend",
    "open_api",
    "logistics",
    "security",
    "mappings",
    "plan.toml",
    "case.toml",
    "ground_truth.json",
    "README.md",
)


def _prepare(out_dir: Path) -> None:
    """Refuse a non-empty folder unless it is an earlier sample (then replace only what this module writes)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir} is a file; give a folder for the sample")
    if out_dir.exists() and any(out_dir.iterdir()):
        if not (out_dir / "ground_truth.json").exists():
            raise UsageError(f"{out_dir} is not empty and holds no earlier sample; choose a new folder")
        for name in GENERATED:
            target = out_dir / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)


def _write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")
    return path


def generate(
    out_dir: Path, variant: str = "clean", events: int = DEFAULT_EVENTS, seed: int = DEFAULT_SEED
) -> SampleResult:
    """Write the case world for `variant` into out_dir; see the module docstring and OUT/README.md."""
    variant = _check_variant(variant)
    if not 1_000 <= events <= MAX_EVENTS:
        raise UsageError(f"--events must be between 1000 and {MAX_EVENTS} (got {events})")
    _prepare(out_dir)
    rng = np.random.default_rng(seed)
    world = build_world(rng, events)
    records = _build_records(world, rng, variant, events)
    written, info = _write_world(out_dir, records, variant, zstd=events > ZSTD_ABOVE)
    info |= {
        "shared_request_ids": records.api.filter(
            pl.col("method").is_in(list(MIRRORED)) & (pl.col("status") == 200)
        ).height,
        "shops": len(world.shop_id),
        "accounts": len(world.acc_name),
        "exporters": _exporter_count(world),
    }
    del records
    files = [w.path for w in written]
    files += [_write_text(out_dir / "mappings" / f"{name}.toml", text) for name, text in MAPPINGS.items()]
    plan = _write_text(out_dir / "plan.toml", PLAN)
    case_toml = _write_text(out_dir / "case.toml", _case_toml())
    truth = _ground_truth(variant, seed, events, written, info)
    truth_path = _write_text(out_dir / "ground_truth.json", json.dumps(truth, ensure_ascii=False, indent=1) + "\n")
    readme = _write_text(out_dir / "README.md", _readme(variant, seed, events, truth, info))
    return SampleResult(
        out_dir=out_dir,
        plan_path=plan,
        case_toml_path=case_toml,
        ground_truth_path=truth_path,
        files=[*files, plan, case_toml, truth_path, readme],
        events_written=int(truth["totals"]["events"]),
    )
