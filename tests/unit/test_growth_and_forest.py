"""Alert growth within 30 days, forest layers and their categories, VN-2000 zone by location."""

from __future__ import annotations

from datetime import date, timedelta

import geopandas as gpd
import numpy as np
import pytest
from affine import Affine
from pyproj import CRS, Transformer
from shapely.geometry import Point, box

from geo import detect
from geo.detect import HIGH, LOW
from geo.detect.polygons import alert_pixels, alert_polygons, attach_admin, concat_pixels
from geo.forest import FOREST, PRODUCTION, PROTECTION, SPECIAL_USE, ForestLayer, category_code
from geo.region import load_region

UTM48N = CRS.from_epsg(32648)
GRID = Affine(10.0, 0.0, 860000.0, 0.0, -10.0, 1340000.0)


def dn(day: date) -> int:
    return detect.day_number(day)


def state(shape=(20, 20)):
    return detect.new_state(shape)


def mark(s, rows, cols, day, status=HIGH):
    s["status"][rows, cols] = status
    s["flag_day"][rows, cols] = dn(day)
    s["confirm_day"][rows, cols] = dn(day) + 10 if status >= HIGH else 0
    s["flag_hits"][rows, cols] = 2


def test_pixels_flagged_within_30_days_next_to_an_alert_grow_it_under_the_same_id():
    s = state()
    mark(s, slice(2, 6), slice(2, 6), date(2024, 3, 1))
    before = alert_polygons(s, GRID, UTM48N)
    mark(s, slice(6, 9), slice(2, 6), date(2024, 3, 25))  # 24 days later, adjacent
    after = alert_polygons(s, GRID, UTM48N)
    assert len(after) == 1
    assert after.iloc[0]["id"] == before.iloc[0]["id"]
    assert after.iloc[0]["area_ha"] == pytest.approx(0.28)
    assert after.iloc[0]["first_detected"] == "2024-03-01"


def test_a_clearing_next_to_an_old_alert_is_a_new_alert():
    s = state()
    mark(s, slice(2, 6), slice(2, 6), date(2024, 1, 1))
    mark(s, slice(6, 9), slice(2, 6), date(2024, 5, 1))  # four months later, adjacent
    out = alert_polygons(s, GRID, UTM48N, min_area_ha=0.05).sort_values("first_detected")
    assert list(out["first_detected"]) == ["2024-01-01", "2024-05-01"]
    assert list(out["area_ha"]) == pytest.approx([0.16, 0.12])


def test_a_clearing_growing_week_by_week_for_two_months_stays_one_alert():
    s = state((40, 10))
    for week in range(9):  # a strip advancing 3 rows a week
        mark(s, slice(3 * week, 3 * week + 3), slice(2, 6), date(2024, 2, 1) + timedelta(days=7 * week))
    out = alert_polygons(s, GRID, UTM48N)
    assert len(out) == 1 and out.iloc[0]["area_ha"] == pytest.approx(1.08)


def test_window_by_window_pixels_give_the_same_alerts_as_the_whole_state():
    s = state((30, 30))
    mark(s, slice(10, 20), slice(12, 18), date(2024, 3, 1))  # crosses the window edge at row 15 / col 15
    whole = alert_polygons(s, GRID, UTM48N)
    parts = [alert_pixels(s[r:r + 15, c:c + 15], r, c)
             for r in (0, 15) for c in (0, 15)]
    pieced = alert_polygons(None, GRID, UTM48N, pixels=concat_pixels(parts))
    assert list(pieced["id"]) == list(whole["id"])
    assert pieced.iloc[0].geometry.equals(whole.iloc[0].geometry)


@pytest.mark.parametrize(("value", "code"), [
    ("Rừng đặc dụng", SPECIAL_USE), ("RỪNG PHÒNG HỘ", PROTECTION), ("rung san xuat", PRODUCTION),
    ("protection", PROTECTION), ("Special-use forest", SPECIAL_USE), (3, PRODUCTION), ("rừng tự nhiên", FOREST),
    (None, FOREST),
])
def test_forest_category_names_in_vietnamese_and_english(value, code):
    assert category_code(value) == code


def test_forest_polygons_burn_onto_the_grid_with_their_category(tmp_path):
    layer = gpd.GeoDataFrame({"loai_rung": ["Rừng phòng hộ", "Rừng sản xuất"]},
                             geometry=[box(860000, 1339900, 860050, 1340000), box(860050, 1339900, 860100, 1340000)],
                             crs=UTM48N).to_crs(5899)  # a VN-2000 file: reprojected onto the grid
    path = tmp_path / "forest.gpkg"
    layer.to_file(path)
    codes = ForestLayer(path).codes(GRID, (12, 12), UTM48N)
    assert (codes[:10, :5] == PROTECTION).all() and (codes[:10, 5:10] == PRODUCTION).all()
    assert (codes[10:, :] == 0).all() and (codes[:, 10:] == 0).all()


