"""The rangers' map page: every asset vendored and on disk, Vietnamese by default, alerts and popups right."""

from __future__ import annotations

import json
import re

import folium
import folium.plugins
import geopandas as gpd
import pytest
import shapely
from jinja2.utils import htmlsafe_json_dumps

from geo.region import Region, load_region
from maps.assets import LIBRARIES, VENDOR_DIR, WEB_DIR, folium_expected_versions, localize
from maps.webmap import ALERT_CLASS, STRINGS, build_map

DEMO = (108.30, 12.01, 108.40, 12.10)  # west, south, east, north: the demo area near Đà Lạt
LINK = re.compile(r"""(?:src|href)\s*=\s*["']([^"']*)["']""")


@pytest.fixture(scope="module")
def region() -> Region:
    return load_region()


@pytest.fixture
def alerts() -> gpd.GeoDataFrame:
    """Three alerts, one per confidence level; the last has two parts."""
    def box(x: float, y: float) -> shapely.Polygon:
        return shapely.box(x, y, x + 0.003, y + 0.002)

    return gpd.GeoDataFrame(
        {
            "id": ["2024-03-05_1", "2024-04-01_2", "2024-05-20_3"],
            "status": ["new", "confirmed", "in_field"],
            "confidence": ["low", "high", "highest"],
            "first_detected": ["2024-03-05", "2024-04-01", "2024-05-20"],
            "area_ha": [1.234, 5.0, 12.3456],
            "district": ["Thành phố Đà Lạt", "Huyện Lạc Dương", "Huyện Đức Trọng"],
        },
        geometry=[box(108.32, 12.03), box(108.35, 12.05),
                  shapely.MultiPolygon([box(108.37, 12.07), box(108.38, 12.08)])],
        crs=4326,
    )


def _contains(html: str, text: str) -> bool:
    """``text`` is in the page as UTF-8, or as the (HTML-safe) JSON escapes folium writes into its scripts."""
    return any(form in html for form in (text, json.dumps(text)[1:-1], htmlsafe_json_dumps(text)[1:-1]))


def test_every_link_is_vendored_and_on_disk(region: Region, alerts: gpd.GeoDataFrame) -> None:
    html = build_map(region, alerts, demo_bounds=DEMO, image=("/imagery/demo.png", DEMO))
    links = LINK.findall(html)
    vendored = [u for u in links if u.startswith("/static/vendor/")]
    assert {u.rsplit("/", 1)[-1] for u in vendored} == {"leaflet.js", "leaflet.css", "jquery.min.js"}
    assert [u for u in links if not (u.startswith("/static/") or u.startswith("data:"))] == []
    for url in vendored:
        assert (WEB_DIR / url.removeprefix("/static/")).is_file(), url


def test_no_outside_url_anywhere_in_the_page(region: Region, alerts: gpd.GeoDataFrame) -> None:
    html = build_map(region, alerts, demo_bounds=DEMO, synthetic=True)
    assert "http://" not in html and "https://" not in html
    assert re.findall(r"//[\w.-]+\.[a-z]{2,}/", html) == []  # nor protocol-relative ones


def test_static_url_prefix_is_honoured(region: Region) -> None:
    html = build_map(region, None, static_url="/app/static/")
    assert "/app/static/vendor/leaflet/leaflet.js" in html
    assert "/static/vendor" not in html.replace("/app/static/vendor", "")


def test_vendored_files_licences_and_css_references_exist() -> None:
    for lib in LIBRARIES:
        assert (VENDOR_DIR / lib.name / lib.licence).is_file()
        for path in lib.files:
            assert (VENDOR_DIR / lib.name / lib.target(path)).is_file()
    for css in VENDOR_DIR.rglob("*.css"):
        for ref in re.findall(r"url\(['\"]?([^'\")]+)", css.read_text(encoding="utf-8")):
            if not ref.startswith(("#", "data:")):
                assert (css.parent / ref).is_file(), f"{css.name} needs {ref}"


def test_vendored_versions_are_those_folium_links() -> None:
    assert folium_expected_versions() == {lib.name: lib.version for lib in LIBRARIES if lib.resources}


