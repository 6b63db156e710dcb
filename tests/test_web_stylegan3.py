"""The explorer's translate and rotate controls for StyleGAN3 networks, through FastAPI's test client:
the image moves as `facegan generate --translate --rotate` moves it (pixel for pixel), the values are
bounded, other architectures refuse them with one clear 422, and a moved render never leaks into the
renders that follow or run beside it (the transform is a buffer of the one shared generator)."""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from facegan.cli import main
from facegan.web import WebSettings, create_app
from facegan.web.ratelimit import RateLimits
from facegan.web.render import RenderParams
from web_helpers import build_archive, build_network, wait_for_fakes


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("web-sg3")
    return {"root": root, "sg3": build_network(root / "sg3.safetensors", "stylegan3", 32),
            "dcgan": build_network(root / "dcgan.safetensors", "dcgan", 32),
            "data": build_archive(root / "faces.zip", count=8)}


def make_client(files, network: str) -> TestClient:
    settings = WebSettings(network=files[network], data=files["data"], db=files["root"] / f"{network}.sqlite",
                           pool_size=4, rate_limits=RateLimits().scaled(0))
    return TestClient(create_app(settings), base_url="http://127.0.0.1")


@pytest.fixture(scope="module")
def sg3(files):
    with make_client(files, "sg3") as c:
        yield c


@pytest.fixture(scope="module")
def dcgan(files):
    with make_client(files, "dcgan") as c:
        yield c


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)))


def render(client, query: str) -> bytes:
    r = client.get(f"/api/render.png?{query}")
    assert r.status_code == 200, r.text
    return r.content


def test_info_says_which_networks_can_be_translated_and_rotated(sg3, dcgan):
    assert sg3.get("/api/info").json()["transform"] is True
    assert dcgan.get("/api/info").json()["transform"] is False


def test_the_explorer_image_equals_facegan_generate_with_the_same_translate_and_rotate(sg3, files, tmp_path):
    png = render(sg3, "seed=5&psi=0.6&translate_x=0.25&translate_y=-0.1&rotate=30")
    assert main(["generate", "--network", str(files["sg3"]), "--seeds", "5", "--trunc", "0.6",
                 "--translate", "0.25,-0.1", "--rotate", "30", "--outdir", str(tmp_path), "--no-latents"]) == 0
    expected = np.asarray(Image.open(tmp_path / "seed0005.png"))
    assert np.array_equal(pixels(png), expected)
    plain = render(sg3, "seed=5&psi=0.6")
    assert not np.array_equal(pixels(plain), expected)  # the transform did move the image


def test_each_control_moves_the_image_and_the_cache_keeps_them_apart(sg3):
    images = {q: render(sg3, "seed=2&" + q) for q in ("psi=0.7", "translate_x=0.2", "translate_y=0.2", "rotate=45",
                                                     "rotate=90")}
    assert len(set(images.values())) == len(images)
    again = sg3.get("/api/render.png?seed=2&rotate=45")
    assert again.content == images["rotate=45"] and float(again.headers["x-render-ms"]) == 0.0  # from the cache
    # The bounds themselves are valid settings, as is the same render through the JSON body.
    assert render(sg3, "seed=2&translate_x=-1&translate_y=1&rotate=-180")
    body = sg3.post("/api/render", json={"seed": 2, "rotate": 45})
    assert body.status_code == 200 and body.content == images["rotate=45"]


@pytest.mark.parametrize("query,field", [
    ("translate_x=1.01", "translate_x"), ("translate_y=-2", "translate_y"), ("rotate=180.5", "rotate"),
    ("rotate=-720", "rotate"), ("rotate=nan", "rotate"), ("translate_x=inf", "translate_x"),
    ("translate_y=abc", "translate_y"),
])
def test_translate_and_rotate_out_of_range_are_refused_naming_the_field(sg3, query, field):
    r = sg3.get(f"/api/render.png?seed=1&{query}")
    assert r.status_code == 422 and r.headers["content-type"] == "application/json"
    assert [d["loc"][-1] for d in r.json()["detail"]] == [field]


