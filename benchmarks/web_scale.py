"""Load and fault test of the game at scale: `facegan serve --workers N` on PostgreSQL, loopback only,
bounded in time. Prints JSON.

    PYTHONPATH=src python benchmarks/web_scale.py                       # 1, 2, 4 workers + the faults
    PYTHONPATH=src python benchmarks/web_scale.py --workers 1 2 --seconds 5 --faults none
    PYTHONPATH=src python benchmarks/web_scale.py --repeat 3 --seconds 8           # medians of 3

It starts its own PostgreSQL (tests/pg_server.py: initdb into a temporary folder, run as the
`postgres` OS user when we are root, fsync on), builds an untrained DCGAN at 32x32 and an archive of
the 100 LFW faces scikit-image ships, fills the shared face pool with `facegan pool fill`, and runs
`facegan serve --workers N` as a subprocess. --players simulated players (asyncio tasks in this
process, each with its own httpx client and cookie) play full rounds: POST /api/rounds, GET both
images, POST /api/answer. Rate limits stay on, scaled up 100x so that they cost their database
write on every request but refuse nothing.

Every scenario gets a fresh database schema. Afterwards every answer the server acknowledged (200)
is looked up in PostgreSQL: `lost_acknowledged` must be 0.

Faults (one scenario each, at the middle of the run):
  kill_worker   SIGKILL one web worker; uvicorn replaces it, the others keep serving.
  restart_db    stop PostgreSQL (fast shutdown: connections cut) for --db-down seconds, start it
                again; requests meanwhile get 503 with Retry-After; the app reconnects on its own.
  slow_pool     a pool of --slow-pool-faces faces, topped up by a `facegan pool fill --keep 5`
                process (one face per generator call) slower than the players drain it; the
                game repeats faces (counted) and never errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from serve_load import build_inputs, free_port, percentile  # noqa: E402

from pg_server import PostgresServer  # noqa: E402


def env() -> dict:
    return dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1")


def facegan(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "facegan", *args], env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kwargs)


def fill_pool(network: Path, url: str, count: int) -> None:
    proc = facegan("pool", "fill", "--network", str(network), "--db", url, "--count", str(count), "--device", "cpu")
    out, _ = proc.communicate(timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"pool fill failed:\n{out}")


def workers_of(pid: int) -> list[int]:
    """The uvicorn worker processes (children running multiprocessing's spawn) of the server."""
    found = []
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return found
    for child in children:
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "multiprocessing" in cmdline and "resource_tracker" not in cmdline:
            found.append(int(child))
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes so far (from /proc; 0 for one that is gone)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def start_server(network: Path, data: Path, url: str, port: int, workers: int) -> subprocess.Popen:
    server = facegan("serve", "--network", str(network), "--data", str(data), "--db", url, "--port", str(port),
                     "--workers", str(workers), "--rate-limit-scale", "100", "--log-level", "error",
                     "--device", "cpu", "--display-size", "32")
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited:\n{server.stdout.read()}")
        try:
            all_up = workers == 1 or len(workers_of(server.pid)) == workers
            if all_up and httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                time.sleep(1.0 if workers > 1 else 0.2)  # the last workers finish their start-up
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError("the server did not start")


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)


class Recorder:
    def __init__(self) -> None:
        self.ms: list[float] = []
        self.status: dict[str, int] = {}
        self.errors: list[str] = []
        self.sent = 0
        self.acknowledged: list[int] = []
        self.first_ok_after: dict[str, float] = {}
        self.samples_503: list[dict] = []

    async def call(self, request) -> httpx.Response | None:
        t0 = time.perf_counter()
        try:
            response = await request
        except httpx.HTTPError as exc:
            self.status["connection_error"] = self.status.get("connection_error", 0) + 1
            if len(self.errors) < 5:
                self.errors.append(f"{type(exc).__name__}: {exc}")
            return None
        self.ms.append((time.perf_counter() - t0) * 1000)
        key = str(response.status_code)
        self.status[key] = self.status.get(key, 0) + 1
        if response.status_code == 503 and len(self.samples_503) < 1:
            self.samples_503.append({"detail": response.json().get("detail"),
                                     "retry_after": response.headers.get("retry-after")})
        if response.status_code not in (200, 503) and len(self.errors) < 5:
            self.errors.append(f"{response.status_code} {response.request.url.path}: {response.text[:200]}")
        return response


