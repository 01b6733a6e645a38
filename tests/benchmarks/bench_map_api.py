"""Map API benchmark: items and vector tiles from our API on PostGIS side by side with tipg serving the same
table, the embedded store against PostGIS for items, and an imagery tile from our API side by side with titiler
serving the same COG. Medians of interleaved requests, and ratios.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python tests/benchmarks/bench_map_api.py [--n 100000] [--repeat 50] [--pg-url URL] [--only mvt]

The alerts go into a GeoPackage and into the schema ``bench`` of the PostGIS database ``--pg-url`` (default
``postgresql://postgres@127.0.0.1:5432/forestmon_bench``, created with the postgis extension when missing; the
schema is dropped and made again each run). Each server is a separate uvicorn process on 127.0.0.1.

Targets: our/tipg ≤ 1.0 for items (limit 100, bbox of one district) and MVT tiles (zoom 12);
embedded store within 2× of PostGIS for items and for MVT tiles (zooms 9, 12, 14 over Đà Lạt); our/titiler ≤ 1.2
for imagery tiles. ``--only mvt`` times the vector tiles alone (no titiler, no imagery, no items).
"""

from __future__ import annotations

import argparse
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
import morecantile
import numpy as np
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import MultiPolygon, box

from geo.region import load_region
from geo.store import open_store


def _load_pgdb():
    """tests/pgdb.py by path: putting tests/ on sys.path would let tests/data shadow the `data` package."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("pgdb", Path(__file__).resolve().parents[1] / "pgdb.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ensure_postgis_database = _load_pgdb().ensure_postgis_database


TMS = morecantile.tms.get("WebMercatorQuad")
# Our vector tiles are built afresh on every request: an area bound every alert meets, new to each request.
FRESH = "?min_area_ha=-{n}"
BANDS = ("B02", "B03", "B04", "B08", "B11", "B12", "SCL")


def titiler_app():
    """titiler's tiler factory on a bare FastAPI app: the reference for imagery tiles."""
    from fastapi import FastAPI
    from titiler.core.factory import TilerFactory

    app = FastAPI()
    app.include_router(TilerFactory().router, prefix="/cog")
    return app


def make_alerts(n: int, seed: int = 1) -> gpd.GeoDataFrame:
    """``n`` square alerts of 0.1-5 ha at random places inside the province (2024 boundaries)."""
    region = load_region()
    province = region.province().geometry.iloc[0]
    rng = np.random.default_rng(seed)
    west, south, east, north = province.bounds
    xs, ys = [], []
    while len(xs) < n:
        px = rng.uniform(west, east, 2 * n)
        py = rng.uniform(south, north, 2 * n)
        inside = gpd.GeoSeries.from_xy(px, py, crs=4326).within(province).to_numpy()
        xs += list(px[inside])
        ys += list(py[inside])
    xs, ys = np.array(xs[:n]), np.array(ys[:n])
    side = np.sqrt(rng.uniform(0.1, 5.0, n) * 10000) / 111000.0
    units = region.units()
    days = [date(2024, 1, 1) + timedelta(days=int(d)) for d in rng.integers(0, 180, n)]
    frame = gpd.GeoDataFrame({
        "id": [f"{d:%Y%m%d}-{i:07d}" for i, d in enumerate(days)],
        "confidence": rng.choice(["low", "high", "highest"], n),
        "first_detected": [d.isoformat() for d in days], "last_update": [d.isoformat() for d in days],
        "area_ha": (side * 111000.0) ** 2 / 10000,
    }, geometry=[MultiPolygon([box(x, y, x + s, y + s)]) for x, y, s in zip(xs, ys, side, strict=True)], crs=4326)
    joined = gpd.sjoin(frame, units[["id", "name", "geometry"]].rename(columns={"id": "district_id"}),
                       how="left", predicate="intersects")
    joined = joined[~joined.index.duplicated()]
    frame["district_id"], frame["district"] = joined["district_id"], joined["name"]
    return frame


