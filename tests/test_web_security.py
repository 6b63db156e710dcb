"""Security: nothing the client receives says which face is real; tokens are single-use, bound to
their player and expire; malformed, oversized and cross-site requests are refused; no path reaches
files outside the app's assets; headers, Host check and rate limits."""

from __future__ import annotations

import os
import socket
import sqlite3
import time

import pytest
from fastapi.testclient import TestClient

from facegan.web import WebSettings, create_app
from facegan.web.players import COOKIE
from facegan.web.ratelimit import Limit, RateLimits
from facegan.web.security import CSP
from web_helpers import build_archive, build_network, play_round, serve_in_thread, wait_for_fakes

BASE = "http://127.0.0.1"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("sec")
    return {"root": root, "network": build_network(root / "net.safetensors", "dcgan", 32),
            "data": build_archive(root / "faces.zip", count=16)}


def make_app(files, db: str, **overrides):
    settings = WebSettings(network=files["network"], data=overrides.pop("data", files["data"]),
                           db=files["root"] / db, pool_size=overrides.pop("pool_size", 16),
                           rate_limits=overrides.pop("rate_limits", RateLimits().scaled(0)), **overrides)
    return create_app(settings)


@pytest.fixture(scope="module")
def app(files):
    return make_app(files, "sec.sqlite")


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app, base_url=BASE) as c:
        wait_for_fakes(c, 8)
        yield c


@pytest.fixture(scope="module")
def server(files):
    """The app under a real uvicorn, for requests no client library would send."""
    with serve_in_thread(make_app(files, "raw.sqlite")) as base:
        yield base


