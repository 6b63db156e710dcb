"""The machine beside the player: `facegan serve --detector` judges every round, reveals its guess
with the answer, stores it, and the statistics set humans against the machine. Without a detector
the game is as before."""

from __future__ import annotations

import os
import re
import sqlite3

import pytest
from fastapi.testclient import TestClient

from detect_helpers import one_thread
from facegan.detection import DetectorFormatError, DetectorTrainOptions, train_detector
from facegan.web import WebSettings, create_app
from facegan.web.detector import MachineGuess
from facegan.web.ratelimit import RateLimits
from facegan.web.storage import MIGRATIONS, SCHEMA_VERSION, Storage, migrate
from test_web_browser import ARGS, CHROMIUM, TIMEOUT_MS, wait_for_pair
from web_helpers import build_archive, build_network, play_round, serve_in_thread, wait_for_fakes

T0 = 1_750_000_000.0


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("detect-web")
    network = build_network(root / "net.safetensors", "dcgan", 32)
    data = build_archive(root / "faces.zip", count=12)
    with one_thread():
        detector = train_detector(DetectorTrainOptions(data=data, network=network, psis=(0.5, 1.0), device="cpu"),
                                  progress=False)
    detector.save(root / "detector.safetensors")
    return {"root": root, "network": network, "data": data, "detector": root / "detector.safetensors"}


def client(files, db: str, **kw) -> TestClient:
    settings = WebSettings(network=files["network"], data=files["data"], db=files["root"] / db, pool_size=8,
                           psi_range=(0.5, 1.0), rate_limits=RateLimits().scaled(0), device="cpu", **kw)
    return TestClient(create_app(settings), base_url="http://127.0.0.1")


# -- the guess ----------------------------------------------------------------------------------------

def test_the_machine_calls_real_the_face_it_finds_less_likely_generated():
    guess = MachineGuess((0.9, 0.2))
    assert guess.choice == 1 and guess.correct(1) and not guess.correct(0)
    # P(left fake, right real) / (that + P(left real, right fake)) = 0.72 / (0.72 + 0.02)
    assert guess.confidence == pytest.approx(0.9 * 0.8 / (0.9 * 0.8 + 0.1 * 0.2))
    assert MachineGuess((0.3, 0.3)).choice == 0 and MachineGuess((0.3, 0.3)).confidence == 0.5
    assert MachineGuess((1.0, 1.0)).confidence == 0.5


# -- the game -----------------------------------------------------------------------------------------

def test_after_each_answer_the_machines_guess_is_revealed_and_counted_in_the_statistics(files):
    with client(files, "with.sqlite", detector=files["detector"]) as c:
        wait_for_fakes(c, 4)
        answers = []
        for i in range(6):
            round_, answer = play_round(c, choice=i % 2)
            answers.append(answer)
            if i < 3:
                assert c.post("/api/tell", json={"round": round_["round"], "tell": "hair"}).status_code == 204
        for a in answers:
            m = a["machine"]
            assert m["choice"] in (0, 1) and m["correct"] == (m["choice"] == a["real"])
            assert 0.5 <= m["confidence"] <= 1 and all(0 <= p <= 1 for p in m["p_generated"])
            assert m["choice"] == (0 if m["p_generated"][0] <= m["p_generated"][1] else 1)
        stats = c.get("/api/stats").json()
        versus = stats["versus"]
        assert versus["answered"] == 6
        assert versus["fooled"] == sum(not a["correct"] for a in answers)
        assert versus["machine_fooled"] == sum(not a["machine"]["correct"] for a in answers)
        assert sum(g["answered"] for g in versus["by_psi"]) == 6
        assert all(0.5 <= g["psi_min"] < 1.1 for g in versus["by_psi"])
        hair = versus["by_tell"][0]
        assert hair["tell"] == "hair" and hair["answered"] == 3
        assert hair["machine_fooled"] == sum(not a["machine"]["correct"] for a in answers[:3])
        page = c.get("/stats", headers={"accept": "text/html"}).text
        assert "Humans against the machine" in page and 'id="versus-psi"' in page and 'id="versus-tell"' in page
        assert 'id="machine"' in c.get("/").text


def test_without_a_detector_the_game_is_as_before(files):
    with client(files, "without.sqlite") as c:
        wait_for_fakes(c, 1)
        _, answer = play_round(c)
        assert answer["machine"] is None
        assert c.get("/api/stats").json()["versus"] is None
        assert "Humans against the machine" not in c.get("/stats").text


def test_a_bad_detector_file_stops_the_server_with_one_clear_error(files):
    bad = files["root"] / "bad.safetensors"
    bad.write_bytes(b"not a detector")
    with pytest.raises(DetectorFormatError, match="bad.safetensors: not a readable .safetensors file"):
        create_app(WebSettings(network=files["network"], data=files["data"], db=files["root"] / "bad.sqlite",
                               detector=bad, device="cpu"))


