"""Field exposure: which disclosure channel could have given the fraudster exactly what they knew.

The court's causation argument: every field the callers knew appears on the paper waybill, while
they did not know the order-only fields (creation time, amount, order number) that every online
channel shows. So for each channel of the case's exposure map ([exposure.<channel>] in case.toml)
we report which known fields it exposes, whether the known set is contained in it, which of its
fields the fraudster demonstrably did not know, and how many events of that channel the logs
record for the order: the distinct raw-log lines with the channel's actions that any check about the
order found (``observed_counts``; the exhibit counts with the same function).

A known field that anyone can derive from a field the channel does expose (the Alipay account
found by searching the phone number) can be declared in [fraudster.derivable]:
``alipay_account = ["receiver_phone"]``; it then counts as contained.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from forensics.errors import ForensicsError
from forensics.packs.results import CheckRun
from forensics.schema import ACTIONS, PI_FIELDS


@dataclass(frozen=True)
class Channel:
    name: str
    title_en: str
    title_zh: str
    fields: tuple[str, ...]
    actions: tuple[str, ...]


@dataclass(frozen=True)
class ChannelExposure:
    channel: str
    title_en: str
    title_zh: str
    fields: list[str]
    known_contained: bool
    known_missing: list[str]
    exposed_not_known: list[str]
    events: int

    def to_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "title_en": self.title_en,
            "title_zh": self.title_zh,
            "fields": self.fields,
            "known_contained": self.known_contained,
            "known_missing": self.known_missing,
            "exposed_not_known": self.exposed_not_known,
            "events": self.events,
        }


def _hint(name: str, candidates: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""


def _names(value: Any, where: str, vocabulary: Sequence[str], what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ForensicsError(f"case.toml {where}: must be a list of {what} names")
    for name in value:
        if name not in vocabulary:
            raise ForensicsError(f"case.toml {where}: unknown {what} {name!r}{_hint(name, vocabulary)}")
    return tuple(value)


def channels_from_config(config: Mapping[str, Any]) -> list[Channel]:
    """The [exposure.*] tables of case.toml, validated against the field and action vocabularies."""
    raw = config.get("exposure", {}) or {}
    if not isinstance(raw, dict):
        raise ForensicsError("case.toml [exposure]: must hold one table per channel ([exposure.paper_waybill] ...)")
    channels: list[Channel] = []
    for name, spec in raw.items():
        if not isinstance(spec, dict):
            raise ForensicsError(f"case.toml [exposure.{name}]: must be a table with fields and actions")
        channels.append(
            Channel(
                name=name,
                title_en=str(spec.get("title_en", name)),
                title_zh=str(spec.get("title_zh", "")),
                fields=_names(spec.get("fields"), f"[exposure.{name}] fields", PI_FIELDS, "field"),
                actions=_names(spec.get("actions"), f"[exposure.{name}] actions", ACTIONS, "action"),
            )
        )
    return channels


def _fraudster(config: Mapping[str, Any]) -> tuple[list[str], list[str], dict[str, tuple[str, ...]]]:
    raw = config.get("fraudster", {}) or {}
    knew = list(_names(raw.get("knew"), "[fraudster] knew", PI_FIELDS, "field"))
    did_not_know = list(_names(raw.get("did_not_know"), "[fraudster] did_not_know", PI_FIELDS, "field"))
    derivable: dict[str, tuple[str, ...]] = {}
    for name, sources in (raw.get("derivable", {}) or {}).items():
        _names([name], "[fraudster.derivable]", PI_FIELDS, "field")
        derivable[name] = _names(sources, f"[fraudster.derivable] {name}", PI_FIELDS, "field")
    return knew, did_not_know, derivable


def attribute(
    channels: Sequence[Channel],
    knew: Sequence[str],
    did_not_know: Sequence[str],
    derivable: Mapping[str, Sequence[str]],
    observed: Mapping[str, int],
) -> list[ChannelExposure]:
    """Compare each channel's fields with what the fraudster knew (pure set logic, no data access)."""
    out: list[ChannelExposure] = []
    for channel in channels:
        shown = set(channel.fields)
        missing = [f for f in knew if f not in shown and not (derivable.get(f) and set(derivable[f]) <= shown)]
        # Fields the fraudster demonstrably did not know; without a did_not_know list, every field not known.
        not_known = (
            [f for f in channel.fields if f in did_not_know]
            if did_not_know
            else [f for f in channel.fields if f not in knew]
        )
        out.append(
            ChannelExposure(
                channel=channel.name,
                title_en=channel.title_en,
                title_zh=channel.title_zh,
                fields=list(channel.fields),
                known_contained=not missing,
                known_missing=missing,
                exposed_not_known=not_known,
                events=int(observed.get(channel.name, 0)),
            )
        )
    return out