def make_scene(path: Path, size: int = 2048) -> Path:
    """A 7-band COG (20 km square near Đà Lạt, UTM 48N, 10 m) with varied forest-like reflectance."""
    rng = np.random.default_rng(2)
    data = np.empty((7, size, size), dtype=np.uint16)
    base = np.array([250, 500, 300, 3100, 1500, 700, 4], dtype=np.float32)
    noise = rng.normal(1.0, 0.15, (size, size)).astype(np.float32)
    for i, value in enumerate(base):
        data[i] = value if i == 6 else np.clip(value * noise, 1, 10000)
    with rasterio.open(path, "w", driver="COG", width=size, height=size, count=7, dtype="uint16", nodata=0,
                       crs="EPSG:32648", transform=from_origin(850000, 1340000, 10, 10), compress="deflate") as dst:
        dst.write(data)
        for i, name in enumerate(BANDS, start=1):
            dst.set_band_description(i, name)
        dst.update_tags(ACQUISITION_DATE="2024-05-01")
    return path


def pg_bench_url(database_url: str, schema: str = "bench") -> str:
    """A fresh ``schema`` in the database (created with postgis when missing), as a URL whose search_path
    points at it."""
    import psycopg

    ensure_postgis_database(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in database_url else "?"
    return f"{database_url}{sep}options=-csearch_path%3D{schema},public"


def serve(args: list[str], env: dict, port: int, cwd: str | None = None, probe: str = "/docs") -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", *args, "--host", "127.0.0.1", "--port", str(port),
                             "--log-level", "warning"], env={**os.environ, **env}, cwd=cwd)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}{probe}", timeout=2)
            return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"server on port {port} did not start")


def timed(client: httpx.Client, url: str) -> float:
    start = time.perf_counter()
    r = client.get(url)
    elapsed = time.perf_counter() - start
    if r.status_code != 200:
        raise RuntimeError(f"{url}: HTTP {r.status_code} {r.text[:200]}")
    return elapsed


