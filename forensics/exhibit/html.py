"""Self-contained HTML rendering (jinja2, autoescape always on).

The page carries its CSS inline and embeds the SVG charts as data: URIs inside <img>, where a browser never runs
scripts; nothing is fetched from the network. Every log-derived string is autoescaped by jinja2, so a user agent
holding <script> is shown as text.
"""

from __future__ import annotations

import base64
import functools
from pathlib import Path
from typing import Any

import jinja2
import markupsafe

from forensics.exhibit.labels import LABELS
from forensics.exhibit.wording import REF_RE, SECTIONS

TEMPLATE = "exhibit.html.j2"


@functools.cache  # loading and compiling the template once per process
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("forensics.exhibit", "templates"),
        autoescape=True,  # unconditional: the template is HTML whatever its file name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["refs"] = _refs
    return env


def _refs(text: str, lang: str) -> markupsafe.Markup:
    """Escape a sentence, then turn its section markers into links whose number comes from SECTIONS."""
    escaped = str(markupsafe.escape(text))

    def one(match: Any) -> str:
        key = match.group(1)
        if key not in SECTIONS:
            return str(match.group(0))
        n, title = SECTIONS.index(key) + 1, LABELS[key]["zh" if lang == "zh" else "en"]
        shown = f"第 {n} 节（{title}）" if lang == "zh" else f"section {n} ({title})"
        return f'<a href="#{key}">{markupsafe.escape(shown)}</a>'

    return markupsafe.Markup(REF_RE.sub(one, escaped))


def _data_uri(path: Path) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def render_html(view: dict[str, Any], exhibit_dir: Path) -> str:
    """The HTML document for a view; chart paths in the view are resolved against exhibit_dir."""
    charts = {}
    for src in view.get("completeness", {}).get("sources", []):
        if src.get("chart"):
            charts[src["chart"]] = _data_uri(exhibit_dir / src["chart"])
    if view.get("trail_chart"):
        charts[view["trail_chart"]] = _data_uri(exhibit_dir / view["trail_chart"])
    return _environment().get_template(TEMPLATE).render(d=view, L=view["labels"], charts=charts)
