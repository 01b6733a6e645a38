"""The rangers' map page in real Chromium, served from 127.0.0.1: nothing fetched from outside, no errors."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
import shapely.affinity
from chromium import chromium_page
from pyproj import Transformer

from data import data_path
from geo.region import load_region
from maps.webmap import ALERT_CLASS, build_map

pytestmark = pytest.mark.browser


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, Path, int]]:
    """The map page as tmp/index.html with data/web linked as tmp/static, served on a free local port."""
    region = load_region()
    bounds = Transformer.from_crs(region.grid_crs, 4326, always_xy=True).transform_bounds(*region.demo.bounds)
    west, south = bounds[0], bounds[1]
    boxes = [shapely.box(west + 0.01 * i, south + 0.01 * i, west + 0.01 * i + 0.004, south + 0.01 * i + 0.003)
             for i in range(1, 6)]
    alerts = gpd.GeoDataFrame(
        {
            "id": [f"2024-0{i}-01_{i}" for i in range(1, 6)],
            "status": ["new", "assigned", "confirmed", "new", "dismissed"],
            "confidence": ["low", "high", "highest", "high", "low"],
            "first_detected": [f"2024-0{i}-01" for i in range(1, 6)],
            "area_ha": [1.5, 2.25, 3.125, 0.5, 10.0],
            "district": ["Thành phố Đà Lạt", "Huyện Lạc Dương", "Huyện Đức Trọng", "Huyện Lâm Hà",
                         "Huyện Đam Rông"],
        },
        # the last alert has two parts: still one feature, one path
        geometry=[*boxes[:4], shapely.MultiPolygon([boxes[4], shapely.affinity.translate(boxes[4], 0.006)])],
        crs=4326,
    )
    html = build_map(region, alerts, demo_bounds=bounds, synthetic=True)
    (tmp_path / "index.html").write_text(html, encoding="utf-8")
    (tmp_path / "static").symlink_to(data_path("web"), target_is_directory=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/", tmp_path, len(alerts)
    finally:
        server.shutdown()
        server.server_close()


def test_map_page_loads_offline_and_draws_every_alert(site: tuple[str, Path, int]) -> None:
    base, tmp_path, n_alerts = site
    shot = tmp_path / "webmap.png"
    with chromium_page() as (page, log):
        page.goto(base + "index.html", wait_until="networkidle")
        drawn = page.locator(f"path.{ALERT_CLASS}").count()
        page.locator(f"path.{ALERT_CLASS}").nth(1).click()  # a plain box: its centre is on the path
        popup = page.locator(".leaflet-popup-content").inner_text()
        page.wait_for_function("getComputedStyle(document.querySelector('.leaflet-popup')).opacity === '1'")
        page.screenshot(path=str(shot))

    assert log.requests, "the page requested nothing"
    assert [u for u in log.requests if not u.startswith(base)] == []
    assert log.blocked == []
    assert log.errors == []
    assert drawn == n_alerts
    assert "Ngày phát hiện" in popup and "Diện tích (ha)" in popup
    assert shot.stat().st_size > 10_000