@dataclass(frozen=True)
class CheckRows:
    """One check's result as the exposure count reads it: whether it is about the order (binds $order_id)."""

    about_order: bool
    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]


def order_lines(checks: Iterable[CheckRows]) -> dict[str, set[tuple[Any, Any]]]:
    """Raw-log lines (input sha256, line) per action among the rows of the checks about the order, failed attempts
    excluded (a failed attempt disclosed nothing): the events the checks report are the events a channel counts."""
    found: dict[str, set[tuple[Any, Any]]] = {}
    for check in checks:
        columns = [str(c) for c in check.columns]
        if not check.about_order or not {"action", "src_sha256", "line_no"} <= set(columns):
            continue
        ia, isha, iline = columns.index("action"), columns.index("src_sha256"), columns.index("line_no")
        io = columns.index("outcome") if "outcome" in columns else None
        for row in check.rows:
            if io is None or row[io] != "failure":
                found.setdefault(str(row[ia]), set()).add((row[isha], row[iline]))
    return found


def observed_counts(actions: Mapping[str, Sequence[str]], checks: Iterable[CheckRows]) -> dict[str, int]:
    """Events per channel (channel -> its actions): distinct raw-log lines with one of the channel's actions found
    by any check about the order. `check --json` (the field-exposure reason, the pack's exposure list) and the
    exhibit's exposure table both count with this function, so no document says 2 exports where another says 0."""
    found = order_lines(checks)
    counts: dict[str, int] = {}
    for channel, names in actions.items():
        lines: set[tuple[Any, Any]] = set()
        for action in names:
            lines |= found.get(str(action), set())
        counts[channel] = len(lines)
    return counts


def check_rows(runs: Iterable[CheckRun]) -> list[CheckRows]:
    return [CheckRows("order_id" in run.check.params, run.columns, run.rows) for run in runs]


def attribute_from_config(
    config: Mapping[str, Any], channels: Sequence[Channel], runs: Iterable[CheckRun]
) -> list[ChannelExposure]:
    knew, did_not_know, derivable = _fraudster(config)
    observed = observed_counts({c.name: c.actions for c in channels}, check_rows(runs))
    return attribute(channels, knew, did_not_know, derivable, observed)


def summarize(exposures: Sequence[ChannelExposure]) -> str:
    """One sentence for the field-exposure verdict."""
    if not exposures:
        return "The case has no exposure map ([exposure.*] in case.toml), so no channel was compared."
    matching = [e for e in exposures if e.known_contained]
    if not matching:
        # Name the nearest channel: the one missing the fewest known fields, then showing the fewest unknown ones.
        best = min(exposures, key=lambda e: (len(e.known_missing), len(e.exposed_not_known)))
        return (
            f"No channel exposes every field the fraudster knew; closest is {best.channel} "
            f"(lacks {', '.join(best.known_missing)}; shows {len(best.exposed_not_known)} field(s) the fraudster "
            f"did not know; {best.events} event{'s' if best.events != 1 else ''} for the order)."
        )
    exact = [e for e in matching if not e.exposed_not_known]
    parts = [f"{e.channel} ({e.events} event{'s' if e.events != 1 else ''} for the order)" for e in matching]
    text = f"Channels exposing every field the fraudster knew: {', '.join(parts)}"
    if exact:
        text += f"; of these only {', '.join(e.channel for e in exact)} shows no field the fraudster did not know"
    return text + "."
