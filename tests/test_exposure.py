"""Field exposure: the court's comparison of disclosure channels with what the fraudster knew."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forensics.errors import ForensicsError
from forensics.exposure import (
    Channel,
    ChannelExposure,
    CheckRows,
    attribute,
    channels_from_config,
    observed_counts,
    summarize,
)
from forensics.schema import PI_FIELDS

# The seed case (DIGEST.md): the callers knew the waybill's fields plus the Alipay account, which anyone finds by
# searching the phone number printed on the waybill; they did not know the order-only fields.
KNEW = ["receiver_name", "receiver_phone", "receiver_address", "waybill_no", "item", "alipay_account"]
DID_NOT_KNOW = ["order_no", "order_created_at", "order_amount"]
CONFIG: dict[str, Any] = {
    "fraudster": {"knew": KNEW, "did_not_know": DID_NOT_KNOW, "derivable": {"alipay_account": ["receiver_phone"]}},
    "exposure": {
        "masked_order_page": {
            "title_en": "Back-office order page (masked)",
            "title_zh": "商家后台订单页（脱敏）",
            "fields": ["item", "order_no", "order_created_at", "order_amount"],
            "actions": ["order.view"],
        },
        "unmasked_view": {
            "fields": ["receiver_name", "receiver_phone", "receiver_address", "item", "order_no", "order_amount"],
            "actions": ["order.view_unmasked"],
        },
        "paper_waybill": {
            "title_zh": "纸质快递面单",
            "fields": ["receiver_name", "receiver_phone", "receiver_address", "waybill_no", "item"],
            "actions": ["waybill.print", "waybill.reprint"],
        },
    },
}


def _by_channel(rows: list[ChannelExposure]) -> dict[str, ChannelExposure]:
    return {r.channel: r for r in rows}


def test_the_paper_waybill_is_the_only_channel_matching_the_seed_case() -> None:
    channels = channels_from_config(CONFIG)
    rows = _by_channel(attribute(channels, KNEW, DID_NOT_KNOW, {"alipay_account": ["receiver_phone"]}, {}))
    waybill = rows["paper_waybill"]
    assert waybill.known_contained and waybill.known_missing == [] and waybill.exposed_not_known == []
    unmasked = rows["unmasked_view"]
    assert not unmasked.known_contained and unmasked.known_missing == ["waybill_no"]
    assert unmasked.exposed_not_known == ["order_no", "order_amount"]  # the court's "order-only fields"
    assert rows["masked_order_page"].known_missing == [
        "receiver_name",
        "receiver_phone",
        "receiver_address",
        "waybill_no",
        "alipay_account",
    ]


def test_a_derivable_field_needs_its_source_in_the_channel() -> None:
    channels = [Channel("c", "c", "", ("receiver_name",), ())]
    [row] = attribute(channels, ["receiver_name", "alipay_account"], [], {"alipay_account": ["receiver_phone"]}, {})
    assert row.known_missing == ["alipay_account"]
    [row] = attribute(channels, ["receiver_name", "alipay_account"], [], {}, {})
    assert row.known_missing == ["alipay_account"]


def test_without_did_not_know_every_unknown_field_counts() -> None:
    channels = [Channel("c", "c", "", ("receiver_name", "order_no"), ())]
    [row] = attribute(channels, ["receiver_name"], [], {}, {})
    assert row.exposed_not_known == ["order_no"]


def test_observed_event_counts_are_carried() -> None:
    rows = attribute(channels_from_config(CONFIG), KNEW, DID_NOT_KNOW, {}, {"paper_waybill": 2})
    assert _by_channel(rows)["paper_waybill"].events == 2
    assert _by_channel(rows)["unmasked_view"].events == 0


def test_json_shape_for_the_exhibit() -> None:
    [row] = attribute([Channel("c", "T", "标题", ("item",), ("order.view",))], ["item"], [], {}, {"c": 1})
    assert row.to_json() == {
        "channel": "c",
        "title_en": "T",
        "title_zh": "标题",
        "fields": ["item"],
        "known_contained": True,
        "known_missing": [],
        "exposed_not_known": [],
        "events": 1,
    }


def test_titles_default_to_the_channel_name() -> None:
    channels = _by_channel_channels(channels_from_config(CONFIG))
    assert channels["unmasked_view"].title_en == "unmasked_view"
    assert channels["paper_waybill"].actions == ("waybill.print", "waybill.reprint")


def _by_channel_channels(channels: list[Channel]) -> dict[str, Channel]:
    return {c.name: c for c in channels}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"exposure": {"x": {"fields": ["reciever_name"]}}}, r"\[exposure.x\] fields: unknown field.*'receiver_name'"),
        ({"exposure": {"x": {"actions": ["waybill.printed"]}}}, r"unknown action.*'waybill.print'"),
        ({"exposure": {"x": {"fields": "receiver_name"}}}, r"must be a list"),
        ({"exposure": {"x": 3}}, r"\[exposure.x\]: must be a table"),
        ({"exposure": ["x"]}, r"one table per channel"),
    ],
)
def test_bad_exposure_map_is_refused_with_a_hint(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ForensicsError, match=message):
        channels_from_config(config)


def test_summary_names_the_matching_channels() -> None:
    rows = attribute(channels_from_config(CONFIG), KNEW, DID_NOT_KNOW, {"alipay_account": ["receiver_phone"]}, {})
    text = summarize(rows)
    assert "paper_waybill (0 events for the order)" in text
    assert "unmasked_view" not in text
    assert summarize([]).startswith("The case has no exposure map")
    none_match = attribute([Channel("c", "c", "", ("item",), ())], ["receiver_phone"], [], {}, {})
    assert summarize(none_match) == (
        "No channel exposes every field the fraudster knew; closest is c (lacks receiver_phone; "
        "shows 1 field(s) the fraudster did not know; 0 events for the order)."
    )


fields = st.lists(st.sampled_from(PI_FIELDS), unique=True)


@settings(max_examples=150, deadline=None)
@given(channel_fields=fields, knew=fields, did_not_know=fields)
def test_exposure_set_logic(channel_fields: list[str], knew: list[str], did_not_know: list[str]) -> None:
    [row] = attribute([Channel("c", "c", "", tuple(channel_fields), ())], knew, did_not_know, {}, {})
    assert row.known_contained == (row.known_missing == [])
    assert set(row.known_missing) == set(knew) - set(channel_fields)
    assert set(row.exposed_not_known) <= set(channel_fields)
    if did_not_know:
        assert set(row.exposed_not_known) == set(channel_fields) & set(did_not_know)
    else:
        assert set(row.exposed_not_known) == set(channel_fields) - set(knew)


# ---------------------------------------------------------------- one count for the pack result and the exhibit

PROVENANCE = ["action", "outcome", "src_sha256", "line_no"]
SHA = "ab" * 32


def test_a_channel_counts_each_raw_line_any_check_about_the_order_found() -> None:
    actions = {"export_file": ["order.export", "order.export_download"], "paper_waybill": ["waybill.print"]}
    trail = CheckRows(True, PROVENANCE, [["waybill.print", "success", SHA, 3], ["order.view", "success", SHA, 4]])
    # an export found by its filter (the order is not in its id list): only the export check has it
    exports = CheckRows(True, ["action", "src_sha256", "line_no"], [["order.export", SHA, 7], ["order.export", SHA, 7]])
    downloads = CheckRows(True, PROVENANCE, [["order.export_download", "success", SHA, 9]])
    counts = observed_counts(actions, [trail, exports, downloads])
    assert counts == {"export_file": 2, "paper_waybill": 1}  # line 7 once, though two rows cite it


def test_failed_attempts_and_checks_not_about_the_order_do_not_count() -> None:
    actions = {"unmasked_view": ["order.view_unmasked"]}
    failed = CheckRows(True, PROVENANCE, [["order.view_unmasked", "failure", SHA, 1]])
    elsewhere = CheckRows(False, PROVENANCE, [["order.view_unmasked", "success", SHA, 2]])
    no_provenance = CheckRows(True, ["action"], [["order.view_unmasked"]])
    assert observed_counts(actions, [failed, elsewhere, no_provenance]) == {"unmasked_view": 0}
    ok = CheckRows(True, PROVENANCE, [["order.view_unmasked", "unknown", SHA, 5]])  # unknown might have shown it
    assert observed_counts(actions, [failed, ok]) == {"unmasked_view": 1}


@given(st.lists(st.tuples(st.sampled_from(["order.export", "order.view", "waybill.print"]),
                          st.sampled_from(["success", "failure", "unknown"]), st.integers(1, 20)), max_size=30),
       st.integers(1, 4))  # fmt: skip
@settings(max_examples=100, deadline=None)
def test_splitting_rows_over_checks_never_changes_a_count(rows: list[tuple[str, str, int]], parts: int) -> None:
    actions = {"export_file": ["order.export"], "all": ["order.export", "order.view", "waybill.print"]}
    table = [[a, o, SHA, n] for a, o, n in rows]
    whole = observed_counts(actions, [CheckRows(True, PROVENANCE, table)])
    split = observed_counts(actions, [CheckRows(True, PROVENANCE, table[i::parts]) for i in range(parts)])
    assert whole == split
    assert whole["all"] == len({n for _, o, n in rows if o != "failure"})
