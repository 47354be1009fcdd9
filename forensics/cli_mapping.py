"""`forensics mapping ...`: commands that help write a mapping file (thin: each calls one library function)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click


def register(main: click.Group, friendly: Callable[[Any], Any]) -> None:
    """Add the `mapping` group to the CLI; `friendly` is cli.py's error handling (one line, exit 1/2)."""

    @main.group()
    def mapping() -> None:
        """Write and try mapping files (raw fields -> canonical columns)."""

    @mapping.command("try")
    @click.argument("mapping_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--lines", type=click.IntRange(min=1), default=20, show_default=True, help="Records to parse.")
    @click.option("--tz", help="Zone of zone-less timestamps (overrides the mapping's tz), as for ingest.")
    @click.option("--encoding", help="Encoding of FILE (default: the mapping's, else auto).")
    @click.option("--log-format", help="Access-log mappings: the server's format string or preset.")
    @click.option("--json", "as_json", is_flag=True, help="Print {rows, actions, fell_to_other, null_columns, ...}.")
    @friendly
    def mapping_try(
        mapping_file: Path,
        file: Path,
        lines: int,
        tz: str | None,
        encoding: str | None,
        log_format: str | None,
        as_json: bool,
    ) -> None:
        """Parse the first records of FILE with MAPPING_FILE and show what the mapping makes of them.

        Prints the canonical rows, action per raw value (action_raw -> action), raw names that fell to
        'other', columns left null and the lines ingest would quarantine, with reasons. Writes nothing.
        """
        from forensics.mapping_try import TryOptions, safe_json, try_mapping

        report = try_mapping(
            mapping_file, file, TryOptions(lines=lines, tz=tz, encoding=encoding, log_format=log_format)
        )
        if as_json:
            click.echo(safe_json(report.to_json()))
            return
        for line in report.summary():
            click.echo(line)
