"""The canonical event schema, declared once.

Everything else derives from here: the Parquet files, the DuckDB views, the quarantine
layout and the hypothesis strategies. Extend deliberately (and say so in CHANGELOG.md).
"""

from __future__ import annotations

from typing import Final

import pyarrow as pa

# Closed action vocabulary (DESIGN.md). `action_raw` keeps the platform's own name.
ACTIONS: Final[tuple[str, ...]] = (
    "auth.login",
    "auth.logout",
    "order.list",
    "order.view",
    "order.view_unmasked",
    "order.export",
    "order.export_download",
    "waybill.print",
    "waybill.reprint",
    "api.call",
    "http.request",
    "permission.change",
    "config.change",
    "security.alert",
    "system.heartbeat",
    "other",
)

OUTCOMES: Final[tuple[str, ...]] = ("success", "failure", "unknown")

ACTOR_TYPES: Final[tuple[str, ...]] = (
    "account",
    "sub_account",
    "isv_app",
    "staff",
    "courier",
    "system",
    "anonymous",
    "unknown",
)

# Personal-information fields an action may expose (the exposure map speaks this language).
PI_FIELDS: Final[tuple[str, ...]] = (
    "receiver_name",
    "receiver_phone",
    "receiver_address",
    "waybill_no",
    "item",
    "buyer_nickname",
    "alipay_account",
    "order_no",
    "order_created_at",
    "order_amount",
)

UTC_TS = pa.timestamp("us", tz="UTC")

# Columns a format parser may fill. `node` and `seq` are additions to DESIGN.md's table:
# the completeness checks need the writing node and its per-node sequence number.
EVENT_FIELDS: Final[list[pa.Field]] = [
    pa.field("ts", UTC_TS, nullable=False),
    pa.field("ts_raw", pa.string()),
    pa.field("ts_offset", pa.string()),  # "+08:00" as written, or the zone name applied via --tz
    pa.field("source", pa.string(), nullable=False),
    pa.field("src_sha256", pa.string(), nullable=False),
    pa.field("line_no", pa.int64(), nullable=False),
    pa.field("byte_offset", pa.int64(), nullable=False),
    pa.field("actor_id", pa.string()),
    pa.field("actor_type", pa.string()),
    pa.field("merchant_id", pa.string()),
    pa.field("action", pa.string(), nullable=False),
    pa.field("action_raw", pa.string()),
    pa.field("outcome", pa.string(), nullable=False),
    pa.field("order_ids", pa.list_(pa.string())),
    pa.field("fields", pa.list_(pa.string())),
    pa.field("masked", pa.bool_()),
    pa.field("record_count", pa.int64()),
    pa.field("export_scope", pa.string()),
    pa.field("ip", pa.string()),  # the connecting peer ($remote_addr, %a/%h, c-ip): never a header's value
    # X-Forwarded-For as written, split into its hops (client first). Any client can send this header:
    # it names the client only through a proxy the case trusts (case.toml trusted_proxies, addresses.py).
    pa.field("forwarded_for", pa.list_(pa.string())),
    pa.field("user_agent", pa.string()),
    pa.field("session_id", pa.string()),
    pa.field("request_id", pa.string()),
    pa.field("http_method", pa.string()),
    pa.field("url_path", pa.string()),
    pa.field("status", pa.int32()),
    pa.field("bytes", pa.int64()),
    pa.field("node", pa.string()),
    pa.field("seq", pa.int64()),
    pa.field("attrs", pa.string()),  # JSON object of every raw field not mapped
    pa.field("row_digest", pa.string(), nullable=False),  # sha256 of the canonical row, see custody.py
]

EVENT_SCHEMA: Final[pa.Schema] = pa.schema(EVENT_FIELDS)
EVENT_COLUMNS: Final[list[str]] = [f.name for f in EVENT_FIELDS]

# Columns filled by ingest, not by a parser.
PROVENANCE_COLUMNS: Final[tuple[str, ...]] = ("source", "src_sha256", "row_digest")

# Parquet partition keys (hive layout source=S/date=YYYY-MM-DD); `date` is the UTC date of ts.
PARTITION_KEYS: Final[tuple[str, ...]] = ("source", "date")

QUARANTINE_SCHEMA: Final[pa.Schema] = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("src_sha256", pa.string(), nullable=False),
        pa.field("src_path", pa.string(), nullable=False),
        pa.field("line_no", pa.int64(), nullable=False),
        pa.field("byte_offset", pa.int64(), nullable=False),
        pa.field("raw", pa.binary(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
    ]
)
QUARANTINE_COLUMNS: Final[list[str]] = [f.name for f in QUARANTINE_SCHEMA]
