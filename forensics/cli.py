"""The command line: a thin layer over the library and the only place that prints.

Each command calls one library function. Library errors become one clear line on stderr and an
exit code (1 runtime failure or failed verification, 2 usage); never a traceback.
"""

from __future__ import annotations

import csv
import functools
import json
import os
import sys
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from forensics import __version__
from forensics.errors import ForensicsError, UsageError
from forensics.formats import format_names

F = TypeVar("F", bound=Callable[..., Any])

FORMAT_CHOICES = ["auto", *format_names()]  # the registry is the one list of formats


def _friendly(func: F) -> F:
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


def _json_default(value: Any) -> Any:
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


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return decode_raw(value) if isinstance(value, bytes) else str(value)


_TABLE_CELL_CHARS = 2000  # a quarantined over-long line's head is up to --max-line-bytes: never a 1 MiB cell


def _table_cell(value: Any) -> str:
    """A cell for the table view: long values are cut, saying how long they are and how to get them whole."""
    text = _cell(value)
    if len(text) <= _TABLE_CELL_CHARS:
        return text
    size = f"{len(value)} bytes" if isinstance(value, bytes) else f"{len(text)} characters"
    return f"{text[:_TABLE_CELL_CHARS]}… [{size}; use --json or --csv for the whole value]"


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=_json_default))


def _literal(text: str) -> Any:
    """Log-derived text is data: '[bold]' in a URL must print as written, not as rich markup."""
    from rich.text import Text

    return Text(text)


def _console() -> Any:
    from rich.console import Console

    if sys.stdout.isatty():
        return Console()
    # Piped or redirected (`check > f`): no terminal to fit, so never cut or wrap a table at 80 columns.
    return Console(width=100_000, no_color=True, highlight=False)


def _progress_callback() -> Any:
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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="forensics")
def main() -> None:
    """Access-log forensics for personal-information disputes.

    Ingest a platform's log dump losslessly into a hash-sealed case, answer the court's
    questions with query packs whose "nothing found" is only claimed when the logs were
    complete, and produce an exhibit the other side can re-verify.

    Start with `forensics demo`; see README.md for the whole workflow.
    """


# ---------------------------------------------------------------- init / ingest / verify


@main.command()
@click.argument("case", type=click.Path(path_type=Path))
@_friendly
def init(case: Path) -> None:
    """Create a case folder with a commented case.toml template."""
    from forensics.case import init_case

    existed = (case / "case.toml").exists()
    init_case(case)
    if existed:  # nothing was overwritten: say so rather than claim a fresh case
        click.echo(f"{case} is already a case; left unchanged (its case.toml and inputs are kept)")
    else:
        click.echo(f"initialised case {case} (edit {case / 'case.toml'} to describe the matter)")


