"""The command line: a thin layer over the library and the only place that prints.

Each command calls one library function. Library errors become one clear line on stderr and an
exit code (1 runtime failure or failed verification, 2 usage); never a traceback.
"""

from __future__ import annotations

import csv
import functools
import json
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
        return value.decode("utf-8", "backslashreplace")
    if isinstance(value, Path):
        return str(value)
    return str(value)


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=_json_default))


def _literal(text: str) -> Any:
    """Log-derived text is data: '[bold]' in a URL must print as written, not as rich markup."""
    from rich.text import Text

    return Text(text)


def _console() -> Any:
    from rich.console import Console

    return Console()


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

    init_case(case)
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
@click.option("--strict", is_flag=True, help="Exit 1 if any line was quarantined.")
@click.option("--json", "as_json", is_flag=True, help="Print the stable JSON report.")
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
    )
    if progress is not None:
        progress.start()
    try:
        report = ingest_plan(c, plan, options) if plan else ingest_paths(c, list(paths), options)
    finally:
        if progress is not None:
            progress.stop()
    for f in report.files:
        if f.detection:
            click.echo(f"{f.path}: {f.detection}", err=True)
    if as_json:
        _print_json(report.to_json())
    else:
        _print_ingest_table(report)
    if strict and report.quarantined:
        click.echo(f"--strict: {report.quarantined} line(s) quarantined (see the quarantine view)", err=True)
        sys.exit(1)


def _print_ingest_table(report: Any) -> None:
    from rich.table import Table

    table = Table(title=f"ingest into {report.case}", show_lines=False)
    for col in ("file", "source", "format", "lines", "events", "quarantined", "blank", "sha256"):
        table.add_column(col, justify="right" if col in {"lines", "events", "quarantined", "blank"} else "left")
    for f in report.files:
        name = "/".join(Path(f.path).parts[-2:])  # enough to tell node/day files apart
        if f.skipped_duplicate:
            cells = [name, f.source, f.format, "-", "-", "-", "-", f"{f.sha256[:16]}… already in case: skipped"]
        else:
            cells = [name, f.source, f.format, str(f.lines), str(f.events), str(f.quarantined), str(f.blank)]
            cells.append(f.sha256[:16])
        table.add_row(*[_literal(c) for c in cells])
    _console().print(table)
    click.echo(f"{report.events} events, {report.quarantined} quarantined")


