"""Offline areas drawn on the map, in real Chromium with its service worker, on the demo's alerts: a rectangle
drawn with the mouse shows its size, downloads, and offline still shows the alert's photo thumbnail and gives
its GPX; a rectangle drawn with a finger whose download drops halfway resumes ("Tải tiếp") and fetches only the
files still missing, each once."""

from __future__ import annotations

import io
import shutil
import time
from collections import Counter
from urllib.parse import urlsplit

import pytest
from conftest import ServerThread
from PIL import Image
from playwright.sync_api import Page, expect
from reviewkit import PASSWORD
from test_offline_field import api_as, field_context, log_in, watch

from api.app import create_app
from api.settings import Settings
from api.users import add_user
from geo.store import open_store
from geo.workflow.review import auto_assign

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
PAD_PX = 25  # the drawn rectangle's margin around the alert, in screen pixels


@pytest.fixture(scope="module")
def server(demo_run, tmp_path_factory):
    """The app on a copy of the demo store, the alerts assigned to ranger "kiem"; no imagery buffer."""
    assert demo_run["proc"].returncode == 0, demo_run["proc"].stderr[-2000:]
    data_dir = tmp_path_factory.mktemp("offline-areas")
    (data_dir / "state").mkdir()
    shutil.copy(demo_run["data_dir"] / "forestmon.gpkg", data_dir / "forestmon.gpkg")
    shutil.copy(demo_run["data_dir"] / "state" / "grid.json", data_dir / "state" / "grid.json")
    store = open_store(data_dir / "forestmon.gpkg")
    add_user(store, "kiem", PASSWORD, "ranger", ("674", "675", "676"))
    add_user(store, "admin", PASSWORD, "admin", ())
    auto_assign(store)
    store.close()
    with ServerThread(create_app(Settings(data_dir=data_dir, store_url=None, offline_buffer_m=0))) as srv:
        yield srv


def _photo() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (1280, 960), (60, 140, 60)).save(buf, "JPEG")
    return buf.getvalue()


