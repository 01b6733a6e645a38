"""Shared fixtures: small scenes made on the fly, a store with known alerts, the demo run once per session."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from pgdb import ensure_postgis_database
from rasterio.transform import from_origin
from shapely.geometry import MultiPolygon, box

from geo.store import open_store

GRID_CRS = "EPSG:32648"
BANDS = ("B02", "B03", "B04", "B08", "B11", "B12", "SCL")


def write_scene(path: Path, day: date, *, size: int = 64, x0: float = 860000.0, y0: float = 1340000.0,
                forest: bool = True, cloud: bool = False, names: tuple[str, ...] | None = BANDS,
                bare: tuple[slice, slice] | None = None, crs: str = GRID_CRS) -> Path:
    """A small 7-band scene COG on the analysis grid: forest (or bare soil) reflectance x 10000, SCL.

    ``bare`` cuts a clearing (bare soil) into the forest at those rows and columns.
    """
    forest_sr = np.array([250, 500, 300, 3100, 1500, 700, 4], dtype=np.uint16)
    soil_sr = np.array([900, 1200, 1500, 2100, 2900, 2300, 5], dtype=np.uint16)
    data = np.empty((7, size, size), dtype=np.uint16)
    data[:] = (forest_sr if forest else soil_sr)[:, None, None]
    if bare is not None:
        data[:, bare[0], bare[1]] = soil_sr[:, None, None]
    if cloud:
        data[6] = 9
    with rasterio.open(path, "w", driver="COG", width=size, height=size, count=7, dtype="uint16", nodata=0,
                       crs=crs, transform=from_origin(x0, y0, 10, 10), compress="deflate") as dst:
        dst.write(data)
        if names:
            for i, name in enumerate(names, start=1):
                dst.set_band_description(i, name)
        dst.update_tags(ACQUISITION_DATE=day.isoformat())
    return path


def sample_alerts() -> gpd.GeoDataFrame:
    """Three alerts with known attributes near Đà Lạt (EPSG:4326)."""
    rows = [
        ("20240305-086100-0133500", "high", "2024-03-05", 2.5, box(108.35, 12.00, 108.36, 12.01)),
        ("20240312-086200-0133600", "low", "2024-03-12", 0.4, box(108.40, 12.05, 108.401, 12.051)),
        ("20240610-086300-0133700", "highest", "2024-06-10", 12.0, box(108.30, 11.95, 108.32, 11.97)),
    ]
    return gpd.GeoDataFrame(
        [{"id": i, "confidence": c, "first_detected": d, "confirmed": None if c == "low" else d,
          "last_update": d, "area_ha": a, "district_id": "675", "district": "Huyện Lạc Dương",
          "mean_drop": 0.5, "geometry": MultiPolygon([g])} for i, c, d, a, g in rows],
        geometry="geometry", crs=4326)


# --- both backends: every test using `store` or `empty_store` runs on the GeoPackage and on PostGIS ---------
# The PostGIS database (created with the postgis extension when missing; scripts/test starts the server) holds
# one fresh schema per test, dropped afterwards. These tests never skip: no server is a failure.
TEST_PG_URL = os.environ.get("FORESTMON_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/forestmon_test")
BACKENDS = ("gpkg", "postgis")


@pytest.fixture(scope="session")
def pg_database() -> str:
    ensure_postgis_database(TEST_PG_URL)
    return TEST_PG_URL


@contextmanager
def pg_schema_url(database_url: str):
    """A fresh schema in the test database, as a store URL whose search_path points at it."""
    import uuid

    import psycopg

    schema = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in database_url else "?"
    try:
        yield f"{database_url}{sep}options=-csearch_path%3D{schema},public"
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=BACKENDS)
def backend_url(request, tmp_path):
    """A URL for a new, empty store on each backend."""
    if request.param == "gpkg":
        yield str(tmp_path / "store.gpkg")
    else:
        with pg_schema_url(request.getfixturevalue("pg_database")) as url:
            yield url


@pytest.fixture
def empty_store(backend_url):
    s = open_store(backend_url)
    yield s
    s.close()


@pytest.fixture
def store(empty_store):
    empty_store.sync_alerts(sample_alerts())
    return empty_store


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerThread:
    """uvicorn serving an app on 127.0.0.1 in a background thread, for real HTTP clients and the browser."""

    def __init__(self, app):
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started:
            if time.time() > deadline:
                raise RuntimeError("test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """`forestmon demo --no-serve` run once, as a user would, through the installed console script."""
    data_dir = tmp_path_factory.mktemp("demo")
    exe = Path(sys.executable).with_name("forestmon")
    started = time.time()
    proc = subprocess.run([str(exe), "demo", "--no-serve", "--data-dir", str(data_dir)], capture_output=True,
                          text=True, timeout=900, env={**os.environ, "FORESTMON_DATA_DIR": ""})
    return {"data_dir": data_dir, "proc": proc, "seconds": time.time() - started}


def pytest_collection_modifyitems(items):
    """Under pytest-xdist (``--dist loadgroup``, as scripts/test runs) the tests that use the demo's data share one
    worker, so the demo runs once per suite, not once per worker."""
    for item in items:
        if "demo_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("demo"))


# --- the review workflow through the API (users of each role: tests/reviewkit.py) ---------------------------
@pytest.fixture
def app_client(store, tmp_path):
    """The app on the sample store (both backends), with one user of each role."""
    from fastapi.testclient import TestClient
    from reviewkit import PASSWORD, USERS

    from api.app import create_app
    from api.settings import Settings
    from api.users import add_user

    for name, (role, units) in USERS.items():
        add_user(store, name, PASSWORD, role, units)
    with TestClient(create_app(Settings(data_dir=tmp_path, store_url=store.url, max_photo_mb=0.5))) as client:
        yield client


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch):
    """Real argon2id, with the cost lowered for tests (the product keeps argon2-cffi's default parameters)."""
    from argon2 import PasswordHasher

    import api.users

    monkeypatch.setattr(api.users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
