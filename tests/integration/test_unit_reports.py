"""``forestmon report --week`` writes the province's report and one per admin unit in force that week (2024
districts; the 2025 communes from 1 July 2025), in HTML and PDF, whose figures equal a direct query of the store;
``/reports/`` lists them behind the read rule, and Chromium renders them without a failed request."""

from __future__ import annotations

import re
from datetime import date

import geopandas as gpd
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from markupsafe import escape
from pypdf import PdfReader
from shapely.geometry import MultiPolygon, box

from api.app import create_app
from api.cli import cli
from api.settings import Settings
from geo import query as q
from geo.region import load_region
from maps.report.text import number
from maps.report.weekly import reports_for_week

W2024, W2025 = "2024-W26", "2025-W30"  # 24-30 June 2024 (districts); 21-27 July 2025 (communes)


def _alert(i, day, confidence, area, lon, lat, district_id="675", category=None):
    geom = MultiPolygon([box(lon, lat, lon + 0.002, lat + 0.002)])
    return {"id": f"{day.replace('-', '')}-{i:06d}", "confidence": confidence, "first_detected": day,
            "confirmed": None, "last_update": day, "area_ha": area, "district_id": district_id,
            "district": "Huyện Lạc Dương" if district_id == "675" else "Thành phố Đà Lạt", "mean_drop": 0.5,
            "centroid_lon": lon + 0.001, "centroid_lat": lat + 0.001, "forest_category": category, "geometry": geom}


ALERTS = gpd.GeoDataFrame([
    _alert(1, "2024-06-25", "high", 2.5, 108.35, 12.00, category="protection"),
    _alert(2, "2024-06-27", "low", 0.4, 108.40, 12.05),
    _alert(3, "2024-06-28", "highest", 1234.5, 108.44, 11.94, "672", category="production"),
    _alert(4, "2024-06-20", "high", 9.0, 108.35, 12.00),                 # the week before
    _alert(5, "2025-07-22", "high", 3.25, 108.44, 11.94, "672"),         # Đà Lạt, in a 2025 ward
    _alert(6, "2025-07-23", "low", 1.5, 108.4405, 11.9405, "672"),
    _alert(7, "2025-07-24", "highest", 7.75, 108.10, 10.93, None),       # former Bình Thuận
], geometry="geometry", crs=4326)


@pytest.fixture
def settings(empty_store, tmp_path):
    empty_store.sync_alerts(ALERTS)
    return Settings(data_dir=tmp_path, store_url=empty_store.url)


