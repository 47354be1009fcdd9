"""Ground truth: what every check should conclude and where every malformed line is."""

from __future__ import annotations

from typing import Any, Final

import polars as pl

from forensics.sample.constants import (
    FACTS,
    GAP_END,
    GAP_NODE,
    GAP_START,
    OPEN_API_SKEW_S,
    WINDOW_END,
    WINDOW_START,
    ZONE,
    _us,
)
from forensics.sample.render import _iso
from forensics.sample.writers import COUNT_KEYS, WrittenFile

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
