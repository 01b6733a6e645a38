"""Rangers in the forest, in real Chromium with its service worker, against the real server on the demo's 20 alerts
and their imagery: take the queue offline (size announced, then kept to), cut the network, review with a photo,
close and reopen the page, reconnect, and see every review arrive once; an admin's change made meanwhile is a
conflict the ranger decides; the phone's position gives the distance and bearing to the alert."""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from chromium import CHROMIUM, CHROMIUM_ARGS, PageLog, _is_local, log_in_app
from conftest import ServerThread
from playwright.sync_api import BrowserContext, Page, Route, expect, sync_playwright
from reviewkit import PASSWORD, jpeg_with_gps, login

from api.app import create_app
from api.settings import Settings
from api.users import add_user
from geo.store import open_store
from geo.workflow.review import auto_assign

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


@pytest.fixture(scope="module")
def server(demo_run, tmp_path_factory):
    """The app on a copy of the demo store (20 alerts, their scenes), the alerts assigned to ranger "kiem"."""
    assert demo_run["proc"].returncode == 0, demo_run["proc"].stderr[-2000:]
    data_dir = tmp_path_factory.mktemp("offline")
    (data_dir / "state").mkdir()
    shutil.copy(demo_run["data_dir"] / "forestmon.gpkg", data_dir / "forestmon.gpkg")
    shutil.copy(demo_run["data_dir"] / "state" / "grid.json", data_dir / "state" / "grid.json")
    store = open_store(data_dir / "forestmon.gpkg")
    add_user(store, "kiem", PASSWORD, "ranger", ("674", "675", "676"))
    add_user(store, "admin", PASSWORD, "admin", ())
    assert sum(auto_assign(store).values()) == 20
    store.close()
    # No buffer around the alerts: the package keeps to the alerts' own tiles (each is rendered on this machine)
    with ServerThread(create_app(Settings(data_dir=data_dir, store_url=None, offline_buffer_m=0))) as srv:
        yield srv


@contextmanager
def field_context(width: int = 390, height: int = 844, **options) -> Iterator[tuple[BrowserContext, PageLog]]:
    """A phone-sized browser context with service workers allowed; every request (the service worker's too) is
    logged and kept on 127.0.0.1."""
    log = PageLog()

    def guard(route: Route) -> None:
        if _is_local(route.request.url):
            route.continue_()
        else:
            log.blocked.append(route.request.url)
            route.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": width, "height": height}, service_workers="allow",
                                          **options)
            context.route("**/*", guard)
            context.on("request", lambda request: log.requests.append(request.url))
            yield context, log
        finally:
            browser.close()


def watch(page: Page, log: PageLog) -> Page:
    page.on("pageerror", lambda exc: log.errors.append(f"pageerror: {exc}"))
    return page


def log_in(page: Page, url: str, username: str) -> None:
    log_in_app(page, url, username, PASSWORD)
    expect(page.locator("#list")).to_be_visible(timeout=60000)
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=20000)


@contextmanager
def api_as(server, username: str) -> Iterator[httpx.Client]:
    """The API over HTTP as ``username``, to check what the store holds."""
    with httpx.Client(base_url=server.url, timeout=60) as client:
        client.headers.update(login(client, username))
        yield client


def counts(client: httpx.Client, alert_id: str) -> tuple[str, int, int]:
    """(status, history entries, photos) of an alert, as the store holds them."""
    status = client.get(f"/alerts/{alert_id}").json()["properties"]["status"]
    return (status, len(client.get(f"/alerts/{alert_id}/history").json()),
            len(client.get(f"/alerts/{alert_id}/photos").json()))