def _alert_corners(page: Page, admin, alert_id: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """Open the alert from the list (the map zooms to it), go back, and give the page coordinates of a rectangle
    around it: (top-left, bottom-right)."""
    page.locator(f'.alert-item[data-alert-id="{alert_id}"]').click()
    expect(page.locator("#alert-title")).to_contain_text(alert_id)
    page.locator("#back").click()
    coords = [c for ring in admin.get(f"/alerts/{alert_id}").json()["geometry"]["coordinates"] for c in ring[0]]
    lons, lats = [c[0] for c in coords], [c[1] for c in coords]
    page.wait_for_function("() => window.forestmonMap && window.forestmonMap.isStyleLoaded()")
    (x0, y0), (x1, y1) = page.evaluate(
        """(corners) => {
             const map = window.forestmonMap, box = map.getCanvasContainer().getBoundingClientRect();
             return corners.map((c) => { const p = map.project(c); return [p.x + box.left, p.y + box.top]; });
           }""", [[min(lons), max(lats)], [max(lons), min(lats)]])
    return (x0 - PAD_PX, y0 - PAD_PX), (x1 + PAD_PX, y1 + PAD_PX)


def _stored_area(page: Page) -> dict:
    areas = page.evaluate("() => JSON.parse(localStorage.getItem('forestmon.areas') || '[]')")
    assert len(areas) == 1, areas
    return areas[0]


def test_a_drawn_area_downloads_and_keeps_thumbnails_and_gpx_offline(server, tmp_path):
    with field_context() as (context, log), api_as(server, "admin") as admin:
        page = watch(context.new_page(), log)
        log_in(page, server.url, "kiem")
        alert_id = page.locator("#alerts .alert-item").nth(3).get_attribute("data-alert-id")
        r = admin.post(f"/alerts/{alert_id}/photos", files={"file": ("rung.jpg", _photo(), "image/jpeg")})
        assert r.status_code == 201, r.text
        photo_id = r.json()["id"]
        (x0, y0), (x1, y1) = _alert_corners(page, admin, alert_id)

        # Draw the rectangle with the mouse: the size is announced (km², alerts, files, MB) before any download.
        page.locator("#offline-draw").click()
        expect(page.locator("#offline-size")).to_contain_text("Kéo trên bản đồ")
        page.mouse.move(x0, y0)
        page.mouse.down()
        page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=4)
        page.mouse.move(x1, y1, steps=4)
        page.mouse.up()
        size = page.locator("#offline-size")
        expect(size).to_contain_text("km²", timeout=300000)
        expect(size).to_contain_text("MB", timeout=300000)
        expect(page.locator("#alert-title")).to_be_hidden()  # ending the drag over the alert did not open it
        announced = int(size.get_attribute("data-bytes"))
        page.screenshot(path=str(tmp_path / "drawn-area.png"))
        page.locator("#offline-download").click()
        expect(page.locator("#offline-progress")).to_contain_text("Đã lưu trên máy", timeout=600000)
        stored = int(page.locator("#offline-progress").get_attribute("data-bytes"))
        assert abs(stored - announced) <= 0.1 * announced, (stored, announced)
        area = _stored_area(page)
        assert alert_id in area["alerts"] and area["complete"] and len(area["bbox"]) == 4
        assert f"/photos/{photo_id}/thumbnail" in area["urls"]

        # No network: the alert's photo shows as its thumbnail, and the area's GPX is saved from the phone.
        context.set_offline(True)
        page.reload(wait_until="load")
        expect(page.locator("#net")).to_contain_text("Không có mạng", timeout=20000)
        page.locator(f'.alert-item[data-alert-id="{alert_id}"]').click()
        thumb = page.locator(f'#photos img[data-photo-id="{photo_id}"]')
        expect(thumb).to_have_count(1, timeout=20000)
        page.wait_for_function("(id) => document.querySelector(`#photos img[data-photo-id='${id}']`)"
                               "?.naturalWidth === 320", arg=photo_id)
        thumb.scroll_into_view_if_needed()
        page.screenshot(path=str(tmp_path / "offline-thumbnail.png"))
        page.locator("#back").click()
        with page.expect_download() as info:
            page.locator("#areas li").first.get_by_role("button", name="GPX").click()
        gpx = info.value.path().read_text()
        assert gpx.lstrip().startswith("<?xml") and alert_id in gpx
        for other in area["alerts"]:
            assert other in gpx
        page.screenshot(path=str(tmp_path / "offline-areas.png"), full_page=True)
    assert not log.blocked, log.blocked
    assert not log.errors, log.errors


