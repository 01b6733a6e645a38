"""Load benchmark: the real server (``forestmon serve --workers N``) on 127.0.0.1 under a realistic mix of requests
offered at a fixed rate (open loop: requests leave on a fixed clock whatever the answers do), on the GeoPackage
and on PostGIS, with one worker beside N workers.

    .venv/bin/python tests/benchmarks/bench_load.py [--rate 50] [--duration 60] [--workers N] [--backends gpkg,postgis]

The mix: alerts (``/alerts``, one alert), OGC items with a bbox (each request its own map view), vector tiles (MVT),
imagery tiles (true colour and NDVI, z12-14 over the demo area), the web map page ``/``, and a ranger's reviews (a
logged-in ranger moving alerts to the field and dismissing them). Data: the synthetic demo (``forestmon demo
--no-serve``, made once into ``--demo-dir`` and reused), copied into a fresh store for every run. Latency counts
from the moment a request was due, so a server falling behind shows in the figures (no coordinated omission). A
warm-up of the same load (``--warmup`` s: workers import their libraries, the imagery tiles of the area are rendered
once into the tile cache) comes before the measured window and is printed apart.

Prints, per backend, count, errors, p50/p95/p99 (ms) with 1 worker and with N, and their ratios (N / 1, measured
in the same run); exits non-zero when the N-worker run misses the targets: 0 errors, p50 ≤ 100 ms, p99 ≤ 500 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import morecantile

TMS = morecantile.tms.get("WebMercatorQuad")
TARGETS = {"p50": 100.0, "p99": 500.0}
RANGER, PASSWORD = "kiemlam", "bench-password-9"


def _load_pgdb():
    """tests/pgdb.py by path: putting tests/ on sys.path would let tests/data shadow the `data` package."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("pgdb", Path(__file__).resolve().parents[1] / "pgdb.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def forestmon(*args: str, env: dict | None = None, **kwargs) -> subprocess.Popen:
    exe = Path(sys.executable).with_name("forestmon")
    return subprocess.Popen([str(exe), *args], env={**os.environ, **(env or {})}, **kwargs)


def demo_data(demo_dir: Path) -> Path:
    """The synthetic demo's data directory, made once (about 2 minutes) and reused."""
    if not (demo_dir / "forestmon.gpkg").exists() or not (demo_dir / "state" / "grid.json").exists():
        print(f"making the synthetic demo in {demo_dir} (once) ...", flush=True)
        proc = forestmon("demo", "--no-serve", "--data-dir", str(demo_dir), env={"FORESTMON_DATA_DIR": ""},
                         stdout=subprocess.DEVNULL)
        if proc.wait() != 0:
            sys.exit("the demo failed")
    return demo_dir


def prepare(demo_dir: Path, run_dir: Path, backend: str, pg_url: str) -> str:
    """A fresh data directory and store with the demo's scenes and alerts, and one ranger for every alert's unit
    (the alerts assigned to them); returns the store URL."""
    from api.users import add_user
    from geo.store import open_store
    from geo.workflow.review import auto_assign

    shutil.rmtree(run_dir, ignore_errors=True)
    (run_dir / "state").mkdir(parents=True)
    shutil.copy(demo_dir / "state" / "grid.json", run_dir / "state" / "grid.json")
    source = open_store(demo_dir / "forestmon.gpkg")
    if backend == "gpkg":
        shutil.copy(demo_dir / "forestmon.gpkg", run_dir / "forestmon.gpkg")
        url = str(run_dir / "forestmon.gpkg")
    else:
        import psycopg

        _load_pgdb().ensure_postgis_database(pg_url)
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("DROP SCHEMA IF EXISTS bench_load CASCADE")
            conn.execute("CREATE SCHEMA bench_load")
        url = f"{pg_url}{'&' if '?' in pg_url else '?'}options=-csearch_path%3Dbench_load,public"
        target = open_store(url)
        target.upsert_scenes(source.scenes())
        target.sync_alerts(source.query_alerts())
        target.close()
    store = open_store(url)
    alerts = store.query_alerts()
    add_user(store, RANGER, PASSWORD, "ranger", tuple(sorted(set(alerts["district_id"].astype(str)))))
    auto_assign(store)  # every demo alert to the bench ranger
    store.close()
    source.close()
    return url


