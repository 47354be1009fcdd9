"""What the user asked to fuzz (--format, --log-format or --mapping) -> a Target; one module per kind of target."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from forensics.errors import UsageError
from forensics.formats import get_format
from forensics.fuzz.model import FuzzOptions, Target, safe_label
from forensics.fuzz.targets.access import access_target
from forensics.fuzz.targets.generic import generic_target
from forensics.fuzz.targets.structured import structured_target
from forensics.fuzz.targets.syslog import syslog_target
from forensics.fuzz.targets.w3c import w3c_target

# ---------------------------------------------------------------- resolving what the user asked for


def _flavor_of(log_format: str) -> Literal["nginx", "apache"]:
    if log_format in ("common", "vhost_combined") or ("%" in log_format and "$" not in log_format):
        return "apache"
    return "nginx"


def build_target(options: FuzzOptions, workdir: Path) -> Target:
    given_ = [x for x in (options.format, options.log_format, options.mapping) if x]
    if options.format in ("nginx", "apache") and options.log_format and not options.mapping:
        given_ = [options.format]
    if len(given_) != 1:
        raise UsageError("give exactly one of --format, --log-format or --mapping")
    if options.examples < 1:
        raise UsageError("--examples must be at least 1")
    if options.mapping is not None:
        from forensics.mapping import load_mapping

        mapping = load_mapping(options.mapping)
        return _target_for(mapping.format, None, mapping, options.mapping, f"mapping-{options.mapping.stem}", workdir)
    if options.log_format is not None:
        flavor = options.format or _flavor_of(options.log_format)
        return _target_for(flavor, options.log_format, None, None, f"{flavor}-log-format", workdir)
    assert options.format is not None
    get_format(options.format)  # unknown names: UsageError with the closest one
    return _target_for(options.format, None, None, None, options.format, workdir)


def _target_for(
    name: str, log_format: str | None, mapping: Any, mapping_path: Path | None, label: str, workdir: Path
) -> Target:
    fmt = get_format(name)
    path = f"fuzz-{safe_label(label)}"
    if name in ("nginx", "apache"):
        return access_target(fmt, name, log_format, mapping, mapping_path, label, path)
    if name == "syslog":
        return syslog_target(fmt, mapping, mapping_path, label, path)
    if name == "w3c":
        return w3c_target(fmt, mapping, mapping_path, label, path)
    if name not in ("jsonl", "json", "cloudtrail", "csv", "tsv"):
        return generic_target(fmt, name, mapping, mapping_path, label, path)
    return structured_target(fmt, name, mapping, mapping_path, label, path, workdir)
