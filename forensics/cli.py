"""The command line: a thin layer over the library and the only place that prints.

Each command calls one library function. Library errors become one clear line on stderr and an
exit code (1 runtime failure or failed verification, 2 usage); never a traceback.

Command groups live in their own modules and are added to `main` at the end of this one: cli_case.py (init,
ingest, verify, keygen, retract, sign, timestamp, query), cli_packs.py (packs, schema), cli_mapping.py (mapping).
What they share (error handling, JSON and table output) is in cli_common.py.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from forensics import __version__, cli_case, cli_packs
from forensics.cli_common import console as _console
from forensics.cli_common import decode_raw as decode_raw
from forensics.cli_common import engine_options
from forensics.cli_common import friendly as _friendly
from forensics.cli_common import literal as _literal
from forensics.cli_common import parse_tables as _parse_tables
from forensics.cli_common import print_json as _print_json
from forensics.errors import UsageError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="forensics")
def main() -> None:
    """Access-log forensics for personal-information disputes.

    Ingest a platform's log dump losslessly into a hash-sealed case, answer the court's
    questions with query packs whose "nothing found" is only claimed when the logs were
    complete, and produce an exhibit the other side can re-verify.

    Start with `forensics demo`; see README.md for the whole workflow.
    """


# ---------------------------------------------------------------- check


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
@engine_options(
    "With --engine spark: read the events from a warehouse table in the canonical schema "
    "(`forensics schema --dialect spark`) instead of the case's sealed files; the result says so.",
    engine_default="duckdb",
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
@engine_options(
    "With --engine spark: the events are a warehouse table in the canonical schema, not sealed files; "
    "the exhibit says so."
)
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
    engine: str | None,
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


# The other command groups live in their own modules (cli.py was long); `forensics --help` lists them all.
from forensics.cli_mapping import register as _register_mapping  # noqa: E402

for _command in (
    cli_case.init,
    cli_case.ingest,
    cli_case.verify,
    cli_case.keygen,
    cli_case.retract,
    cli_case.sign,
    cli_case.timestamp,
    cli_case.query,
    cli_packs.packs,
    cli_packs.schema,
):
    main.add_command(_command)
_register_mapping(main, _friendly)
