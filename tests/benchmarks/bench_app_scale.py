"""Scale of the rangers' app: 100,000 alerts in the store, the app at ``/`` in headless Chromium, on the embedded
store and on PostGIS. Printed figures, not a timed test.

    .venv/bin/python tests/benchmarks/bench_app_scale.py [--n 100000] [--loads 5] [--work DIR] [--pg-url URL]

The alerts are irregular clearings of 0.1-20 ha (areas in UTM 48N), clustered along the province's forests and
scattered across the whole of Lâm Đồng (2024 boundaries), written with the store's own ``sync_alerts`` into a
GeoPackage under ``--work`` and into the schema ``app_scale`` of the PostGIS database ``--pg-url`` (created with
postgis when missing). With ``--work`` a set-up that already holds ``--n`` alerts is reused (both stores).
Each backend is served by ``forestmon serve`` on 127.0.0.1 (``--workers``, default 1: on a busy machine uvicorn's
supervisor restarts workers that start slower than its 5 s ping).

What it checks (issue 12, "Scale"):
- the page's own HTML (``GET /``) stays under 100 KB;
- the map shows alerts within 2 s of navigation at zoom 9 (the whole province) and at zoom 14 (median of
  ``--loads`` loads): from the navigation start (``performance.now()`` in the page) to the first frame where
  ``forestmonMap.queryRenderedFeatures({layers: ["alerts-fill"]})`` finds an alert. Each load is a fresh
  browser context logged in with a token of its own, so the browser's cache answers nothing from a previous
  load; the server keeps vector tiles by role and data version (``api.caching``), so the first load of each view
  after the server starts builds its tiles (cold, printed apart) and the next loads get them from that memo
  (warm), as a second ranger opening the map would;
- panning fetches only tiles: every request made while panning at zoom 14 is a tile URL (no ``/alerts`` list).
The machine is shared: the absolute figures move with the load of other processes; the two backends run
back to back under the same conditions.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import geopandas as gpd
import httpx
import numpy as np
import shapely

from geo.region import load_region
from geo.store import open_store

HERE = Path(__file__).resolve().parent
PASSWORD = "scale-bench-9"
RANGER = "kiemlam"
HTML_LIMIT = 100 * 1024
SECONDS_LIMIT = 2.0
SCHEMA = "app_scale"


def _load(path: Path, name: str):
    """A test helper module by path: putting tests/ on sys.path would let tests/data shadow the `data` package."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = sys.modules[name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


chromium = _load(HERE.parent / "browser" / "chromium.py", "chromium")
ensure_postgis_database = _load(HERE.parent / "pgdb.py", "pgdb").ensure_postgis_database