# -- storage ------------------------------------------------------------------------------------------

def test_versus_statistics_come_from_the_stored_probabilities(tmp_path):
    storage = Storage(tmp_path / "game.sqlite")
    # (psi, real position, human correct, machine p_generated left/right, tell)
    plays = [(0.55, 0, True, (0.2, 0.9), "hair"),   # machine right
             (0.58, 1, False, (0.2, 0.9), "hair"),  # machine picks left, the fake: fooled
             (0.95, 1, True, (0.8, 0.1), None),     # right
             (0.97, 0, True, (0.5, 0.5), None)]     # a tie picks left: right
    for i, (psi, real, ok, p, tell) in enumerate(plays):
        rid = storage.insert_round(f"t{i}".encode(), "p", T0, T0 + 600, real, "r.png", i, psi, None, "n",
                                   machine_p=p, detector="d.safetensors")
        storage.record_answer(rid, "p", T0 + 1, real if ok else 1 - real, ok, 100)
        if tell:
            storage.record_tell(rid, tell)
    # A round without a machine guess is left out of the comparison.
    rid = storage.insert_round(b"plain", "p", T0, T0 + 600, 0, "r.png", 9, 0.6, None, "n")
    storage.record_answer(rid, "p", T0 + 1, 1, False, 100)
    versus = storage.stats(now=T0 + 2)["versus"]
    assert (versus["answered"], versus["fooled"], versus["machine_fooled"]) == (4, 1, 1)
    by_psi = {(g["psi_min"], g["psi_max"]): (g["answered"], g["fooled"], g["machine_fooled"])
              for g in versus["by_psi"]}
    assert by_psi == {(0.5, 0.6): (2, 1, 1), (0.9, 1.0): (2, 0, 0)}
    assert versus["by_tell"] == [{"tell": "hair", "answered": 2, "fooled": 1, "fooled_rate": 0.5,
                                  "machine_fooled": 1, "machine_fooled_rate": 0.5}]
    assert storage.find_round(b"t1").machine_p == (0.2, 0.9) and storage.find_round(b"plain").machine_p is None
    storage.close()


def test_a_database_of_the_first_schema_gains_the_machine_columns(tmp_path):
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, MIGRATIONS[:1])
    conn.execute("INSERT INTO rounds (token_hash, player, issued_at, expires_at, real_position, real_name, "
                 "fake_seed, fake_psi, network) VALUES (x'00', 'p', 1, 2, 0, 'r', 1, 0.7, 'n')")
    conn.close()
    storage = Storage(path)
    assert storage.schema_version == SCHEMA_VERSION == 3
    old = storage.find_round(b"\x00")
    assert old.fake_seed == 1 and old.machine_p is None
    storage.close()


# -- in a real browser ----------------------------------------------------------------------------------

@pytest.mark.browser
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"needs Debian's chromium at {CHROMIUM}")
def test_in_the_browser_the_machines_guess_follows_the_players_and_stats_compare_them(files):
    sync_api = pytest.importorskip("playwright.sync_api")
    settings = WebSettings(network=files["network"], data=files["data"], db=files["root"] / "browser.sqlite",
                           pool_size=8, detector=files["detector"], device="cpu")
    with serve_in_thread(create_app(settings)) as base, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        problems: list[str] = []
        page.on("console", lambda msg: problems.append(msg.text) if msg.type in ("error", "warning") else None)
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.goto(base + "/")
        wait_for_pair(page)
        assert page.locator("#machine").is_hidden()
        page.locator(".face").first.click()
        page.wait_for_selector("#machine:not([hidden])")
        assert re.match(r"The machine picked the (left|right) face as real, \d+ % sure: (right|fooled too)\.",
                        page.locator("#machine").inner_text())
        page.goto(base + "/stats")
        assert "Humans against the machine" in page.locator("#versus").inner_text()
        assert page.locator("#versus-psi tbody tr").count() == 1
        assert problems == []
        browser.close()


def test_serve_refuses_a_bad_detector_before_listening(files, capsys):
    from facegan.cli import main

    bad = files["root"] / "bad-serve.safetensors"
    bad.write_bytes(b"junk")
    argv = ["serve", "--network", str(files["network"]), "--data", str(files["data"]), "--db",
            str(files["root"] / "serve.sqlite"), "--device", "cpu", "--port", "0", "--detector"]
    assert main([*argv, str(bad)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "bad-serve.safetensors" in err and "\n" not in err
    assert main([*argv, str(files["root"] / "missing.safetensors")]) == 2   # click: the file must exist
