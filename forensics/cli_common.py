"""What every command module of the CLI shares: error handling (one line, exit 1/2), JSON and table output.

cli.py and the cli_*.py command modules import from here; this module imports none of them.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from forensics.errors import ForensicsError, UsageError

F = TypeVar("F", bound=Callable[..., Any])


def friendly(func: F) -> F:
    """Turn library errors into one line and an exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except UsageError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except ForensicsError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except BrokenPipeError:
            # `forensics query ... --csv | head -1`: the reader has what it wanted; end quietly like other
            # Unix tools (128 + SIGPIPE), and keep Python from complaining while flushing the closed pipe.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(141)
        except OSError as exc:  # e.g. the disk filled up mid-ingest: the staged input was discarded
            where = f"{exc.filename}: " if exc.filename else ""
            click.echo(
                f"error: {where}{exc.strerror or exc}; the case is unchanged for the input in progress", err=True
            )
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted; the case is unchanged for any input not reported as done", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return decode_raw(value)
    if isinstance(value, Path):
        return str(value)
    return str(value)


def decode_raw(value: bytes) -> str:
    """Raw log bytes (quarantine.raw) as text: UTF-8, else GB18030 (the other encoding of Chinese logs in
    this domain), else UTF-8 with each undecodable byte shown as \\xHH. Never an error."""
    for encoding in ("utf-8", "gb18030"):
        try:
            return value.decode(encoding)
        except UnicodeDecodeError:
            continue
    return value.decode("utf-8", "backslashreplace")


def cell(value: Any) -> str:
    if value is None:
        return ""
    return decode_raw(value) if isinstance(value, bytes) else str(value)


TABLE_CELL_CHARS = 2000  # a quarantined over-long line's head is up to --max-line-bytes: never a 1 MiB cell


def table_cell(value: Any) -> str:
    """A cell for the table view: long values are cut, saying how long they are and how to get them whole."""
    text = cell(value)
    if len(text) <= TABLE_CELL_CHARS:
        return text
    size = f"{len(value)} bytes" if isinstance(value, bytes) else f"{len(text)} characters"
    return f"{text[:TABLE_CELL_CHARS]}… [{size}; use --json or --csv for the whole value]"


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=json_default))


def literal(text: str) -> Any:
    """Log-derived text is data: '[bold]' in a URL must print as written, not as rich markup."""
    from rich.text import Text

    return Text(text)


def console() -> Any:
    from rich.console import Console

    if sys.stdout.isatty():
        return Console()
    # Piped or redirected (`check > f`): no terminal to fit, so never cut or wrap a table at 80 columns.
    return Console(width=100_000, no_color=True, highlight=False)


def progress_callback() -> Any:
    """A rich progress bar on a terminal; nothing when output is piped."""
    if not sys.stderr.isatty():
        return None, None
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), transient=True
    )
    tasks: dict[str, Any] = {}

    def update(path: str, done: int, total: int) -> None:
        if path not in tasks:
            tasks[path] = progress.add_task(Path(path).name, total=total)
        progress.update(tasks[path], completed=done)

    return progress, update


def parse_tables(tables: tuple[str, ...]) -> dict[str, str]:
    """--table view=DB.TABLE options as {view: table}; a malformed one is a usage error, not a guess."""
    out: dict[str, str] = {}
    for t in tables:
        view, sep, name = t.partition("=")
        if not sep or not view.strip() or not name.strip():
            raise UsageError(f"--table takes view=DB.TABLE, e.g. events=warehouse.canonical_events (got {t!r})")
        out[view.strip()] = name.strip()
    return out


def engine_options(table_help: str, engine_default: str | None = None) -> Callable[[F], F]:
    """--engine/--master/--table, one meaning for check, exhibit and verify. verify leaves --engine unset by
    default, so that giving it for a CASE folder can be refused."""

    def decorate(command: F) -> F:
        command = click.option("--table", "tables", multiple=True, metavar="events=DB.TABLE", help=table_help)(command)
        command = click.option("--master", help="Spark master URL (default local[2]); with --engine spark.")(command)
        return click.option(
            "--engine",
            type=click.Choice(["duckdb", "spark"]),
            default=engine_default,
            help="Where the pack runs: in-process DuckDB (default), or Apache Spark "
            "(pip install 'forensics[spark]' and a Java runtime).",
        )(command)

    return decorate
