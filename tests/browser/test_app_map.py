"""The demo served as a reader sees it, in headless Chromium: with public reads on, the app at ``/`` opens without a
log-in on the demo's imagery and alerts (drawn from our vector tiles), lists every alert, opens one read-only, and
nothing leaves 127.0.0.1."""

from __future__ import annotations

import json
import urllib.request

import pytest
from chromium import chromium_page
from conftest import ServerThread
from playwright.sync_api import expect

from api.app import create_app
from api.settings import Settings

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


@pytest.fixture(scope="module")
def server(demo_run):
    assert demo_run["proc"].returncode == 0, demo_run["proc"].stderr[-2000:]
    app = create_app(Settings(data_dir=demo_run["data_dir"], store_url=None))
    with ServerThread(app) as srv:
        yield srv


def test_an_anonymous_reader_sees_every_alert_on_our_own_tiles(server, tmp_path):
    with urllib.request.urlopen(f"{server.url}/alerts") as r:
        n_alerts = json.load(r)["numberMatched"]
    assert n_alerts > 0
    with chromium_page() as (page, log):
        page.goto(server.url + "/", wait_until="networkidle")
        expect(page.locator("#count")).to_have_text(f"{n_alerts} cảnh báo")
        expect(page.locator(".alert-item")).to_have_count(n_alerts)
        expect(page.locator("#read-only")).to_be_visible()
        expect(page.locator("#login")).to_be_hidden()
        page.wait_for_function("() => window.forestmonMap && window.forestmonMap.loaded()", timeout=60_000)
        drawn = page.evaluate("new Set(window.forestmonMap.queryRenderedFeatures({layers: ['alerts-fill']})"
                              ".map(f => f.properties.id)).size")
        assert drawn > 0  # at the whole area's zoom small alerts may share a pixel: drawn, not necessarily apart
        page.screenshot(path=str(tmp_path / "map.png"))
        page.locator(".alert-item").first.click()
        expect(page.locator("#alert-title")).to_be_visible()
        expect(page.locator("#actions")).to_be_hidden()  # reading only: no review action
        text = page.locator("#facts").inner_text()
        assert "Diện tích (ha)" in text and "Độ tin cậy" in text
    assert not log.blocked, f"requests left 127.0.0.1: {log.blocked}"
    assert all(url.startswith(server.url) or url.startswith(("data:", "blob:")) for url in log.requests)
    assert not log.errors, log.errors
