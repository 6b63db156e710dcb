"""The game database: WAL, schema versions and migrations, one answer per round, and the statistics.

Every test that takes `db_url` runs on both back-ends: a SQLite file and a real PostgreSQL server
(started once per session by tests/conftest.py)."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from facegan.web.db import open_storage
from facegan.web.storage import MIGRATIONS, SCHEMA_VERSION, Storage, StorageError, connect, migrate

DAY = 86400.0
T0 = 1_750_000_000.0  # a fixed moment, so days are fixed


def add_round(storage: Storage, player: str = "p", psi: float = 0.7, real_position: int = 0, issued_at: float = T0,
              name: str = "00000/img00000000.png", seed: int = 1) -> int:
    return storage.insert_round(f"{player}-{issued_at}-{seed}-{psi}".encode(), player, issued_at, issued_at + 600,
                                real_position, name, seed, psi, None, "net.safetensors")


def test_new_database_is_wal_at_the_latest_schema_version(tmp_path):
    storage = Storage(tmp_path / "game.sqlite")
    assert storage.schema_version == SCHEMA_VERSION == len(MIGRATIONS)
    conn = connect(tmp_path / "game.sqlite")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"meta", "rounds", "answers"} <= tables
    storage.close()


def test_reopening_keeps_data_and_does_not_migrate_again(db_url):
    storage = open_storage(db_url)
    round_id = add_round(storage)
    assert storage.record_answer(round_id, "p", T0 + 5, 0, True, 5000)
    secret = storage.secret()
    storage.close()
    again = open_storage(db_url)
    assert again.schema_version == SCHEMA_VERSION
    assert again.stats(now=T0 + 10)["answered"] == 1
    assert again.secret() == secret  # player cookies survive a restart
    again.close()


def test_migrations_apply_in_order_each_with_its_version(tmp_path):
    steps = (("CREATE TABLE a (x INTEGER)",), ("ALTER TABLE a ADD COLUMN y TEXT", "CREATE INDEX a_y ON a (y)"))
    conn = connect(tmp_path / "m.sqlite")
    assert migrate(conn, steps[:1]) == 1
    conn.execute("INSERT INTO a (x) VALUES (7)")
    assert migrate(conn, steps) == 2
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    assert tuple(conn.execute("SELECT x, y FROM a").fetchone()) == (7, None)


def test_a_failing_migration_leaves_the_database_at_the_previous_version(tmp_path):
    conn = connect(tmp_path / "m.sqlite")
    migrate(conn, (("CREATE TABLE a (x INTEGER)",),))
    broken = (("CREATE TABLE a (x INTEGER)",), ("CREATE TABLE b (x INTEGER)", "THIS IS NOT SQL"))
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, broken)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "b" not in tables  # the half-applied step was rolled back


def test_a_database_from_a_newer_facegan_is_refused_by_name(tmp_path):
    path = tmp_path / "game.sqlite"
    Storage(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StorageError, match="newer"):
        Storage(path)


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path):
    path = tmp_path / "game.sqlite"
    path.write_bytes(b"this is not an sqlite file at all" * 100)
    with pytest.raises(StorageError, match="cannot open the game database"):
        Storage(path)


def test_a_round_takes_exactly_one_answer_even_under_concurrent_attempts(db_url):
    storage = open_storage(db_url)
    round_id = add_round(storage)
    results = []
    threads = [threading.Thread(target=lambda c=c: results.append(storage.record_answer(round_id, "p", T0, c % 2,
                                                                                       c % 2 == 0, 100)))
               for c in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]
    assert storage.stats(now=T0)["answered"] == 1


def test_a_tell_is_marked_once_and_only_on_an_answered_round(db_url):
    storage = open_storage(db_url)
    round_id = add_round(storage)
    assert not storage.record_tell(round_id, "hair")  # not answered yet
    storage.record_answer(round_id, "p", T0, 0, True, 100)
    assert storage.record_tell(round_id, "hair")
    assert not storage.record_tell(round_id, "teeth")
    assert storage.find_round(f"p-{T0}-1-0.7".encode()).tell == "hair"


def test_player_score_counts_streaks(db_url):
    storage = open_storage(db_url)
    outcomes = [True, True, True, False, True, True]
    for i, ok in enumerate(outcomes):
        round_id = add_round(storage, seed=i)
        storage.record_answer(round_id, "p", T0 + i, 0, ok, 100)
    score = storage.player_score("p")
    assert (score.answered, score.correct, score.streak, score.best_streak) == (6, 5, 2, 3)
    assert score.accuracy == pytest.approx(5 / 6)
    assert storage.player_score("someone else").accuracy is None


def test_stats_group_fooled_rates_by_day_psi_and_tell(db_url):
    storage = open_storage(db_url)
    # (day, psi, correct, tell)
    plays = [(0, 0.55, True, "hair"), (0, 0.52, False, "hair"), (0, 0.95, False, None), (1, 0.99, False, "teeth"),
             (1, 1.0, True, None), (1, -0.05, True, None)]
    for i, (day, psi, ok, tell) in enumerate(plays):
        round_id = add_round(storage, player=f"p{i % 2}", psi=psi, issued_at=T0 + day * DAY, seed=i)
        storage.record_answer(round_id, f"p{i % 2}", T0 + day * DAY + 1, 0, ok, 1000 * (i + 1))
        if tell:
            storage.record_tell(round_id, tell)
    add_round(storage, seed=99, issued_at=T0 - 10 * DAY)  # never answered, long expired: skipped
    add_round(storage, seed=98, issued_at=T0 + DAY)        # still open
    stats = storage.stats(now=T0 + DAY + 2)
    assert stats["answered"] == 6 and stats["fooled"] == 3 and stats["fooled_rate"] == 0.5
    assert stats["players"] == 2
    assert stats["mean_time_ms"] == 3500
    assert (stats["rounds_issued"], stats["rounds_open"], stats["rounds_skipped"]) == (8, 1, 1)
    assert [(d["answered"], d["fooled"]) for d in stats["by_day"]] == [(3, 2), (3, 1)]
    by_psi = {(g["psi_min"], g["psi_max"]): (g["answered"], g["fooled"]) for g in stats["by_psi"]}
    assert by_psi == {(-0.1, 0.0): (1, 0), (0.5, 0.6): (2, 1), (0.9, 1.0): (2, 2), (1.0, 1.1): (1, 0)}
    by_tell = {g["tell"]: (g["answered"], g["fooled"], g["fooled_rate"]) for g in stats["by_tell"]}
    assert by_tell == {"hair": (2, 1, 0.5), "teeth": (1, 1, 1.0)}


def test_stats_of_an_empty_database_have_no_rates(db_url):
    stats = open_storage(db_url).stats()
    assert stats["answered"] == 0 and stats["fooled_rate"] is None
    assert stats["by_day"] == stats["by_psi"] == stats["by_tell"] == []


def test_the_real_photos_shown_to_a_player_come_back_in_order(db_url):
    storage = open_storage(db_url)
    for i, name in enumerate(["b.png", "a.png", "c.png"]):
        add_round(storage, name=name, seed=i)
    add_round(storage, player="q", name="z.png")
    assert storage.real_names_shown("p") == ["b.png", "a.png", "c.png"]


# -- PostgreSQL: the same schema through the same migrations -----------------------------------------
def test_postgres_database_gets_every_table_of_the_schema_at_the_latest_version(postgres_server):
    import psycopg

    url = postgres_server.fresh_url()
    storage = open_storage(url)
    assert storage.schema_version == SCHEMA_VERSION
    storage.close()
    with psycopg.connect(url) as conn:
        tables = {r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables "
                                             "WHERE table_schema = current_schema()")}
    assert {"meta", "rounds", "answers", "round_images", "pool_faces", "rate_buckets", "schema_version"} <= tables


def test_postgres_migrations_apply_in_order_and_a_failing_step_rolls_back(postgres_server):
    import psycopg
    import psycopg_pool

    from facegan.web.db.postgres import migrate_postgres

    url = postgres_server.fresh_url()
    with psycopg_pool.ConnectionPool(url, min_size=1, max_size=1, open=True) as pool:
        assert migrate_postgres(pool, (("CREATE TABLE a (x INTEGER)",),)) == 1
        broken = (("CREATE TABLE a (x INTEGER)",), ("CREATE TABLE b (x INTEGER)", "THIS IS NOT SQL"))
        with pytest.raises(psycopg.errors.SyntaxError):
            migrate_postgres(pool, broken)
        with pool.connection() as conn:
            assert conn.execute("SELECT version FROM schema_version").fetchone()[0] == 1
            assert conn.execute("SELECT to_regclass('b')").fetchone()[0] is None  # rolled back


def test_many_workers_starting_at_once_migrate_a_postgres_database_exactly_once(postgres_server):
    url = postgres_server.fresh_url()
    opened, errors = [], []

    def start():
        try:
            opened.append(open_storage(url))
        except Exception as exc:  # noqa: BLE001 -- collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(opened) == 4
    assert {s.secret() for s in opened} == {opened[0].secret()}  # one secret, shared by every worker
    for s in opened:
        s.close()


def test_a_postgres_database_from_a_newer_facegan_is_refused_by_name(postgres_server):
    import psycopg

    url = postgres_server.fresh_url()
    open_storage(url).close()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE schema_version SET version = version + 1")
    with pytest.raises(StorageError, match="newer"):
        open_storage(url)


def test_an_unreachable_postgres_server_is_one_clear_error():
    from pg_server import free_port

    with pytest.raises(StorageError, match="cannot connect to PostgreSQL"):
        from facegan.web.db.postgres import PostgresStorage
        PostgresStorage(f"postgresql://nobody:secret@127.0.0.1:{free_port()}/x", timeout=1.0)


def test_the_sql_translation_keeps_sqlite_semantics():
    from facegan.web.db.postgres import to_postgres

    assert to_postgres("SELECT CAST((x + 1.0) * 2 AS INTEGER) FROM t WHERE a = ? AND b LIKE '5%'") == \
        "SELECT CAST(TRUNC((x + 1.0) * 2) AS BIGINT) FROM t WHERE a = %s AND b LIKE '5%%'"
    assert to_postgres("INSERT OR IGNORE INTO meta (key) VALUES (?)") == \
        "INSERT INTO meta (key) VALUES (%s) ON CONFLICT DO NOTHING"
    assert "GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY" in to_postgres("CREATE TABLE r (id INTEGER PRIMARY KEY)")
    assert to_postgres("round_id INTEGER PRIMARY KEY REFERENCES rounds (id)") == \
        "round_id BIGINT PRIMARY KEY REFERENCES rounds (id)"


def test_postgres_storage_says_unavailable_while_the_server_is_down_and_recovers_on_its_own(postgres_server):
    from facegan.web.db.postgres import PostgresStorage

    storage = PostgresStorage(postgres_server.fresh_url(), timeout=1.0)
    first = add_round(storage, seed=1)
    postgres_server.shutdown("fast")          # every pooled connection is cut
    try:
        with pytest.raises(StorageError, match="cannot be reached"):
            add_round(storage, seed=2)
        with pytest.raises(StorageError, match="cannot be reached"):
            storage.player_score("p")
    finally:
        postgres_server.startup()
    deadline = time.monotonic() + 30            # the pool reconnects in the background, with back-off
    while True:
        try:
            assert storage.record_answer(first, "p", T0 + 1, 0, True, 100)   # the same object, no reopening
            break
        except StorageError:
            assert time.monotonic() < deadline, "the storage did not recover"
    assert storage.player_score("p").answered == 1
    storage.close()