def make_alerts(n: int, seed: int = 12) -> gpd.GeoDataFrame:
    """``n`` irregular clearings inside the province: 7-12 vertices around a centre, 0.1-20 ha (log-uniform),
    elongated and turned at random; 60% in clusters (clearings come in groups), the rest scattered."""
    region = load_region()
    province = region.province().geometry.iloc[0]
    shapely.prepare(province)
    rng = np.random.default_rng(seed)
    west, south, east, north = province.bounds
    clusters = rng.uniform([west, south], [east, north], (4 * n // 500 + 40, 2))
    clusters = clusters[shapely.contains_xy(province, clusters[:, 0], clusters[:, 1])]
    xs, ys = np.empty(0), np.empty(0)
    while len(xs) < n:
        m = 2 * n
        clustered = rng.random(m) < 0.6
        centre = clusters[rng.integers(0, len(clusters), m)]
        px = np.where(clustered, centre[:, 0] + rng.normal(0, 0.03, m), rng.uniform(west, east, m))
        py = np.where(clustered, centre[:, 1] + rng.normal(0, 0.03, m), rng.uniform(south, north, m))
        inside = shapely.contains_xy(province, px, py)
        xs, ys = np.concatenate([xs, px[inside]]), np.concatenate([ys, py[inside]])
    xs, ys = xs[:n], ys[:n]
    # The outlines in metres (UTM 48N) around each centre, then back to lon/lat.
    cx, cy = gpd.GeoSeries.from_xy(xs, ys, crs=4326).to_crs(32648).pipe(lambda s: (s.x.to_numpy(), s.y.to_numpy()))
    k = 10
    angles = np.sort(rng.uniform(0, 2 * np.pi, (n, k)), axis=1)
    radii = rng.uniform(0.6, 1.0, (n, k))
    target_m2 = np.exp(rng.uniform(np.log(0.1), np.log(20.0), n)) * 10000
    stretch, turn = rng.uniform(1.0, 2.5, n)[:, None], rng.uniform(0, np.pi, n)[:, None]
    ux, uy = radii * np.cos(angles) * stretch, radii * np.sin(angles) / stretch
    ring = np.stack([ux * np.cos(turn) - uy * np.sin(turn), ux * np.sin(turn) + uy * np.cos(turn)], axis=-1)
    unit = shapely.polygons(np.concatenate([ring, ring[:, :1]], axis=1))
    scale = np.sqrt(target_m2 / shapely.area(unit))[:, None]
    ring = ring * scale[:, :, None] + np.stack([cx, cy], axis=1)[:, None, :]
    outlines = gpd.GeoSeries(shapely.polygons(np.concatenate([ring, ring[:, :1]], axis=1)), crs=32648)
    days = [date(2024, 1, 1) + timedelta(days=int(d)) for d in rng.integers(0, 360, n)]
    frame = gpd.GeoDataFrame({
        "id": [f"{d:%Y%m%d}-{i:07d}" for i, d in enumerate(days)],
        "confidence": rng.choice(["low", "high", "highest"], n, p=[0.5, 0.35, 0.15]),
        "first_detected": [d.isoformat() for d in days], "last_update": [d.isoformat() for d in days],
        "area_ha": outlines.area.to_numpy() / 10000,
    }, geometry=shapely.multipolygons(outlines.to_crs(4326).to_numpy(), indices=np.arange(n)), crs=4326)
    units = region.units()[["id", "name", "geometry"]].rename(columns={"id": "district_id", "name": "district"})
    joined = gpd.sjoin(gpd.GeoDataFrame(geometry=gpd.points_from_xy(xs, ys), crs=4326), units, how="left",
                       predicate="within")
    joined = joined[~joined.index.duplicated()]
    frame["district_id"], frame["district"] = joined["district_id"].to_numpy(), joined["district"].to_numpy()
    return frame


def pg_url(database_url: str) -> str:
    """The store URL of the schema ``app_scale`` (made when missing) in the database."""
    import psycopg

    ensure_postgis_database(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    sep = "&" if "?" in database_url else "?"
    return f"{database_url}{sep}options=-csearch_path%3D{SCHEMA},public"


def fill(url: str, alerts: gpd.GeoDataFrame | None, n: int) -> None:
    """The alerts and the ranger in the store at ``url``, unless it already holds ``n`` alerts."""
    from api.users import add_user

    store = open_store(url)
    try:
        if store.count_alerts() == n:
            print(f"  {url.split('?')[0]}: reusing its {n} alerts")
            return
        started = time.perf_counter()
        store.sync_alerts(alerts if alerts is not None else make_alerts(n))
        if url.startswith("postgresql"):
            with store.transaction() as tx:
                tx.execute("ANALYZE alerts")
        print(f"  {url.split('?')[0]}: stored {store.count_alerts()} alerts in {time.perf_counter() - started:.1f} s")
        try:
            add_user(store, RANGER, PASSWORD, "ranger", ("672",))
        except Exception as exc:  # noqa: BLE001 - a reused store already has the ranger
            print(f"  ranger: {exc}")
    finally:
        store.close()


def serve(store_url: str, data_dir: Path, port: int, workers: int) -> subprocess.Popen:
    """``forestmon serve`` on 127.0.0.1 with the store, once it answers."""
    env = {**os.environ, "FORESTMON_STORE_URL": store_url, "FORESTMON_DATA_DIR": str(data_dir)}
    proc = subprocess.Popen([str(Path(sys.executable).with_name("forestmon")), "serve", "--port", str(port),
                             "--workers", str(workers)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"forestmon serve on port {port} did not start")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Resolves with performance.now() (ms since the navigation started) on the first frame that draws an alert.
FIRST_ALERT = """() => {
  const map = window.forestmonMap;
  if (!map || !map.getLayer || !map.getLayer("alerts-fill")) return false;
  return map.queryRenderedFeatures({ layers: ["alerts-fill"] }).length > 0 ? performance.now() : false;
}"""
# Where the drawn alerts lie: their count and the lon/lat extent of their outlines.
DRAWN = """() => {
  const found = window.forestmonMap.queryRenderedFeatures({ layers: ["alerts-fill"] });
  let w = 180, s = 90, e = -180, n = -90;
  const walk = (c) => { if (typeof c[0] === "number") { w = Math.min(w, c[0]); e = Math.max(e, c[0]);
    s = Math.min(s, c[1]); n = Math.max(n, c[1]); } else c.forEach(walk); };
  found.forEach((f) => walk(f.geometry.coordinates));
  return { count: new Set(found.map((f) => f.properties.id)).size, bounds: [w, s, e, n] };
}"""
IDLE = """() => new Promise((done) => { const map = window.forestmonMap;
  map.loaded() && map.areTilesLoaded() ? done(true) : map.once("idle", () => done(true)); })"""


def logged_in_page(browser, base: str, log: list[str], tiles: list[tuple[float, float]] | None = None):
    """A fresh context whose session holds a ranger's token (as after the log-in form), requests logged, and
    each alert tile's (start, end) in epoch ms in ``tiles`` (MapLibre fetches tiles in a worker, out of the
    page's resource timing: Playwright's request timing sees them)."""
    token = httpx.post(f"{base}/auth/token", data={"username": RANGER, "password": PASSWORD}).json()["access_token"]
    context = browser.new_context(viewport={"width": 1280, "height": 800}, service_workers="block")
    context.add_init_script(f"sessionStorage.setItem('forestmon.token', {token!r});")
    page = context.new_page()
    page.route("**/*", lambda route: route.continue_() if chromium._is_local(route.request.url) else route.abort())
    page.on("request", lambda request: log.append(request.url))

    def finished(request) -> None:
        if tiles is not None and "/collections/alerts/tiles/" in request.url and "tilejson" not in request.url:
            timing = request.timing
            tiles.append((timing["startTime"], timing["startTime"] + timing["responseEnd"]))
    page.on("requestfinished", finished)
    return context, page


def measure(base: str, loads: int, views: dict[str, tuple[int, float, float]]) -> dict:
    """Seconds to the first drawn alert per view and load, what was drawn, and the requests of a pan."""
    from playwright.sync_api import sync_playwright

    out: dict = {"seconds": {}, "drawn": {}, "tiles": {}}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium.CHROMIUM, headless=True, args=chromium.CHROMIUM_ARGS)
        try:
            for name, (z, lat, lon) in views.items():
                out["seconds"][name], out["tiles"][name] = [], []
                for _ in range(loads):
                    log: list[str] = []
                    tiles: list[tuple[float, float]] = []
                    context, page = logged_in_page(browser, base, log, tiles)
                    page.goto(f"{base}/#map={z}/{lat}/{lon}")
                    ms = page.wait_for_function(FIRST_ALERT, polling="raf", timeout=60_000).json_value()
                    out["seconds"][name].append(ms / 1000)
                    origin = page.evaluate("performance.timeOrigin")
                    done = [t for t in tiles if t[1] - origin <= ms]  # the alert tiles in hand when one was drawn
                    out["tiles"][name].append({"first": min((e - origin for _, e in done), default=float("nan")),
                                               "longest": max((e - b for b, e in done), default=float("nan")),
                                               "count": len(done)})
                    page.evaluate(IDLE)
                    out["drawn"][name] = page.evaluate(DRAWN)
                    context.close()
            # Panning at zoom 14: every request while the map moves and settles.
            z, lat, lon = views["zoom 14"]
            log = []
            context, page = logged_in_page(browser, base, log)
            page.goto(f"{base}/#map={z}/{lat}/{lon}")
            page.wait_for_function(FIRST_ALERT, polling="raf", timeout=60_000)
            page.evaluate(IDLE)
            page.wait_for_load_state("networkidle")
            log.clear()
            box = page.locator("#map canvas").bounding_box()
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            for dx, dy in ((-500, 0), (0, -350), (500, 0), (0, 350)):  # drag the map around, as a ranger does
                page.mouse.move(x, y)
                page.mouse.down()
                page.mouse.move(x + dx, y + dy, steps=12)
                page.mouse.up()
                page.evaluate(IDLE)
            page.wait_for_load_state("networkidle")
            out["pan"] = list(log)
            context.close()
        finally:
            browser.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="alerts in each store")
    parser.add_argument("--loads", type=int, default=5, help="page loads per view (the median is reported)")
    parser.add_argument("--work", type=Path, default=None, help="folder of the GeoPackage store (kept, reused)")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/forestmon_bench",
                        help=f"PostGIS database (the schema {SCHEMA!r} holds the alerts)")
    parser.add_argument("--workers", type=int, default=1, help="server processes (forestmon serve --workers)")
    parser.add_argument("--backend", choices=["gpkg", "postgis", "both"], default="both")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="forestmon-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    urls = {}
    if args.backend in ("gpkg", "both"):
        urls["gpkg"] = str(work / "forestmon.gpkg")
    if args.backend in ("postgis", "both"):
        urls["postgis"] = pg_url(args.pg_url)
    print(f"set-up ({args.n} alerts):")
    alerts = None
    for url in urls.values():
        store = open_store(url)
        held = store.count_alerts()
        store.close()
        if held != args.n and alerts is None:
            started = time.perf_counter()
            alerts = make_alerts(args.n)
            print(f"  generated {args.n} clearings in {time.perf_counter() - started:.1f} s "
                  f"({alerts.area_ha.sum():,.0f} ha)")
        fill(url, alerts, args.n)

    province = load_region().province().geometry.iloc[0]
    centre = province.centroid
    dalat = load_region().units().set_index("name").loc["Thành phố Đà Lạt"].geometry.centroid
    views = {"zoom 9": (9, round(centre.y, 4), round(centre.x, 4)),
             "zoom 14": (14, round(dalat.y, 4), round(dalat.x, 4))}
    results = {}
    for backend, url in urls.items():
        port = free_port()
        proc = serve(url, work / f"data-{backend}", port, args.workers)
        base = f"http://127.0.0.1:{port}"
        try:
            html = httpx.get(f"{base}/").content
            results[backend] = {"html": len(html), **measure(base, args.loads, views)}
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    w, s, e, n = province.bounds
    print(f"\n{args.n} alerts; province bounds {w:.2f},{s:.2f},{e:.2f},{n:.2f}; views "
          + ", ".join(f"{k} #map={z}/{lat}/{lon}" for k, (z, lat, lon) in views.items())
          + f"; {args.loads} loads each; machine shared with other work (load average "
          + " ".join(f"{v:.1f}" for v in os.getloadavg()) + ")")
    for backend, r in results.items():
        print(f"\n{backend}:")
        print(f"  page HTML  {r['html'] / 1024:6.1f} KB   (limit 100 KB: {'ok' if r['html'] < HTML_LIMIT else 'OVER'})")
        for name, seconds in r["seconds"].items():
            median = statistics.median(seconds)
            drawn = r["drawn"][name]
            bw, bs, be, bn = drawn["bounds"]
            print(f"  {name:8s} first alert drawn: median {median:5.2f} s (loads "
                  + " ".join(f"{v:.2f}" for v in seconds)
                  + f"; limit {SECONDS_LIMIT:.0f} s: {'ok' if median <= SECONDS_LIMIT else 'OVER'}); "
                  f"{drawn['count']} alerts drawn over {bw:.2f},{bs:.2f},{be:.2f},{bn:.2f}")
            if len(seconds) > 1:
                print(f"           cold (first load, tiles built) {seconds[0]:5.2f} s; warm (tiles from the server's "
                      f"memo) median {statistics.median(seconds[1:]):5.2f} s")
            tiles = r["tiles"][name]
            print(f"           first alert tile in hand at median "
                  f"{statistics.median(t['first'] for t in tiles) / 1000:5.2f} s; slowest alert tile request median "
                  f"{statistics.median(t['longest'] for t in tiles) / 1000:5.2f} s; "
                  f"{statistics.median(t['count'] for t in tiles):.0f} alert tiles by then")
        tiles = [u for u in r["pan"] if "/tiles/" in u]
        other = [u for u in r["pan"] if "/tiles/" not in u]
        alert_tiles = [u for u in tiles if "/collections/alerts/tiles/" in u]
        print(f"  pan at zoom 14: {len(r['pan'])} requests, {len(tiles)} tiles ({len(alert_tiles)} of alerts), "
              f"{len(other)} other{': ' + ', '.join(other[:5]) if other else ''} "
              f"({'ok: only tiles' if not other else 'NOT only tiles'})")
    if len(results) == 2:
        median = {b: {name: statistics.median(r["seconds"][name]) for name in views} for b, r in results.items()}
        print("\nembedded / PostGIS, median first alert: "
              + ", ".join(f"{name} {median['gpkg'][name] / median['postgis'][name]:.2f}" for name in views))


if __name__ == "__main__":
    main()
