"""The rangers' app at / in real Chromium against the real server, on both stores, through the UI only:
log in, queue, field check, confirm with a cause and a photo, open a case, dismiss; roles, conflicts, a phone."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from chromium import chromium_pages, log_in_app
from conftest import ServerThread
from playwright.sync_api import Page, expect
from reviewkit import PASSWORD, USERS, jpeg_with_gps, login

from api.app import create_app
from api.settings import Settings
from api.users import add_user
from geo.workflow.review import auto_assign

pytestmark = [pytest.mark.browser]

# Sample alerts (tests/conftest.py), in the order the queue puts them: highest priority first.
BIG, HIGH, LOW = "20240610-086300-0133700", "20240305-086100-0133500", "20240312-086200-0133600"
NOT_OURS = ("Failed to load resource: the server responded with a status of 404",)  # no imagery in these stores


@pytest.fixture
def server(store, tmp_path):
    """The app serving the sample store, one user of each role, the new alerts assigned to ranger "an"."""
    for name, (role, units) in USERS.items():
        add_user(store, name, PASSWORD, role, units)
    assert auto_assign(store) == {"an": 3}  # setup: what the admin's assignment run does
    with ServerThread(create_app(Settings(data_dir=tmp_path, store_url=store.url))) as srv:
        yield srv


@contextmanager
def admin_client(server) -> Iterator[httpx.Client]:
    """The API as an admin, over HTTP, to check what the UI stored."""
    with httpx.Client(base_url=server.url) as client:
        client.headers.update(login(client, "admin"))
        yield client


@pytest.fixture
def shots(tmp_path):
    folder = tmp_path / "screenshots"
    folder.mkdir()
    return folder


def log_in(page: Page, url: str, username: str) -> None:
    log_in_app(page, url, username, PASSWORD)


def open_alert(page: Page, alert_id: str) -> None:
    expect(page.locator("#alerts")).not_to_have_attribute("aria-busy", "true")  # not while it is redrawn
    page.locator(f'.alert-item[data-alert-id="{alert_id}"]').click()
    expect(page.locator("#alert-title")).to_contain_text(alert_id)


def history(page: Page) -> list[str]:
    return page.locator("#history li").all_inner_texts()


def real_errors(errors: list[str]) -> list[str]:
    return [e for e in errors if not any(ok in e for ok in NOT_OURS)]


def test_ranger_reviews_the_queue_confirms_opens_a_case_and_dismisses(server, shots):
    with chromium_pages(1) as ([page], log):
        log_in(page, server.url, "an")
        expect(page.locator("#count")).to_have_text("3 cảnh báo đang chờ (3 được giao, 0 đang kiểm tra)")
        timber = page.locator('#targets-body tr[data-target="damaged_timber_m3"] td').first
        expect(timber).to_have_text("0")  # the 2024 targets: no timber lost yet
        # afforestation checked from space: nothing registered or confirmed yet, against 617.7 ha
        registered = page.locator('#targets-body tr[data-target="registered_ha"]')
        expect(registered.locator("th")).to_have_text("Trồng rừng mới: đăng ký (ha)")
        expect(registered.locator("td").first).to_have_text("0")
        expect(registered.locator("td").nth(2)).to_have_text("617.7")
        expect(page.locator('#targets-body tr[data-target="confirmed_ha"] td').first).to_have_text("0")
        expect(page.locator('#targets-body tr[data-target="trees.scattered"] td').first).to_have_text("0")
        items = page.locator(".alert-item")
        assert items.first.get_attribute("data-alert-id") == BIG  # highest priority first
        page.wait_for_function("document.querySelector('#map canvas') !== null")

        open_alert(page, BIG)
        page.get_by_role("button", name="Đi kiểm tra thực địa").click()
        expect(page.locator("#alert-title")).to_contain_text("Đang kiểm tra thực địa")

        confirm = page.locator("#confirm-form")
        confirm.get_by_label("Nguyên nhân").select_option("illegal_logging")
        confirm.get_by_label("Ghi chú", exact=True).fill("gốc cây mới chặt")
        confirm.get_by_label("Ảnh hiện trường").set_input_files(
            {"name": "hien-truong.jpg", "mimeType": "image/jpeg", "buffer": jpeg_with_gps(11.96, 108.31)})
        confirm.get_by_role("button", name="Xác nhận vi phạm").click()
        expect(page.locator("#alert-title")).to_contain_text("Đã xác nhận")
        expect(page.locator("#photos img")).to_have_count(1)
        assert page.locator("#photos img").evaluate("img => img.complete && img.naturalWidth") == 48

        case = page.locator("#case-form")
        case.get_by_label("Số hồ sơ").fill("01/2024/LD")
        case.get_by_label("Ngày lập").fill("2024-06-15")
        case.get_by_label("Loại vi phạm").select_option("illegal_logging")
        case.get_by_label("Gỗ thiệt hại (m³)").fill("3.5")
        case.get_by_role("button", name="Lập hồ sơ vụ việc").click()
        expect(page.locator("#case-fact")).to_have_text(
            "01/2024/LD · 2024-06-15 · Khai thác gỗ trái phép · 12.00 ha · 3.5 m³")
        expect(case).to_be_hidden()
        expect(page.locator("#history li")).to_have_count(4)  # the panel redraws its history after the case
        steps = history(page)
        assert "Đã giao" in steps[0] and "Đang kiểm tra thực địa" in steps[1]
        assert "Đã xác nhận" in steps[2] and "Khai thác gỗ trái phép" in steps[2] and "gốc cây mới chặt" in steps[2]
        assert "Lập hồ sơ vụ việc: 01/2024/LD" in steps[3]
        page.screenshot(path=str(shots / "confirmed.png"))

        page.get_by_role("button", name="← Danh sách").click()
        expect(page.locator("#count")).to_contain_text("2 cảnh báo đang chờ")
        expect(timber).to_have_text("3.5")  # the case counts towards the year's targets
        expect(page.locator('#targets-body tr[data-target="cases"] td').first).to_have_text("1")
        open_alert(page, HIGH)
        dismiss = page.locator("#dismiss-form")
        dismiss.get_by_label("Lý do loại bỏ").select_option("seasonal_crop")
        dismiss.get_by_role("button", name="Loại bỏ cảnh báo").click()
        expect(page.locator("#alert-title")).to_contain_text("Đã loại bỏ")
        expect(page.locator("#history li")).to_have_count(2)
        assert "Cây trồng theo mùa" in history(page)[-1]
        expect(page.locator("#actions form:visible")).to_have_count(0)  # nothing left to do on a closed alert
        page.get_by_label("Thêm ảnh hiện trường").set_input_files(  # a photo can still be added afterwards
            {"name": "sau.png", "mimeType": "image/jpeg", "buffer": jpeg_with_gps(12.005, 108.355)})
        page.get_by_role("button", name="Tải ảnh lên").click()
        expect(page.locator("#photos img")).to_have_count(1)
        page.screenshot(path=str(shots / "dismissed.png"))

    assert not log.blocked, log.blocked
    assert all(url.startswith(server.url) or url.startswith(("data:", "blob:")) for url in log.requests)
    assert not real_errors(log.errors), log.errors
    # What the UI did is what the store holds: the case with its timber, the two reviewed alerts.
    with admin_client(server) as client:
        cases = client.get("/cases").json()
        assert [(c["number"], c["timber_m3"], c["violation_type"]) for c in cases] == \
            [("01/2024/LD", 3.5, "illegal_logging")]
        assert client.get(f"/alerts/{BIG}").json()["properties"]["cause"] == "illegal_logging"
        assert client.get(f"/alerts/{HIGH}").json()["properties"]["dismiss_reason"] == "seasonal_crop"


def test_viewer_sees_no_action_buttons_and_english_is_one_click_away(server):
    with chromium_pages(1) as ([page], log):
        log_in(page, server.url, "viewer")
        expect(page.locator("#count")).to_have_text("3 cảnh báo")  # a viewer has no queue: all alerts
        open_alert(page, LOW)
        expect(page.locator("#facts")).to_contain_text("Diện tích (ha)")
        expect(page.locator("#legend-body")).to_contain_text("Đã xác nhận")  # open on a desktop
        expect(page.locator("#actions")).to_be_hidden()
        expect(page.locator("#photo-form")).to_be_hidden()
        expect(page.locator("#panel button:visible", has_text="Xác nhận")).to_have_count(0)
        page.get_by_role("button", name="Chuyển sang tiếng Anh").click()
        expect(page.locator("#facts")).to_contain_text("Area (ha)")
        expect(page.get_by_role("button", name="Switch to Vietnamese")).to_have_text("Tiếng Việt")
    assert not real_errors(log.errors), log.errors


def test_ranger_outside_the_unit_gets_the_refusal_in_vietnamese(server):
    with chromium_pages(1) as ([page], _):
        log_in(page, server.url, "binh")  # unit 673; the alerts are in 675
        expect(page.locator("#count")).to_contain_text("0 cảnh báo đang chờ")
        page.get_by_role("button", name="Tất cả cảnh báo").click()
        open_alert(page, LOW)
        page.locator("#dismiss-form").get_by_label("Lý do loại bỏ").select_option("cloud_shadow")
        page.get_by_role("button", name="Loại bỏ cảnh báo").click()
        expect(page.locator("#error")).to_contain_text("Bạn không có quyền")
        expect(page.locator("#alert-title")).to_contain_text("Đã giao")


def test_a_conflict_keeps_what_the_ranger_typed(server, shots):
    with chromium_pages(2) as ([ranger, colleague], log):
        log_in(ranger, server.url, "an")
        open_alert(ranger, LOW)
        log_in(colleague, server.url, "an")  # the same ranger on a phone, say: another session
        open_alert(colleague, LOW)
        colleague.get_by_role("button", name="Đi kiểm tra thực địa").click()
        expect(colleague.locator("#alert-title")).to_contain_text("Đang kiểm tra thực địa")

        dismiss = ranger.locator("#dismiss-form")
        dismiss.get_by_label("Lý do loại bỏ").select_option("other")
        dismiss.get_by_label("Ghi chú", exact=True).fill("nương rẫy cũ, đã trồng lại")
        dismiss.get_by_role("button", name="Loại bỏ cảnh báo").click()
        expect(ranger.locator("#error")).to_contain_text("vừa được người khác thay đổi")
        assert dismiss.get_by_label("Ghi chú", exact=True).input_value() == "nương rẫy cũ, đã trồng lại"
        assert dismiss.get_by_label("Lý do loại bỏ").input_value() == "other"
        expect(ranger.locator("#alert-title")).to_contain_text("Đang kiểm tra thực địa")  # the other's change
        expect(ranger.locator("#history li")).to_have_count(2)
        expect(ranger.locator("#error")).to_be_in_viewport()
        ranger.screenshot(path=str(shots / "conflict.png"))
    with admin_client(server) as client:  # nothing half-saved: only the colleague's step
        steps = client.get(f"/alerts/{LOW}/history").json()
        assert [s["to_status"] for s in steps] == ["assigned", "in_field"]
    assert not real_errors([e for e in log.errors if "409" not in e]), log.errors


def test_phone_list_and_panel_leave_the_map_controls_free(server, shots):
    def box(page: Page, selector: str) -> dict:
        b = page.locator(selector).first.bounding_box()
        assert b and b["width"] > 0 and b["height"] > 0, selector
        return b

    def overlap(a: dict, b: dict) -> bool:
        return not (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                    or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])

    with chromium_pages(1, width=390, height=844) as ([page], log):
        log_in(page, server.url, "an")
        page.wait_for_selector(".maplibregl-ctrl-zoom-in")
        page.screenshot(path=str(shots / "phone-queue.png"))
        sheet, zoom = box(page, "#sheet"), box(page, ".maplibregl-ctrl-group")
        assert not overlap(sheet, zoom), (sheet, zoom)
        open_alert(page, BIG)
        expect(page.locator("#alert-title")).to_be_in_viewport()  # the alert first, not the offline tools
        expect(page.locator("#confirm-form, #field-check").first).to_be_attached()
        page.screenshot(path=str(shots / "phone-panel.png"))
        sheet, zoom, legend = box(page, "#sheet"), box(page, ".maplibregl-ctrl-group"), box(page, "#legend")
        layers = box(page, "#layers")
        assert not overlap(sheet, zoom) and not overlap(sheet, legend) and not overlap(zoom, legend)
        assert not any(overlap(layers, other) for other in (sheet, zoom, legend))
        assert sheet["x"] >= 0 and sheet["x"] + sheet["width"] <= 390  # no sideways scrolling
        page.locator(".maplibregl-ctrl-zoom-in").click()  # the control is on top, not under the sheet
        expect(page.locator("#legend-body")).to_be_hidden()  # folded on a phone, one tap away
        page.get_by_text("Chú giải").click()
        expect(page.locator("#legend-body")).to_contain_text("Đang kiểm tra thực địa")
        assert not overlap(box(page, "#sheet"), box(page, "#legend"))
        page.get_by_text("Lớp bản đồ").click()  # the layers box opens over the map, beside the zoom buttons
        expect(page.locator("#layers-body")).to_contain_text("Cảnh báo mất rừng")
        page.screenshot(path=str(shots / "phone-layers.png"))
        assert not any(overlap(box(page, "#layers"), box(page, other))
                       for other in ("#sheet", ".maplibregl-ctrl-group"))
    assert not real_errors(log.errors), log.errors


def test_filters_live_in_the_link_and_the_selection_downloads_as_gpx(server):
    with chromium_pages(1) as ([page], log):
        log_in(page, server.url, "an")
        page.get_by_role("button", name="Tất cả cảnh báo").click()
        expect(page.locator("#count")).to_have_text("3 cảnh báo")
        page.get_by_label("Độ tin cậy").select_option("high")
        expect(page.locator("#count")).to_have_text("1 cảnh báo")
        assert "confidence=high" in page.url and "view=all" in page.url
        # the unit filter names every unit of both boundary versions, read without their outlines
        units = page.get_by_label("Đơn vị hành chính")
        expect(units.locator("option")).to_have_count(1 + 12 + 124)
        expect(units.locator("optgroup[label='2025'] option").first).to_be_attached()
        admin_reads = [u for u in log.requests if "/ogc/collections/admin" in u and "/items" in u]
        assert admin_reads and all("skipGeometry=true" in u for u in admin_reads), admin_reads
        open_alert(page, HIGH)
        assert f"alert={HIGH}" in page.url
        assert page.locator("#navigate").get_attribute("href") == "geo:12.005000,108.355000"

        page.reload(wait_until="networkidle")  # the same link reopens the same view (the token is the tab's)
        expect(page.locator("#alert-title")).to_contain_text(HIGH)
        page.get_by_role("button", name="← Danh sách").click()
        expect(page.locator("#count")).to_have_text("1 cảnh báo")
        assert page.get_by_label("Độ tin cậy").input_value() == "high"

        with page.expect_download() as info:
            page.get_by_role("link", name="GPX").click()
        gpx = open(info.value.path(), encoding="utf-8").read()
        assert info.value.suggested_filename.endswith(".gpx") and "<gpx" in gpx and HIGH in gpx
    assert not real_errors(log.errors), log.errors


def test_with_public_reads_off_the_app_asks_for_a_login_and_tiles_carry_the_token(store, tmp_path):
    for name, (role, units) in USERS.items():
        add_user(store, name, PASSWORD, role, units)
    app = create_app(Settings(data_dir=tmp_path, store_url=store.url, public_reads=False))
    with ServerThread(app) as server, chromium_pages(1) as ([page], log):
        tiles: dict[str, int] = {}
        page.on("response", lambda r: "/tiles/" in r.url and tiles.setdefault(r.url, r.status))
        page.goto(f"{server.url}/", wait_until="networkidle")
        expect(page.locator("#login")).to_be_visible()
        expect(page.locator("#alerts li")).to_have_count(0)
        assert not any("/alerts" in url or "/tiles/" in url for url in log.requests), log.requests
        log_in(page, server.url, "viewer")
        expect(page.locator("#count")).to_have_text("3 cảnh báo")
        page.wait_for_function("() => document.querySelector('#map canvas')")
        page.wait_for_load_state("networkidle")
        alert_tiles = {u: s for u, s in tiles.items() if "/collections/alerts/tiles/" in u and "tilejson" not in u}
        assert alert_tiles and set(alert_tiles.values()) == {200}, tiles
        page.get_by_role("button", name="Đăng xuất").click()
        expect(page.locator("#login")).to_be_visible()
        assert page.evaluate("sessionStorage.getItem('forestmon.token')") is None


def test_a_confirmed_alert_joins_an_existing_case(server):
    with admin_client(server) as api:
        for alert in (BIG, HIGH):
            for version, body in ((2, {"to": "in_field"}), (3, {"to": "confirmed", "cause": "illegal_clearing"})):
                assert api.post(f"/alerts/{alert}/transitions", json={**body, "version": version}).status_code == 200
        assert api.post("/cases", json={"number": "02/2024/LD", "opened": "2024-06-16", "alert_ids": [BIG],
                                        "violation_type": "illegal_clearing"}).status_code == 201
    with chromium_pages(1) as ([page], log):
        log_in(page, server.url, "an")
        page.get_by_role("button", name="Tất cả cảnh báo").click()
        open_alert(page, HIGH)
        join = page.locator("#add-case-form")
        expect(join.get_by_label("Hồ sơ")).to_contain_text("02/2024/LD · 2024-06-16 · Phá rừng trái phép")
        join.get_by_label("Ghi chú").fill("cùng một đám rẫy")
        join.get_by_role("button", name="Thêm vào hồ sơ đã có").click()
        expect(page.locator("#case-fact")).to_contain_text("02/2024/LD")
        expect(page.locator("#history li").last).to_contain_text("Thêm vào hồ sơ đã có: 02/2024/LD · cùng một đám rẫy")
        expect(join).to_be_hidden()
    with admin_client(server) as api:
        case = api.get(f"/cases/{api.get('/cases').json()[0]['id']}").json()
        assert sorted(case["alert_ids"]) == sorted([BIG, HIGH]) and case["area_ha"] == 14.5
    assert not real_errors(log.errors), log.errors


def test_admin_dismisses_then_reopens_and_assigns(server):
    with chromium_pages(1) as ([page], log):
        log_in(page, server.url, "admin")
        expect(page.locator("#count")).to_have_text("3 cảnh báo")  # an admin has no queue: all alerts
        open_alert(page, LOW)
        page.locator("#dismiss-form").get_by_label("Lý do loại bỏ").select_option("misregistration")
        page.get_by_role("button", name="Loại bỏ cảnh báo").click()
        expect(page.locator("#alert-title")).to_contain_text("Đã loại bỏ")
        assign = page.locator("#assign-form")
        assign.get_by_label("Giao cho kiểm lâm").select_option("an")
        assign.get_by_role("button", name="Giao việc / mở lại").click()
        expect(page.locator("#alert-title")).to_contain_text("Đã giao")
        expect(page.locator("#history li")).to_have_count(3)
        assert "admin · Đã giao" in history(page)[-1]
    assert not real_errors(log.errors), log.errors


UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea, button')]
  .filter((el) => (el.matches('button') ? !(el.textContent.trim() || el.getAttribute('aria-label'))
                                        : !el.labels.length))
  .map((el) => el.outerHTML)"""