def test_a_ranger_reviews_offline_and_everything_arrives_once(server, tmp_path):
    photo = tmp_path / "hien-truong.jpg"
    photo.write_bytes(jpeg_with_gps(11.9, 108.4))
    with field_context() as (context, log), api_as(server, "admin") as admin:
        page = watch(context.new_page(), log)
        log_in(page, server.url, "kiem")
        items = page.locator("#alerts .alert-item")
        expect(items).to_have_count(20)
        ids = [items.nth(i).get_attribute("data-alert-id") for i in range(3)]
        a, b, c = ids

        # A cap below the package's size is refused before anything is downloaded, in Vietnamese.
        page.locator("#offline-cap").fill("1")
        page.locator("#offline-plan").click()
        expect(page.locator("#offline-size")).to_contain_text("vượt giới hạn", timeout=120000)
        expect(page.locator("#offline-download")).to_be_hidden()
        # Within the cap: the size is shown, then the download keeps to it (±10%).
        page.locator("#offline-cap").fill("300")
        page.locator("#offline-plan").click()
        expect(page.locator("#offline-size")).to_contain_text("MB", timeout=900000)
        expect(page.locator("#offline-size")).to_contain_text("20 cảnh báo")
        announced = int(page.locator("#offline-size").get_attribute("data-bytes"))
        page.locator("#offline-download").click()
        expect(page.locator("#offline-progress")).to_contain_text("Đã lưu trên máy", timeout=900000)
        stored = int(page.locator("#offline-progress").get_attribute("data-bytes"))
        assert abs(stored - announced) <= 0.1 * announced, (stored, announced)
        expect(page.locator("#areas li")).to_have_count(1)
        page.screenshot(path=str(tmp_path / "offline-downloaded.png"), full_page=True)

        before = {i: counts(admin, i) for i in ids}

        # No network: the app still opens, with the alerts and their before/after imagery.
        context.set_offline(True)
        page.reload(wait_until="load")
        expect(page.locator("#alerts .alert-item")).to_have_count(20, timeout=20000)
        expect(page.locator("#net")).to_contain_text("Không có mạng")
        page.locator(f'.alert-item[data-alert-id="{a}"]').click()
        expect(page.locator("#alert-title")).to_contain_text(a)
        scenes = page.locator("#imagery img")
        expect(scenes).to_have_count(4, timeout=20000)  # before and after, true colour and NDVI
        page.wait_for_function("() => [...document.querySelectorAll('#imagery img')]"
                               ".every(i => i.naturalWidth === 256)")
        page.screenshot(path=str(tmp_path / "offline-alert.png"), full_page=True)

        # Confirm A with a photo (field check first), offline.
        page.locator("#act-field").click()
        expect(page.locator("#confirm-form")).to_be_visible()
        page.locator("#confirm-form select[name=cause]").select_option("illegal_clearing")
        page.locator("#confirm-form textarea[name=note]").fill("Phát rừng trái phép, đã chụp ảnh")
        page.locator("#confirm-form input[name=photo]").set_input_files(str(photo))
        page.locator("#confirm-form button[type=submit]").click()
        expect(page.locator("#alert-title")).to_contain_text("Đã xác nhận")
        expect(page.locator("#pending")).to_contain_text("2 thao tác đang chờ gửi")  # field check, confirmation

        # Dismiss B and C, offline; meanwhile an admin dismisses C with another reason.
        for alert_id in (b, c):
            page.locator("#back").click()
            # the list is drawn again (from the phone's copy): an item clicked meanwhile may move under the tap
            expect(page.locator("#alerts")).not_to_have_attribute("aria-busy", "true")
            page.locator(f'.alert-item[data-alert-id="{alert_id}"]').click()
            expect(page.locator("#alert-title")).to_contain_text(alert_id)
            page.locator("#dismiss-form select[name=reason]").select_option("seasonal_crop")
            page.locator("#dismiss-form button[type=submit]").click()
            expect(page.locator("#alert-title")).to_contain_text("Đã loại bỏ")
        version = admin.get(f"/alerts/{c}").json()["properties"]["version"]
        r = admin.post(f"/alerts/{c}/transitions", json={"to": "dismissed", "version": version,
                                                         "reason": "cloud_shadow", "note": "bóng mây"})
        assert r.status_code == 200, r.text
        admin_c = counts(admin, c)
        expect(page.locator("#outbox .outbox-waiting")).to_have_count(5)  # field, confirm, photo, B, C

        # The page is closed and opened again, still offline: everything still waits.
        page.close()
        page = watch(context.new_page(), log)
        page.goto(f"{server.url}/", wait_until="load")
        expect(page.locator("#alerts .alert-item")).to_have_count(20, timeout=20000)
        expect(page.locator("#outbox .outbox-waiting")).to_have_count(5)
        assert {i: counts(admin, i) for i in (a, b)} == {i: before[i] for i in (a, b)}
        page.screenshot(path=str(tmp_path / "offline-waiting.png"), full_page=True)

        # The network comes back: A and B arrive; C is a conflict, and the server keeps the admin's change.
        context.set_offline(False)
        expect(page.locator("#outbox .outbox-conflict")).to_have_count(1, timeout=30000)
        expect(page.locator("#outbox .outbox-waiting")).to_have_count(0)
        conflict = page.locator("#outbox .outbox-conflict")
        expect(conflict).to_contain_text(c)
        expect(conflict.locator(".conflict-server")).to_contain_text("admin")
        expect(conflict.locator(".conflict-mine")).to_contain_text("Đã loại bỏ")
        page.screenshot(path=str(tmp_path / "offline-conflict.png"), full_page=True)
        page.locator("#outbox-send").click()  # sending again sends nothing twice
        page.wait_for_timeout(1000)
        assert counts(admin, a) == ("confirmed", before[a][1] + 2, before[a][2] + 1)
        assert counts(admin, b) == ("dismissed", before[b][1] + 1, before[b][2])
        assert counts(admin, c) == admin_c
        last = admin.get(f"/alerts/{c}/history").json()[-1]
        assert (last["username"], last["reason"]) == ("admin", "cloud_shadow")
        # The ranger decides: the server's version stands, nothing waits any more.
        conflict.get_by_role("button", name="Theo bản trên máy chủ").click()
        expect(page.locator("#outbox li")).to_have_count(0)
        assert counts(admin, c) == admin_c
    assert not log.blocked, log.blocked
    assert not log.errors, log.errors


def test_distance_and_bearing_to_the_alert_follow_the_phone(server):
    here = (11.95, 108.42)
    with field_context(geolocation={"latitude": here[0], "longitude": here[1]},
                       permissions=["geolocation"]) as (context, log), api_as(server, "admin") as admin:
        page = watch(context.new_page(), log)
        log_in(page, server.url, "kiem")
        alert_id = page.locator("#alerts .alert-item").first.get_attribute("data-alert-id")
        # by its id: the list may be drawn again (statuses, outbox) between reading it and clicking
        page.locator(f'#alerts .alert-item[data-alert-id="{alert_id}"]').click()
        expect(page.locator("#alert-title")).to_contain_text(alert_id)
        props = admin.get(f"/alerts/{alert_id}").json()["properties"]
        lat, lon = props["centroid_lat"], props["centroid_lon"]
        expect(page.locator("#position")).to_contain_text("Cách cảnh báo")
        p1, p2, dl = math.radians(here[0]), math.radians(lat), math.radians(lon - here[1])
        h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
        distance = 2 * 6371008.8 * math.asin(math.sqrt(h))
        bearing = math.degrees(math.atan2(math.sin(dl) * math.cos(p2),
                                          math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)))
        shown = page.locator("#position")
        assert abs(int(shown.get_attribute("data-distance")) - distance) <= 1
        assert abs(int(shown.get_attribute("data-bearing")) - (bearing + 360) % 360) <= 1
    assert not log.errors, log.errors