@main.command()
@click.argument("target", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print {ok, problems: [{kind, path, detail}]}.")
@_friendly
def verify(target: Path, as_json: bool) -> None:
    """Recompute every hash of a CASE or an EXHIBIT folder; exit 1 naming each mismatch."""
    if (target / "exhibit.json").exists():
        from forensics.exhibit.verify import verify_exhibit

        report = verify_exhibit(target)
    else:
        from forensics.case import open_case
        from forensics.custody import verify_case

        report = verify_case(open_case(target))
    if as_json:
        _print_json(report.to_json())
    else:
        for p in report.problems:
            click.echo(f"MISMATCH {p.kind}: {p.path}: {p.detail}")
        click.echo("OK: every hash matches" if report.ok else f"FAILED: {len(report.problems)} problem(s)")
    if not report.ok:
        sys.exit(1)


# ---------------------------------------------------------------- query / check / packs


@main.command()
@click.argument("case", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("sql")
@click.option("--json", "as_json", is_flag=True, help="Rows as a JSON array of objects.")
@click.option("--csv", "as_csv", is_flag=True, help="Rows as CSV with a header.")
@_friendly
def query(case: Path, sql: str, as_json: bool, as_csv: bool) -> None:
    """Run one read-only SELECT over the views events, quarantine, inputs, runs."""
    from forensics.case import open_case

    columns, rows = open_case(case).query_readonly(sql)
    if as_json:
        _print_json([dict(zip(columns, r, strict=True)) for r in rows])
    elif as_csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows([[_json_default(v) if v is not None else "" for v in r] for r in rows])
    else:
        from rich.table import Table

        table = Table()
        for c in columns:
            table.add_column(c)
        for r in rows:
            table.add_row(*[_literal("" if v is None else str(v)) for v in r])
        _console().print(table)
        click.echo(f"{len(rows)} row(s)")


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
@_friendly
def check(case: Path, pack: str | None, params: tuple[str, ...], as_json: bool, fail_on_findings: bool) -> None:
    """Run a query pack on CASE and print each check's verdict."""
    from forensics.case import open_case
    from forensics.packs import run_pack

    result = run_pack(open_case(case), pack, _parse_params(params))
    data = result.to_json()
    if as_json:
        _print_json(data)
    else:
        _print_verdicts(data)
    if fail_on_findings and any(c["verdict"] in {"flagged", "inconclusive", "missing"} for c in data["checks"]):
        sys.exit(1)


VERDICT_STYLE = {
    "clean": "green",
    "found": "green",
    "info": "cyan",
    "flagged": "bold red",
    "inconclusive": "yellow",
    "missing": "bold red",
}


def _print_verdicts(data: dict[str, Any]) -> None:
    from rich.table import Table

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
@_friendly
def packs_test(pack: str) -> None:
    """Run every check's fixtures; exit 1 on any failure."""
    from forensics.packs import load_pack, test_pack

    results = test_pack(load_pack(pack))
    failed = [r for r in results if not r.ok]
    for r in results:
        click.echo(f"{'ok  ' if r.ok else 'FAIL'} {r.check_id} {r.fixture}: {r.detail}")
    click.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if failed:
        sys.exit(1)


# ---------------------------------------------------------------- exhibit / sample / fuzz / demo


@main.command()
@click.argument("case", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "-o", "--out", "out_dir", type=click.Path(path_type=Path), help="Output folder (default CASE/exhibits/N)."
)
@click.option("--lang", type=click.Choice(["zh", "en", "zh-en"]), default="zh-en", show_default=True)
@click.option("--unmask", is_flag=True, help="Also write a sealed unmasked version linked by hash.")
@click.option("--number", help="Exhibit number, e.g. E-3 (default: case.toml).")
@click.option("--font-path", type=click.Path(exists=True, path_type=Path), help="Folder or file of a CJK font.")
@_friendly
def exhibit(
    case: Path, out_dir: Path | None, lang: str, unmask: bool, number: str | None, font_path: Path | None
) -> None:
    """Write the court exhibit: PDF/A-2b, HTML, JSON findings and a hash manifest."""
    from forensics.case import open_case
    from forensics.exhibit import build_exhibit

    result = build_exhibit(open_case(case), out_dir, lang=lang, unmask=unmask, number=number, font_path=font_path)
    for line in result.summary:
        click.echo(line)
    click.echo(f"exhibit: {result.pdf}")


@main.command()
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--variant", type=click.Choice(["clean", "guilty", "gap"]), default="clean", show_default=True)
@click.option("--events", type=int, help="Approximate number of background events.")
@click.option("--seed", type=int, default=7, show_default=True)
@_friendly
def sample(out: Path, variant: str, events: int | None, seed: int) -> None:
    """Write a synthetic case world (raw logs, mappings, plan, case.toml, ground truth)."""
    from forensics.sample import generate

    kwargs: dict[str, Any] = {"variant": variant, "seed": seed}
    if events is not None:
        kwargs["events"] = events
    result = generate(out, **kwargs)
    click.echo(f"wrote {result.events_written} events in {len(result.files)} files to {result.out_dir}")
    click.echo(f"next: forensics init CASE && forensics ingest CASE --plan {result.plan_path}")


@main.command()
@click.option("--format", "fmt", help="Built-in format to fuzz (nginx, apache, syslog, jsonl, csv, ...).")
@click.option("--log-format", help="An nginx/Apache format string to fuzz.")
@click.option("--mapping", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="A mapping file.")
@click.option("--seconds", type=float, help="Stop after this long.")
@click.option("--examples", type=int, default=500, show_default=True)
@click.option("--seed", type=int, help="Seed for a reproducible run.")
@click.option("--corpus", type=click.Path(exists=True, path_type=Path), help="Real sample lines to mutate.")
@click.option("--json", "as_json", is_flag=True)
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
    "-o", "--out", "out_dir", type=click.Path(path_type=Path), default=Path("forensics-demo"), show_default=True
)
@_friendly
def demo(out_dir: Path) -> None:
    """The whole pipeline on the bundled sample case: init, ingest, check, exhibit."""
    from forensics.demo import run_demo

    result = run_demo(out_dir, progress=lambda msg: click.echo(f"· {msg}", err=True))
    for line in result.summary:
        click.echo(line)
    click.echo(f"exhibit PDF: {result.pdf}")
