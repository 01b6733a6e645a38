"""Map API benchmark: items and vector tiles from the embedded store with many alerts, and an imagery tile from
our API side by side with titiler serving the same COG. Medians of interleaved requests, and ratios.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python tests/benchmarks/bench_map_api.py [--alerts 100000] [--repeat 50]

Targets (issue 6): our/titiler ≤ 1.2 for imagery tiles; items and MVT against tipg over PostGIS need the
PostGIS store (not in this build): this run measures the embedded store alone for those.
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

TMS = morecantile.tms.get("WebMercatorQuad")
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


def serve(args: list[str], env: dict, port: int, cwd: str | None = None) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", *args, "--host", "127.0.0.1", "--port", str(port),
                             "--log-level", "warning"], env={**os.environ, **env}, cwd=cwd)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/docs", timeout=2)
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
    """Median seconds per case, requests interleaved so machine noise hits every case alike."""
    for url in cases.values():
        for _ in range(3):
            timed(client, url)
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeat):
        for name, url in cases.items():
            times[name].append(timed(client, url))
    return {name: statistics.median(t) for name, t in times.items()}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=100_000, help="alert polygons in the store")
    parser.add_argument("--repeat", type=int, default=50, help="requests per case")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="forestmon-bench-"))
    store = open_store(work / "forestmon.gpkg")
    started = time.perf_counter()
    store.sync_alerts(make_alerts(args.alerts))
    print(f"stored {store.count_alerts()} alerts in {time.perf_counter() - started:.1f} s")
    scene = make_scene(work / "S2_20240501.tif")
    store.upsert_scenes([{"id": "20240501-bench", "sensor": "Sentinel-2", "acquired": "2024-05-01",
                          "source": "bench", "path": str(scene), "cloud_pct": 0.0, "valid_fraction": 1.0,
                          "status": "ok", "reason": None, "processed": 1}])

    district = load_region().units().set_index("name").loc["Thành phố Đà Lạt"].geometry
    bbox = ",".join(f"{v:.5f}" for v in district.bounds)
    centre = district.centroid
    vt = TMS.tile(centre.x, centre.y, 12)
    with rasterio.open(scene) as src:
        from rasterio.warp import transform_bounds

        w, s_, e, n = transform_bounds(src.crs, 4326, *src.bounds)
    rt = TMS.tile((w + e) / 2, (s_ + n) / 2, 14)

    ours_port, titiler_port = free_port(), free_port()
    ours = serve(["--factory", "api.app:create_app"], {"FORESTMON_DATA_DIR": str(work),
                                                       "FORESTMON_STORE_URL": str(store.path)}, ours_port)
    titiler = serve(["--factory", "bench_map_api:titiler_app"], {}, titiler_port, cwd=str(Path(__file__).parent))
    try:
        ours_url, titiler_url = f"http://127.0.0.1:{ours_port}", f"http://127.0.0.1:{titiler_port}"
        cases = {
            "items (limit 100, bbox of Đà Lạt)": f"{ours_url}/ogc/collections/alerts/items?limit=100&bbox={bbox}",
            "MVT tile z12": f"{ours_url}/ogc/collections/alerts/tiles/WebMercatorQuad/12/{vt.x}/{vt.y}",
            "imagery tile z14, ours": f"{ours_url}/imagery/20240501-bench/truecolor/tiles/WebMercatorQuad/"
                                      f"14/{rt.x}/{rt.y}.png",
            "imagery tile z14, titiler": f"{titiler_url}/cog/tiles/WebMercatorQuad/14/{rt.x}/{rt.y}.png?"
                                         f"url={scene}&bidx=3&bidx=2&bidx=1&rescale=0,2500",
        }
        with httpx.Client(timeout=60) as client:
            medians = compare(client, cases, args.repeat)
    finally:
        ours.terminate()
        titiler.terminate()
    print(f"\n{args.alerts} alerts in the embedded GeoPackage store; {args.repeat} interleaved requests per case")
    for name, seconds in medians.items():
        print(f"  {name:40s} median {seconds * 1000:8.1f} ms")
    ratio = medians["imagery tile z14, ours"] / medians["imagery tile z14, titiler"]
    print(f"\n  imagery tile our/titiler = {ratio:.2f}  (target ≤ 1.2)")
    print("  items and MVT our/tipg over PostGIS: needs the PostGIS store (issue 5); not measured in this run")


if __name__ == "__main__":
    main()
