"""`facegan db`: the game database (SQLite file or postgresql:// URL): migrate, export the answers."""

from __future__ import annotations

from pathlib import Path

import click

DB = click.option("--db", default="game.sqlite", show_default=True,
                  help="SQLite file, or a postgresql://user@host/db URL.")


@click.group()
def db() -> None:
    """The game database of `facegan serve`: migrations and exports (SQLite or PostgreSQL)."""


@db.command()
@DB
def migrate(db: str) -> None:
    """Create the database or bring it to the latest schema version (each step once, in order)."""
    from facegan.web.db import open_storage

    storage = open_storage(db)
    try:
        click.echo(f"{storage.path}: schema version {storage.schema_version}")
    finally:
        storage.close()


@db.command()
@DB
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File to write (atomically); default: standard output.")
def export(db: str, fmt: str, output: Path | None) -> None:
    """The answers with their rounds, one record per answer."""
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
