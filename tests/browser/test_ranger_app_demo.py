"""The rangers' app on the demo's real data in Chromium: our imagery mosaic as the basemap, the alerts from our
vector tiles, everything from 127.0.0.1."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
from chromium import chromium_pages, log_in_app
from conftest import ServerThread
from PIL import Image
from playwright.sync_api import expect
from reviewkit import PASSWORD

from api.app import create_app
from api.settings import Settings
from api.users import add_user
from geo.store import open_store

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


@pytest.fixture(scope="module")
def server(demo_run, tmp_path_factory):
    assert demo_run["proc"].returncode == 0, demo_run["proc"].stderr[-2000:]
    data_dir = tmp_path_factory.mktemp("app")  # a copy: the shared demo store stays as it was
    (data_dir / "state").mkdir()
    shutil.copy(demo_run["data_dir"] / "forestmon.gpkg", data_dir / "forestmon.gpkg")
    shutil.copy(demo_run["data_dir"] / "state" / "grid.json", data_dir / "state" / "grid.json")
    store = open_store(data_dir / "forestmon.gpkg")
    add_user(store, "viewer", PASSWORD, "viewer", ())
    store.close()
    with ServerThread(create_app(Settings(data_dir=data_dir, store_url=None))) as srv:
        yield srv


def test_the_map_shows_our_imagery_and_the_alerts(server, tmp_path):
    with chromium_pages(1) as ([page], log):
        answers: dict[str, tuple[int, str]] = {}
        page.on("response", lambda r: answers.setdefault(r.url, (r.status, r.headers.get("content-type", ""))))
        log_in_app(page, server.url, "viewer", PASSWORD)
        expect(page.locator(".alert-item").first).to_be_visible()
        page.wait_for_function("() => document.querySelector('#map canvas')")
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(tmp_path / "demo-app.png"))
        alerts = [a for u, a in answers.items() if "/collections/alerts/tiles/WebMercatorQuad/" in u
                  and "tilejson" not in u]
        assert alerts and all(status == 200 for status, _ in alerts), alerts
        # The selected alert is drawn highlighted (a cyan outline) over the imagery.
        alert_id = page.locator(".alert-item").first.get_attribute("data-alert-id")
        with page.expect_response(lambda r: "/imagery/latest/truecolor/tiles/" in r.url, timeout=20000):
            # by its id: the list may be drawn again between reading it and clicking
            page.locator(f'.alert-item[data-alert-id="{alert_id}"]').click()  # zoomed in: the mosaic's zooms
        expect(page.locator("#alert-title")).to_contain_text(alert_id)
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(1000)  # a few more frames of the map
        shot = Image.open(io.BytesIO(page.locator("#map").screenshot())).convert("RGB")
        page.screenshot(path=str(tmp_path / "demo-app-selected.png"))
        imagery = [a for u, a in answers.items() if "/imagery/latest/truecolor/tiles/" in u and u.endswith(".png")]
        assert imagery and all(a == (200, "image/png") for a in imagery), imagery  # zoomed in: the mosaic shows
        rgb = np.asarray(shot).astype(int)
        cyan = int(((rgb[..., 0] < 60) & (rgb[..., 1] > 200) & (rgb[..., 2] > 220)).sum())
        assert cyan > 20, "the selected alert is not highlighted"
    assert not log.blocked, log.blocked
    assert not log.errors, log.errors


def test_the_alert_panel_shows_its_own_before_and_after_scenes(server, tmp_path):
    """A demo alert's scene_before/scene_after (acquisition ids) resolve: its panel draws both scenes side by side,
    true colour, false colour and NDVI, then the NDVI drop after, on the tile around the alert, each image a whole
    256-px tile from our imagery routes."""
    with chromium_pages(1) as ([page], log):
        log_in_app(page, server.url, "viewer", PASSWORD)
        page.locator(".alert-item").first.click()
        images = page.locator("#imagery .scene-tile img")
        expect(images).to_have_count(7, timeout=60000)
        page.wait_for_function("() => [...document.querySelectorAll('#imagery img')].every(i => i.complete "
                               "&& i.naturalWidth === 256)", timeout=20000)
        captions = page.locator("#imagery figcaption").all_inner_texts()
        assert [c.split(" ")[0] for c in captions] == ["Trước", "Sau"] * 3 + ["Sau"], captions
        assert [c.rsplit("· ", 1)[1] for c in captions[::2]] == ["màu thật", "màu giả (SWIR)", "NDVI", "NDVI giảm"]
        page.locator("#imagery").screenshot(path=str(tmp_path / "before-after.png"))
    assert not log.blocked, log.blocked
    assert not log.errors, log.errors