@dataclass
class Mix:
    """The requests of the mix, as (weight, kind, URL) drawn at random with a fixed seed."""

    paths: list[tuple[float, str, str]] = field(default_factory=list)
    alert_ids: list[str] = field(default_factory=list)

    bounds: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)

    def draw(self, rng: random.Random) -> tuple[str, str]:
        weights = [w for w, _, _ in self.paths]
        _, kind, path = rng.choices(self.paths, weights)[0]
        return kind, path.replace("{view}", self.view(rng))

    def view(self, rng: random.Random) -> str:
        """A map view somewhere over the area (a quarter to all of it wide): people pan and zoom, so every list
        request asks for its own bbox and no answer kept from an earlier one can serve it."""
        west, south, east, north = self.bounds
        share = rng.uniform(0.5, 1.0)
        w, h = (east - west) * share, (north - south) * share
        x, y = west + rng.uniform(0, east - west - w), south + rng.uniform(0, north - south - h)
        return f"{x:.5f},{y:.5f},{x + w:.5f},{y + h:.5f}"


def build_mix(url: str, grid_bounds: tuple[float, float, float, float], alert_ids: list[str]) -> Mix:
    west, south, east, north = grid_bounds
    mix = Mix(alert_ids=alert_ids, bounds=grid_bounds)
    mix.paths += [(20, "alerts", "/alerts?limit=100&bbox={view}"),
                  (10, "ogc items", "/ogc/collections/alerts/items?limit=50&bbox={view}"),
                  (4, "web map", "/")]
    mix.paths += [(6 / len(alert_ids), "one alert", f"/alerts/{a}") for a in alert_ids]
    tiles = [t for z in (12, 13, 14) for t in TMS.tiles(west, south, east, north, [z])]
    for t in tiles:
        mix.paths.append((28 / len(tiles), "mvt", f"/ogc/collections/alerts/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}"))
        for layer in ("truecolor", "ndvi"):
            mix.paths.append((16 / len(tiles), "imagery tile",
                              f"/imagery/latest/{layer}/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}.png"))
    return mix


async def fetch(port: int, path: str, timeout: float = 10.0) -> int:
    """GET ``path`` over a new HTTP/1.1 connection and read the whole answer; its status code. (A plain asyncio
    client: httpx's connection pool spends time quadratic in the requests queued, and became the bottleneck.)"""
    async def go() -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
            data = await reader.read()
        finally:
            writer.close()
        return int(data.split(b" ", 2)[1])
    return await asyncio.wait_for(go(), timeout)


async def offer(url: str, port: int, mix: Mix, rate: float, duration: float, review_every: float,
                seed: int = 17) -> list[tuple[str, float, str]]:
    """Send the mix at ``rate`` requests a second for ``duration`` seconds, plus one review (two transitions)
    every ``review_every`` seconds; returns (kind, latency in s from when it was due, error or '') per request."""
    rng = random.Random(seed)
    results: list[tuple[str, float, str]] = []
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        r = await client.post("/auth/token", data={"username": RANGER, "password": PASSWORD})
        r.raise_for_status()
        auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
        pending = list(mix.alert_ids)

        async def one(kind: str, due: float, path: str) -> None:
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                status = await fetch(port, path)
                error = "" if status < 400 else f"{status} {path}"
            except (OSError, TimeoutError, IndexError, ValueError) as exc:
                error = type(exc).__name__
            results.append((kind, time.perf_counter() - due, error))

        async def review(due: float) -> None:
            """The ranger takes an alert to the field, then dismisses it (two transitions, each with its version)."""
            if not pending:
                return
            alert = pending.pop()
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                version = int((await client.get(f"/alerts/{alert}")).headers["etag"].strip('"'))
                steps = [{"to": "in_field"}, {"to": "dismissed", "reason": "cloud_shadow"}]
                for step in steps:
                    resp = await client.post(f"/alerts/{alert}/transitions", json={**step, "version": version},
                                             headers=auth)
                    resp.raise_for_status()
                    version = resp.json()["version"]
                error = ""
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                error = f"{type(exc).__name__}: {exc}"[:120]
            results.append(("review", (time.perf_counter() - due) / 3, error))  # per request of the three

        start = time.perf_counter() + 0.5
        tasks = []
        for i in range(int(rate * duration)):
            kind, path = mix.draw(rng)
            tasks.append(asyncio.create_task(one(kind, start + i / rate, path)))
        for j in range(int(duration / review_every)):
            tasks.append(asyncio.create_task(review(start + j * review_every)))
        await asyncio.gather(*tasks)
    return results


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"the server exited with {proc.returncode}")
        try:
            if httpx.get(url + "/alerts?limit=1", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    proc.kill()
    sys.exit("the server did not start")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] if ordered else float("nan")


