"""`facegan db`: the game database (SQLite file or postgresql:// URL): migrate, export the answers."""

from __future__ import annotations

from pathlib import Path

import click

from facegan.cli.types import Database, OutputFile

DB = click.option("--db", default="game.sqlite", show_default=True, type=Database(),
                  help="SQLite file, or a postgresql://user@host/db URL.")


@click.group()
def db() -> None:
    """The game database of `facegan serve`: migrations and exports (SQLite or PostgreSQL).

    \b
    Example:
    facegan db export --db game.sqlite --output answers.csv
    """


@db.command()
@DB
def migrate(db: str) -> None:
    """Create the database or bring it to the latest schema version (each step once, in order).

    \b
    Examples:
    facegan db migrate --db game.sqlite
    facegan db migrate --db postgresql://facegan@db/facegan
    """
    from facegan.web.db import open_storage

    storage = open_storage(db)
    try:
        click.echo(f"{storage.path}: schema version {storage.schema_version}")
    finally:
        storage.close()


@db.command()
@DB
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True,
              help="CSV (one row per answer) or JSON (a list of records).")
@click.option("--output", "-o", type=OutputFile((".csv", ".json")), default=None,
              help="File to write (atomically); default: standard output.")
def export(db: str, fmt: str, output: Path | None) -> None:
    """The answers with their rounds, one record per answer.

    \b
    Examples:
    facegan db export --db game.sqlite --format csv --output answers.csv
    facegan db export --db postgresql://facegan@db/facegan --format json > answers.json
    """
    from facegan.web.db import open_storage
    from facegan.web.db.export import export as export_answers

    storage = open_storage(db)
    try:
        text = export_answers(storage, fmt, output)
    finally:
        storage.close()
    if output is None:
        click.echo(text, nl=False)
    else:
        click.echo(f"wrote {output}", err=True)