async def player(base: str, deadline: float, rec: Recorder) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        while time.monotonic() < deadline:
            issued = await rec.call(client.post("/api/rounds"))
            if issued is None or issued.status_code != 200:
                await asyncio.sleep(0.2)   # the server says when to retry; keep it short in a benchmark
                continue
            round_ = issued.json()
            for url in round_["images"]:
                await rec.call(client.get(url))
            rec.sent += 1
            answer = await rec.call(client.post("/api/answer", json={"round": round_["round"], "choice": 0}))
            if answer is not None and answer.status_code == 200:
                rec.acknowledged.append(answer.json()["round_id"])
                rec.first_ok_after.setdefault("any", time.monotonic())
                if "fault" in rec.first_ok_after and "after_fault" not in rec.first_ok_after:
                    rec.first_ok_after["after_fault"] = time.monotonic()


async def play(base: str, players: int, seconds: float, rec: Recorder) -> float:
    t0 = time.monotonic()
    await asyncio.gather(*(player(base, t0 + seconds, rec) for _ in range(players)))
    return time.monotonic() - t0


def check_database(url: str, acknowledged: list[int]) -> dict:
    import psycopg

    with psycopg.connect(url) as conn:
        stored = {r[0] for r in conn.execute("SELECT round_id FROM answers WHERE round_id = ANY(%s)",
                                             (acknowledged,))}
        total = conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
        repeats = conn.execute("SELECT COALESCE(SUM(served) - COUNT(*), 0) FROM pool_faces WHERE served > 0")\
            .fetchone()[0]
    return {"answers_acknowledged": len(acknowledged), "answers_stored": int(total),
            "lost_acknowledged": len(set(acknowledged) - stored), "pool_repeats": int(repeats)}