def test_translate_and_rotate_are_refused_on_a_network_that_is_not_stylegan3(dcgan):
    for query in ("rotate=10", "translate_x=0.1", "translate_y=-0.5"):
        r = dcgan.get(f"/api/render.png?seed=1&{query}")
        assert r.status_code == 422, query
        assert "StyleGAN3 networks only" in r.json()["detail"][0]["msg"] and "dcgan" in r.json()["detail"][0]["msg"]
    body = dcgan.post("/api/render", json={"seed": 1, "rotate": 10})
    assert body.status_code == 422 and "StyleGAN3 networks only" in body.json()["detail"][0]["msg"]
    assert dcgan.get("/api/render.png?seed=1&rotate=0&translate_x=0").status_code == 200  # zero moves nothing


def test_a_moved_render_does_not_leak_into_the_next_render_or_the_games_fakes(files):
    with make_client(files, "sg3") as c:  # a fresh app: nothing cached yet
        renderer = c.app.state.services.renderer
        plain, fakes = render(c, "seed=9&psi=1"), renderer.fakes([9, 10], [1.0, 0.5], [None, None])
        own = renderer.G.synthesis.input.transform.clone()
        assert render(c, "seed=9&psi=1&translate_x=0.3&rotate=20") != plain
        assert (renderer.G.synthesis.input.transform == own).all()
        renderer._cache.clear()  # render again rather than answer from the cache
        assert render(c, "seed=9&psi=1") == plain
        assert np.array_equal(renderer.fakes([9, 10], [1.0, 0.5], [None, None]), fakes)
        assert render(c, "seed=9&psi=1&rotate=20&translate_x=0.3&translate_y=0") != plain  # the image stays moved


def test_moved_and_plain_renders_at_the_same_time_do_not_mix(files):
    with make_client(files, "sg3") as c:
        wait_for_fakes(c, 1)
        renderer = c.app.state.services.renderer
        plain = renderer.render(RenderParams(seed=3, psi=1.0))
        moved = renderer.render(RenderParams(seed=3, psi=1.0, translate_x=0.4, rotate=60))
        results: dict[str, list[bool]] = {"plain": [], "moved": []}

        def draw(kind: str, params: RenderParams, expected: np.ndarray) -> None:
            for _ in range(15):
                results[kind].append(np.array_equal(renderer.render(params), expected))

        threads = [threading.Thread(target=draw, args=("plain", RenderParams(seed=3, psi=1.0), plain)),
                   threading.Thread(target=draw, args=("moved", RenderParams(seed=3, psi=1.0, translate_x=0.4,
                                                                             rotate=60), moved))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert results == {"plain": [True] * 15, "moved": [True] * 15}


def test_the_explorer_page_shows_the_controls_for_stylegan3_only(sg3, dcgan):
    page = sg3.get("/explore?seed=4&rotate=30")
    assert page.status_code == 200 and 'id="transform"' in page.text and 'id="rotate"' in page.text
    assert "/api/render.png?seed=4&amp;psi=0.7&amp;noise=const&amp;rotate=30.0" in page.text
    assert "translate_x=" not in page.text.split('id="explore-image"')[1].split(">")[0]  # zero: left out
    plain = dcgan.get("/explore?seed=4")
    assert plain.status_code == 200 and 'id="transform"' not in plain.text and "translate_x=" not in plain.text
    refused = dcgan.get("/explore?seed=4&rotate=30")
    assert refused.status_code == 200 and 'role="alert"' in refused.text and "StyleGAN3 networks only" in refused.text


def test_a_downloaded_moved_image_is_named_after_its_translate_and_rotate(sg3):
    r = sg3.get("/api/render.png?seed=4&psi=0.5&translate_x=0.25&rotate=-10&download=true")
    assert r.headers["content-disposition"] == 'attachment; filename="facegan-seed4-psi0.5-tx0.25-ty0-rot-10.png"'