def _touch_drag(page: Page, start: tuple[float, float], end: tuple[float, float]) -> None:
    """A finger dragging on the screen, as Chromium's touch input (CDP), in a few moves."""
    cdp = page.context.new_cdp_session(page)
    steps = 5
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": start[0], "y": start[1]}]})
    for i in range(1, steps + 1):
        x = start[0] + (end[0] - start[0]) * i / steps
        y = start[1] + (end[1] - start[1]) * i / steps
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def test_a_dropped_download_resumes_with_only_the_missing_files(server, tmp_path):
    fetched: Counter[str] = Counter()  # files the service worker got from the server during the download

    def finished(request) -> None:
        response = request.response()
        if request.service_worker is not None and response is not None and response.status == 200:
            parts = urlsplit(request.url)
            fetched[parts.path + (f"?{parts.query}" if parts.query else "")] += 1

    with field_context(has_touch=True) as (context, log), api_as(server, "admin") as admin:
        page = watch(context.new_page(), log)
        log_in(page, server.url, "kiem")
        alert_id = page.locator("#alerts .alert-item").nth(5).get_attribute("data-alert-id")
        start, end = _alert_corners(page, admin, alert_id)
        page.locator("#offline-draw").click()
        _touch_drag(page, start, end)
        expect(page.locator("#offline-size")).to_contain_text("MB", timeout=300000)
        files = int(page.locator("#offline-size").text_content().split(" tệp")[0].split()[-1])

        # The download starts; the network drops after a few files.
        context.on("requestfinished", finished)
        page.locator("#offline-download").click()
        page.wait_for_function("() => Number((/Đã tải (\\d+)/.exec(document.querySelector('#offline-progress')"
                               ".textContent) || [0, 0])[1]) >= 3", timeout=300000, polling=50)
        context.set_offline(True)
        expect(page.locator("#offline-progress")).to_contain_text("Mất kết nối", timeout=60000)
        partial = page.locator("#areas li.area-partial")
        expect(partial).to_have_count(1)
        expect(partial).to_contain_text("chưa tải xong")
        assert 0 < _stored_area(page)["stored"] < int(page.locator("#offline-size").get_attribute("data-bytes"))
        area = _stored_area(page)
        assert not area["complete"] and len(area["urls"]) == files
        missing = page.evaluate("""async (urls) => {
            const cache = await caches.open('forestmon-data');
            const have = await Promise.all(urls.map((u) => cache.match(u, { ignoreVary: true })));
            return urls.filter((u, i) => !have[i]);
          }""", area["urls"])
        assert 0 < len(missing) < files, (len(missing), files)
        page.screenshot(path=str(tmp_path / "dropped.png"), full_page=True)

        # Back in coverage: "Tải tiếp" fetches what is missing, and nothing twice.
        context.set_offline(False)
        partial.get_by_role("button", name=f"Tải tiếp {len(area['alerts'])}").click()
        expect(page.locator("#offline-progress")).to_contain_text("Đã lưu trên máy", timeout=600000)
        expect(page.locator("#areas li.area-partial")).to_have_count(0)
        assert _stored_area(page)["complete"]
        keys = page.evaluate("""async () => (await (await caches.open('forestmon-data')).keys())
                                  .map((r) => { const u = new URL(r.url); return u.pathname + u.search; })""")
        assert set(area["urls"]) <= set(keys) and len(keys) == len(set(keys))
        package = Counter({url: n for url, n in fetched.items() if url in set(area["urls"])})
        assert set(missing) <= set(package), sorted(set(missing) - set(package))[:5]
        assert max(package.values()) == 1, package.most_common(3)
        page.screenshot(path=str(tmp_path / "resumed.png"), full_page=True)
    assert not log.blocked, log.blocked
    assert not log.errors, log.errors


def test_reads_made_online_are_kept_in_a_cache_that_never_grows_past_its_bound(server):
    """What the app reads online is kept for a reopen without signal, in its own cache of the 300 newest reads: a
    day of panning the map does not fill the phone, and the stored offline areas are not part of it."""
    with field_context() as (context, log):
        page = watch(context.new_page(), log)
        log_in(page, server.url, "kiem")
        page.evaluate("""async () => { for (let i = 0; i < 330; i++) await fetch(`/app/config.json?probe=${i}`); }""")
        recent: list[str] = []
        deadline = time.monotonic() + 60
        while "?probe=329" not in recent and time.monotonic() < deadline:   # copies are kept in the background
            page.wait_for_timeout(200)
            recent = page.evaluate("""async () => (await (await caches.open('forestmon-recent')).keys())
                                        .map((r) => new URL(r.url).search)""")
        probes = sorted(int(k.split("=")[1]) for k in recent if k.startswith("?probe="))
        assert probes[-1] == 329 and "?probe=0" not in recent and len(recent) == 300, (len(recent), probes[:3])
        stored = page.evaluate("""async () => (await (await caches.open('forestmon-data')).keys())
                                    .filter((r) => r.url.includes('probe')).length""")
        assert stored == 0
        # offline, the newest read is answered from that cache
        context.set_offline(True)
        assert page.evaluate("async () => (await fetch('/app/config.json?probe=329')).status") == 200
        # log-out leaves nothing of the user's reads
        context.set_offline(False)
        page.evaluate("() => navigator.serviceWorker.controller.postMessage('logout')")
        deadline = time.monotonic() + 20
        while page.evaluate("async () => await caches.has('forestmon-recent')") and time.monotonic() < deadline:
            page.wait_for_timeout(200)
        assert not page.evaluate("async () => await caches.has('forestmon-recent')")
    assert not log.blocked, log.blocked
    assert not log.errors, log.errors


