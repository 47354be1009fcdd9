"""The world: shops, accounts, orders, ISV apps (numpy draws from the one seeded Generator)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import polars as pl

from forensics.sample.constants import (
    DAY_US,
    FACTS,
    HOUR_US,
    HOUR_WEIGHTS,
    ORDERS_FROM,
    SPAN_END,
    _us,
)

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
ORDERS_MAX: Final[int] = 5_000_000
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

    # Orders grow with the events up to ORDERS_MAX (a thousand per shop on average): the world stays a few
    # hundred MB however many events are drawn from it, as generation streams everything else.
    n_orders = int(np.clip(events // 2, 2000, ORDERS_MAX))
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


def _pick_orders(world: World, rng: np.random.Generator, shop: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """An order of `shop` created before `ts` (index into the world's orders), or -1 if there is none."""
    before = np.searchsorted(world.order_key, shop * KEY + (ts - T0), side="right") - world.order_start[shop]
    idx = world.order_start[shop] + (rng.random(len(shop)) * before).astype(np.int64)
    out: np.ndarray = np.where(before > 0, idx, -1)
    return out


def _order_str(world: World, idx: np.ndarray) -> pl.Series:
    ids = pl.Series(world.order_id[np.maximum(idx, 0)]).cast(pl.String)
    return pl.select(pl.when(pl.Series(idx) >= 0).then(ids).otherwise(None)).to_series()
