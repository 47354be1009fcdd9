"""Vocabulary lookups in mapping files: `[actions]` and `[actor_types]` tables.

A platform names its operations in its own words ("解密收件人", "EXPORT_ORDERS", 1042). Instead of
a long CASE expression, a mapping may list them:

    [actions]
    field = "操作类型"            # the raw field holding the platform's name (or: expr = "SQL")
    default = "other"             # what a value missing from the table becomes (reported at ingest)
    [actions.values]
    "解密收件人" = "order.view_unmasked"

The table is turned into one CASE expression over the key (shown by `forensics mapping try` and
recorded with the mapping's hash, so the examiner can see exactly what ran). Raw values that are
not in the table are not silently absorbed: ingest counts them per value (`UnknownTally`) and
reports them in its table, its --json warnings and the manifest entry of the input.

This module knows nothing of DuckDB or of the rest of the mapping; forensics.mapping calls it.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import threading
import unicodedata
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Final

from forensics.errors import UsageError
from forensics.schema import ACTIONS, ACTOR_TYPES

# lookup table name in the mapping file -> (canonical column it fills, its vocabulary, default value)
LOOKUP_TABLES: Final[dict[str, tuple[str, tuple[str, ...], str]]] = {
    "actions": ("action", ACTIONS, "other"),
    "actor_types": ("actor_type", ACTOR_TYPES, "unknown"),
}
_KEYS: Final[tuple[str, ...]] = ("field", "expr", "default", "values")
KEY_PREFIX: Final[str] = "__forensics_key_"  # hidden column carrying the lookup key through evaluation
NULL_KEY: Final[str] = "(null)"  # how a record without the key field is counted
MAX_DISTINCT: Final[int] = 1000  # distinct unknown values tracked per table; the rest are summed


@dataclass(frozen=True)
class Lookup:
    table: str  # "actions" | "actor_types"
    column: str  # canonical column filled: "action" | "actor_type"
    key_sql: str  # SQL giving the raw value (a quoted field name or the user's expression)
    key_label: str  # where the key is written in the file: "actions.field" / "actions.expr"
    default: str
    values: dict[str, str]

    @property
    def hidden(self) -> str:
        return KEY_PREFIX + self.column

    def case_sql(self) -> str:
        """The CASE expression the table stands for (what actually runs)."""
        key = f"CAST((\n{self.key_sql}\n) AS VARCHAR)"
        arms = " ".join(f"WHEN {sql_string(raw)} THEN {sql_string(value)}" for raw, value in self.values.items())
        return f"CASE {key} {arms} ELSE {sql_string(self.default)} END"


def sql_string(text: str) -> str:
    """A SQL string literal for any text (quotes doubled; DuckDB literals hold any Unicode)."""
    return "'" + text.replace("'", "''") + "'"


def quote_field(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def parse_lookups(doc: dict[str, Any], columns: dict[str, Any], where: str) -> list[Lookup]:
    """The lookup tables of a mapping document, validated; every problem names the file and key."""
    lookups: list[Lookup] = []
    for table, (column, vocabulary, default) in LOOKUP_TABLES.items():
        section = doc.get(table)
        if section is None:
            continue
        if not isinstance(section, dict):
            raise UsageError(f"{where}: [{table}] must be a table (field = ..., [{table}.values])")
        if column in columns:
            raise UsageError(
                f"{where}: columns.{column} and [{table}] both define {column}; keep one "
                f"(the table replaces the CASE expression)"
            )
        lookups.append(_parse_one(table, column, vocabulary, default, section, where))
    return lookups


def _parse_one(
    table: str, column: str, vocabulary: tuple[str, ...], default: str, section: dict[str, Any], where: str
) -> Lookup:
    for key in section:
        if key not in _KEYS:
            shown = key if key.isidentifier() else _shown_key(key)
            raise UsageError(f"{where}: unknown key {table}.{shown}{_suggest(key, _KEYS)}")
    key_sql, key_label = _key(table, section, where)
    chosen = section.get("default", default)
    if not isinstance(chosen, str):
        raise UsageError(f"{where}: {table}.default must be a string")
    _in_vocabulary(chosen, vocabulary, f"{where}: {table}.default", column)
    values = section.get("values")
    if not isinstance(values, dict) or not values:
        raise UsageError(
            f'{where}: [{table}.values] is required: one line per raw value, e.g. "查看订单" = "{vocabulary[0]}"'
        )
    checked: dict[str, str] = {}
    for raw, value in values.items():
        label = f"{where}: {table}.values.{_shown_key(raw)}"
        if not isinstance(value, str):
            raise UsageError(f"{label} must be a string (one of the {column} values)")
        _in_vocabulary(value, vocabulary, label, column)
        checked[raw] = value
    return Lookup(table, column, key_sql, key_label, chosen, checked)


def _shown_key(raw: str) -> str:
    """A raw value as a quoted key in a one-line message: quotes and controls escaped, bidi and zero-width
    characters as \\uXXXX so an error message cannot be reordered or split."""
    text = json.dumps(raw, ensure_ascii=False)
    return "".join(f"\\u{ord(c):04x}" if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in text)


def _key(table: str, section: dict[str, Any], where: str) -> tuple[str, str]:
    has_field, has_expr = "field" in section, "expr" in section
    if has_field == has_expr:
        raise UsageError(f'{where}: [{table}] needs exactly one of field = "raw field name" or expr = "SQL expression"')
    name = "field" if has_field else "expr"
    value = section[name]
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"{where}: {table}.{name} must be a non-empty string")
    return (quote_field(value) if has_field else value), f"{table}.{name}"


def _in_vocabulary(value: str, vocabulary: tuple[str, ...], label: str, column: str) -> None:
    if value not in vocabulary:
        raise UsageError(f"{label}: {value!r} is not a canonical {column}{_suggest(value, vocabulary)}")


def _suggest(name: str, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else f" (expected one of: {', '.join(choices)})"


# ----------------------------------------------------------------------------------------------
# Unknown raw values, counted while an input is parsed


@dataclass
class UnknownTally:
    """Raw values not in a lookup table, counted per table and value (bounded: MAX_DISTINCT per table)."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    overflow: dict[str, int] = field(default_factory=dict)  # records whose value was past MAX_DISTINCT
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, table: str, values: dict[str, int]) -> None:
        with self._lock:
            seen = self.counts.setdefault(table, {})
            for value, n in values.items():
                if value in seen or len(seen) < MAX_DISTINCT:
                    seen[value] = seen.get(value, 0) + n
                else:
                    self.overflow[table] = self.overflow.get(table, 0) + n

    def to_json(self) -> dict[str, Any]:
        """{table: {records, values: {value: count} most frequent first, not_listed}} for tables with unknowns.

        not_listed (only when > 0) counts records whose value came after MAX_DISTINCT distinct ones."""
        out: dict[str, Any] = {}
        for table, seen in self.counts.items():
            if not seen:
                continue
            more = self.overflow.get(table, 0)
            entry: dict[str, Any] = {
                "records": sum(seen.values()) + more,
                "values": dict(sorted(seen.items(), key=lambda kv: (-kv[1], kv[0]))),
            }
            if more:
                entry["not_listed"] = more
            out[table] = entry
        return out


