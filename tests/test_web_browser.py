"""The pages in a real headless Chromium (Playwright with Debian's chromium) against the app served by
uvicorn on loopback: the game is played with the mouse and the keyboard, the score updates, and
/stats shows the stored rounds; every page loads without a console error or a CSP violation."""

from __future__ import annotations

import os
import re
import sqlite3

import pytest

from facegan.web import WebSettings, create_app
from web_helpers import build_archive, build_network, serve_in_thread

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"needs Debian's chromium at {CHROMIUM} "
                                                             "(apt-get install chromium; `make test` does it as root)"),
]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    settings = WebSettings(network=build_network(root / "net.safetensors", "stylegan2", 32),
                           data=build_archive(root / "faces.zip", count=20), db=root / "game.sqlite", pool_size=16)
    with serve_in_thread(create_app(settings)) as base:
        yield base, root / "game.sqlite"


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, site):
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type in ("error", "warning") else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.problems = problems
    yield page
    context.close()


def wait_for_pair(page) -> None:
    page.wait_for_function("() => [...document.querySelectorAll('.face')].every(b => !b.disabled)"
                           " && [...document.querySelectorAll('.face img')]"
                           ".every(i => i.complete && i.naturalWidth > 0)")


def test_playing_rounds_with_mouse_and_keyboard_updates_the_score_and_stats(page, site):
    base, db = site
    page.goto(base + "/")
    wait_for_pair(page)
    assert page.locator("#score-answered").inner_text() == "0"

    # Round 1: the mouse.
    page.locator(".face").first.click()
    page.wait_for_selector("#reveal:not([hidden])")
    assert page.locator(".face.real").count() == 1 and page.locator(".face.fake").count() == 1
    assert page.locator(".face.picked").count() == 1
    assert re.match(r"(Correct|Fooled)!", page.locator("#status").inner_text())
    assert "seed" in page.locator("#explanation").inner_text()
    assert page.locator("#score-answered").inner_text() == "1"
    first_srcs = [page.locator(".face img").nth(i).get_attribute("src") for i in range(2)]
    page.locator("[data-tell=hair]").click()
    page.wait_for_selector("[data-tell=hair][aria-pressed=true]")

    # Round 2: the keyboard only (N for the next pair, 2 for the right face).
    page.keyboard.press("n")
    wait_for_pair(page)
    assert [page.locator(".face img").nth(i).get_attribute("src") for i in range(2)] != first_srcs
    page.keyboard.press("2")
    page.wait_for_selector("#reveal:not([hidden])")
    assert page.locator("#score-answered").inner_text() == "2"
    assert page.locator(".face").nth(1).evaluate("b => b.classList.contains('picked')")

    # Round 3: arrow key, then Enter for the next pair.
    page.keyboard.press("Enter")
    wait_for_pair(page)
    page.keyboard.press("ArrowLeft")
    page.wait_for_selector("#reveal:not([hidden])")
    assert page.locator("#score-answered").inner_text() == "3"
    score = int(page.locator("#score-correct").inner_text())

    # Every answer is in the database, and /stats shows them.
    rows = sqlite3.connect(db).execute("SELECT COUNT(*), SUM(correct), COUNT(tell) FROM answers").fetchone()
    assert rows[0] >= 3 and rows[2] >= 1
    page.goto(base + "/stats")
    assert int(page.locator("#stat-answered").inner_text()) == rows[0]
    assert page.locator("#by-psi tbody tr").count() >= 1
    assert "Hair" in page.locator("#by-tell").inner_text()
    assert 0 <= score <= 3
    assert page.problems == []


def test_every_page_loads_without_errors_or_csp_violations(page, site):
    base, _ = site
    for path in ("/", "/learn", "/random", "/explore", "/stats", "/api"):
        page.goto(base + path)
        page.wait_for_load_state("networkidle")
        broken = page.evaluate("() => [...document.images].filter(i => i.loading !== 'lazy' && "
                               "(!i.complete || i.naturalWidth === 0) && i.getAttribute('src')).map(i => i.src)")
        assert broken == [], (path, broken)
    assert page.problems == []


