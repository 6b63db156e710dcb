"""The JSON API and the pages, through FastAPI's test client: full rounds, scores, tells, rendering,
statistics, the OpenAPI schema, and the `facegan serve` command line."""

from __future__ import annotations

import sqlite3

import pytest
from fastapi.testclient import TestClient

from facegan.cli import main
from facegan.web import WebSettings, create_app
from facegan.web.ratelimit import RateLimits
from facegan.web.tells import MARKABLE, TELLS
from web_helpers import build_archive, build_network, play_round, wait_for_fakes


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("web")
    return {"root": root, "network": build_network(root / "net.safetensors", "dcgan", 32),
            "sg2": build_network(root / "sg2.safetensors", "stylegan2", 32),
            "data": build_archive(root / "faces.zip", count=12)}


def make_client(files, db_name: str, network: str = "network", **overrides) -> TestClient:
    settings = WebSettings(network=files[network], data=files["data"], db=files["root"] / db_name, pool_size=8,
                           rate_limits=overrides.pop("rate_limits", RateLimits().scaled(0)), **overrides)
    return TestClient(create_app(settings), base_url="http://127.0.0.1")


@pytest.fixture(scope="module")
def client(files):
    with make_client(files, "api.sqlite") as c:
        wait_for_fakes(c, 4)
        yield c


def test_a_round_hands_out_two_images_and_a_token(client):
    r = client.post("/api/rounds")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    body = r.json()
    assert set(body) == {"round", "images", "expires_in", "reals_exhausted"}
    assert len(body["images"]) == 2 and body["images"][0] != body["images"][1]
    for url in body["images"]:
        image = client.get(url)
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"
        assert image.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_answering_reveals_the_real_face_and_stores_the_answer(client, files):
    round_, answer = play_round(client, choice=1)
    assert answer["correct"] == (answer["real"] == 1)
    assert 0.5 <= answer["fake"]["psi"] <= 1.0 and 0 <= answer["fake"]["seed"] < 2**32
    side = ("left", "right")[answer["real"] if answer["correct"] else 1 - answer["real"]]
    assert answer["explanation"].startswith(f"The {side} face")
    assert ("you spotted it" if answer["correct"] else "the one you picked") in answer["explanation"]
    assert f"seed {answer['fake']['seed']}" in answer["explanation"]
    assert answer["real_photo"].endswith(".png")
    db = sqlite3.connect(files["root"] / "api.sqlite")
    row = db.execute("SELECT a.choice, a.correct, r.fake_seed, r.fake_psi, r.real_position, a.time_ms "
                     "FROM answers a JOIN rounds r ON r.id = a.round_id WHERE a.round_id = ?",
                     (answer["round_id"],)).fetchone()
    assert row[:5] == (1, int(answer["correct"]), answer["fake"]["seed"], answer["fake"]["psi"], answer["real"])
    assert row[5] >= 0


def test_score_streak_and_accuracy_follow_the_answers(files):
    with make_client(files, "score.sqlite") as c:
        wait_for_fakes(c, 4)
        results = [play_round(c, choice=i % 2)[1]["correct"] for i in range(6)]
        me = c.get("/api/me").json()
    assert me["answered"] == 6 and me["correct"] == sum(results)
    streak = 0
    for ok in results:
        streak = streak + 1 if ok else 0
    assert me["streak"] == streak
    assert me["accuracy"] == pytest.approx(sum(results) / 6, abs=1e-4)


def test_a_tell_can_be_marked_after_answering(client):
    round_, _ = play_round(client)
    r = client.post("/api/tell", json={"round": round_["round"], "tell": "hair"})
    assert r.status_code == 204
    again = client.post("/api/tell", json={"round": round_["round"], "tell": "teeth"})
    assert again.status_code == 409


def test_a_tell_before_answering_is_refused(client):
    round_ = client.post("/api/rounds").json()
    r = client.post("/api/tell", json={"round": round_["round"], "tell": "hair"})
    assert r.status_code == 409 and "answer" in r.json()["detail"]


def test_stats_count_the_stored_answers(files):
    with make_client(files, "stats.sqlite") as c:
        wait_for_fakes(c, 3)
        answers = [play_round(c, choice=0)[1] for _ in range(3)]
        stats = c.get("/api/stats").json()
        page = c.get("/stats")
    fooled = sum(not a["correct"] for a in answers)
    assert stats["answered"] == 3 and stats["fooled"] == fooled and stats["players"] == 1
    assert sum(g["answered"] for g in stats["by_psi"]) == 3
    assert page.status_code == 200 and 'id="stat-answered">3<' in page.text


def test_info_describes_the_network_and_the_tells(client):
    info = client.get("/api/info").json()
    assert info["architecture"] == "dcgan" and info["resolution"] == 32 and info["num_ws"] == 1
    assert info["style_mixing"] is False and info["has_noise"] is False
    assert info["real_photos"] == 12 and info["display_size"] == 32
    assert [t["key"] for t in info["tells"]] == [t.key for t in TELLS]
    assert len(TELLS) == 6 and "none" in MARKABLE


def test_render_returns_a_png_reproducible_from_its_parameters(client):
    a = client.get("/api/render.png?seed=42&psi=0.8")
    b = client.post("/api/render", json={"seed": 42, "psi": 0.8})
    assert a.status_code == b.status_code == 200
    assert a.content == b.content and a.headers["x-seed"] == "42"
    other = client.get("/api/render.png?seed=43&psi=0.8")
    assert other.content != a.content
    download = client.get("/api/render.png?seed=42&psi=0.8&download=true")
    assert download.headers["content-disposition"] == 'attachment; filename="facegan-seed42-psi0.8.png"'


