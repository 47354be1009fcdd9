"""Mapping files, plan, case.toml and README of a sample world."""

from __future__ import annotations

import json
from typing import Any, Final

from forensics.sample.constants import (
    ALERT_HOST,
    API_NODES,
    FACTS,
    GAP_END,
    GAP_NODE,
    GAP_START,
    LG_NODES,
    MB_NODES,
    NGINX_LOG_FORMAT,
    NODE_SYSTEM,
    OPEN_API_SKEW_S,
    SPAN_END,
    SPAN_START,
    VARIANTS,
    WINDOW_END,
    WINDOW_START,
    ZONE,
    ZSTD_ABOVE,
)
from forensics.sample.sources import DLP_EXPORT_MIN_RECORDS
from forensics.sample.truth import VERDICTS

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