def test_a_bad_forest_layer_is_named(tmp_path):
    bad = tmp_path / "forest.txt"
    bad.write_text("not a layer")
    with pytest.raises(Exception, match="forest.txt"):
        ForestLayer(bad)


def test_alerts_take_the_category_of_most_of_their_pixels():
    s = state()
    mark(s, slice(2, 6), slice(2, 6), date(2024, 3, 1))
    forest = np.zeros((20, 20), dtype=np.uint8)
    forest[2:6, 2:5] = SPECIAL_USE
    forest[2:6, 5:6] = PRODUCTION
    out = alert_polygons(None, GRID, UTM48N, pixels=alert_pixels(s, forest=forest),
                         categories={SPECIAL_USE: "special_use", PRODUCTION: "production"})
    assert out.iloc[0]["forest_category"] == "special_use"


def test_with_a_forest_layer_only_its_forest_is_watched():
    s = state((1, 2))
    rng = np.random.default_rng(1)
    day = date(2023, 1, 1)
    for k in range(40):  # a year of stable forest on both pixels
        d = date.fromordinal(day.toordinal() + 10 * k)
        detect.update(s, d, np.full((1, 2), 0.8) + rng.normal(0, 0.01, (1, 2)), np.ones((1, 2), bool),
                      forest=np.array([[1, 0]]))
    detect.update(s, date(2024, 3, 1), np.full((1, 2), 0.2), np.ones((1, 2), bool), forest=np.array([[1, 0]]))
    assert list(s["status"][0]) == [LOW, 0]


def test_vn2000_zone_goes_by_location():
    region = load_region()
    pts = gpd.GeoDataFrame({"id": ["inside", "outside"]},
                           geometry=[Point(108.44, 11.94).buffer(0.0005), Point(107.70, 12.40).buffer(0.0005)],
                           crs=4326).to_crs(UTM48N)  # Đà Lạt; Gia Nghĩa (former Đắk Nông)
    out = attach_admin(pts, region.units(), region.official_crs, region.province(), region.official_crs_alt)
    assert list(out["vn2000_epsg"]) == [5899, 9218]
    expect = Transformer.from_crs(4326, 9218, always_xy=True).transform(out.iloc[1]["centroid_lon"],
                                                                         out.iloc[1]["centroid_lat"])
    assert (out.iloc[1]["vn2000_x"], out.iloc[1]["vn2000_y"]) == pytest.approx(expect, abs=1e-6)
    assert out.iloc[1]["district"] is None or out.iloc[1]["district"] != out.iloc[1]["district"]


def _year_of_forest(s, ndmi_value=0.3):
    rng = np.random.default_rng(3)
    for k in range(40):
        d = date.fromordinal(date(2023, 1, 1).toordinal() + 10 * k)
        noise = rng.normal(0, 0.005, (1, 1))
        detect.update(s, d, 0.8 + noise, np.ones((1, 1), bool), None, ndmi=ndmi_value + noise)


def test_ndmi_raises_a_confirmed_alert_to_highest_when_nbr_is_absent():
    """With NDVI and NDMI (SWIR-1) but no NBR, three flags that NDMI agrees with make the alert highest."""
    s = state((1, 1))
    _year_of_forest(s)
    for day in (date(2024, 3, 1), date(2024, 3, 11), date(2024, 3, 21)):
        detect.update(s, day, np.array([[0.2]]), np.ones((1, 1), bool), None, ndmi=np.array([[-0.2]]))
    assert s["status"][0, 0] == detect.HIGHEST


def test_without_a_second_index_a_confirmed_alert_stays_high():
    s = state((1, 1))
    _year_of_forest(s)
    for day in (date(2024, 3, 1), date(2024, 3, 11), date(2024, 3, 21)):  # NDMI did not drop: it does not confirm
        detect.update(s, day, np.array([[0.2]]), np.ones((1, 1), bool), None, ndmi=np.array([[0.3]]))
    assert s["status"][0, 0] == detect.HIGH


def test_ndmi_missing_from_one_scene_is_not_used_for_that_pixel_again():
    s = state((1, 1))
    _year_of_forest(s)
    detect.update(s, date(2024, 2, 20), np.array([[0.8]]), np.ones((1, 1), bool), None, ndmi=np.array([[np.nan]]))
    assert s["ndmi_n"][0, 0] == s["n"][0, 0] - 1
    for day in (date(2024, 3, 1), date(2024, 3, 11), date(2024, 3, 21)):
        detect.update(s, day, np.array([[0.2]]), np.ones((1, 1), bool), None, ndmi=np.array([[-0.2]]))
    assert s["status"][0, 0] == detect.HIGH  # NDMI's baseline is incomplete: it cannot vouch
