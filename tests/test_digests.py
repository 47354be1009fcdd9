"""Row digests and Merkle roots: ingest's vectorized SHA-256 (polars-hash), verify's hashlib and a
re-verifier's own code following only the documented definition must agree on every row."""

from __future__ import annotations

import hashlib
import sys
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forensics.custody import (
    CANONICAL_COLUMNS,
    LEAF_ROWS,
    MerkleBuilder,
    merkle_root,
    packed_digests,
    row_digests,
    with_row_digests,
)
from forensics.schema import EVENT_FIELDS, EVENT_SCHEMA

# Text a log can hold: NUL, CR, Chinese, emoji, separators our own encoding uses.
_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30) | st.sampled_from(
    ["", "-", ":", "3:abc", "中文订单", "a\x00b", "\r\n", "[]", "😀"]
)


def _value(field: pa.Field) -> st.SearchStrategy[Any]:
    t = field.type
    if pa.types.is_timestamp(t):
        value: st.SearchStrategy[Any] = st.datetimes(
            min_value=datetime(1, 1, 2),  # noqa: DTZ001  (hypothesis wants naive bounds plus timezones=)
            max_value=datetime(9999, 12, 30),  # noqa: DTZ001
            timezones=st.just(UTC),
        )
    elif pa.types.is_list(t):
        value = st.lists(st.none() | _TEXT, max_size=4)
    elif pa.types.is_boolean(t):
        value = st.booleans()
    elif pa.types.is_int32(t):
        value = st.integers(-(2**31), 2**31 - 1)
    elif pa.types.is_integer(t):
        value = st.integers(-(2**63), 2**63 - 1)
    else:
        value = _TEXT
    return value  # nulls are drawn per row in event_frames


@st.composite
def event_frames(draw: st.DrawFn) -> pl.DataFrame:
    fields = [f for f in EVENT_FIELDS if f.name != "row_digest"]
    rows = draw(st.lists(st.fixed_dictionaries({f.name: _value(f) for f in fields}), min_size=1, max_size=8))
    for row in rows:
        for f in fields:
            if f.nullable and draw(st.booleans()):
                row[f.name] = None
        row["row_digest"] = ""
    frame = pl.from_arrow(pa.Table.from_pylist(rows, schema=EVENT_SCHEMA))
    assert isinstance(frame, pl.DataFrame)
    return frame


def _field_text(value: Any) -> str:
    """The documented encoding of one value (custody.canonical_text_expr), written independently."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, datetime):
        delta = value - datetime(1970, 1, 1, tzinfo=UTC)
        text = str((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds)
    elif isinstance(value, list):
        text = "[" + "".join(_field_text(v) for v in value) + "]"
    else:
        text = str(value)
    return f"{len(text.encode('utf-8'))}:{text}"


def reference_digest(row: dict[str, Any]) -> str:
    canonical = "".join(_field_text(row[name]) for name in CANONICAL_COLUMNS)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@given(event_frames())
def test_ingest_verify_and_documented_digests_agree(frame: pl.DataFrame) -> None:
    fast = with_row_digests(frame).get_column("row_digest").to_list()
    independent = row_digests(frame.drop("row_digest")).to_list()
    documented = [reference_digest(row) for row in frame.iter_rows(named=True)]
    assert fast == independent == documented


def test_digest_changes_with_any_single_field() -> None:
    row = {f.name: None for f in EVENT_FIELDS}
    row.update(
        ts=datetime(2024, 3, 1, tzinfo=UTC), source="s", src_sha256="0" * 64, line_no=1, byte_offset=0, action="x"
    )
    row.update(outcome="success", row_digest="")
    base = pl.from_arrow(pa.Table.from_pylist([row], schema=EVENT_SCHEMA))
    assert isinstance(base, pl.DataFrame)
    digest = with_row_digests(base)["row_digest"][0]
    # null vs empty string, and a value moved between neighbouring fields, must differ
    for changes in ({"actor_id": ""}, {"actor_id": "ab"}, {"actor_type": "ab"}, {"line_no": 2}):
        changed = base.with_columns(*[pl.lit(v).cast(base.schema[k]).alias(k) for k, v in changes.items()])
        assert with_row_digests(changed)["row_digest"][0] != digest, changes


@settings(deadline=None)  # hashes thousands of rows per example: over 200 ms on a loaded machine
@given(st.lists(st.integers(0, 3 * LEAF_ROWS + 5), min_size=0, max_size=4))
def test_merkle_root_does_not_depend_on_how_batches_are_cut(cuts: list[int]) -> None:
    digests = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(2 * LEAF_ROWS + 7)]
    packed = packed_digests(pl.Series(digests))
    assert len(packed) == 32 * len(digests)
    builder = MerkleBuilder()
    start = 0
    for cut in [*sorted(c % (len(digests) + 1) for c in cuts), len(digests)]:
        builder.add_packed(packed[start * 32 : cut * 32])
        start = max(start, cut)
    assert builder.root() == merkle_root(digests)


def test_merkle_root_matches_the_documented_tree() -> None:
    digests = [hashlib.sha256(str(i).encode()).digest() for i in range(2 * LEAF_ROWS + 1)]
    leaves = [hashlib.sha256(b"".join(digests[i : i + LEAF_ROWS])).digest() for i in range(0, len(digests), LEAF_ROWS)]
    assert len(leaves) == 3
    top = hashlib.sha256(hashlib.sha256(leaves[0] + leaves[1]).digest() + leaves[2]).hexdigest()
    assert merkle_root([d.hex() for d in digests]) == top


def test_digests_without_the_plugin_are_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """A polars build the plugin does not load with must cost speed, never different digests."""
    rows = []
    for i in range(3):
        row: dict[str, Any] = {f.name: None for f in EVENT_FIELDS}
        row.update(ts=datetime(2024, 3, 1, i, tzinfo=UTC), source="s", src_sha256="0" * 64, line_no=i, byte_offset=i)
        row.update(action="order.view", outcome="success", order_ids=["O1", None], row_digest="")
        rows.append(row)
    frame = pl.from_arrow(pa.Table.from_pylist(rows, schema=EVENT_SCHEMA))  # type: ignore[assignment]
    fast = with_row_digests(frame)["row_digest"].to_list()
    monkeypatch.setitem(sys.modules, "polars_hash", None)  # import fails as if not installed
    with pytest.warns(RuntimeWarning, match="hashlib"):
        slow = with_row_digests(frame)["row_digest"].to_list()
    assert slow == fast == [reference_digest(r) for r in rows]
