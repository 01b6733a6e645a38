"""The planners' workspace in real Chromium against the real server, on both stores, through the UI only: a
planner logs in, uploads a plan version in VN-2000 and reads the import report, moves the date slider between
the two versions, reads the legend and a zone's popup with its own name, compares the versions (map layer and
change table), runs the overlay and downloads it as CSV, whose hectares equal an independent geopandas overlay
with the dismissed alert left out. Screenshots on a desktop and a 390×844 phone."""

from __future__ import annotations

import csv
import io

import geopandas as gpd
import httpx
import pytest
from chromium import chromium_pages, log_in_app
from conftest import ServerThread
from playwright.sync_api import Page, expect
from reviewkit import PASSWORD, USERS, login
from shapely.geometry import box

from api.app import create_app
from api.settings import Settings
from api.users import add_user

pytestmark = [pytest.mark.browser]

A1, A2, A3 = "20240305-086100-0133500", "20240312-086200-0133600", "20240610-086300-0133700"
NAME = "Quy hoạch Lạc Dương"
ZONES_2023 = [("RPH", "Khu phòng hộ Đa Nhim", box(108.34, 11.99, 108.355, 12.02)),
              ("ONT", "Khu dân cư Lát", box(108.355, 11.99, 108.4005, 12.0505)),
              ("RDD", "Khu đặc dụng Bidoup", box(108.29, 11.94, 108.33, 11.98))]
ZONES_2024 = [ZONES_2023[0], ("CLN", "Khu dân cư Lát", ZONES_2023[1][2]),
              ("RDD", "Khu đặc dụng Bidoup", box(108.29, 11.94, 108.315, 11.98)),
              ("RSX", "Khu sản xuất mới", box(108.41, 12.06, 108.42, 12.07))]
NOT_OURS = ("Failed to load resource: the server responded with a status of 404",)  # no imagery in these stores


def plan(zones, crs: int) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"loai_dat": [z[0] for z in zones], "ten_khu": [z[1] for z in zones],
                             "so_thua": list(range(1, len(zones) + 1))},
                            geometry=[z[2] for z in zones], crs=4326).to_crs(crs)


@pytest.fixture
def server(store, tmp_path):
    """The app on the sample store with one user of each role, the 2023 plan imported and alert A1 dismissed."""
    for name, (role, units) in USERS.items():
        add_user(store, name, PASSWORD, role, units)
    with ServerThread(create_app(Settings(data_dir=tmp_path, store_url=store.url))) as srv, \
            httpx.Client(base_url=srv.url) as api:
        path = tmp_path / "quy-hoach-2023.geojson"
        plan(ZONES_2023, 4326).to_file(path)
        r = api.post("/planning/layers", files={"file": (path.name, path.read_bytes())}, headers=login(api, "planner"),
                     data={"name": NAME, "kind": "landuse_plan", "valid_from": "2023-01-01"})
        assert r.status_code == 201, r.text
        steps = (("assigned", "admin", {"assignee": "an"}), ("dismissed", "an", {"reason": "seasonal_crop"}))
        for to, who, extra in steps:
            version = api.get(f"/alerts/{A1}").json()["properties"]["version"]
            r = api.post(f"/alerts/{A1}/transitions", json={"to": to, "version": version, **extra},
                         headers=login(api, who))
            assert r.status_code == 200, r.text
        lots = tmp_path / "lots.geojson"
        gpd.GeoDataFrame({"lot_id": ["LD-01"], "planted": ["2024-05-02"], "trees": [1600],
                          "programme": ["Trồng rừng tập trung"]}, geometry=[box(108.36, 12.02, 108.37, 12.03)],
                         crs=4326).to_file(lots)
        r = api.post("/planting-lots/import", files={"file": (lots.name, lots.read_bytes())},
                     headers=login(api, "planner"))
        assert r.status_code == 200, r.text
        yield srv


def log_in(page: Page, url: str, username: str) -> None:
    log_in_app(page, url, username, PASSWORD)
    expect(page.locator("#planner")).to_be_visible()
    page.wait_for_function("() => window.forestmonMap && window.forestmonMap.loaded()")


