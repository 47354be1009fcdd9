"""`forensics packs ...` (list, show, test) and `forensics schema`: the query packs and the engines' DDL.

cli.py adds them to the `forensics` group.
"""

from __future__ import annotations

import sys

import click

from forensics.cli_common import friendly


@click.group()
def packs() -> None:
    """List, show and test query packs."""


@packs.command("list")
@friendly
def packs_list() -> None:
    """Installed packs with their version and checks."""
    from forensics.packs import list_packs

    for info in list_packs():
        click.echo(f"{info.name} {info.version}: {info.description}")


@packs.command("show")
@click.argument("pack")
@friendly
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
@friendly
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


@click.command()
@click.option("--dialect", type=click.Choice(["spark", "hive"]), default="spark", show_default=True)
@click.option("--table", "table", default="forensics.events", show_default=True, help="Table name in the DDL.")
@friendly
def schema(dialect: str, table: str) -> None:
    """Print the canonical event schema as CREATE TABLE DDL (for --engine spark --table events=DB.TABLE)."""
    from forensics.engines.ddl import schema_ddl

    click.echo(schema_ddl(dialect, table), nl=False)