def test_a_walk_recorded_in_the_field_goes_with_the_review_once(server, tmp_path):
    walk = [(11.95 + 0.0008 * i, 108.42 + 0.0005 * i) for i in range(6)]
    with field_context(geolocation={"latitude": walk[0][0], "longitude": walk[0][1]},
                       permissions=["geolocation"]) as (context, log), api_as(server, "admin") as admin:
        page = watch(context.new_page(), log)
        log_in(page, server.url, "kiem")
        alert_id = page.locator("#alerts .alert-item").nth(7).get_attribute("data-alert-id")
        page.locator(f'.alert-item[data-alert-id="{alert_id}"]').click()
        expect(page.locator("#alert-title")).to_contain_text(alert_id)

        # Going to the field starts the recording: each new position is a point, kept in IndexedDB.
        page.locator("#act-field").click()
        status = page.locator("#track-status")
        expect(page.locator("#track-toggle")).to_have_attribute("aria-pressed", "true")
        expect(status).to_have_attribute("data-points", "1", timeout=10000)
        for n, (lat, lon) in enumerate(walk[1:4], start=2):
            context.set_geolocation({"latitude": lat, "longitude": lon})
            expect(status).to_have_attribute("data-points", str(n), timeout=10000)

        # No signal, and the page is opened again: the walk is still there and the recording goes on.
        context.set_offline(True)
        page.reload(wait_until="load")
        expect(page.locator("#alert-title")).to_contain_text(alert_id, timeout=20000)  # reopened from the link
        expect(status).to_have_attribute("data-points", "4", timeout=10000)
        for n, (lat, lon) in enumerate(walk[4:], start=5):
            context.set_geolocation({"latitude": lat, "longitude": lon})
            expect(status).to_have_attribute("data-points", str(n), timeout=10000)
        expect(status).to_contain_text("Đường đi: 6 điểm")

        # Dismissed offline: the review step and the walk wait in the outbox, in that order.
        page.locator("#dismiss-form select[name=reason]").select_option("seasonal_crop")
        page.locator("#dismiss-form button[type=submit]").click()
        expect(page.locator("#outbox .outbox-waiting")).to_have_count(2)
        expect(page.locator("#outbox .outbox-waiting").nth(1)).to_contain_text("Đường đi")
        assert admin.get(f"/alerts/{alert_id}/tracks").json() == []
        page.screenshot(path=str(tmp_path / "walk-waiting.png"), full_page=True)

        # Back in coverage: both arrive, once; the walk is kept with the alert and given back as GPX.
        context.set_offline(False)
        expect(page.locator("#outbox li")).to_have_count(0, timeout=30000)
        page.locator("#outbox-send").click()
        page.wait_for_timeout(500)
        kept = admin.get(f"/alerts/{alert_id}/tracks").json()
        assert len(kept) == 1 and kept[0]["point_count"] == 6 and kept[0]["uploaded_by"] == "kiem", kept
        assert admin.get(f"/alerts/{alert_id}").json()["properties"]["status"] == "dismissed"
        gpx = admin.get(f"/tracks/{kept[0]['id']}.gpx").text
        assert gpx.count("<trkpt") == 6 and f'lat="{round(walk[-1][0], 7)}"' in gpx
        expect(page.locator("#tracks li")).to_have_count(1, timeout=10000)
        expect(page.locator("#tracks li")).to_contain_text("6 điểm")
        page.locator("#tracks li").scroll_into_view_if_needed()
        page.screenshot(path=str(tmp_path / "walk-kept.png"))
    assert not log.blocked, log.blocked
    assert not log.errors, log.errors