def click_zone_at(page: Page, lon: float, lat: float) -> None:
    """Click the map where a drawn zone is (waiting for its tile), as a planner would."""
    page.wait_for_function("""([lon, lat]) => { const m = window.forestmonMap;
        const layers = m.getStyle().layers.filter((l) => l.id.startsWith("plan:")).map((l) => l.id);
        return layers.length && m.queryRenderedFeatures(m.project([lon, lat]), { layers }).length > 0; }""",
                           arg=[lon, lat])
    x, y = page.evaluate("([lon, lat]) => { const p = window.forestmonMap.project([lon, lat]); return [p.x, p.y]; }",
                         [lon, lat])
    page.locator("#map canvas").click(position={"x": x, "y": y})


def shown_plan_layers(page: Page) -> list[str]:
    return page.evaluate("window.forestmonMap.getStyle().layers.filter((l) => l.id.startsWith('plan:') "
                         "&& l.layout?.visibility !== 'none').map((l) => l.id)")


def test_planner_uploads_compares_overlays_and_exports(server, store, tmp_path):
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with chromium_pages(1) as ([page], log):
        log_in(page, server.url, "planner")
        expect(page.locator("#plan-legend")).to_contain_text("Đất rừng phòng hộ (RPH)")
        expect(page.locator("#plan-legend")).to_contain_text("giữ rừng")

        # A new version, in VN-2000 (TM-3 107°45'), uploaded from the browser; the import report is shown.
        vn2000 = tmp_path / "quy-hoach-2024-vn2000.geojson"
        plan(ZONES_2024, 5899).to_file(vn2000)
        form = page.locator("#plan-upload")
        form.get_by_label("Tệp").set_input_files(str(vn2000))
        form.get_by_label("Tên lớp quy hoạch").fill(NAME)
        form.get_by_label("Loại lớp").select_option("landuse_plan")
        form.get_by_label("Có hiệu lực từ ngày").fill("2024-01-01")
        form.get_by_role("button", name="Tải lên").click()
        report = page.locator("#plan-report")
        expect(report).to_contain_text("Đã nhập: quy-hoach-lac-duong-20240101")
        expect(report).to_contain_text("EPSG:5899")
        expect(report).to_contain_text("ten_khu")
        expect(report).to_contain_text("Không phải sửa hình học nào")
        expect(page.locator("#plan-shown")).to_contain_text("2024-01-01")

        # The date slider moves between the versions: its start is the 2023 plan, its end today's (2024) plan.
        slider = page.get_by_label("Chọn ngày theo thanh trượt")
        slider.focus()
        page.keyboard.press("Home")
        expect(page.locator("#plan-shown")).to_contain_text("(2023-01-01 – 2023-12-31)")
        expect(page.locator("#plan-date")).to_have_value("2023-01-01")
        assert shown_plan_layers(page) == ["plan:plan-quy-hoach-lac-duong-20230101"]
        page.keyboard.press("End")
        expect(page.locator("#plan-shown")).to_contain_text("(2024-01-01)")

        # The plan in force is drawn once, with the map's own planning layer, and the layers box ticks it: the
        # version uploaded in this page has its layer too.
        assert shown_plan_layers(page) == ["plan:plan-quy-hoach-lac-duong-20240101"]
        layers = page.locator("#layers")
        layers.locator("summary").click()
        box_2024 = layers.get_by_label(f"{NAME}: Quy hoạch sử dụng đất (2024-01-01 – …)")
        box_2023 = layers.get_by_label(f"{NAME}: Quy hoạch sử dụng đất (2023-01-01 – 2023-12-31)")
        expect(box_2024).to_be_checked()
        expect(box_2023).not_to_be_checked()

        # A zone's popup: its own name and attributes, and only the planners' popup.
        click_zone_at(page, 108.345, 11.995)
        popup = page.locator(".maplibregl-popup")
        expect(popup.locator(".plan-zone-name")).to_have_text("Khu phòng hộ Đa Nhim")
        page.wait_for_timeout(300)
        expect(popup).to_have_count(1)
        expect(popup).to_contain_text("Đất rừng phòng hộ")
        expect(popup).to_contain_text("so_thua")
        page.screenshot(path=str(shots / "planner-zone.png"))
        page.locator(".maplibregl-popup-close-button").click()

        # The layers box switches the same layer off, and on again.
        box_2024.uncheck()
        page.wait_for_function("() => !window.forestmonMap.getStyle().layers.some((l) => l.id.startsWith('plan:') "
                               "&& l.layout?.visibility !== 'none')")
        box_2024.check()
        page.wait_for_function("() => window.forestmonMap.getLayoutProperty("
                               "'plan:plan-quy-hoach-lac-duong-20240101', 'visibility') === 'visible'")
        layers.locator("summary").click()

        # Compare the two versions: a map layer and the change table.
        diff = page.locator("#plan-diff-form")
        diff.get_by_label("Phiên bản cũ").select_option("quy-hoach-lac-duong-20230101")
        diff.get_by_label("Phiên bản mới").select_option("quy-hoach-lac-duong-20240101")
        diff.get_by_role("button", name="So sánh").click()
        rows = page.locator("#plan-diff tbody tr")
        expect(rows).to_have_count(3)
        text = page.locator("#plan-diff").inner_text()
        assert "Đổi loại đất" in text and "Đất trồng cây lâu năm" in text and "Khu bị bỏ" in text and "Khu mới" in text
        assert page.evaluate("window.forestmonMap.getSource('plan-diff').serialize().data.features.length") == 3

        # The overlay of the plan in force (2024), then its CSV.
        page.get_by_role("button", name="Phân tích chồng lớp").click()
        expect(page.locator("#plan-overlay table").first).to_contain_text("giữ rừng")
        page.screenshot(path=str(shots / "planner-desktop.png"), full_page=True)
        with page.expect_download() as download:
            page.locator("#plan-csv").click()
        rows = list(csv.DictReader(io.StringIO(download.value.path().read_text(encoding="utf-8-sig"))))
        # The planting lots checked from the imagery (this store catalogues no scene: no imagery yet).
        page.get_by_role("button", name="Kiểm tra các lô trồng rừng").click()
        lots = page.locator("#plan-lots")
        expect(lots.locator("tbody tr")).to_have_count(1)
        expect(lots).to_contain_text("LD-01")
        expect(lots).to_contain_text("Chưa có ảnh")
        expect(lots).to_contain_text("xác nhận từ ảnh 0 ha")
        expect(lots.locator("thead")).to_contain_text("Cảnh báo mất rừng từ khi trồng")
        # no alert of the sample store is confirmed: no candidate replanting site
        expect(page.locator("#plan-candidates")).to_contain_text("trồng lại (cảnh báo mất rừng đã xác nhận): 0")
        expect(page.locator("#plan-candidates")).to_contain_text("Không có cảnh báo mất rừng đã xác nhận")
        assert page.evaluate("window.forestmonMap.getSource('plan-lots').serialize().data.features.length") == 1
        assert real_errors(log.errors) == [] and log.blocked == []

    # The CSV's hectares per zone class equal an independent overlay of the not-dismissed alerts on the file.
    alerts = store.query_alerts()
    alerts = alerts[alerts["id"] != A1].to_crs(32648)
    zones = plan(ZONES_2024, 5899).to_crs(4326).to_crs(32648)
    expected = gpd.overlay(alerts[["id", "geometry"]], zones[["loai_dat", "geometry"]], keep_geom_type=True)
    got: dict[str, float] = {}
    for row in rows:
        got[row["zone_type"]] = got.get(row["zone_type"], 0.0) + float(row["overlap_ha"])
    assert A1 not in {row["alert_id"] for row in rows}
    want = (expected.area / 1e4).groupby(expected["loai_dat"]).sum().to_dict()
    assert set(got) == set(want) == {"CLN", "RDD"}
    for zone_type, ha in want.items():
        assert got[zone_type] == pytest.approx(ha, rel=1e-3)


def real_errors(errors: list[str]) -> list[str]:
    return [e for e in errors if not any(ok in e for ok in NOT_OURS)]


def test_planner_workspace_on_a_phone(server, tmp_path):
    with chromium_pages(1, 390, 844) as ([page], log):
        log_in(page, server.url, "planner")
        expect(page.locator("#plan-legend")).to_contain_text("Đất rừng phòng hộ")
        page.get_by_role("button", name="Phân tích chồng lớp").click()
        expect(page.locator("#plan-overlay table").first).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone
        sheet, controls = page.locator("#sheet").bounding_box(), page.locator(".maplibregl-ctrl-zoom-in").bounding_box()
        assert controls["y"] + controls["height"] <= sheet["y"]  # the sheet never covers the zoom buttons
        page.screenshot(path=str(tmp_path / "planner-phone.png"))
        assert real_errors(log.errors) == [] and log.blocked == []


def test_rangers_and_viewers_get_no_planner_workspace(server):
    with chromium_pages(1) as ([page], _):
        log_in_app(page, server.url, "an", PASSWORD)
        expect(page.locator("#list")).to_be_visible()
        page.wait_for_timeout(300)
        expect(page.locator("#planner")).to_have_count(0)
