"""Format registry: a plain dict keyed by name; an unknown name suggests the closest one.

Formats load lazily so `forensics --help` stays fast and one broken optional module cannot
take the others down.
"""

from __future__ import annotations

import difflib
import importlib
from typing import TYPE_CHECKING

from forensics.errors import UsageError

if TYPE_CHECKING:
    from forensics.formats.base import Format

# name -> (module, attribute), or a Format object registered at run time (tests, plugins)
REGISTRY: dict[str, tuple[str, str] | Format] = {
    "nginx": ("forensics.formats.accesslog", "NGINX"),
    "apache": ("forensics.formats.accesslog", "APACHE"),
    "syslog": ("forensics.formats.syslog", "SYSLOG"),
    "jsonl": ("forensics.formats.structured", "JSONL"),
    "json": ("forensics.formats.structured", "JSON"),
    "cloudtrail": ("forensics.formats.structured", "CLOUDTRAIL"),
    "csv": ("forensics.formats.structured", "CSV"),
    "tsv": ("forensics.formats.structured", "TSV"),
    "w3c": ("forensics.formats.w3c", "W3C"),
    "apache_error": ("forensics.formats.errorlog", "APACHE_ERROR"),
    "nginx_error": ("forensics.formats.errorlog", "NGINX_ERROR"),
}

# Tried by --format auto, in this order (the structured formats need a mapping to mean anything).
SNIFF_ORDER: tuple[str, ...] = ("nginx", "syslog", "w3c", "apache_error", "nginx_error", "cloudtrail", "jsonl")


def format_names() -> list[str]:
    return list(REGISTRY)


def get_format(name: str) -> Format:
    try:
        entry = REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, REGISTRY, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UsageError(f"unknown format {name!r}{hint} (known: auto, {', '.join(REGISTRY)})") from None
    if not isinstance(entry, tuple):
        return entry
    module_name, attr = entry
    fmt: Format = getattr(importlib.import_module(module_name), attr)
    return fmt