def raw_request(base: str, request: bytes) -> tuple[int, bytes]:
    """Send bytes as they are over a socket; (status, whole response)."""
    port = int(base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        response = b""
        while chunk := s.recv(65536):
            response += chunk
    return int(response.split(b" ", 2)[1]), response


def stranger(app) -> TestClient:
    """A second player: a client with its own cookie jar, on the running app."""
    c = TestClient(app, base_url=BASE)
    c.get("/api/me")
    return c


# -- nothing reveals the real face ---------------------------------------------------------------
def test_both_faces_are_served_alike(client):
    for _ in range(6):
        round_ = client.post("/api/rounds").json()
        first, second = (client.get(url) for url in round_["images"])
        # The same headers but for the length, the same format, size and chunks.
        strip = {"content-length", "date"}
        assert {k: v for k, v in first.headers.items() if k not in strip} == \
               {k: v for k, v in second.headers.items() if k not in strip}
        assert first.content[:24][:16] == second.content[:24][:16]   # signature + IHDR header
        assert first.content[16:26] == second.content[16:26]          # width, height, depth, colour type
        assert _chunks(first.content) == _chunks(second.content) == ["IHDR", "IDAT", "IEND"]
        # The ids are opaque: same shape, random, not derived from the round.
        ids = [url.rsplit("/", 1)[1] for url in round_["images"]]
        assert len(ids[0]) == len(ids[1]) == 22 and round_["round"] not in ids
        client.post("/api/answer", json={"round": round_["round"], "choice": 0})


def _chunks(data: bytes) -> list[str]:
    types, pos = [], 8
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        types.append(data[pos + 4:pos + 8].decode("latin-1"))
        pos += 12 + length
    return types


def test_the_round_response_carries_no_hint(client):
    round_ = client.post("/api/rounds").json()
    assert set(round_) == {"round", "images", "expires_in", "reals_exhausted"}
    text = str(round_).lower()
    for word in ("real", "fake", "seed", "psi", "png", "img0"):
        assert word not in text.replace("reals_exhausted", "")


def test_the_real_face_is_on_either_side(client):
    sides = {play_round(client)[1]["real"] for _ in range(24)}
    assert sides == {0, 1}  # a fixed side would fail this with probability 2**-23


def test_the_database_keeps_only_a_hash_of_the_token(client, files):
    round_ = client.post("/api/rounds").json()
    raw = (files["root"] / "sec.sqlite").read_bytes() + (files["root"] / "sec.sqlite-wal").read_bytes()
    assert round_["round"].encode() not in raw


# -- tokens: single use, own player, expiry -------------------------------------------------------
def test_answering_twice_is_refused(client):
    round_, first = play_round(client)
    again = client.post("/api/answer", json={"round": round_["round"], "choice": 1 - first["real"]})
    assert again.status_code == 409
    assert client.get("/api/me").json()["answered"] >= 1


def test_a_strangers_round_cannot_be_answered_or_seen(client, app):
    round_ = client.post("/api/rounds").json()
    other = stranger(app)
    assert other.post("/api/answer", json={"round": round_["round"], "choice": 0}).status_code == 403
    assert other.post("/api/tell", json={"round": round_["round"], "tell": "hair"}).status_code == 403
    for url in round_["images"]:
        assert other.get(url).status_code == 404
        assert client.get(url).status_code == 200
    # The owner can still answer: the stranger's attempt did not use the round up.
    assert client.post("/api/answer", json={"round": round_["round"], "choice": 0}).status_code == 200


def test_an_unknown_token_is_refused(client):
    r = client.post("/api/answer", json={"round": "A" * 43, "choice": 0})
    assert r.status_code == 404


def test_an_expired_round_is_refused(files):
    with TestClient(make_app(files, "expiry.sqlite", round_ttl_s=0.3), base_url=BASE) as c:
        wait_for_fakes(c)
        round_ = c.post("/api/rounds").json()
        time.sleep(0.5)
        assert c.get(round_["images"][0]).status_code == 404
        r = c.post("/api/answer", json={"round": round_["round"], "choice": 0})
    assert r.status_code == 410


def test_a_forged_or_tampered_cookie_is_ignored(client, app):
    round_ = client.post("/api/rounds").json()
    owner = client.cookies.get(COOKIE)
    player, signature = owner.split(".")
    for value in (f"{'B' * 22}.{signature}", f"{player}.{'C' * len(signature)}", player, f"{player}.{signature}x"):
        forged = TestClient(app, base_url=BASE)
        r = forged.post("/api/answer", json={"round": round_["round"], "choice": 0},
                        headers={"cookie": f"{COOKIE}={value}"})
        assert r.status_code == 403
        assert "set-cookie" in r.headers  # a fresh, genuine id was handed out instead
    client.post("/api/answer", json={"round": round_["round"], "choice": 0})


def test_old_open_rounds_lose_their_images_beyond_the_limit(client):
    rounds = [client.post("/api/rounds").json() for _ in range(5)]   # max_open_rounds = 4
    assert client.get(rounds[0]["images"][0]).status_code == 404
    assert client.get(rounds[-1]["images"][0]).status_code == 200
    for r in rounds:
        client.post("/api/answer", json={"round": r["round"], "choice": 0})


# -- malformed and oversized requests ------------------------------------------------------------
@pytest.mark.parametrize("body", [
    {"round": "x" * 43},                                   # no choice
    {"round": "x" * 43, "choice": 2},                      # out of range
    {"round": "x" * 43, "choice": "0"},                    # a string
    {"round": "x" * 43, "choice": True},                   # a boolean
    {"round": "x" * 43, "choice": 0.0},                    # a float
    {"round": "x" * 43, "choice": 0, "real": 0},           # unknown field
    {"round": "../../etc/passwd", "choice": 0},            # not a token
    {"round": "x" * 500, "choice": 0},                     # too long
    ["x", 0],                                              # not an object
])
def test_malformed_answers_are_refused(client, body):
    r = client.post("/api/answer", json=body)
    assert r.status_code == 422


def test_invalid_json_is_refused(client):
    r = client.post("/api/answer", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422


def test_a_non_json_body_is_refused(client):
    # A cross-site form can post these types without a preflight; the API does not accept them.
    for ctype in ("application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x"):
        r = client.post("/api/answer", content=b'{"round": "x", "choice": 0}', headers={"content-type": ctype})
        assert r.status_code == 415, ctype


def test_unknown_tells_are_refused(client):
    round_, _ = play_round(client)
    r = client.post("/api/tell", json={"round": round_["round"], "tell": "<script>"})
    assert r.status_code == 422


def test_an_oversized_body_is_refused_before_it_is_read(client):
    big = b'{"round": "' + b"A" * 20_000 + b'", "choice": 0}'
    r = client.post("/api/answer", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_an_oversized_chunked_body_is_refused(client):
    def chunks():
        for _ in range(40):
            yield b"A" * 1024

    r = client.post("/api/answer", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


@pytest.mark.parametrize("length", [b"-5", b"abc", b"99999999999999999999"])
def test_a_bad_content_length_is_refused(server, length):
    status, _ = raw_request(server, b"POST /api/answer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
                                    b"\r\nContent-Length: " + length + b"\r\nConnection: close\r\n\r\n{}")
    assert status in (400, 413)


# -- paths --------------------------------------------------------------------------------------
TRAVERSALS = [
    "/static/../../../../etc/passwd",
    "/static/..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/static/....//....//etc/passwd",
    "/static/%252e%252e/%252e%252e/etc/passwd",
    "/static//etc/passwd",
    "/static/..\\..\\..\\etc\\passwd",
    "/api/images/..%2f..%2fstorage.py",
    "/api/images/%2e%2e",
    "/static/../app.py",
    "/static/%2e%2e/app.py",
    "/static/..%2fapp.py",
    "/static/..%2fsettings.py",
    "/static/../templates/base.html",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_no_path_reaches_files_outside_the_static_folder(server, path):
    # Sent raw over a real socket, so no client normalises the path first.
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    status, response = raw_request(server, request.encode())
    assert status in (400, 404, 422), response[:200]
    for secret in (b"root:", b"import ", b"{% extends", b"def "):
        assert secret not in response


def test_static_files_are_served(client):
    assert client.get("/static/style.css").status_code == 200
    assert client.get("/static/game.js").status_code == 200


def test_an_archive_link_pointing_outside_is_never_served(files, tmp_path):
    outside = tmp_path / "secret.png"
    # A valid image outside the archive, linked from inside a folder archive.
    build_archive(tmp_path / "tmp_src", count=1)
    os.replace(tmp_path / "tmp_src" / "00000" / "img00000000.png", outside)
    folder = tmp_path / "faces"
    build_archive(folder, count=2)
    os.symlink(outside, folder / "00000" / "img00000099.png")
    with TestClient(make_app(files, "link.sqlite", data=folder), base_url=BASE) as c:
        wait_for_fakes(c)
        shown = {play_round(c)[1]["real_photo"] for _ in range(6)}
    assert "00000/img00000099.png" not in shown
    assert shown <= {"00000/img00000000.png", "00000/img00000001.png"}


# -- headers, hosts, rate limits ------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/", "/learn", "/api/info", "/static/style.css", "/nope", "/api/render.png?seed=x"])
def test_every_response_carries_the_security_headers(client, path):
    r = client.get(path)
    assert r.headers["content-security-policy"] == CSP
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"


def test_the_csp_allows_only_the_apps_own_origin():
    assert "default-src 'none'" in CSP and "script-src 'self'" in CSP and "frame-ancestors 'none'" in CSP
    assert "unsafe-inline" not in CSP and "unsafe-eval" not in CSP and "http" not in CSP and "*" not in CSP


def test_the_player_cookie_is_http_only_and_same_site(files):
    with TestClient(make_app(files, "cookie.sqlite"), base_url=BASE) as c:
        cookie = c.get("/").headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie


def test_foreign_host_headers_are_refused_when_bound_to_loopback(client):
    assert client.get("/", headers={"host": "evil.example"}).status_code == 400
    assert client.get("/", headers={"host": "localhost:8000"}).status_code == 200
    assert client.get("/", headers={"host": "[::1]:8000"}).status_code == 200


def test_any_host_is_accepted_when_bound_to_all_interfaces(files):
    with TestClient(make_app(files, "hosts.sqlite", host="0.0.0.0"), base_url="http://game.school.example") as c:
        assert c.get("/").status_code == 200


def test_a_player_over_the_game_limit_gets_429_with_retry_after(files):
    limits = RateLimits(game=Limit(0.1, 3), render=Limit(0.1, 2), general=Limit(100, 100))
    with TestClient(make_app(files, "limit.sqlite", rate_limits=limits), base_url=BASE) as c:
        wait_for_fakes(c, 4)
        codes = [c.post("/api/rounds").status_code for _ in range(4)]
        renders = [c.get(f"/api/render.png?seed={i}").status_code for i in range(3)]
        r = c.post("/api/rounds")
    assert codes == [200, 200, 200, 429] and renders == [200, 200, 429]
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1


def test_new_players_from_one_address_are_limited(files):
    limits = RateLimits(new_players=Limit(0.01, 3))
    app = make_app(files, "newplayers.sqlite", rate_limits=limits)
    codes = []
    for _ in range(4):  # a client that drops its cookies every time
        with TestClient(app, base_url=BASE) as c:
            codes.append(c.get("/api/me").status_code)
    assert codes == [200, 200, 200, 429]


def test_the_pool_running_dry_is_a_503_with_retry_after(files):
    with TestClient(make_app(files, "dry.sqlite", pool_size=1, pool_wait_s=0.0), base_url=BASE) as c:
        wait_for_fakes(c)
        app = c.app
        app.state.services.pool.stop()        # nothing refills it now
        assert c.post("/api/rounds").status_code == 200
        r = c.post("/api/rounds")
    assert r.status_code == 503 and r.headers["retry-after"] == "2"


def test_stored_answers_match_what_players_were_told(client, files):
    results = [play_round(client)[1] for _ in range(3)]
    db = sqlite3.connect(files["root"] / "sec.sqlite")
    for res in results:
        correct, real = db.execute("SELECT a.correct, r.real_position FROM answers a JOIN rounds r "
                                   "ON r.id = a.round_id WHERE a.round_id = ?", (res["round_id"],)).fetchone()
        assert (bool(correct), real) == (res["correct"], res["real"])


def test_a_database_that_cannot_be_written_is_a_503_not_a_crash(files):
    with TestClient(make_app(files, "broken.sqlite"), base_url=BASE) as c:
        wait_for_fakes(c)
        c.app.state.services.storage.close()
        r = c.post("/api/rounds")
    assert r.status_code == 503 and r.headers["retry-after"] == "5" and "database" in r.json()["detail"]