@main.command()
@click.argument("case", type=click.Path(path_type=Path))
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--plan", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="TOML plan of many inputs.")
@click.option("--source", help="Logical system name, e.g. merchant_backend (default: mapping's, else file name).")
@click.option("--format", "fmt", type=click.Choice(FORMAT_CHOICES), default="auto", show_default=True)
@click.option("--log-format", help="nginx log_format / Apache LogFormat string, or a preset (combined, common, ...).")
@click.option("--mapping", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Mapping file (TOML).")
@click.option("--tz", help="Zone the source wrote zone-less timestamps in (IANA name, e.g. Asia/Shanghai).")
@click.option(
    "--encoding",
    default="auto",
    show_default=True,
    help="auto (UTF-8, or a legacy encoding only when unambiguous), or any codec name Python knows: "
    "gb18030, big5, shift_jis, euc-kr, cp1252, ...",
)
@click.option("--year", type=int, help="Syslog RFC 3164: year of the file's last record (default: file mtime).")
@click.option("--preserve", is_flag=True, help="Copy raw files into the case, content-addressed.")
@click.option("--strict", is_flag=True, help="Exit 1 if any line was quarantined (or any file warned).")
@click.option(
    "--max-quarantine-ratio",
    type=click.FloatRange(0.0, 1.0),
    default=0.05,
    show_default=True,
    help="Warn (naming the top reasons and the likely fix) when a file quarantines more than this share of its "
    "lines; a file with every line quarantined always warns. A warning alone leaves the exit code 0 (the "
    "quarantine is sealed and can be inspected); with --strict it is 1.",
)
@click.option(
    "--max-line-bytes",
    type=click.IntRange(min=1024),
    default=1 << 20,
    show_default=True,
    help="A longer line is quarantined (its head, length and SHA-256), never held whole in memory.",
)
@click.option(
    "--engine",
    type=click.Choice(["local", "spark"]),
    default="local",
    show_default=True,
    help="spark: parse the files as Apache Spark tasks (the same per-file ingest), seal here; "
    "the case folder must be on a filesystem every executor sees at the same path (docs/scale.md).",
)
@click.option("--master", help="Spark master URL with --engine spark (default: spark-submit's, else local[*]).")
@click.option("--json", "as_json", is_flag=True, help="Print the stable JSON report (see README, Ingest).")
@_friendly
def ingest(
    case: Path,
    paths: tuple[Path, ...],
    plan: Path | None,
    source: str | None,
    fmt: str,
    log_format: str | None,
    mapping: Path | None,
    tz: str | None,
    encoding: str,
    year: int | None,
    preserve: bool,
    strict: bool,
    max_quarantine_ratio: float,
    max_line_bytes: int,
    engine: str,
    master: str | None,
    as_json: bool,
) -> None:
    """Ingest log files (or a --plan) into CASE. Raw files are never modified.

    Every line is accounted for: lines = events + quarantined + blank (+ structural lines such
    as a CSV header). A file already in the case (same SHA-256) is skipped and said so.
    """
    from forensics.case import open_case
    from forensics.ingest import IngestOptions, ingest_paths, ingest_plan

    if bool(paths) == bool(plan):
        raise UsageError("give either PATH... or --plan FILE")
    if master is not None and engine != "spark":
        raise UsageError("--master needs --engine spark")
    c = open_case(case)
    progress, update = _progress_callback()
    options = IngestOptions(
        source=source,
        format=fmt,
        log_format=log_format,
        mapping=mapping,
        tz=tz,
        encoding=encoding,
        preserve=preserve,
        strict=strict,
        year=year,
        progress=update,
        max_quarantine_ratio=max_quarantine_ratio,
        max_line_bytes=max_line_bytes,
    )
    if progress is not None:
        progress.start()
    try:
        if engine == "spark":
            report = _ingest_spark(c, plan, list(paths), options, master)
        else:
            report = ingest_plan(c, plan, options) if plan else ingest_paths(c, list(paths), options)
    finally:
        if progress is not None:
            progress.stop()
    if report.notice:
        click.echo(f"note: {report.notice}", err=True)
    for f in report.files:
        if f.detection:
            click.echo(f"{f.path}: {f.detection}", err=True)
    if as_json:
        _print_json(report.to_json())
    else:
        _print_ingest_table(report)
    for f in report.files:
        for warning in f.warnings:
            click.echo(f"WARNING: {warning}", err=True)
    warned = sum(1 for f in report.files if f.warnings)
    if strict and (report.quarantined or warned):
        click.echo(
            f"--strict: {report.quarantined} line(s) quarantined (see the quarantine view), {warned} file(s) warned",
            err=True,
        )
        sys.exit(1)


def _ingest_spark(case: Any, plan: Path | None, paths: list[Path], options: Any, master: str | None) -> Any:
    from forensics.engines.spark_ingest import ingest_paths_spark, ingest_plan_spark

    if plan is not None:
        return ingest_plan_spark(case, plan, options, master)
    return ingest_paths_spark(case, paths, options, master)


def _print_ingest_table(report: Any) -> None:
    from rich.table import Table

    table = Table(title=f"ingest into {report.case}", show_lines=False)
    counts = ("lines", "events", "quarantined", "blank", "structural")
    for col in ("file", "source", "format", *counts, "sha256"):
        table.add_column(col, justify="right" if col in counts else "left")
    for f in report.files:
        name = "/".join(Path(f.path).parts[-2:])  # enough to tell node/day files apart
        if f.skipped_duplicate and f.duplicate_of and f.duplicate_of["sha256"] != f.sha256:
            of = f"same content as {f.duplicate_of['path']} ({f.duplicate_of['sha256'][:16]}…): skipped"
            cells = [name, f.source, f.format, "-", "-", "-", "-", "-", of]
        elif f.skipped_duplicate:
            cells = [name, f.source, f.format, "-", "-", "-", "-", "-", f"{f.sha256[:16]}… already in case: skipped"]
        else:
            cells = [name, f.source, f.format, *(str(getattr(f, c)) for c in counts)]
            cells.append(f.sha256[:16])
        table.add_row(*[_literal(c) for c in cells])
    _console().print(table)
    click.echo(
        f"{report.events} events, {report.quarantined} quarantined; "
        + (
            "lines = events + quarantined + blank + structural holds for every file"
            if report.identity_holds()
            else "ACCOUNTING MISMATCH: lines != events + quarantined + blank + structural"
        )
    )


def _exhibit_engine_options(command: Any) -> Any:
    """--engine/--master/--table for exhibit and verify (the same meaning as for check)."""
    command = click.option(
        "--table",
        "tables",
        multiple=True,
        metavar="events=DB.TABLE",
        help="With --engine spark: the events are a warehouse table in the canonical schema, not sealed files "
        "(verify: default the table the exhibit records).",
    )(command)
    command = click.option("--master", help="Spark master URL (default local[2]); with --engine spark.")(command)
    return click.option(
        "--engine",
        type=click.Choice(["duckdb", "spark"]),
        default=None,
        help="Where the pack runs: DuckDB (default) or Apache Spark (pip install 'forensics[spark]', Java).",
    )(command)


@main.command()
@click.argument("target", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print {ok, problems: [{kind, path, detail}], retracted, notes}.")
@click.option(
    "--reparse",
    is_flag=True,
    help="Also parse every preserved raw file (ingest --preserve) again and compare its rows with the stored ones.",
)
@click.option(
    "--trust",
    "trust",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Public key (PEM) whose signature the case must carry and that must still hold (repeatable).",
)
@click.option(
    "--tsa-cert",
    "tsa_certs",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="TSA or TSA CA certificate (PEM) to check timestamps against (repeatable).",
)
@click.option(
    "--case",
    "case_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="EXHIBIT only: the case folder to re-derive it from (default: the path the exhibit records).",
)
@_exhibit_engine_options
@_friendly
def verify(
    target: Path,
    as_json: bool,
    reparse: bool,
    trust: tuple[Path, ...],
    tsa_certs: tuple[Path, ...],
    case_dir: Path | None,
    engine: str,
    master: str | None,
    tables: tuple[str, ...],
) -> None:
    """Recompute every hash of a CASE or an EXHIBIT folder; exit 1 naming each mismatch.

    For a CASE: custody chain, manifest, every file (nothing unlisted, no symlink), case.duckdb's
    views, case.toml against the last check/exhibit, row digests and Merkle roots (streamed), and
    its signatures and timestamps (CASE/witnesses) against the custody log. For an EXHIBIT the pack is
    re-run on the case and exhibit.json, the charts, the PDF (page text) and the HTML are re-derived and
    compared; the custody head it was built on and its custody entry must still be in the log.
    An EXHIBIT of a warehouse table is re-run on that table with --engine spark (another name with
    --table events=DB.TABLE): a changed digest, row count or version fails it ("the table changed");
    without --engine spark its files and seals are checked and it FAILS with `table_rerun`, since its
    findings were not re-derived.
    """
    notes: list[str] = []
    if (target / "exhibit.json").exists():
        from forensics.exhibit.verify import verify_exhibit

        if trust or tsa_certs:
            raise UsageError("--trust and --tsa-cert check a case's witnesses: give the CASE folder")
        report: Any = verify_exhibit(target, case_dir, engine, master, _parse_tables(tables) or None)
        if not as_json:
            click.echo(f"case: {report.case or '(not found)'}")
            for note in report.notes:
                click.echo(f"note: {note}")
    elif case_dir is not None or engine or master or tables:
        raise UsageError("--case, --engine, --master and --table apply to an EXHIBIT folder only")
    else:
        from forensics.case import open_case
        from forensics.custody import verify_case
        from forensics.witness import verify_witnesses

        case = open_case(target)
        progress, update = _rows_progress()
        if progress is not None:
            progress.start()
        try:
            report = verify_case(case, reparse=reparse, progress=update)
        finally:
            if progress is not None:
                progress.stop()
        witnessed = verify_witnesses(case, trust, tsa_certs)
        report.problems += witnessed.problems
        report.ok = not report.problems
        notes = witnessed.notes
    if as_json:
        _print_json({**report.to_json(), "notes": notes})
    else:
        for p in report.problems:
            click.echo(f"MISMATCH {p.kind}: {p.path}: {p.detail}")
        for r in getattr(report, "retracted", []):
            click.echo(f"retracted: {r['path']} ({str(r['sha256'])[:16]}…) at {r['at']}: {r['reason']}")
        rows = report.checked.get("rows")
        if rows and getattr(report, "seconds", 0):
            click.echo(f"{rows} rows re-digested in {report.seconds:.1f} s ({rows / report.seconds:,.0f} rows/s)")
        for note in notes:
            click.echo(f"info: {note}")
        click.echo("OK: every hash matches" if report.ok else f"FAILED: {len(report.problems)} problem(s)")
    if not report.ok:
        sys.exit(1)


def _rows_progress() -> Any:
    """A progress bar over rows on a terminal; nothing when output is piped."""
    if not sys.stderr.isatty():
        return None, None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    progress = Progress(
        TextColumn("verify rows"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True
    )
    task = progress.add_task("rows", total=None)

    def update(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    return progress, update


# ---------------------------------------------------------------- witnesses: keys, signatures, timestamps


@main.command()
@click.option(
    "--out", required=True, type=click.Path(path_type=Path), help="Private key file; the public key goes to OUT.pub."
)
@click.option("--algorithm", type=click.Choice(["ed25519", "sm2"]), default="ed25519", show_default=True)
@_friendly
def keygen(out: Path, algorithm: str) -> None:
    """Make a signing key pair (PKCS#8 PEM, the private file readable by you only)."""
    from forensics.witness_crypto import keygen as make_key

    public = make_key(out, algorithm)
    click.echo(f"private key: {out}\npublic key:  {out}.pub\nfingerprint: {public.fingerprint}")


@main.command()
@click.argument("case", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("input_sha256")
@click.option("--reason", required=True, help="Why the input is withdrawn (recorded in the custody log).")
@_friendly
def retract(case: Path, input_sha256: str, reason: str) -> None:
    """Take an ingested input's rows out of the case's views (e.g. ingested with the wrong format).

    Its Parquet files and raw copy stay in the case, sealed and listed as retracted; the same file
    can then be ingested again with the right options.
    """
    from forensics.case import open_case
    from forensics.retract import retract_input

    item = retract_input(open_case(case), input_sha256, reason)
    click.echo(
        f"retracted {item.get('path')} ({str(item['sha256'])[:16]}…): {item.get('events')} events left the views"
    )


@main.command()
@click.argument("case", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--key", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Private key (PEM)."
)
@click.option(
    "--algorithm", type=click.Choice(["ed25519", "sm2"]), help="Insist on this algorithm (default: the key's)."
)
@_friendly
def sign(case: Path, key: Path, algorithm: str | None) -> None:
    """Sign the case's current seal (manifest, custody head, case.toml); stored in CASE/witnesses."""
    from forensics.case import open_case
    from forensics.witness import sign_case

    done = sign_case(open_case(case), key, algorithm)
    click.echo(
        f"signed custody head seq {done['signed_head_seq']} with {done['key_fingerprint']} ({done['algorithm']})\n"
        f"statement sha256 {done['statement_sha256']}\nwitness {done['witness']}"
    )


@main.command()
@click.argument("case", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--request", "request", type=click.Path(path_type=Path), help="Write an RFC 3161 request (.tsq) here.")
@click.option("--attach", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="The TSA's reply (.tsr).")
@click.option(
    "--tsa-cert",
    "tsa_certs",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="TSA or TSA CA certificate (PEM) to check the reply against (default: the system store).",
)
@_friendly
def timestamp(case: Path, request: Path | None, attach: Path | None, tsa_certs: tuple[Path, ...]) -> None:
    """Trusted time for the case's current seal: --request OUT.tsq, send it to a TSA, then --attach REPLY.tsr."""
    from forensics.case import open_case
    from forensics.witness import timestamp_attach, timestamp_request

    if (request is None) == (attach is None):
        raise UsageError("give exactly one of --request OUT.tsq or --attach REPLY.tsr")
    if request is not None:
        done = timestamp_request(open_case(case), request)
        click.echo(
            f"request {done['request']} (nonce {done['nonce']}) over statement sha256 {done['statement_sha256']}, "
            f"custody head seq {done['custody_head_seq']}; send it to a TSA and --attach the reply"
        )
        return
    assert attach is not None
    done = timestamp_attach(open_case(case), attach, list(tsa_certs))
    click.echo(
        f"sealed no later than {done['gen_time']} by TSA {done['tsa']}: custody head seq {done['signed_head_seq']}\n"
        f"witness {done['witness']}"
    )


# ---------------------------------------------------------------- query / check / packs


@main.command()
@click.argument("case", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("sql")
@click.option("--json", "as_json", is_flag=True, help="Rows as a JSON array of objects (streamed in batches).")
@click.option(
    "--csv", "as_csv", is_flag=True, help="Rows as CSV with a header (streamed; cells starting = + - @ get a ')."
)
@click.option("--timeout", type=float, default=600.0, show_default=True, help="Stop the query after SECONDS.")
@click.option("--max-rows", type=int, default=1000, show_default=True, help="Rows printed in the table view.")
@_friendly
def query(case: Path, sql: str, as_json: bool, as_csv: bool, timeout: float, max_rows: int) -> None:
    """Run one read-only SELECT over the views events, quarantine, inputs, runs (bounded time and memory)."""
    from forensics.case import open_case
    from forensics.limits import csv_cell, stream_select

    con = open_case(case).connect()
    try:
        columns, batches = stream_select(con, sql, timeout)
        if as_json:
            first = True
            sys.stdout.write("[")
            for rows in batches:
                for r in rows:
                    text = json.dumps(dict(zip(columns, r, strict=True)), ensure_ascii=False, default=_json_default)
                    sys.stdout.write(("\n " if first else ",\n ") + text)
                    first = False
            sys.stdout.write("\n]\n" if not first else "]\n")
        elif as_csv:
            writer = csv.writer(sys.stdout)
            writer.writerow([csv_cell(c) for c in columns])
            for rows in batches:
                writer.writerows([[csv_cell(_csv_value(v)) for v in r] for r in rows])
        else:
            _print_table(columns, batches, max_rows)
    finally:
        con.close()


def _print_table(columns: list[str], batches: Any, max_rows: int) -> None:
    from rich.table import Table

    table = Table()
    for c in columns:
        table.add_column(c)
    shown, more = 0, False
    for rows in batches:
        for r in rows:
            if shown == max_rows:
                more = True
                break
            table.add_row(*[_literal(_table_cell(v)) for v in r])
            shown += 1
        if more:
            break  # the rest is never fetched: a huge result costs no time or memory here
    _console().print(table)
    click.echo(f"{shown} row(s)" + (f" shown; more not shown (--max-rows {max_rows})" if more else ""))


def _csv_value(value: Any) -> Any:
    """Numbers stay numbers (a negative amount is not a formula); everything else as in --json."""
    return value if value is None or isinstance(value, int | float) else _json_default(value)


def _parse_params(params: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for p in params:
        if "=" not in p:
            raise UsageError(f"--param takes name=value (got {p!r})")
        k, v = p.split("=", 1)
        out[k.strip()] = v
    return out


@main.command()
@click.argument("case", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--pack", help="Pack name (default order-leak) or a folder holding pack.toml.")
@click.option("--param", "params", multiple=True, help="Override a parameter: name=value (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the stable JSON result.")
@click.option("--fail-on-findings", is_flag=True, help="Exit 1 if any check is flagged or inconclusive.")
@click.option("--allow-unverified", is_flag=True, help="Run even if the case fails the fast verify (said on stderr).")
@click.option(
    "--rows",
    "rows_of",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[CHECK]",
    help="Also print the rows of CHECK (default: every check with rows): who, what, when in the case zone, file:line.",
)
@click.option(
    "--engine",
    type=click.Choice(["duckdb", "spark"]),
    default="duckdb",
    show_default=True,
    help="Where the SQL runs: in-process DuckDB, or Apache Spark (pip install 'forensics[spark]' and a Java runtime).",
)
@click.option("--master", help="Spark master URL (default local[2]); with --engine spark.")
@click.option(
    "--table",
    "tables",
    multiple=True,
    metavar="events=DB.TABLE",
    help="With --engine spark: read the events from a warehouse table in the canonical schema "
    "(`forensics schema --dialect spark`) instead of the case's sealed files; the result says so.",
)
@_friendly
def check(
    case: Path,
    pack: str | None,
    params: tuple[str, ...],
    as_json: bool,
    fail_on_findings: bool,
    allow_unverified: bool,
    rows_of: str | None,
    engine: str,
    master: str | None,
    tables: tuple[str, ...],
) -> None:
    """Run a query pack on CASE and print each check's verdict.

    Checks depend on roles (back_office, open_api, logistics_print, security_monitor for order-leak;
    see `forensics packs show`). case.toml [roles] binds each role to this case's sources, e.g.
    back_office = ["admin_audit"]; absent = ["open_api"] declares a role the platform does not have.

    The case is verified first (custody, manifest, file hashes); a failing case is refused unless
    --allow-unverified. The run is recorded in custody with digests of case.toml, the parameters and the pack.
    """
    from forensics.case import open_case
    from forensics.checkrun import check_case

    opened = open_case(case)
    result, unverified = check_case(
        opened,
        pack,
        _parse_params(params),
        allow_unverified=allow_unverified,
        engine=engine,
        master=master,
        tables=_parse_tables(tables),
    )
    for line in unverified:
        click.echo(f"UNVERIFIED {line}", err=True)
    data = result.to_json()
    if unverified:
        data["unverified"] = unverified
    if as_json:
        _print_json(data)
    else:
        if result.source is not None:  # said first: the verdicts are about a table, not sealed files
            click.echo(f"SOURCE: {_source_line(result.source)}")
        if result.warnings:  # one line before the table: every verdict below depends on it
            click.echo(f"WARNING: {'; '.join(result.warnings)}")
        _print_verdicts(data)
        if rows_of is not None:
            _print_check_rows(opened, result, rows_of or None)
    if fail_on_findings and any(c["verdict"] in {"flagged", "inconclusive", "missing"} for c in data["checks"]):
        sys.exit(1)


def _parse_tables(tables: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for t in tables:
        view, sep, name = t.partition("=")
        if not sep or not view.strip() or not name.strip():
            raise UsageError(f"--table takes view=DB.TABLE, e.g. events=warehouse.canonical_events (got {t!r})")
        out[view.strip()] = name.strip()
    return out


def _source_line(source: dict[str, Any]) -> str:
    version = f", version {source['version']}" if source.get("version") is not None else ""
    return (
        f"warehouse table {source['table']}{version}, {source['rows']} rows, "
        f"digest {source['digest']} ({source['digest_method']}); not the case's sealed files"
    )


VERDICT_STYLE = {
    "clean": "green",
    "found": "green",
    "info": "cyan",
    "flagged": "bold red",
    "inconclusive": "yellow",
    "missing": "bold red",
}


def _print_check_rows(case: Any, result: Any, check_id: str | None) -> None:
    from rich.table import Table

    from forensics.rows import COLUMNS, check_rows
    from forensics.verdicts import input_paths

    con = case.connect()
    try:
        paths = input_paths(con)
    finally:
        con.close()
    for cid, rows in check_rows(result, check_id, paths):
        table = Table(title=f"{cid}: {len(rows)} row(s)")
        for col in COLUMNS:
            table.add_column(col)
        for row in rows:
            table.add_row(*[_literal(v) for v in row])
        _console().print(table)


def _print_verdicts(data: dict[str, Any]) -> None:
    from rich.table import Table

    for note in data.get("role_notes", []):
        # Said once, before the table: a role bound to no source explains every INCONCLUSIVE that depends on it.
        _console().print(_literal(note), style="yellow")
    table = Table(title=f"{data['pack']} {data['version']}")
    table.add_column("check")
    table.add_column("verdict")
    table.add_column("rows", justify="right")
    table.add_column("reason")
    for c in data["checks"]:
        style = VERDICT_STYLE.get(c["verdict"], "")
        verdict = _literal(c["verdict"].upper())
        verdict.stylize(style)
        table.add_row(_literal(c["id"]), verdict, str(c["rows"]), _literal(c.get("reason") or ""))
    _console().print(table)


@main.group()
def packs() -> None:
    """List, show and test query packs."""


@packs.command("list")
@_friendly
def packs_list() -> None:
    """Installed packs with their version and checks."""
    from forensics.packs import list_packs

    for info in list_packs():
        click.echo(f"{info.name} {info.version}: {info.description}")


@packs.command("show")
@click.argument("pack")
@_friendly
def packs_show(pack: str) -> None:
    """A pack's parameters and checks (with their questions)."""
    from forensics.packs import load_pack

    p = load_pack(pack)
    click.echo(p.describe())


@packs.command("test")
@click.argument("pack", default="order-leak")
@click.option(
    "--spark/--no-spark",
    "analyse",
    default=None,
    help="Also analyse each check's Spark SQL on Spark (default: when pyspark and Java are installed).",
)
@_friendly
def packs_test(pack: str, analyse: bool | None) -> None:
    """Translate every check to Spark SQL, then run every check's fixtures; exit 1 on any failure."""
    from forensics.engines.packcheck import spark_check_pack
    from forensics.packs import load_pack, test_pack

    loaded = load_pack(pack)
    spark = spark_check_pack(loaded, analyse)
    for s in spark:
        click.echo(f"{'ok  ' if s.ok else 'FAIL'} {s.check_id} spark: {s.detail}")
    results = test_pack(loaded)
    failed = [r for r in results if not r.ok]
    for r in results:
        click.echo(f"{'ok  ' if r.ok else 'FAIL'} {r.check_id} {r.fixture}: {r.detail}")
    bad_spark = [s for s in spark if not s.ok]
    click.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed; {len(bad_spark)} not translatable to Spark")
    if failed or bad_spark:
        sys.exit(1)


@main.command()
@click.option("--dialect", type=click.Choice(["spark", "hive"]), default="spark", show_default=True)
@click.option("--table", "table", default="forensics.events", show_default=True, help="Table name in the DDL.")
@_friendly
def schema(dialect: str, table: str) -> None:
    """Print the canonical event schema as CREATE TABLE DDL (for --engine spark --table events=DB.TABLE)."""
    from forensics.engines.ddl import schema_ddl

    click.echo(schema_ddl(dialect, table), nl=False)


# ---------------------------------------------------------------- exhibit / sample / fuzz / demo


@main.command()
@click.argument("case", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "-o", "--out", "out_dir", type=click.Path(path_type=Path), help="Output folder (default CASE/exhibits/N)."
)
@click.option(
    "--lang",
    type=click.Choice(["zh", "en", "zh-en"]),
    default="zh-en",
    show_default=True,
    help="Language of the exhibit: Chinese, English, or both side by side.",
)
@click.option("--unmask", is_flag=True, help="Also write a sealed unmasked version linked by hash.")
@click.option("--number", help="Exhibit number, e.g. E-3 (default: case.toml).")
@click.option("--font-path", type=click.Path(exists=True, path_type=Path), help="Folder or file of a CJK font.")
@click.option("--allow-unverified", is_flag=True, help="Build even if the case fails verify; every page then says so.")
@click.option("--replace", is_flag=True, help="Replace an earlier exhibit with the same number (recorded in custody).")
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Pseudonym key file (default: ~/.config/forensics/keys/CASE-ID.key, outside the case; never hand it over).",
)
@_exhibit_engine_options
@_friendly
def exhibit(
    case: Path,
    out_dir: Path | None,
    lang: str,
    unmask: bool,
    number: str | None,
    font_path: Path | None,
    allow_unverified: bool,
    replace: bool,
    key_file: Path | None,
    engine: str,
    master: str | None,
    tables: tuple[str, ...],
) -> None:
    """Write the court exhibit: PDF/A-2b, HTML, JSON findings and a hash manifest.

    The case is verified first (custody, manifest, file hashes); a case that fails is refused unless
    --allow-unverified, and then every page says so. An existing exhibit folder is never overwritten without
    --replace. With --engine spark --table events=DB.TABLE the pack runs on a warehouse table and the
    exhibit states it (table, catalog version, rows, digest, Spark, when read): its findings are about the
    table as read then, not sealed raw files; the case folder may then hold no sealed inputs at all."""
    import shlex

    from forensics.case import case_lock, open_case
    from forensics.exhibit import build_exhibit

    c = open_case(case)
    with case_lock(c, "exhibit"):
        result = build_exhibit(
            c,
            out_dir,
            lang=lang,
            unmask=unmask,
            number=number,
            font_path=font_path,
            allow_unverified=allow_unverified,
            replace=replace,
            key_file=key_file,
            engine=engine or "duckdb",
            master=master,
            tables=_parse_tables(tables) or None,
        )
    for line in result.summary:
        click.echo(line)
    click.echo(f"exhibit: {result.pdf}")
    spark = " --engine spark" + (f" --master {shlex.quote(master)}" if master else "") if tables else ""
    click.echo(f"verify with: forensics verify {shlex.quote(str(result.out_dir))}{spark}")


@main.command()
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--variant", type=click.Choice(["clean", "guilty", "gap"]), default="clean", show_default=True)
@click.option("--events", type=int, default=30_000, show_default=True, help="Approximate number of background events.")
@click.option("--seed", type=int, default=7, show_default=True)
@_friendly
def sample(out: Path, variant: str, events: int, seed: int) -> None:
    """Write a synthetic case world (raw logs, mappings, plan, case.toml, ground truth)."""
    from forensics.sample import generate

    result = generate(out, variant=variant, events=events, seed=seed)
    click.echo(f"wrote {result.events_written} events in {len(result.files)} files to {result.out_dir}")
    for line in next_steps(result):
        click.echo(line)


def next_steps(result: Any) -> list[str]:
    """The rest of the workflow, one command a line, ready to copy (README's Workflow says the same)."""
    import shlex
    import tomllib

    number = tomllib.loads(result.case_toml_path.read_text(encoding="utf-8")).get("case", {}).get("exhibit_number")
    return [
        "next (CASE is a new folder of your choice):",
        "  forensics init CASE",
        f"  cp {shlex.quote(str(result.case_toml_path))} CASE/case.toml",
        f"  forensics ingest CASE --plan {shlex.quote(str(result.plan_path))}",
        "  forensics check CASE",
        "  forensics exhibit CASE",
        f"  forensics verify CASE/exhibits/{number or 'E-1'}",
    ]


@main.command()
@click.option("--format", "fmt", help="Built-in format to fuzz (nginx, apache, syslog, jsonl, csv, ...).")
@click.option("--log-format", help="An nginx/Apache format string to fuzz.")
@click.option("--mapping", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="A mapping file.")
@click.option("--seconds", type=float, help="Stop after this long.")
@click.option("--examples", type=int, default=500, show_default=True)
@click.option("--seed", type=int, help="Seed for a reproducible run.")
@click.option("--corpus", type=click.Path(exists=True, path_type=Path), help="Real sample lines to mutate.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (properties, counts, failures).")
@_friendly
def fuzz(
    fmt: str | None,
    log_format: str | None,
    mapping: Path | None,
    seconds: float | None,
    examples: int,
    seed: int | None,
    corpus: Path | None,
    as_json: bool,
) -> None:
    """Property-test a parser: never crash, every line accounted for, round trip, determinism."""
    from forensics.fuzz import FuzzOptions, run_fuzz

    report = run_fuzz(
        FuzzOptions(
            format=fmt,
            log_format=log_format,
            mapping=mapping,
            seconds=seconds,
            examples=examples,
            seed=seed,
            corpus=corpus,
            progress=sys.stderr.isatty(),
        )
    )
    if as_json:
        _print_json(report.to_json())
    else:
        for line in report.summary():
            click.echo(line)
    if not report.ok:
        sys.exit(1)


@main.command()
@click.option(
    "-o",
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=Path("forensics-demo"),
    show_default=True,
    help="Folder for the demo's sample logs, case and exhibit.",
)
@_friendly
def demo(out_dir: Path) -> None:
    """The whole pipeline on the bundled sample case: init, ingest, check, exhibit."""
    from forensics.demo import run_demo

    result = run_demo(out_dir, progress=lambda msg: click.echo(f"· {msg}", err=True))
    for line in result.summary:
        click.echo(line)
    click.echo(f"exhibit PDF: {result.pdf}")


# `forensics mapping ...` lives in its own module (cli.py is long); it gets this module's error handling.
from forensics.cli_mapping import register as _register_mapping  # noqa: E402

_register_mapping(main, _friendly)