def _run(settings, *args):
    result = CliRunner().invoke(cli, ["report", "--data-dir", str(settings.data_dir), *args],
                                env={"FORESTMON_STORE_URL": settings.store_url}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def _week_alerts(store_url, week):
    from geo.store import open_store
    from maps.report import parse_week

    monday, sunday = parse_week(week)
    with open_store(store_url) as store:
        return store.query_alerts(q.Query(start=monday, end=sunday))


def _lead_figures(html: str, lang: str = "vi") -> tuple[str, str]:
    text = re.sub(r"<[^>]+>", " ", html)
    pattern = r"phát hiện (\d+) cảnh báo mới, tổng diện tích ([\d.,]+) ha" if lang == "vi" else \
        r"detected (\d+) new alerts? covering ([\d.,]+) ha"
    return re.search(pattern, text).groups()


def _pdf_text(path) -> str:
    return " ".join(" ".join(page.extract_text() for page in PdfReader(path).pages).split())  # lines unwrapped


def test_a_2024_week_is_reported_per_district_and_matches_the_store(settings):
    _run(settings, "--week", W2024)
    reports = reports_for_week(settings.paths.reports, W2024, "vi")
    region = load_region("lamdong")
    districts = region.units(date(2024, 6, 24))
    assert [r.level for r in reports] == ["province"] + ["district"] * len(districts)
    assert {r.unit_id for r in reports[1:]} == set(districts["id"].astype(str))
    week = _week_alerts(settings.store_url, W2024)
    assert _lead_figures(reports[0].html.read_text(encoding="utf-8")) == (
        str(len(week)), number(week["area_ha"].sum(), 2, "vi"))
    for report in reports[1:]:
        mine = week[week["district_id"] == report.unit_id]  # the direct query: the unit detection recorded
        n, ha = _lead_figures(report.html.read_text(encoding="utf-8"))
        assert (int(n), ha) == (len(mine), number(mine["area_ha"].sum(), 2, "vi")), report.unit_name
        assert report.pdf.read_bytes().startswith(b"%PDF")
    dalat = next(r for r in reports if r.unit_id == "672")
    text = _pdf_text(dalat.pdf)
    assert "Thành phố Đà Lạt" in text and "1.234,50" in text  # diacritics and the week's hectares, vi format
    province = _pdf_text(reports[0].pdf)
    assert "Huyện Lạc Dương" in province and "1.237,40" in province
    html = reports[0].html.read_text(encoding="utf-8")
    assert "Theo loại rừng" in html and "rừng phòng hộ" in html and 'href="2024-W26_672.html"' in html
    assert "Chưa biết tỷ lệ diện tích quan sát được không mây" in html  # no scene, no run: said, not guessed


def test_a_july_2025_week_is_reported_per_commune_and_matches_the_store(settings):
    region = load_region("lamdong")
    communes = region.units(date(2025, 7, 21)).to_crs(32648)
    assert len(communes) == 124
    week = _week_alerts(settings.store_url, W2025)
    points = gpd.GeoDataFrame(week.drop(columns="geometry"), crs=4326,
                              geometry=gpd.points_from_xy(week["centroid_lon"], week["centroid_lat"])).to_crs(32648)
    held = gpd.sjoin(points, communes.rename(columns={"id": "unit"})[["unit", "geometry"]], predicate="within")
    chosen = sorted(held["unit"].astype(str).unique())
    assert len(chosen) == 2  # Đà Lạt's ward and a former Bình Thuận commune
    _run(settings, "--week", W2025, *[a for c in chosen for a in ("--unit", c)])
    _run(settings, "--week", W2025, "--lang", "en", "--unit", chosen[0])
    reports = reports_for_week(settings.paths.reports, W2025, "vi")
    assert [r.level for r in reports] == ["province", "commune", "commune"]
    province = reports[0].html.read_text(encoding="utf-8")
    assert all(escape(name) in province for name in communes["name"])  # the province lists its 124 communes
    assert "Huyện" not in re.sub(r"<ul class=\"methods\">.*</ul>", "", province, flags=re.S)
    assert _lead_figures(province) == (str(len(week)), number(week["area_ha"].sum(), 2, "vi"))
    for report in reports[1:]:
        mine = held[held["unit"].astype(str) == report.unit_id]
        assert _lead_figures(report.html.read_text(encoding="utf-8")) == (
            str(len(mine)), number(mine["area_ha"].sum(), 2, "vi"))
        text = _pdf_text(report.pdf)
        assert report.unit_name in text and number(mine["area_ha"].sum(), 2, "vi") in text
    [en] = [r for r in reports_for_week(settings.paths.reports, W2025, "en") if r.unit_id]
    assert en.html.name == f"{W2025}_{chosen[0]}.en.html" and en.level == "commune"
    assert "new alert" in _pdf_text(en.pdf) and en.unit_name in _pdf_text(en.pdf)


def test_the_list_holds_every_report_and_pdf_behind_the_read_rule(settings):
    _run(settings, "--week", W2024)
    closed = settings.model_copy(update={"public_reads": False})
    with TestClient(create_app(settings)) as c:
        items = c.get("/reports/").json()["reports"]
        assert len(items) == 1 + 12 and items[0]["unit_id"] is None and items[0]["level"] == "province"
        dalat = next(i for i in items if i["unit_id"] == "672")
        assert dalat["unit_name"] == "Thành phố Đà Lạt" and dalat["level"] == "district"
        pdf = c.get(dalat["pdf"].replace("http://testserver", ""))
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF")
        assert "PDF" in c.get("/reports/?f=html").text
    with TestClient(create_app(closed)) as c:
        for path in ("/reports/", f"/reports/{W2024}_672.pdf", f"/reports/{W2024}_672.html"):
            assert c.get(path).status_code == 401, path


@pytest.mark.browser
def test_chromium_renders_a_unit_report_with_no_failed_request(settings):
    from browser.chromium import chromium_page
    from conftest import ServerThread

    _run(settings, "--week", W2024, "--unit", "672")
    with ServerThread(create_app(settings)) as server, chromium_page() as (page, log):
        failed = []
        page.on("requestfailed", lambda r: failed.append(r.url))
        page.on("response", lambda r: r.status >= 400 and failed.append(f"{r.status} {r.url}"))
        page.goto(f"{server.url}/reports/{W2024}_672.html")
        assert "Thành phố Đà Lạt" in page.locator("h1").inner_text()
        assert page.locator("figure img").evaluate("img => img.complete && img.naturalWidth > 0")
        page.goto(f"{server.url}/reports/{W2024}.html")
        page.get_by_role("link", name="Thành phố Đà Lạt").click()
        page.wait_for_url(f"**/{W2024}_672.html")
    assert failed == [] and log.blocked == [] and log.errors == []
