"""The game's SQLite database: schema, migrations, the one write path, and the statistics queries.

WAL journal (readers never block the writer), `synchronous=FULL` (a committed answer survives a
crash or power cut), `PRAGMA user_version` = the number of migration steps applied. Each step is
an ordered list of SQL statements applied in one transaction together with its version bump, so a
database is always at exactly one version. Every write goes through one connection under one
lock and is committed before the call returns, i.e. before the HTTP response is sent.

Tables:
    meta(key, value)         the cookie-signing secret and the creation time
    rounds                   one row per round handed out: who got it, where the real photo is,
                             which real, the fake's seed/psi/class; the token only as its SHA-256
    answers                  at most one row per round (its primary key): choice, correctness,
                             time to answer, and the tell the player marked afterwards
    (2) rounds.machine_p0/p1 the detector's probability that the left/right face is generated, when
                             the game runs with one (`facegan serve --detector`), and its file name
"""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from facegan.errors import FaceganError

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: the first schema.
    (
        """CREATE TABLE meta (
               key   TEXT PRIMARY KEY,
               value TEXT NOT NULL)""",
        """CREATE TABLE rounds (
               id            INTEGER PRIMARY KEY,
               token_hash    BLOB NOT NULL UNIQUE,
               player        TEXT NOT NULL,
               issued_at     REAL NOT NULL,
               expires_at    REAL NOT NULL,
               real_position INTEGER NOT NULL CHECK (real_position IN (0, 1)),
               real_name     TEXT NOT NULL,
               fake_seed     INTEGER NOT NULL,
               fake_psi      REAL NOT NULL,
               fake_class    INTEGER,
               network       TEXT NOT NULL)""",
        "CREATE INDEX rounds_by_player ON rounds (player, id)",
        """CREATE TABLE answers (
               round_id    INTEGER PRIMARY KEY REFERENCES rounds (id),
               player      TEXT NOT NULL,
               answered_at REAL NOT NULL,
               choice      INTEGER NOT NULL CHECK (choice IN (0, 1)),
               correct     INTEGER NOT NULL CHECK (correct IN (0, 1)),
               time_ms     INTEGER NOT NULL,
               tell        TEXT)""",
        "CREATE INDEX answers_by_player ON answers (player, round_id)",
        "CREATE INDEX answers_by_time ON answers (answered_at)",
    ),
    # 2: state shared by many worker processes (facegan.web.shared): the round images, the pool of
    # pre-generated fakes (facegan.web.poolstore), and the rate limits' token buckets.
    (
        """CREATE TABLE round_images (
               id         TEXT PRIMARY KEY,
               player     TEXT NOT NULL,
               data       BLOB NOT NULL,
               expires_at REAL NOT NULL)""",
        "CREATE INDEX round_images_by_player ON round_images (player, expires_at)",
        "CREATE INDEX round_images_by_expiry ON round_images (expires_at)",
        """CREATE TABLE pool_faces (
               id           INTEGER PRIMARY KEY,
               network      TEXT NOT NULL,
               display_size INTEGER NOT NULL,
               seed         INTEGER NOT NULL,
               psi          REAL NOT NULL,
               class_idx    INTEGER,
               png          BLOB NOT NULL,
               created_at   REAL NOT NULL,
               served       INTEGER NOT NULL DEFAULT 0,
               public_id    TEXT NOT NULL UNIQUE)""",
        "CREATE INDEX pool_faces_fresh ON pool_faces (network, display_size, served, id)",
        """CREATE TABLE rate_buckets (
               kind       TEXT NOT NULL,
               key        TEXT NOT NULL,
               tokens     REAL NOT NULL,
               updated_at REAL NOT NULL,
               PRIMARY KEY (kind, key))""",
        "CREATE INDEX rate_buckets_by_time ON rate_buckets (updated_at)",
    ),
    # 3: the machine's guess (facegan.web.detector).
    (
        "ALTER TABLE rounds ADD COLUMN machine_p0 REAL",
        "ALTER TABLE rounds ADD COLUMN machine_p1 REAL",
        "ALTER TABLE rounds ADD COLUMN detector TEXT",
    ),
)
# The machine picks as real the face it finds less likely generated (the left one on a tie).
MACHINE_FOOLED = ("CASE WHEN (CASE WHEN r.machine_p0 <= r.machine_p1 THEN 0 ELSE 1 END) = r.real_position "
                  "THEN 0 ELSE 1 END")
