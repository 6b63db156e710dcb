"""The game database's back-ends behind one API (`facegan.web.storage.Storage`).

    open_storage("game.sqlite")                       # SQLite, the zero-setup default
    open_storage("postgresql://user@host/facegan")    # PostgreSQL, for many workers and hosts

Both run the same schema and migrations (`storage.MIGRATIONS`) and the same queries.
"""

from __future__ import annotations

from pathlib import Path

from facegan.errors import ConfigError
from facegan.web.storage import Storage

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres(db: str | Path) -> bool:
    return isinstance(db, str) and db.startswith(POSTGRES_SCHEMES)


def normalise(db: str | Path) -> str | Path:
    """A PostgreSQL URL stays a string (a Path would fold its '//'); anything else is a SQLite file path."""
    if isinstance(db, str) and "://" in db:
        if not is_postgres(db):
            raise ConfigError(f"unsupported database URL {db.split('://')[0]}://...: use a postgresql:// URL "
                              "or a SQLite file path")
        return db
    return Path(db)


def open_storage(db: str | Path) -> Storage:
    """The storage of `db`: a postgresql:// URL or a SQLite file (created and migrated if needed)."""
    db = normalise(db)
    if is_postgres(db):
        try:
            from facegan.web.db.postgres import PostgresStorage
        except ImportError as exc:
            raise ConfigError(f"PostgreSQL needs psycopg 3 ({exc}); install facegan[postgres]") from None
        return PostgresStorage(str(db))
    return Storage(db)