def test_localize_refuses_what_is_not_vendored_and_leaves_folium_alone() -> None:
    defaults = list(folium.Map.default_js)
    m = folium.Map(tiles=None)
    folium.plugins.Fullscreen().add_to(m)
    with pytest.raises(ValueError, match="not vendored"):
        localize(m)
    m = folium.Map(tiles=None)
    folium.Marker([12, 108], icon=folium.Icon(color="red")).add_to(m)
    with pytest.raises(ValueError, match="awesome-markers"):
        localize(m)
    assert folium.Map.default_js == defaults


def test_vietnamese_by_default(region: Region, alerts: gpd.GeoDataFrame) -> None:
    html = build_map(region, alerts, demo_bounds=DEMO)
    assert html.startswith("<!DOCTYPE html>\n<html lang=\"vi\">")
    assert '<meta charset="utf-8">' in html and 'http-equiv="content-type"' not in html
    assert "<title>Giám sát mất rừng · Lâm Đồng</title>" in html
    for label in ("Độ tin cậy", "thấp", "cao", "rất cao", "3 cảnh báo"):  # legend and title bar: plain UTF-8
        assert label in html
    for label in ("Ngày phát hiện", "Diện tích (ha)", "Huyện", "Cảnh báo mất rừng (3)", "Huyện Lạc Dương",
                  "05/03/2024", "đã xác nhận"):
        assert _contains(html, label), label
    assert "Dữ liệu mô phỏng" not in html
    assert "First detected" not in html


def test_english_on_request(region: Region, alerts: gpd.GeoDataFrame) -> None:
    html = build_map(region, alerts, lang="en", synthetic=True)
    assert '<html lang="en">' in html
    for label in ("First detected", "Area (ha)", "District", "Forest-loss alerts (3)", "2024-03-05"):
        assert _contains(html, label), label
    assert "Synthetic demo data" in html
    with pytest.raises(ValueError, match="unknown language"):
        build_map(region, alerts, lang="fr")


def test_synthetic_banner(region: Region, alerts: gpd.GeoDataFrame) -> None:
    html = build_map(region, alerts, synthetic=True)
    assert '<span class="forestmon-synthetic">Dữ liệu mô phỏng (synthetic)</span>' in html


def test_popups_show_area_with_two_decimals(region: Region, alerts: gpd.GeoDataFrame) -> None:
    vi = build_map(region, alerts)
    en = build_map(region, alerts, lang="en")
    assert '"area": "1,23"' in vi and '"area": "5,00"' in vi and '"area": "12,35"' in vi  # decimal comma
    assert '"area": "1.23"' in en and '"area": "5.00"' in en and '"area": "12.35"' in en
    for field in ("date", "area", "confidence", "district", "id"):
        assert f'"{field}"' in vi
    assert f'"className": "{ALERT_CLASS}"' in vi


def test_alert_text_is_escaped(region: Region, alerts: gpd.GeoDataFrame) -> None:
    alerts.loc[0, "district"] = "<img src=x onerror=alert(1)>"
    html = build_map(region, alerts)
    assert "<img src=x" not in html
    assert _contains(html, "&lt;img src=x onerror=alert(1)&gt;")


def test_empty_alerts_and_other_crs(region: Region, alerts: gpd.GeoDataFrame) -> None:
    html = build_map(region, alerts.iloc[:0], demo_bounds=DEMO)
    assert "0 cảnh báo" in html and '"features": []' in html
    projected = build_map(region, alerts.to_crs(32648))
    assert "108.32" in projected


def test_fits_demo_area_else_province_and_stays_small(region: Region, alerts: gpd.GeoDataFrame) -> None:
    assert "[[12.01, 108.3], [12.1, 108.4]]" in build_map(region, alerts, demo_bounds=DEMO).replace("\n", "")
    html = build_map(region, alerts)
    west, south, east, north = region.province().total_bounds
    assert f"{south}" in html and f"{east}" in html
    assert len(html.encode()) < 250_000


def test_strings_have_the_same_keys_in_every_language() -> None:
    keys = {lang: set(strings) for lang, strings in STRINGS.items()}
    assert keys["vi"] == keys["en"]