_CURRENT: ContextVar[UnknownTally | None] = ContextVar("forensics_unknown_tally", default=None)


@contextlib.contextmanager
def collecting_unknown() -> Iterator[UnknownTally]:
    """Count unknown lookup values of every batch evaluated in this context (one input file)."""
    tally = UnknownTally()
    token = _CURRENT.set(tally)
    try:
        yield tally
    finally:
        _CURRENT.reset(token)


def current_tally() -> UnknownTally | None:
    return _CURRENT.get()


def unknown_warning(path: str, unknown: dict[str, Any], defaults: dict[str, str], shown: int = 5) -> str | None:
    """One line per input naming the raw values no lookup table knew (what a reader must act on)."""
    parts: list[str] = []
    for table, entry in unknown.items():
        named = list(entry["values"].items())
        listed = ", ".join(f"{v!r} ({n})" for v, n in named[:shown])
        hidden = len(named) - shown + (1 if entry.get("not_listed") else 0)
        more = f" and {hidden} more" if hidden > 0 else ""
        target = defaults.get(table, "the default")
        parts.append(
            f"{entry['records']} record(s) with a raw value not in [{table}.values], set to {target!r}: {listed}{more}"
        )
    if not parts:
        return None
    return f"{path}: " + "; ".join(parts) + " (add them to the mapping's table)"
