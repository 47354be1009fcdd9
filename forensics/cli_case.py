"""Commands that build and seal a case: init, ingest, verify, keygen, retract, sign, timestamp, and query.

Thin like all of the CLI: each command calls one library function (docs/internals.md) and prints. cli.py adds
them to the `forensics` group.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

import click

from forensics.cli_common import (
    console,
    engine_options,
    friendly,
    json_default,
    literal,
    parse_tables,
    print_json,
    progress_callback,
    table_cell,
)
from forensics.errors import UsageError
from forensics.formats import format_names

FORMAT_CHOICES = ["auto", *format_names()]  # the registry is the one list of formats


@click.command()
@click.argument("case", type=click.Path(path_type=Path))
@friendly
def init(case: Path) -> None:
    """Create a case folder with a commented case.toml template."""
    from forensics.case import init_case

    existed = (case / "case.toml").exists()
    init_case(case)
    if existed:  # nothing was overwritten: say so rather than claim a fresh case
        click.echo(f"{case} is already a case; left unchanged (its case.toml and inputs are kept)")
    else:
        click.echo(f"initialised case {case} (edit {case / 'case.toml'} to describe the matter)")


@click.command()
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
@friendly
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
    progress, update = progress_callback()
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
        print_json(report.to_json())
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
        table.add_row(*[literal(c) for c in cells])
    console().print(table)
    click.echo(
        f"{report.events} events, {report.quarantined} quarantined; "
        + (
            "lines = events + quarantined + blank + structural holds for every file"
            if report.identity_holds()
            else "ACCOUNTING MISMATCH: lines != events + quarantined + blank + structural"
        )
    )


@click.command()
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
@engine_options(
    "EXHIBIT of a warehouse table only, with --engine spark: the table to re-read (default: the one it records)."
)
@friendly
def verify(
    target: Path,
    as_json: bool,
    reparse: bool,
    trust: tuple[Path, ...],
    tsa_certs: tuple[Path, ...],
    case_dir: Path | None,
    engine: str | None,
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
        report: Any = verify_exhibit(target, case_dir, engine, master, parse_tables(tables) or None)
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
        print_json({**report.to_json(), "notes": notes})
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


@click.command()
@click.option(
    "--out", required=True, type=click.Path(path_type=Path), help="Private key file; the public key goes to OUT.pub."
)
@click.option("--algorithm", type=click.Choice(["ed25519", "sm2"]), default="ed25519", show_default=True)
@friendly
def keygen(out: Path, algorithm: str) -> None:
    """Make a signing key pair (PKCS#8 PEM, the private file readable by you only)."""
    from forensics.witness_crypto import keygen as make_key

    public = make_key(out, algorithm)
    click.echo(f"private key: {out}\npublic key:  {out}.pub\nfingerprint: {public.fingerprint}")


@click.command()
@click.argument("case", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("input_sha256")
@click.option("--reason", required=True, help="Why the input is withdrawn (recorded in the custody log).")
@friendly
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


@click.command()
@click.argument("case", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--key", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Private key (PEM)."
)
@click.option(
    "--algorithm", type=click.Choice(["ed25519", "sm2"]), help="Insist on this algorithm (default: the key's)."
)
@friendly
def sign(case: Path, key: Path, algorithm: str | None) -> None:
    """Sign the case's current seal (manifest, custody head, case.toml); stored in CASE/witnesses."""
    from forensics.case import open_case
    from forensics.witness import sign_case

    done = sign_case(open_case(case), key, algorithm)
    click.echo(
        f"signed custody head seq {done['signed_head_seq']} with {done['key_fingerprint']} ({done['algorithm']})\n"
        f"statement sha256 {done['statement_sha256']}\nwitness {done['witness']}"
    )


@click.command()
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
@friendly
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


@click.command()
@click.argument("case", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("sql")
@click.option("--json", "as_json", is_flag=True, help="Rows as a JSON array of objects (streamed in batches).")
@click.option(
    "--csv", "as_csv", is_flag=True, help="Rows as CSV with a header (streamed; cells starting = + - @ get a ')."
)
@click.option("--timeout", type=float, default=600.0, show_default=True, help="Stop the query after SECONDS.")
@click.option("--max-rows", type=int, default=1000, show_default=True, help="Rows printed in the table view.")
@friendly
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
                    text = json.dumps(dict(zip(columns, r, strict=True)), ensure_ascii=False, default=json_default)
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
            table.add_row(*[literal(table_cell(v)) for v in r])
            shown += 1
        if more:
            break  # the rest is never fetched: a huge result costs no time or memory here
    console().print(table)
    click.echo(f"{shown} row(s)" + (f" shown; more not shown (--max-rows {max_rows})" if more else ""))


def _csv_value(value: Any) -> Any:
    """Numbers stay numbers (a negative amount is not a formula); everything else as in --json."""
    return value if value is None or isinstance(value, int | float) else json_default(value)