def compare(client: httpx.Client, cases: dict[str, str], repeat: int) -> dict[str, float]:
    """Median seconds per case, requests interleaved so machine noise hits every case alike. A ``{n}`` in a URL
    becomes a number new to each request, so the server's memo of answers (keyed by the URL) answers none."""
    count = iter(range(1, 10**9))
    for url in cases.values():
        for _ in range(3):
            timed(client, url.format(n=next(count)))
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeat):
        for name, url in cases.items():
            times[name].append(timed(client, url.format(n=next(count))))
    return {name: statistics.median(t) for name, t in times.items()}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", "--alerts", dest="alerts", type=int, default=100_000, help="alert polygons stored")
    parser.add_argument("--repeat", type=int, default=50, help="requests per case")
    parser.add_argument("--only", choices=["mvt"], default=None, help="time only the vector tiles")
    parser.add_argument("--schema", default="bench", help="PostGIS schema made afresh for the run")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/forestmon_bench",
                        help="PostGIS database for our API and tipg (the schema 'bench' is made afresh)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="forestmon-bench-"))
    alerts = make_alerts(args.alerts)
    store = open_store(work / "forestmon.gpkg")
    started = time.perf_counter()
    store.sync_alerts(alerts)
    print(f"stored {store.count_alerts()} alerts in the GeoPackage in {time.perf_counter() - started:.1f} s")
    pg_url = pg_bench_url(args.pg_url, args.schema)
    pg = open_store(pg_url)
    started = time.perf_counter()
    pg.sync_alerts(alerts)
    with pg.transaction() as tx:
        tx.execute("ANALYZE alerts")
    print(f"stored {pg.count_alerts()} alerts in PostGIS in {time.perf_counter() - started:.1f} s")
    pg.close()
    scene = make_scene(work / "S2_20240501.tif")
    scene_row = {"id": "20240501-bench", "sensor": "Sentinel-2", "acquired": "2024-05-01", "source": "bench",
                 "path": str(scene), "cloud_pct": 0.0, "valid_fraction": 1.0, "status": "ok", "reason": None,
                 "processed": 1}
    store.upsert_scenes([scene_row])

    district = load_region().units().set_index("name").loc["Thành phố Đà Lạt"].geometry
    bbox = ",".join(f"{v:.5f}" for v in district.bounds)
    centre = district.centroid
    vt = TMS.tile(centre.x, centre.y, 12)
    with rasterio.open(scene) as src:
        from rasterio.warp import transform_bounds

        w, s_, e, n = transform_bounds(src.crs, 4326, *src.bounds)
    rt = TMS.tile((w + e) / 2, (s_ + n) / 2, 14)

    ports = {name: free_port() for name in ("ours", "ours_pg", "tipg", "titiler")}
    url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    servers = [
        serve(["--factory", "api.app:create_app"], {"FORESTMON_DATA_DIR": str(work),
                                                    "FORESTMON_STORE_URL": store.url}, ports["ours"]),
        serve(["--factory", "api.app:create_app"], {"FORESTMON_DATA_DIR": str(work / "pg"),
                                                    "FORESTMON_STORE_URL": pg_url}, ports["ours_pg"]),
        serve(["tipg.main:app"], {"DATABASE_URL": args.pg_url, "TIPG_DB_SCHEMAS": f'["{args.schema}"]',
                                  "TIPG_DB_TABLES": f'["{args.schema}.alerts"]'}, ports["tipg"], probe="/api.html"),
    ]
    if args.only is None:
        servers.append(serve(["--factory", "bench_map_api:titiler_app"], {}, ports["titiler"],
                             cwd=str(Path(__file__).parent)))
    tile = f"tiles/WebMercatorQuad/12/{vt.x}/{vt.y}"
    cases = {
        "items, embedded store": f"{url['ours']}/ogc/collections/alerts/items?limit=100&bbox={bbox}",
        "items, ours on PostGIS": f"{url['ours_pg']}/ogc/collections/alerts/items?limit=100&bbox={bbox}",
        "items, tipg": f"{url['tipg']}/collections/bench.alerts/items?limit=100&bbox={bbox}",
        "MVT z12, embedded store": f"{url['ours']}/ogc/collections/alerts/{tile}{FRESH}",
        "MVT z12, ours on PostGIS": f"{url['ours_pg']}/ogc/collections/alerts/{tile}{FRESH}",
        "MVT z12, tipg": f"{url['tipg']}/collections/{args.schema}.alerts/{tile}",
        "imagery tile z14, ours": f"{url['ours']}/imagery/20240501-bench/truecolor/tiles/WebMercatorQuad/"
                                  f"14/{rt.x}/{rt.y}.png",
        "imagery tile z14, titiler": f"{url['titiler']}/cog/tiles/WebMercatorQuad/14/{rt.x}/{rt.y}.png?"
                                     f"url={scene}&bidx=3&bidx=2&bidx=1&rescale=0,2500",
    }
    for z in (9, 14):
        t = TMS.tile(centre.x, centre.y, z)
        path = f"/ogc/collections/alerts/tiles/WebMercatorQuad/{z}/{t.x}/{t.y}"
        cases[f"MVT z{z}, embedded store"] = url["ours"] + path + FRESH
        cases[f"MVT z{z}, ours on PostGIS"] = url["ours_pg"] + path + FRESH
    if args.only == "mvt":
        cases = {name: u for name, u in cases.items() if name.startswith("MVT")}
    try:
        with httpx.Client(timeout=60) as client:
            counts = {name: len(client.get(u).json()["features"]) for name, u in cases.items()
                      if name.startswith("items")}
            medians = compare(client, cases, args.repeat)
    finally:
        for proc in servers:
            proc.terminate()
            proc.wait(timeout=20)
    print(f"\n{args.alerts} alerts; Đà Lạt bbox {bbox}; MVT tile 12/{vt.x}/{vt.y}; "
          f"{args.repeat} interleaved requests per case")
    print("  features per items page: " + ", ".join(f"{k.split(', ')[1]} {v}" for k, v in counts.items()))
    for name, seconds in medians.items():
        print(f"  {name:40s} median {seconds * 1000:8.1f} ms")
    ratios = [
        ("items our (PostGIS)/tipg", "items, ours on PostGIS", "items, tipg", "≤ 1.0"),
        ("MVT z12 our (PostGIS)/tipg", "MVT z12, ours on PostGIS", "MVT z12, tipg", "≤ 1.0"),
        ("items embedded/PostGIS", "items, embedded store", "items, ours on PostGIS", "≤ 2.0"),
        *((f"MVT z{z} embedded/PostGIS", f"MVT z{z}, embedded store", f"MVT z{z}, ours on PostGIS", "≤ 2.0")
          for z in (9, 12, 14)),
        ("imagery tile our/titiler", "imagery tile z14, ours", "imagery tile z14, titiler", "≤ 1.2"),
    ]
    print()
    for label, ours_case, ref_case, target in ratios:
        if ours_case not in medians or ref_case not in medians:
            continue
        print(f"  {label:32s} = {medians[ours_case] / medians[ref_case]:5.2f}  (target {target})")


if __name__ == "__main__":
    main()