@pytest.mark.parametrize("query,status", [
    ("seed=-1", 422), ("seed=4294967296", 422), ("psi=3", 422), ("psi=nan", 422), ("seed=abc", 422),
    ("mix_seed=2&mix_group=coarse", 422), ("noise=loud", 422), ("cutoff=0", 422), ("unknown=1", 422),
])
def test_render_refuses_bad_parameters(client, query, status):
    r = client.get(f"/api/render.png?{query}")
    assert r.status_code == status and "detail" in r.json()


def test_style_mixing_works_on_a_style_based_network(files):
    with make_client(files, "sg2.sqlite", network="sg2") as c:
        info = c.get("/api/info").json()
        plain = c.get("/api/render.png?seed=1&psi=1")
        mixed = c.get("/api/render.png?seed=1&psi=1&mix_seed=7&mix_group=coarse")
        fine = c.get("/api/render.png?seed=1&mix_seed=7&mix_group=fine")
        page = c.get("/explore?seed=1")
    assert info["style_mixing"] and info["groups"]["coarse"] == [0, 1, 2, 3] and info["groups"]["fine"] == []
    assert plain.status_code == mixed.status_code == 200 and plain.content != mixed.content
    assert fine.status_code == 422 and "no fine layers" in fine.json()["detail"][0]["msg"]
    assert "styles to mix" not in page.text and "(none here)" in page.text


def test_random_gives_a_new_face_each_time_and_reproduces_a_seed(client):
    seeds = {client.get("/api/random.png").headers["x-seed"] for _ in range(3)}
    assert len(seeds) == 3
    page = client.get("/random")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "/api/render.png?seed=" in page.text and "download=true" in page.text
    fixed = client.get("/random?seed=77&psi=0.5")
    assert "Seed <strong>77</strong>" in fixed.text and "/api/render.png?seed=77&amp;psi=0.5" in fixed.text


@pytest.mark.parametrize("path,marker", [
    ("/", "Which face is real?"),
    ("/learn", "Water splotches"),
    ("/explore", "no coarse, middle and fine styles to mix"),
    ("/stats", "How often are players fooled?"),
    ("/api", "/api/answer"),
])
def test_pages_render(client, path, marker):
    r = client.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert marker in r.text
    assert "<script>" not in r.text and " style=" not in r.text  # nothing inline: the CSP forbids it


def test_the_lesson_explains_all_six_tells_with_examples_from_the_model(client):
    text = client.get("/learn").text
    for tell in TELLS:
        assert f'id="{tell.key}"' in text
        for seed in tell.example_seeds:
            assert f"/api/render.png?seed={seed}&amp;psi=1.0" in text
    assert "StyleGAN2" in text and "weight demodulation" in text


def test_the_explorer_page_reports_settings_that_do_not_fit(client):
    r = client.get("/explore?seed=3&mix_seed=4&mix_group=coarse")
    assert r.status_code == 200 and 'role="alert"' in r.text and "single style layer" in r.text


def test_page_errors_are_pages_and_api_errors_are_json(client):
    page = client.get("/no-such-page", headers={"accept": "text/html"})
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    api = client.get("/api/no-such-thing")
    assert api.status_code == 404 and api.json() == {"detail": "Not Found"}


def test_openapi_documents_the_api_and_swagger_is_not_served_from_a_cdn(client):
    schema = client.get("/openapi.json").json()
    for path in ("/api/rounds", "/api/answer", "/api/tell", "/api/images/{image_id}", "/api/render.png",
                 "/api/render", "/api/stats", "/api/me", "/api/info", "/api/random.png"):
        assert path in schema["paths"], path
    answer = schema["components"]["schemas"]["AnswerIn"]
    assert answer["additionalProperties"] is False and set(answer["required"]) == {"round", "choice"}
    assert client.get("/docs").status_code == 404 and client.get("/redoc").status_code == 404
    assert "cdn" not in client.get("/api").text.lower()


def test_serve_command_help_lists_its_options():
    from click.testing import CliRunner

    from facegan.cli.serve import serve

    out = CliRunner().invoke(serve, ["--help"])
    assert out.exit_code == 0
    for option in ("--network", "--data", "--db", "--host", "--port", "--pool-size", "--trunc", "--device"):
        assert option in out.output
    assert "--psi" not in out.output  # the old spelling still works, but is no longer shown


def test_serve_command_reports_bad_input_without_a_traceback(files, tmp_path, capsys):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"garbage")
    assert main(["serve", "--network", str(bad), "--data", str(files["data"]), "--db", str(tmp_path / "g.db")]) != 0
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err
    assert main(["serve", "--network", str(files["network"]), "--data", str(files["data"]), "--psi", "0.1,0.5,0.9",
                 "--db", str(tmp_path / "g.db")]) == 2


def test_the_web_modules_import_each_other_without_a_cycle():
    """app.py builds the Services, api.py and pages.py use them: the shared parts live in services.py
    and models.py, so no module of facegan.web imports one that imports it back."""
    import ast
    from pathlib import Path

    import facegan.web

    folder = Path(facegan.web.__file__).parent
    graph = {}
    for file in folder.glob("*.py"):
        imported = set()
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("facegan.web."):
                imported.add(node.module.split(".")[2])
            elif isinstance(node, ast.Import):
                imported |= {a.name.split(".")[2] for a in node.names if a.name.startswith("facegan.web.")}
        graph[file.stem] = imported

    def reaches(start, goal, seen=()):
        return any(n == goal or (n not in seen and reaches(n, goal, (*seen, n))) for n in graph.get(start, ()))
    cycles = [m for m in graph if reaches(m, m)]
    assert not cycles, {m: graph[m] for m in cycles}
    assert "services" in graph["api"] and "services" in graph["pages"]
