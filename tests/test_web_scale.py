"""The game at scale, on both back-ends: many workers sharing one database (two apps in one test stand
for two worker processes), the shared face pool filled apart from the web workers, rate limits that
hold across workers, `facegan db migrate/export` and `facegan pool fill`."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from facegan.cli import cli
from facegan.web import WebSettings, create_app
from facegan.web.db import open_storage
from facegan.web.poolstore import PoolStore, fill
from facegan.web.ratelimit import Limit, RateLimits
from facegan.web.render import Renderer
from facegan.web.shared import DbRateLimiter
from facegan.web.storage import SCHEMA_VERSION
from facegan.web.workers import settings_from_json, settings_to_json
from web_helpers import build_archive, build_network


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("scale")
    return {"root": root, "network": build_network(root / "net.safetensors", "dcgan", 32),
            "data": build_archive(root / "faces.zip", count=12)}


def fill_pool(files, db_url: str, count: int) -> None:
    import facegan

    renderer = Renderer(facegan.load(files["network"]), files["network"].name)
    storage = open_storage(db_url)
    fill(PoolStore(storage, files["network"].name, 32), renderer, count, (0.5, 1.0), renderer.info.channels)
    storage.close()


def worker(files, db_url: str, **overrides) -> TestClient:
    """One web worker's app on the shared database."""
    settings = WebSettings(network=files["network"], data=files["data"], db=db_url, workers=2,
                           rate_limits=overrides.pop("rate_limits", RateLimits().scaled(0)), **overrides)
    return TestClient(create_app(settings), base_url="http://127.0.0.1")


# -- the shared pool --------------------------------------------------------------------------------
def test_pool_serves_each_face_once_then_repeats_the_least_served(files, db_url):
    fill_pool(files, db_url, 3)
    storage = open_storage(db_url)
    store = PoolStore(storage, files["network"].name, 32)
    assert (store.counts().fresh, store.counts().total) == (3, 3)
    taken = [store.take() for _ in range(3)]
    assert len({t.seed for t in taken}) == 3 and not any(t.repeated for t in taken)  # three different, fresh
    assert all(0.5 <= t.psi <= 1.0 and t.png[:8] == b"\x89PNG\r\n\x1a\n" for t in taken)
    again = store.take()
    assert again.repeated and again.seed in {t.seed for t in taken}            # drained: a repeat, said so
    assert store.counts().fresh == 0
    assert PoolStore(storage, "another.safetensors", 32).take() is None      # faces of another network: none
    storage.close()


def test_an_empty_shared_pool_is_a_clear_503_not_a_wait(files, db_url):
    with worker(files, db_url) as web:
        r = web.post("/api/rounds")
        assert r.status_code == 503 and "facegan pool fill" in r.json()["detail"]
        assert r.headers["retry-after"]


def test_a_drained_pool_repeats_faces_and_never_errors(files, db_url):
    fill_pool(files, db_url, 2)
    with worker(files, db_url) as web:
        statuses = [web.post("/api/rounds").status_code for _ in range(6)]
        assert statuses == [200] * 6
        assert web.app.state.services.pool.repeated == 4
        assert web.get("/healthz").json()["fakes_ready"] == 0


# -- many workers, one game -------------------------------------------------------------------------
def test_a_round_from_one_worker_is_served_and_answered_by_another(files, db_url):
    fill_pool(files, db_url, 4)
    with worker(files, db_url) as a, worker(files, db_url) as b:
        issued = a.post("/api/rounds").json()
        b.cookies.update(a.cookies)                  # the same player, whose next request lands on worker b
        images = [b.get(url) for url in issued["images"]]
        assert [i.status_code for i in images] == [200, 200]
        assert images[0].headers["cache-control"] == images[1].headers["cache-control"]
        answer = b.post("/api/answer", json={"round": issued["round"], "choice": 0})
        assert answer.status_code == 200 and answer.json()["score"]["answered"] == 1
        again = a.post("/api/answer", json={"round": issued["round"], "choice": 1})
        assert again.status_code == 409                # one answer per round, whichever worker is asked
        assert a.get("/api/me").json()["answered"] == 1
        stranger = worker(files, db_url)
        assert stranger.get(issued["images"][0]).status_code == 404   # images stay the player's
        assert stranger.post("/api/answer", json={"round": issued["round"], "choice": 0}).status_code == 403


def test_a_players_open_rounds_are_capped_across_workers(files, db_url):
    fill_pool(files, db_url, 8)
    with worker(files, db_url, max_open_rounds=2) as a, worker(files, db_url, max_open_rounds=2) as b:
        first = a.post("/api/rounds").json()
        b.cookies.update(a.cookies)
        for web in (b, a):
            assert web.post("/api/rounds").status_code == 200
        assert b.get(first["images"][0]).status_code == 404   # the oldest round lost its images


def test_rate_limits_count_across_workers(files, db_url):
    fill_pool(files, db_url, 12)
    limits = RateLimits(game=Limit(0.01, 5), render=Limit(100, 100), general=Limit(100, 100),
                        new_players=Limit(100, 100))
    with worker(files, db_url, rate_limits=limits) as a, worker(files, db_url, rate_limits=limits) as b:
        a.get("/api/me")
        b.cookies.update(a.cookies)
        statuses = [(a if i % 2 else b).post("/api/rounds").status_code for i in range(8)]
        assert statuses == [200] * 5 + [429] * 3     # one bucket of 5, not 5 per worker


