"""The real app serving the demo's map in headless Chromium: nothing leaves 127.0.0.1, the alerts show."""

from __future__ import annotations

import json
import urllib.request

import pytest
from chromium import chromium_page
from conftest import ServerThread

from api.app import create_app
from api.settings import Settings

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


@pytest.fixture(scope="module")
def server(demo_run):
    assert demo_run["proc"].returncode == 0, demo_run["proc"].stderr[-2000:]
    app = create_app(Settings(data_dir=demo_run["data_dir"], store_url=None))
    with ServerThread(app) as srv:
        yield srv


def test_map_loads_offline_and_draws_every_alert(server, tmp_path):
    with urllib.request.urlopen(f"{server.url}/alerts") as r:
        n_alerts = json.load(r)["numberMatched"]
    assert n_alerts > 0
    with chromium_page() as (page, log):
        page.goto(server.url + "/", wait_until="networkidle")
        page.wait_for_selector("path.forestmon-alert")
        drawn = page.locator("path.forestmon-alert").count()
        assert drawn == n_alerts
        assert page.locator("img.leaflet-image-layer").count() == 1  # the latest scene's true colour
        title = page.locator(".forestmon-titlebar").inner_text()
        assert "mô phỏng" in title and f"{n_alerts} cảnh báo" in title
        page.locator("path.forestmon-alert").first.click(force=True)
        popup = page.wait_for_selector(".leaflet-popup-content")
        text = popup.inner_text()
        assert "Diện tích (ha)" in text and "Độ tin cậy" in text
        page.screenshot(path=str(tmp_path / "map.png"))
    assert not log.blocked, f"requests left 127.0.0.1: {log.blocked}"
    assert all(url.startswith(server.url) or url.startswith("data:") for url in log.requests)
    assert not log.errors
