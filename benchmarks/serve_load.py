"""Load test of `facegan serve`: N simulated players play full rounds against the real server on
loopback for a bounded time; then the database is checked for every answer the server confirmed.

    PYTHONPATH=src python benchmarks/serve_load.py --players 8 --seconds 20
    PYTHONPATH=src python benchmarks/serve_load.py --players 4 --seconds 10 --explore 40 \
        --arch stylegan2 --resolution 256

Without --network/--data it builds an untrained network of the given architecture and an archive
of the 100 real LFW faces scikit-image ships. The server runs as a subprocess (uvicorn, one worker,
rate limits off so the players can push it); the players are asyncio tasks with their own httpx
client and cookie. One round = POST /api/rounds, GET both images, POST /api/answer, and a tell on
one round in four. --explore N then times N explorer renders (random seeds and psi, so no cache
hits), one at a time (and again as low-resolution previews on networks above 256x256). Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np


def build_inputs(root: Path, arch: str, resolution: int) -> tuple[Path, Path]:
    import torch

    from facegan.data.archive import ArchiveWriter
    from facegan.data.sources import lfw_subset
    from facegan.networks import DCGANConfig, build_generator, save_networks, stylegan2_preset, stylegan_preset

    torch.manual_seed(0)
    if arch == "dcgan":
        cfg = DCGANConfig(resolution=resolution)
    elif arch == "stylegan2":
        cfg = stylegan2_preset("paper256" if resolution <= 256 else "stylegan2", resolution, mixed_precision=False)
    else:
        cfg = stylegan_preset("stylegan-ffhq", resolution)
    network = root / f"{arch}-{resolution}.safetensors"
    save_networks(network, {"G_ema": build_generator(cfg)}, cfg)
    data = root / "lfw.zip"
    with ArchiveWriter(data) as writer:
        for face in lfw_subset():
            writer.add(np.asarray(face)[:, :, None])
    return network, data


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(network: Path, data: Path, db: Path, port: int, pool_size: int, threads: int) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    cmd = [sys.executable, "-m", "facegan", "serve", "--network", str(network), "--data", str(data), "--db", str(db),
           "--port", str(port), "--pool-size", str(pool_size), "--rate-limit-scale", "0", "--log-level", "warning",
           "--device", "cpu"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_ready(base: str, server: subprocess.Popen, fakes: int, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited:\n{server.stdout.read()}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).json()["fakes_ready"] >= fakes:
                return
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        time.sleep(0.1)
    raise TimeoutError("the server did not become ready")


def percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values else None


class Recorder:
    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = {}
        self.errors: list[str] = []
        self.answers: list[tuple[int, int, bool]] = []   # round_id, choice, correct as the server said

    async def call(self, kind: str, request) -> httpx.Response | None:
        t0 = time.perf_counter()
        try:
            response = await request
        except httpx.HTTPError as exc:
            self.errors.append(f"{kind}: {type(exc).__name__} {exc}")
            return None
        self.latency.setdefault(kind, []).append((time.perf_counter() - t0) * 1000)
        if response.status_code >= 400:
            self.errors.append(f"{kind}: HTTP {response.status_code} {response.text[:120]}")
            return None
        return response


async def player(base: str, deadline: float, rec: Recorder, rng: random.Random) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        await rec.call("page", client.get("/"))
        while time.monotonic() < deadline:
            issued = await rec.call("round", client.post("/api/rounds"))
            if issued is None:
                continue
            body = issued.json()
            images = await asyncio.gather(*(rec.call("image", client.get(url)) for url in body["images"]))
            if any(i is None for i in images):
                continue
            choice = rng.randrange(2)
            answer = await rec.call("answer", client.post("/api/answer", json={"round": body["round"],
                                                                                "choice": choice}))
            if answer is None:
                continue
            result = answer.json()
            rec.answers.append((result["round_id"], choice, result["correct"]))
            if rng.random() < 0.25:
                await rec.call("tell", client.post("/api/tell", json={"round": body["round"],
                                                                      "tell": rng.choice(["hair", "teeth", "none"])}))


async def play(base: str, players: int, seconds: float, seed: int) -> tuple[Recorder, float]:
    rec = Recorder()
    t0 = time.monotonic()
    await asyncio.gather(*(player(base, t0 + seconds, rec, random.Random(seed + i)) for i in range(players)))
    return rec, time.monotonic() - t0


def explore_latency(base: str, count: int, seed: int, preview: bool) -> dict:
    rng = random.Random(seed)
    client_ms, server_ms = [], []
    with httpx.Client(base_url=base, timeout=120) as client:
        client.get("/")
        for _ in range(count):
            query = f"seed={rng.randrange(2**32)}&psi={rng.uniform(-0.5, 1.2):.2f}"
            query += "&preview=true" if preview else ""
            t0 = time.perf_counter()
            r = client.get(f"/api/render.png?{query}")
            r.raise_for_status()
            client_ms.append((time.perf_counter() - t0) * 1000)
            server_ms.append(float(r.headers["x-render-ms"]))
    return {"renders": count, "preview": preview,
            "p50_ms": percentile(client_ms, 50), "p95_ms": percentile(client_ms, 95),
            "render_p50_ms": percentile(server_ms, 50), "under_1s": sum(ms < 1000 for ms in client_ms) / count}


def check_database(db: Path, answers: list[tuple[int, int, bool]]) -> dict:
    conn = sqlite3.connect(db)
    stored = {row[0]: (row[1], bool(row[2])) for row in conn.execute("SELECT round_id, choice, correct FROM answers")}
    missing = [a for a in answers if a[0] not in stored]
    mismatched = [a for a in answers if a[0] in stored and stored[a[0]] != (a[1], a[2])]
    return {"answers_confirmed": len(answers), "answers_in_db": len(stored), "missing": len(missing),
            "mismatched": len(mismatched), "every_answer_stored": not missing and not mismatched}


def run(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix="facegan-load-") as tmp:
        root = Path(tmp)
        if args.network and args.data:
            network, data = Path(args.network), Path(args.data)
        else:
            network, data = build_inputs(root, args.arch, args.resolution)
        db = root / "game.sqlite"
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = start_server(network, data, db, port, args.pool_size, args.server_threads)
        try:
            t0 = time.monotonic()
            wait_ready(base, server, min(args.pool_size, 32))
            startup_s = time.monotonic() - t0
            previews = (False, True) if httpx.get(f"{base}/api/info").json()["preview_resolution"] else (False,)
            explore = [explore_latency(base, args.explore, args.seed, preview) for preview in previews] \
                if args.explore else []
            rec, elapsed = asyncio.run(play(base, args.players, args.seconds, args.seed))
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(60)
            except subprocess.TimeoutExpired:
                server.kill()
        requests = sum(len(v) for v in rec.latency.values())
        everything = [ms for v in rec.latency.values() for ms in v]
        result = {
            "network": network.name, "players": args.players, "seconds": round(elapsed, 2),
            "server_startup_s": round(startup_s, 2), "requests": requests,
            "requests_per_s": round(requests / elapsed, 1), "rounds_per_s": round(len(rec.answers) / elapsed, 1),
            "p50_ms": percentile(everything, 50), "p95_ms": percentile(everything, 95),
            "by_kind": {k: {"count": len(v), "p50_ms": percentile(v, 50), "p95_ms": percentile(v, 95)}
                        for k, v in sorted(rec.latency.items())},
            "errors": len(rec.errors), "error_samples": rec.errors[:5],
            **check_database(db, rec.answers),
            "server_exit_code": server.returncode,
            "explore": explore,
            "cpu_count": os.cpu_count(),
        }
        if args.network is None:
            result["arch"], result["resolution"] = args.arch, args.resolution
        return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--players", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--network", help="Generator file (default: build an untrained one).")
    parser.add_argument("--data", help="Archive of real photos (default: the LFW faces of scikit-image).")
    parser.add_argument("--arch", choices=["dcgan", "stylegan", "stylegan2"], default="dcgan")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--pool-size", type=int, default=256)
    parser.add_argument("--server-threads", type=int, default=2, help="Torch threads of the server.")
    parser.add_argument("--explore", type=int, default=0, help="Also time this many explorer renders.")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    result = run(parse_args(argv))
    print(json.dumps(result, indent=2))
    return 0 if result["errors"] == 0 and result["every_answer_stored"] else 1


if __name__ == "__main__":
    sys.exit(main())
