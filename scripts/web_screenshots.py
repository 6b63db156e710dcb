"""Screenshots of every page of the web app, taken from the running app with Playwright and Debian's
chromium, for docs/web.md (docs/img/web-*.png, 1000 px wide, palette PNGs).

    PYTHONPATH=src python scripts/web_screenshots.py --network NET.safetensors --data FACES.zip [--rounds 40]

Before the pictures, a few simulated players answer --rounds rounds through the API (random choices
and tells), so the statistics page has something to show.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

import httpx
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from facegan.web import WebSettings, create_app  # noqa: E402
from facegan.web.tells import MARKABLE  # noqa: E402
from web_helpers import serve_in_thread, wait_for_fakes  # noqa: E402

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def simulate_players(base: str, rounds: int, players: int = 5, seed: int = 0) -> None:
    rng = random.Random(seed)
    clients = [httpx.Client(base_url=base, timeout=30) for _ in range(players)]
    wait_for_fakes(clients[0], 4)
    for i in range(rounds):
        c = clients[i % players]
        round_ = c.post("/api/rounds").json()
        for url in round_["images"]:
            c.get(url)
        c.post("/api/answer", json={"round": round_["round"], "choice": rng.randrange(2)})
        if rng.random() < 0.6:
            c.post("/api/tell", json={"round": round_["round"], "tell": rng.choice(MARKABLE)})
    for c in clients:
        c.close()


def optimise(path: Path, width: int) -> None:
    img = Image.open(path).convert("RGB")
    if img.width != width:
        img = img.resize((width, round(img.height * width / img.width)), Image.Resampling.LANCZOS)
    img.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)


def shoot(base: str, out: Path, width: int) -> list[Path]:
    from playwright.sync_api import sync_playwright

    shots = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": width, "height": 820}, device_scale_factor=1)
        page.set_default_timeout(60_000)
        ready = ("() => [...document.querySelectorAll('.face')].every(b => !b.disabled)"
                 " && [...document.querySelectorAll('.face img')].every(i => i.naturalWidth > 0)")

        def save(name: str, full_page: bool = False) -> None:
            path = out / f"web-{name}.png"
            page.screenshot(path=str(path), full_page=full_page)
            shots.append(path)

        page.goto(base + "/")
        page.wait_for_function(ready)
        save("game")
        page.keyboard.press("1")
        page.wait_for_selector("#reveal:not([hidden])")
        page.locator("[data-tell=background]").click()
        page.wait_for_timeout(200)
        save("game-revealed", full_page=True)
        for name, path in (("learn", "/learn"), ("random", "/random?seed=1234&psi=0.7"),
                           ("explore", "/explore?seed=1234&psi=0.7"), ("stats", "/stats"), ("api", "/api")):
            page.goto(base + path)
            page.wait_for_load_state("networkidle")
            page.evaluate("() => Promise.all([...document.images].filter(i => i.loading !== 'lazy')"
                          ".map(i => i.decode().catch(() => 0)))")
            save(name, full_page=name in ("stats",))
        phone = browser.new_page(viewport={"width": 390, "height": 780}, device_scale_factor=2, is_mobile=True)
        phone.goto(base + "/")
        phone.wait_for_function(ready)
        phone.screenshot(path=str(out / "web-game-phone.png"))
        shots.append(out / "web-game-phone.png")
        browser.close()
    return shots


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--network", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", default=str(ROOT / "docs" / "img"))
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--width", type=int, default=1000)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        settings = WebSettings(network=args.network, data=args.data, db=Path(tmp) / "game.sqlite", pool_size=32)
        with serve_in_thread(create_app(settings)) as base:
            simulate_players(base, args.rounds)
            shots = shoot(base, out, args.width)
    for path in shots:
        optimise(path, args.width if "phone" not in path.name else 390)
        print(f"{path}  {path.stat().st_size // 1024} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