def test_every_control_is_labelled_and_the_review_works_by_keyboard(server):
    with chromium_pages(1) as ([page], log):
        page.goto(f"{server.url}/", wait_until="networkidle")
        page.locator("#login-open").focus()
        page.keyboard.press("Enter")  # the form opens with the cursor in the user name
        expect(page.get_by_label("Tên đăng nhập")).to_be_focused()
        page.keyboard.type("an")
        page.keyboard.press("Tab")
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        expect(page.locator("#who")).to_contain_text("an (ranger)")  # logged in: the header names the user
        expect(page.locator("#list")).to_be_visible()
        page.wait_for_selector(".maplibregl-ctrl-zoom-in")
        assert page.evaluate(UNLABELLED) == []
        page.locator(f'.alert-item[data-alert-id="{LOW}"]').focus()
        page.keyboard.press("Enter")
        expect(page.locator("#alert-title")).to_contain_text(LOW)
        assert page.evaluate(UNLABELLED) == []
        page.get_by_label("Lý do loại bỏ").focus()
        page.keyboard.press("ArrowDown")  # cloud_shadow -> seasonal_crop
        page.keyboard.press("Tab")
        page.keyboard.type("ruộng bắp")
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        expect(page.locator("#alert-title")).to_contain_text("Đã loại bỏ")
        expect(page.locator("#history li").last).to_contain_text("Cây trồng theo mùa · ruộng bắp")
    assert not real_errors(log.errors), log.errors