def test_db_rate_limiter_refills_at_its_rate(db_url):
    storage = open_storage(db_url)
    now = [1000.0]
    one, two = (DbRateLimiter(storage, "game", Limit(2.0, 3.0), clock=lambda: now[0]) for _ in range(2))
    assert [one.take("p"), two.take("p"), one.take("p")] == [0.0, 0.0, 0.0]
    assert two.take("p") == pytest.approx(0.5)       # empty: one token back in 1/rate seconds
    assert one.take("q") == 0.0                      # buckets are per key
    now[0] += 0.5
    assert two.take("p") == 0.0 and one.take("p") == pytest.approx(0.5)
    storage.close()


def test_worker_settings_survive_the_trip_through_the_environment(files):
    settings = WebSettings(network=files["network"], data=files["data"], db="postgresql://u@127.0.0.1/g",
                           workers=4, psi_range=(0.6, 0.9), rate_limits=RateLimits().scaled(2.0),
                           allowed_hosts=("game.example.org",))
    assert settings_from_json(settings_to_json(settings)) == settings
    assert settings.shared and settings.db == "postgresql://u@127.0.0.1/g"
    off = WebSettings(network=files["network"], data=files["data"], rate_limits=RateLimits().scaled(0))
    assert settings_from_json(settings_to_json(off)) == off and not off.shared


# -- the command line -------------------------------------------------------------------------------
def test_db_migrate_and_export_the_answers_as_csv_and_json(files, db_url, tmp_path):
    runner = CliRunner()
    migrated = runner.invoke(cli, ["db", "migrate", "--db", db_url])
    assert migrated.exit_code == 0 and f"schema version {SCHEMA_VERSION}" in migrated.output
    fill_pool(files, db_url, 3)
    with worker(files, db_url) as web:
        rounds = [web.post("/api/rounds").json() for _ in range(2)]
        answers = [web.post("/api/answer", json={"round": r["round"], "choice": c}).json()
                   for r, c in zip(rounds, (0, 1))]
    exported = runner.invoke(cli, ["db", "export", "--db", db_url, "--format", "csv"])
    assert exported.exit_code == 0, exported.output
    rows = list(csv.DictReader(io.StringIO(exported.output)))
    assert [int(r["round_id"]) for r in rows] == [a["round_id"] for a in answers]
    assert [r["choice"] for r in rows] == ["0", "1"]
    assert [r["correct"] == "True" for r in rows] == [a["correct"] for a in answers]
    assert [int(r["fake_seed"]) for r in rows] == [a["fake"]["seed"] for a in answers]
    out = tmp_path / "answers.json"
    assert runner.invoke(cli, ["db", "export", "--db", db_url, "--format", "json", "-o", str(out)]).exit_code == 0
    records = json.loads(out.read_text())
    assert [r["real_name"] for r in records] == [a["real_photo"] for a in answers]


def test_pool_fill_command_adds_faces_the_game_serves(files, db_url):
    result = CliRunner().invoke(cli, ["pool", "fill", "--network", str(files["network"]), "--db", db_url,
                                      "--count", "5", "--display-size", "64"])
    assert result.exit_code == 0, result.output
    assert re.search(r"added 5 faces of net\.safetensors at 32 px in [\d.]+ s \([\d.]+ faces/s\); "
                     r"the pool holds 5 unserved of 5", result.output), result.output
    with worker(files, db_url) as web:
        assert web.post("/api/rounds").status_code == 200
        assert web.get("/api/info").json()["pool"]["ready"] == 4


def test_a_database_url_of_another_kind_is_one_clear_error(files):
    from facegan.errors import ConfigError

    with pytest.raises(ConfigError, match="unsupported database URL mysql://"):
        WebSettings(network=files["network"], data=files["data"], db="mysql://u@h/db")


def test_random_faces_come_from_the_pool_at_cacheable_urls_that_name_nothing(files, db_url):
    fill_pool(files, db_url, 3)
    with worker(files, db_url) as web:
        r = web.get("/api/faces/random", follow_redirects=False)
        assert r.status_code == 303 and r.headers["cache-control"] == "no-store"
        url = r.headers["location"]
        assert url.startswith("/faces/") and url.endswith(".png")
        assert r.headers["x-seed"] not in url                      # a random id, not the seed
        face = TestClient(web.app, base_url="http://127.0.0.1").get(url)   # anyone, no cookie
        assert face.status_code == 200 and face.content[:8] == b"\x89PNG\r\n\x1a\n"
        assert face.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert "set-cookie" not in face.headers                   # a CDN may cache it
        assert web.get("/faces/AAAAAAAAAAAAAAAAAAAAAA.png").status_code == 404
        # a face shown by /random is taken from the pool: the game does not show it again while fresh ones last
        seeds = {web.post("/api/answer", json={"round": web.post("/api/rounds").json()["round"], "choice": 0})
                 .json()["fake"]["seed"] for _ in range(2)}
        assert int(r.headers["x-seed"]) not in seeds


def test_serve_with_workers_reports_bad_input_in_one_line_before_starting_them(files, tmp_path, capsys):
    from facegan.cli import main
    from pg_server import free_port

    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"garbage")
    assert main(["serve", "--network", str(bad), "--data", str(files["data"]), "--workers", "2",
                 "--db", str(tmp_path / "g.sqlite")]) != 0
    unreachable = f"postgresql://nobody@127.0.0.1:{free_port()}/x"
    assert main(["serve", "--network", str(files["network"]), "--data", str(files["data"]), "--workers", "2",
                 "--db", unreachable]) != 0
    assert main(["db", "export", "--db", unreachable]) != 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.count("error:") == 3 and "cannot connect to PostgreSQL" in err
