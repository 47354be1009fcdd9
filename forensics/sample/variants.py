"""The scripted part: the case, decoys, positive controls, a bulk-access episode, the variants."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from forensics.sample.constants import (
    ALERT_HOST,
    API_NODES,
    FACTS,
    HOUR_US,
    MB_NODES,
    ORDERS_FROM,
    SPAN_DAYS,
    SPAN_START,
    WINDOW_END,
    WINDOW_START,
    ZONE,
    _us,
)
from forensics.sample.sources import BULK_DECRYPTS, MB_SCHEMA, TERMINAL_UA, TERMINALS, _lg_rows
from forensics.sample.world import World

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