def test_the_explorer_updates_the_face_when_a_control_changes(page, site):
    base, _ = site
    page.goto(base + "/explore?seed=3")
    image = page.locator("#explore-image")
    page.wait_for_function("() => document.getElementById('explore-image').naturalWidth > 0")
    before = image.get_attribute("src")
    page.locator("#seed").fill("4")
    page.locator("#seed").dispatch_event("change")
    page.wait_for_function(f"() => document.getElementById('explore-image').src !== {before!r}")
    page.wait_for_function("() => document.getElementById('explore-status').textContent.includes('seed 4')")
    assert "seed=4" in page.url
    # Style mixing on a StyleGAN2 network: the coarse group is there, the fine one is not (32x32).
    assert page.locator("input[name=mix_group][value=fine]").is_disabled()
    page.locator("#mix_seed").fill("9")
    page.locator("input[name=mix_group][value=coarse]").check()
    page.wait_for_function("() => location.search.includes('mix_group=coarse')")
    assert page.problems == []


def test_random_shows_a_new_face_on_every_load(page, site):
    base, _ = site
    seeds = set()
    for _ in range(2):
        page.goto(base + "/random")
        page.wait_for_function("() => document.querySelector('.hero img').naturalWidth > 0")
        seeds.add(page.locator(".hero figcaption strong").first.inner_text())
    assert len(seeds) == 2
    assert page.locator("a[download]").get_attribute("href").endswith("download=true")


def test_the_game_fits_a_phone_screen(browser, site):
    base, _ = site
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(base + "/")
    wait_for_pair(page)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 375
    boxes = [page.locator(".face").nth(i).bounding_box() for i in range(2)]
    assert all(b["width"] >= 140 and b["x"] >= 0 and b["x"] + b["width"] <= 375 for b in boxes)
    page.locator(".face").nth(1).tap()
    page.wait_for_selector("#reveal:not([hidden])")
    context.close()


@pytest.fixture(scope="module")
def sg3_site(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser-sg3")
    settings = WebSettings(network=build_network(root / "sg3.safetensors", "stylegan3", 32),
                           data=build_archive(root / "faces.zip", count=8), db=root / "game.sqlite", pool_size=4)
    with serve_in_thread(create_app(settings)) as base:
        yield base


EXPLORER_PIXELS = ("() => { const i = document.getElementById('explore-image');"
                   " const c = document.createElement('canvas'); c.width = i.naturalWidth;"
                   " c.height = i.naturalHeight; const g = c.getContext('2d');"
                   " g.drawImage(i, 0, 0); return Array.from(g.getImageData(0, 0, c.width, c.height).data).join(); }")


def wait_for_new_image(page, old_src: str | None) -> None:
    page.wait_for_function("old => { const i = document.getElementById('explore-image');"
                           " return i.src !== old && i.complete && i.naturalWidth > 0; }", arg=old_src)


def test_the_explorer_translates_and_rotates_a_stylegan3_face(page, sg3_site):
    page.goto(sg3_site + "/explore?seed=3")
    wait_for_new_image(page, None)
    assert page.locator("#transform").is_visible() and page.locator("#rotate").is_visible()
    plain = page.evaluate(EXPLORER_PIXELS)
    # The keyboard moves a slider as a mouse drag does: input events, then change.
    page.locator("#rotate").focus()
    for _ in range(15):
        page.keyboard.press("ArrowRight")
    page.wait_for_function("() => location.search.includes('rotate=15')")
    page.wait_for_function("() => document.getElementById('explore-status').textContent.includes('rotate 15')")
    assert page.locator("#rotate-value").inner_text() == "15"
    rotated = page.evaluate(EXPLORER_PIXELS)
    assert rotated != plain
    src = page.locator("#explore-image").get_attribute("src")
    page.locator("#translate_x").fill("0.3")
    page.locator("#translate_x").dispatch_event("change")
    wait_for_new_image(page, src)
    page.wait_for_function("() => location.search.includes('translate_x=0.3')")
    assert page.evaluate(EXPLORER_PIXELS) not in (plain, rotated)
    assert "rotate=15" in page.locator("#explore-download").get_attribute("href")
    # Reset puts the face back where it was, and the links lose the transform.
    src = page.locator("#explore-image").get_attribute("src")
    page.locator("#reset-transform").click()
    wait_for_new_image(page, src)
    page.wait_for_function("() => !location.search.includes('rotate') && !location.search.includes('translate')")
    assert page.evaluate(EXPLORER_PIXELS) == plain
    assert page.problems == []


def test_the_explorer_has_no_translate_or_rotate_for_stylegan2(page, site):
    base, _ = site
    page.goto(base + "/explore?seed=3")
    page.wait_for_function("() => document.getElementById('explore-image').naturalWidth > 0")
    assert page.locator("#transform").count() == 0 and page.locator("#rotate").count() == 0
    assert page.problems == []