def run(args, demo_dir: Path, backend: str, workers: int) -> dict:
    from geo.grid import Grid

    run_dir = Path(args.work_dir) / f"{backend}-{workers}"
    store_url = prepare(demo_dir, run_dir, backend, args.pg_url)
    grid = Grid.from_json((run_dir / "state" / "grid.json").read_text()).bounds_lonlat()
    from geo.store import open_store

    store = open_store(store_url)
    alert_ids = list(store.query_alerts()["id"])
    store.close()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = forestmon("serve", "--workers", str(workers), "--port", str(port), "--host", "127.0.0.1",
                     "--data-dir", str(run_dir), env={"FORESTMON_STORE_URL": store_url, "FORESTMON_LANG": "en"},
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(url, proc)
        mix = build_mix(url, grid, alert_ids)
        warm = asyncio.run(offer(url, port, mix, args.rate, args.warmup, 1e9, seed=1)) if args.warmup else []
        results = asyncio.run(offer(url, port, mix, args.rate, args.duration, args.review_every))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
    latencies = [lat * 1000 for _, lat, _ in results]
    errors = [(kind, err) for kind, _, err in results if err]
    by_kind = {}
    for kind, lat, _ in results:
        by_kind.setdefault(kind, []).append(lat * 1000)
    return {"warmup": (len(warm), sum(1 for *_, err in warm if err), percentile([w[1] * 1000 for w in warm], 99)),
            "count": len(results), "errors": len(errors), "error_kinds": sorted(set(errors))[:5],
            "p50": percentile(latencies, 50), "p95": percentile(latencies, 95), "p99": percentile(latencies, 99),
            "by_kind": {k: (len(v), percentile(v, 50), percentile(v, 99)) for k, v in sorted(by_kind.items())}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50, help="requests offered per second")
    parser.add_argument("--duration", type=float, default=60, help="seconds of load per run")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="workers of the N-worker run")
    parser.add_argument("--backends", default="gpkg,postgis", help="comma-separated: gpkg, postgis")
    parser.add_argument("--warmup", type=float, default=5.0,
                        help="seconds of the same load before the measured window (workers import, tiles render)")
    parser.add_argument("--review-every", type=float, default=4.0, help="seconds between a ranger's reviews")
    parser.add_argument("--no-single", action="store_true", help="skip the one-worker reference run")
    parser.add_argument("--demo-dir", default=str(Path(os.environ.get("TMPDIR", "/tmp")) / "forestmon-bench-demo"))
    parser.add_argument("--work-dir", default=str(Path(os.environ.get("TMPDIR", "/tmp")) / "forestmon-bench-load"))
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/forestmon_bench")
    args = parser.parse_args()
    demo_dir = demo_data(Path(args.demo_dir))
    failed = False
    print(f"offered {args.rate:g} req/s for {args.duration:g} s; {os.cpu_count()} cores; "
          f"load average before: {os.getloadavg()[0]:.1f}")
    for backend in args.backends.split(","):
        figures = {}
        for workers in ([] if args.no_single else [1]) + [args.workers]:
            figures[workers] = run(args, demo_dir, backend, workers)
            f = figures[workers]
            print(f"{backend:8s} workers={workers}: warm-up {f['warmup'][0]} requests, {f['warmup'][1]} errors, "
                  f"p99 {f['warmup'][2]:.0f} ms; measured:")
            print(f"{backend:8s} workers={workers}: {f['count']} requests, {f['errors']} errors, "
                  f"p50 {f['p50']:.0f} ms, p95 {f['p95']:.0f} ms, p99 {f['p99']:.0f} ms", flush=True)
            for kind, (n, p50, p99) in f["by_kind"].items():
                print(f"    {kind:13s} {n:5d}  p50 {p50:7.0f} ms  p99 {p99:7.0f} ms")
            if f["errors"]:
                print(f"    errors: {f['error_kinds']}")
        if 1 in figures and args.workers != 1:
            one, many = figures[1], figures[args.workers]
            print(f"{backend:8s} {args.workers} workers / 1 worker: p50 {many['p50'] / one['p50']:.2f}, "
                  f"p99 {many['p99'] / one['p99']:.2f}")
        final = figures[args.workers]
        missed = [k for k, limit in TARGETS.items() if final[k] > limit] + (["errors"] if final["errors"] else [])
        verdict = "MISSED " + ", ".join(missed) if missed else "met"
        print(f"{backend:8s} targets (0 errors, p50 ≤ 100 ms, p99 ≤ 500 ms) with {args.workers} workers: {verdict}")
        failed |= bool(missed)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