def scenario(pg: PostgresServer, network: Path, data: Path, workers: int, players: int, seconds: float,
             fault: str, args) -> dict:
    url = pg.fresh_url()
    fill_pool(network, url, args.slow_pool_faces if fault == "slow_pool" else args.pool_faces)
    port = free_port()
    server = start_server(network, data, url, port, workers)
    rec = Recorder()
    events: dict = {}
    stop = threading.Event()

    def inject() -> None:
        if stop.wait(seconds / 2):
            return
        rec.first_ok_after["fault"] = time.monotonic()
        if fault == "kill_worker":
            victims = workers_of(server.pid)
            os.kill(victims[0], signal.SIGKILL)
            events["killed_pid"] = victims[0]
        elif fault == "restart_db":
            pg.shutdown("fast")
            events["db_down_at_s"] = round(seconds / 2, 1)
            time.sleep(args.db_down)
            pg.startup()
            events["db_up_at"] = time.monotonic()

    injector = threading.Thread(target=inject) if fault in ("kill_worker", "restart_db") else None
    filler = None
    if fault == "slow_pool":  # a real generation worker, one face at a time, slower than the players
        filler = facegan("pool", "fill", "--network", str(network), "--db", url, "--keep", "5", "--count", "1",
                         "--batch", "1", "--interval", str(args.slow_pool_interval), "--device", "cpu")
    try:
        warm = Recorder()  # not timed; its answers are checked with the others
        asyncio.run(play(f"http://127.0.0.1:{port}", players, args.warmup, warm))
        server_pids = [server.pid, *workers_of(server.pid)]
        cpu0, client0, load0 = cpu_seconds(server_pids), time.process_time(), os.getloadavg()[0]
        if injector is not None:
            injector.start()
        elapsed = asyncio.run(play(f"http://127.0.0.1:{port}", players, seconds, rec))
        server_cpu = cpu_seconds(server_pids) - cpu0
        client_cpu = time.process_time() - client0
    finally:
        stop.set()
        if injector is not None:
            injector.join(120)
        if filler is not None:
            filler.send_signal(signal.SIGINT)
            filler.wait(30)
        alive_workers = len(workers_of(server.pid)) if workers > 1 else int(server.poll() is None)
        stop_server(server)
    ok = rec.status.get("200", 0)
    result = {
        "workers": workers, "players": players, "fault": fault, "seconds": round(elapsed, 1),
        "requests": sum(rec.status.values()), "ok_per_s": round(ok / elapsed, 1),
        "rounds_per_s": round(len(rec.acknowledged) / elapsed, 1),
        "p50_ms": percentile(rec.ms, 50), "p95_ms": percentile(rec.ms, 95), "p99_ms": percentile(rec.ms, 99),
        "status": rec.status, "status_warmup": warm.status,
        "errors": sum(v for k, v in rec.status.items() if k not in ("200", "503")),
        "error_samples": rec.errors, "answers_sent": rec.sent, "workers_alive_at_end": alive_workers,
        **check_database(url, warm.acknowledged + rec.acknowledged),
        "answers_acknowledged_timed": len(rec.acknowledged), "warmup_s": args.warmup,
        # (None when a worker was killed: its CPU time left with it)
        "server_cpu_per_s": round(server_cpu / elapsed, 2) if fault != "kill_worker" else None,
        "client_cpu_per_s": round(client_cpu / elapsed, 2),
        "load_average_before": round(load0, 1),
    }
    if fault == "restart_db" and "db_up_at" in events and "after_fault" in rec.first_ok_after:
        result["recovered_s_after_db_up"] = round(max(0.0, rec.first_ok_after["after_fault"] - events["db_up_at"]), 2)
        result["db_down_s"] = args.db_down
    if fault == "kill_worker":
        result["killed_pid"] = events.get("killed_pid")
    if fault == "slow_pool":
        import psycopg

        with psycopg.connect(url) as conn:
            total = conn.execute("SELECT COUNT(*) FROM pool_faces").fetchone()[0]
        result["pool_faces_at_start"] = args.slow_pool_faces
        result["faces_added_during_run"] = int(total) - args.slow_pool_faces
        result["rounds_served_from_repeats"] = result["pool_repeats"]
    if rec.samples_503:
        result["sample_503"] = rec.samples_503[0]
    print(json.dumps(result), file=sys.stderr, flush=True)   # progress; the summary goes to stdout
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--players", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=1, help="Runs per worker count (alternating); medians.")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--faults", nargs="+", default=["kill_worker", "restart_db", "slow_pool"],
                        choices=["none", "kill_worker", "restart_db", "slow_pool"])
    parser.add_argument("--fault-workers", type=int, default=2, help="Workers of the fault scenarios.")
    parser.add_argument("--pool-faces", type=int, default=3000)
    parser.add_argument("--slow-pool-faces", type=int, default=20)
    parser.add_argument("--slow-pool-interval", type=float, default=0.5)
    parser.add_argument("--db-down", type=float, default=6.0)
    parser.add_argument("--warmup", type=float, default=1.5, help="Seconds of untimed play before each run.")
    args = parser.parse_args()
    faults = [f for f in args.faults if f != "none"]

    root = Path(tempfile.mkdtemp(prefix="facegan-webscale-"))
    network, data = build_inputs(root, "dcgan", 32)
    pg = PostgresServer.start(fsync=True)
    try:
        runs = [scenario(pg, network, data, n, args.players, args.seconds, "none", args)
                for _ in range(args.repeat) for n in args.workers]   # alternating, so load drifts hit all
        runs += [scenario(pg, network, data, args.fault_workers, args.players, args.seconds, f, args) for f in faults]
    finally:
        pg.stop()
    scaling = {}
    for n in args.workers:
        mine = [r for r in runs if r["workers"] == n and r["fault"] == "none"]
        scaling[str(n)] = {key: float(np.median([r[key] for r in mine]))
                           for key in ("ok_per_s", "rounds_per_s", "p50_ms", "p95_ms", "p99_ms", "server_cpu_per_s")}
    print(json.dumps({
        "median_by_workers": scaling,
        "machine": {"cpus": os.cpu_count(), "note": "shared, loaded machine; client and server on the same cores"},
        "network": "untrained DCGAN 32x32 (tiny: the web path, not the generator, is measured)",
        "database": "PostgreSQL (fsync on), loopback",
        "runs": runs,
        "lost_acknowledged_total": sum(r["lost_acknowledged"] for r in runs),
    }, indent=1))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