# psi buckets 0.1 wide; the shift keeps the integer cast a floor for negative psi too.
PSI_BUCKET = "CAST((r.fake_psi + 10.0) * 10.0 + 1e-9 AS INTEGER) - 100"
SCHEMA_VERSION = len(MIGRATIONS)


class StorageError(FaceganError):
    """The game database cannot be opened or is of an unknown (newer) schema."""


def connect(path: str | Path, readonly: bool = False) -> sqlite3.Connection:
    """A connection with the pragmas every connection needs."""
    conn = sqlite3.connect(str(path), timeout=10.0, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 10000")
    conn.execute("PRAGMA foreign_keys = ON")
    if readonly:
        conn.execute("PRAGMA query_only = ON")
    return conn


def migrate(conn: sqlite3.Connection, steps: Sequence[Sequence[str]] = MIGRATIONS) -> int:
    """Apply the steps past the database's user_version, each in its own transaction; returns the version."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > len(steps):
        raise StorageError(f"the game database has schema version {version}, newer than this facegan "
                           f"understands ({len(steps)}); upgrade facegan or use another --db")
    for number in range(version + 1, len(steps) + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in steps[number - 1]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number:d}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return len(steps)


@dataclass(frozen=True)
class RoundRecord:
    id: int
    player: str
    issued_at: float
    expires_at: float
    real_position: int
    real_name: str
    fake_seed: int
    fake_psi: float
    fake_class: int | None
    answered: bool
    tell: str | None
    machine_p: tuple[float, float] | None = None   # The detector's P(generated) of the left, right face.


@dataclass(frozen=True)
class PlayerScore:
    answered: int
    correct: int
    streak: int       # Correct answers since the last wrong one.
    best_streak: int

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.answered if self.answered else None


class Storage:
    """The database of one app: a writer connection behind a lock, one reader per thread.

    The SQL here is the one dialect both back-ends run: PostgreSQL (facegan.web.db.postgres)
    translates it mechanically, so a query added here works on both."""

    dialect = "sqlite"
    integrity_errors: tuple[type[Exception], ...] = (sqlite3.IntegrityError,)

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._writer = connect(self.path)
            mode = self._writer.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            self._writer.execute("PRAGMA synchronous = FULL")
            migrate(self._writer)
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"{self.path}: cannot open the game database ({exc})") from None
        if str(mode).lower() != "wal":
            raise StorageError(f"{self.path}: the database refused WAL mode (journal mode {mode!r}); "
                               "put it on a local file system")
        self._lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._closed = False

    # -- connections ----------------------------------------------------------------------
    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One transaction on the writer, committed (durably) when the block ends."""
        with self._lock:
            if self._closed:
                raise StorageError("the game database is closed")
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield self._writer
                self._writer.execute("COMMIT")
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise

    def _read(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, readonly=True)
            self._local.conn = conn
            with self._lock:
                self._readers.append(conn)
        return conn

    def write(self, durable: bool = True):
        """A write transaction (context manager), committed when the block ends. `durable=False` allows
        a back-end to return before the commit is on disk (PostgreSQL; SQLite always waits), for state
        whose loss in a crash is harmless (rate buckets, round images, pool bookkeeping)."""
        return self._write()

    def read(self):
        """A connection (or connection-like object) for one read statement at a time."""
        return self._read()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for conn in self._readers:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._writer.close()

    @property
    def schema_version(self) -> int:
        return self._read().execute("PRAGMA user_version").fetchone()[0]

    # -- meta -----------------------------------------------------------------------------
    def secret(self) -> bytes:
        """The app's secret (signs player cookies), created on first use and kept across restarts."""
        with self._write() as db:  # race-free across processes: the first insert wins, the others read it
            db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('secret', ?)", (secrets.token_hex(32),))
            db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('created_at', ?)", (str(time.time()),))
            row = db.execute("SELECT value FROM meta WHERE key = 'secret'").fetchone()
        return bytes.fromhex(row["value"])

    # -- rounds and answers (the write path) ----------------------------------------------
    def insert_round(self, token_hash: bytes, player: str, issued_at: float, expires_at: float,
                     real_position: int, real_name: str, fake_seed: int, fake_psi: float,
                     fake_class: int | None, network: str, machine_p: tuple[float, float] | None = None,
                     detector: str | None = None) -> int:
        p0, p1 = machine_p if machine_p is not None else (None, None)
        with self._write() as db:
            cur = db.execute(
                "INSERT INTO rounds (token_hash, player, issued_at, expires_at, real_position, real_name, "
                "fake_seed, fake_psi, fake_class, network, machine_p0, machine_p1, detector) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (token_hash, player, issued_at, expires_at, real_position, real_name, fake_seed, fake_psi,
                 fake_class, network, p0, p1, detector))
            return int(cur.fetchone()[0])

    def find_round(self, token_hash: bytes) -> RoundRecord | None:
        row = self._read().execute(
            "SELECT r.*, a.round_id IS NOT NULL AS answered, a.tell FROM rounds r "
            "LEFT JOIN answers a ON a.round_id = r.id WHERE r.token_hash = ?", (token_hash,)).fetchone()
        if row is None:
            return None
        return RoundRecord(row["id"], row["player"], row["issued_at"], row["expires_at"], row["real_position"],
                           row["real_name"], row["fake_seed"], row["fake_psi"], row["fake_class"],
                           bool(row["answered"]), row["tell"],
                           None if row["machine_p0"] is None else (row["machine_p0"], row["machine_p1"]))

    def record_answer(self, round_id: int, player: str, answered_at: float, choice: int, correct: bool,
                      time_ms: int) -> bool:
        """Store an answer, committed before returning; False if the round was already answered."""
        try:
            with self._write() as db:
                db.execute("INSERT INTO answers (round_id, player, answered_at, choice, correct, time_ms) "
                           "VALUES (?, ?, ?, ?, ?, ?)", (round_id, player, answered_at, choice, int(correct), time_ms))
        except self.integrity_errors:
            return False
        return True

    def record_tell(self, round_id: int, tell: str) -> bool:
        """Mark the tell of an answered round once; False if there is no answer or a tell already."""
        with self._write() as db:
            cur = db.execute("UPDATE answers SET tell = ? WHERE round_id = ? AND tell IS NULL", (tell, round_id))
            return cur.rowcount == 1

    # -- per-player queries ---------------------------------------------------------------
    def real_names_shown(self, player: str) -> list[str]:
        """The real photos of every round handed to `player`, oldest first."""
        rows = self._read().execute("SELECT real_name FROM rounds WHERE player = ? ORDER BY id", (player,))
        return [r[0] for r in rows]

    def player_score(self, player: str) -> PlayerScore:
        db = self._read()
        answered, correct = db.execute(
            "SELECT COUNT(*), COALESCE(SUM(correct), 0) FROM answers WHERE player = ?", (player,)).fetchone()
        streak = db.execute(
            "SELECT COUNT(*) FROM answers WHERE player = ? AND round_id > "
            "COALESCE((SELECT MAX(round_id) FROM answers WHERE player = ? AND correct = 0), 0)",
            (player, player)).fetchone()[0]
        # Runs of correct answers are the groups of equal "wrong answers so far".
        best = db.execute(
            "SELECT COALESCE(MAX(n), 0) FROM (SELECT COUNT(*) AS n FROM (SELECT correct, "
            "SUM(1 - correct) OVER (ORDER BY round_id) AS wrong_so_far FROM answers WHERE player = ?) AS marked "
            "WHERE correct = 1 GROUP BY wrong_so_far) AS runs", (player,)).fetchone()[0]
        return PlayerScore(int(answered), int(correct), int(streak), int(best))

    # -- statistics -----------------------------------------------------------------------
    def stats(self, now: float | None = None, days: int = 30) -> dict:
        """How often players are fooled: overall, per day (the last `days`), per psi bucket, per tell."""
        now = time.time() if now is None else now
        db = self._read()
        overall = db.execute(
            "SELECT COUNT(*) AS answered, COALESCE(SUM(1 - correct), 0) AS fooled, "
            "COUNT(DISTINCT player) AS players, AVG(time_ms) AS mean_time_ms FROM answers").fetchone()
        issued = db.execute("SELECT COUNT(*) FROM rounds").fetchone()[0]
        open_rounds = db.execute(
            "SELECT COUNT(*) FROM rounds r WHERE r.expires_at > ? AND NOT EXISTS "
            "(SELECT 1 FROM answers a WHERE a.round_id = r.id)", (now,)).fetchone()[0]
        by_day = db.execute(
            "SELECT date(answered_at, 'unixepoch') AS day, COUNT(*) AS answered, SUM(1 - correct) AS fooled "
            "FROM answers WHERE answered_at >= ? GROUP BY day ORDER BY day", (now - days * 86400,)).fetchall()
        by_psi = db.execute(
            f"SELECT {PSI_BUCKET} AS bucket, COUNT(*) AS answered, "
            "SUM(1 - a.correct) AS fooled FROM answers a JOIN rounds r ON r.id = a.round_id "
            "GROUP BY bucket ORDER BY bucket").fetchall()
        by_tell = db.execute(
            "SELECT tell, COUNT(*) AS answered, SUM(1 - correct) AS fooled FROM answers "
            "WHERE tell IS NOT NULL GROUP BY tell ORDER BY COUNT(*) DESC").fetchall()
        answered = int(overall["answered"])
        return {
            "answered": answered,
            "fooled": int(overall["fooled"]),
            "fooled_rate": _rate(overall["fooled"], answered),
            "players": int(overall["players"]),
            "mean_time_ms": None if overall["mean_time_ms"] is None else round(float(overall["mean_time_ms"])),
            "rounds_issued": int(issued),
            "rounds_open": int(open_rounds),
            "rounds_skipped": int(issued) - answered - int(open_rounds),
            "by_day": [_group(r, day=r["day"]) for r in by_day],
            "by_psi": [_group(r, psi_min=round(r["bucket"] / 10, 1), psi_max=round((r["bucket"] + 1) / 10, 1))
                       for r in by_psi],
            "by_tell": [_group(r, tell=r["tell"]) for r in by_tell],
            "versus": self._versus(db),
        }

    def _versus(self, db: sqlite3.Connection) -> dict | None:
        """Humans against the machine on the rounds the detector judged: both fooled rates, overall,
        per psi bucket and per tell; None when no answered round has a machine guess."""
        base = (f"SELECT COUNT(*) AS answered, COALESCE(SUM(1 - a.correct), 0) AS fooled, "
                f"COALESCE(SUM({MACHINE_FOOLED}), 0) AS machine_fooled")
        joined = "FROM answers a JOIN rounds r ON r.id = a.round_id WHERE r.machine_p0 IS NOT NULL"
        overall = db.execute(f"{base} {joined}").fetchone()
        if not overall["answered"]:
            return None
        by_psi = db.execute(f"{base}, {PSI_BUCKET} AS bucket {joined} GROUP BY bucket ORDER BY bucket").fetchall()
        by_tell = db.execute(f"{base}, a.tell AS tell {joined} AND a.tell IS NOT NULL GROUP BY a.tell "
                             "ORDER BY COUNT(*) DESC").fetchall()
        return {**_versus_group(overall),
                "by_psi": [_versus_group(r, psi_min=round(r["bucket"] / 10, 1),
                                         psi_max=round((r["bucket"] + 1) / 10, 1)) for r in by_psi],
                "by_tell": [_versus_group(r, tell=r["tell"]) for r in by_tell]}


def _rate(fooled, answered) -> float | None:
    return round(int(fooled) / int(answered), 4) if answered else None


def _versus_group(row, **key) -> dict:
    return {**_group(row, **key), "machine_fooled": int(row["machine_fooled"]),
            "machine_fooled_rate": _rate(row["machine_fooled"], row["answered"])}


def _group(row, **key) -> dict:
    return {**key, "answered": int(row["answered"]), "fooled": int(row["fooled"]),
            "fooled_rate": _rate(row["fooled"], row["answered"])}
