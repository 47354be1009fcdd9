"""Charts as SVG (matplotlib): hourly coverage per source, and the timeline of the order's trail.

Text in the charts is drawn as paths (svg.fonttype = "path"), so the SVG carries no font and no markup from the
logs: a source name holding '<script>' or typst code is just outlines. Mathtext is switched off so a '$' in a
log-derived label cannot turn into a formula or crash the renderer. Labels stay ASCII-safe (source and action
names, times); the bilingual captions live in the documents. Output is deterministic (fixed hash salt, no date)
so the same record gives byte-identical charts.
"""

from __future__ import annotations

import functools
import io
import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import matplotlib

matplotlib.use("Agg")  # no display; must precede the figure import
import matplotlib.dates as mdates
from matplotlib.figure import Figure

_RC: Any = {
    "svg.fonttype": "path",
    "svg.hashsalt": "forensics-exhibit",
    "text.parse_math": False,
    # CJK glyphs for the bilingual axis labels fall back to Noto Sans CJK (the exhibit's required font)
    "font.family": ["DejaVu Sans", "Noto Sans CJK SC", "Noto Sans CJK JP"],
    "font.size": 7,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#444444",
    "axes.linewidth": 0.6,
    "xtick.major.width": 0.5,
    "ytick.major.width": 0.5,
}
_INK = "#1f3b5a"
_BAD = "#b03a2e"
_WINDOW = "#e8eef5"


def _ts(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    return buf.getvalue()


def _x(moment: datetime) -> float:
    """Matplotlib's date number (days since its epoch, UTC); the axis formatter shows local time."""
    return float(mdates.date2num(moment))


def _shade_window(ax: Any, window: dict[str, Any]) -> None:
    start = _ts(window.get("padded_start") or window.get("start"))
    end = _ts(window.get("padded_end") or window.get("end"))
    if start and end:
        ax.axvspan(_x(start), _x(end), color=_WINDOW, zorder=0, lw=0)


def _time_axis(ax: Any, tz: ZoneInfo) -> None:
    locator = mdates.AutoDateLocator(tz=tz, minticks=3)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=tz))
    ax.set_xlabel(f"本地时间 local time ({tz.key})")


def _key(*parts: Any) -> str:
    return json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)


def coverage_chart(source: dict[str, Any], window: dict[str, Any], tz: ZoneInfo) -> str:
    """Hourly events against the source's baseline; hours below baseline, gaps and missing heartbeats in red."""
    return _drawn("coverage", _key(source, window), tz.key)


def timeline_chart(events: list[dict[str, Any]], window: dict[str, Any], tz: ZoneInfo) -> str:
    """Each event touching the order as a marker on its source's lane, annotated with its action."""
    return _drawn("timeline", _key(events, window), tz.key)


@functools.lru_cache(maxsize=32)
def _drawn(kind: str, key: str, zone: str) -> str:
    """A chart is a pure function of its data (deterministic SVG): verify re-draws the charts the build drew, so
    within one process (demo, a test session) the same data is drawn once."""
    data, window = json.loads(key)
    tz = ZoneInfo(zone)
    return _coverage(data, window, tz) if kind == "coverage" else _timeline(data, window, tz)


def _coverage(source: dict[str, Any], window: dict[str, Any], tz: ZoneInfo) -> str:
    hourly = [(h, t) for h in source.get("hourly", []) if (t := _ts(h.get("hour"))) is not None]
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(6.6, 1.6))
        ax = fig.add_subplot()
        _shade_window(ax, window)
        if hourly:
            xs = [_x(t + timedelta(minutes=30)) for _, t in hourly]
            ys = [int(h.get("events") or 0) for h, _ in hourly]
            colors = [_INK if h.get("ok", True) else _BAD for h, _ in hourly]
            ax.bar(xs, ys, width=50 / 1440, color=colors, lw=0, zorder=2)
            base = [h.get("baseline") for h, _ in hourly]
            if any(b is not None for b in base):
                ax.step(
                    xs,
                    [float(b) if b is not None else float("nan") for b in base],
                    where="mid",
                    color="#888888",
                    lw=0.8,
                    ls="--",
                    zorder=3,
                    label="基线 baseline",
                )
                ax.legend(loc="upper right", frameon=False)
        for gap in [*source.get("gaps", []), *source.get("missing_heartbeats", [])]:
            start, end = _ts(gap.get("start")), _ts(gap.get("end"))
            if start and end:
                ax.axvspan(_x(start), _x(end), color=_BAD, alpha=0.35, zorder=1, lw=0)
        ax.set_ylabel("每小时事件数 events / hour")
        _time_axis(ax, tz)
        return _svg(fig)


def _timeline(events: list[dict[str, Any]], window: dict[str, Any], tz: ZoneInfo) -> str:
    points = [(e, t) for e in events if (t := _ts(e.get("ts"))) is not None]
    lanes: list[str] = []
    for e, _ in points:
        lane = str(e.get("source") or "?")
        if lane not in lanes:
            lanes.append(lane)
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(6.6, max(1.4, 0.45 * len(lanes) + 0.9)))
        ax = fig.add_subplot()
        _shade_window(ax, window)
        for n, (e, t) in enumerate(points):
            y = lanes.index(str(e.get("source") or "?"))
            action = str(e.get("action") or "")
            color = _BAD if action in {"order.view_unmasked", "order.export", "order.export_download"} else _INK
            ax.plot([_x(t)], [y], marker="o", ms=4, color=color, zorder=3)
            if len(points) <= 40:  # labels stay readable; beyond that the table carries the detail
                ax.annotate(
                    action,
                    (_x(t), y),
                    xytext=(4, (5, -9, 12)[n % 3]),
                    textcoords="offset points",
                    fontsize=6,
                    color="#333333",
                )
        ax.set_yticks(range(len(lanes)), lanes)
        ax.set_ylim(-0.8, max(len(lanes) - 0.2, 0.8))
        if not points:
            ax.text(0.5, 0.5, "无事件 no events", transform=ax.transAxes, ha="center", va="center", color="#888888")
        _time_axis(ax, tz)
        ax.grid(axis="x", color="#dddddd", lw=0.4)
        return _svg(fig)


def trail_events(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The order's trail from the pack's trail check (id containing 'trail', with ts/source/action columns)."""
    for check in checks:
        columns = [str(c) for c in check.get("columns", [])]
        if "trail" in str(check.get("id", "")) and {"ts", "source", "action"} <= set(columns):
            return [dict(zip(columns, row, strict=False)) for row in check.get("results", [])]
    return []
