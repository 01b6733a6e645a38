"""Alert pixels to alert polygons (8-connected groups, minimum area, ids, dates) and the admin/VN-2000 attributes."""

from __future__ import annotations

from datetime import date

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from affine import Affine
from pyproj import CRS, Geod, Transformer
from pyproj.crs import CoordinateOperation

from geo import detect
from geo.detect import HIGH, HIGHEST, LOW
from geo.detect.polygons import alert_polygons, attach_admin
from geo.region import load_region

UTM48N = CRS.from_epsg(32648)
X0, Y0 = 860000.0, 1340000.0
GRID = Affine(10.0, 0.0, X0, 0.0, -10.0, Y0)  # 10 m pixels, north up
EPOCH = date(1970, 1, 1)
D1, D2, D3 = date(2024, 3, 4), date(2024, 3, 14), date(2024, 3, 24)

# EPSG:6960 "VN-2000 to WGS 84 (2)": 7-parameter Helmert (coordinate frame rotation), from the Vietnamese
# decision 05/2007/QĐ-BTNMT. Translations in metres, rotations in arc-seconds, scale in ppm.
EPSG_6960 = dict(x=-191.90441429, y=-39.30318279, z=-111.45032835,
                 rx=-0.00928836, ry=0.01975479, rz=-0.00427372, s=0.252906278)
HELMERT = " ".join(f"+{k}={v}" for k, v in EPSG_6960.items()) + " +convention=coordinate_frame"
# EPSG:5899 VN-2000 / TM-3 107-45 (the former Lâm Đồng zone), on the WGS 84 ellipsoid.
TM3_107_45 = "+proj=tmerc +lat_0=0 +lon_0=107.75 +k=0.9999 +x_0=500000 +y_0=0 +ellps=WGS84"


def dn(day: date) -> int:
    return (day - EPOCH).days


def state_with(shape, pixels, status=HIGH, flag=D1, confirm=D2, hits=2, drop=0.6):
    """A detector state with ``pixels`` ((row, col) list or boolean mask) set to an alert."""
    s = detect.new_state(shape)
    return add(s, pixels, status, flag, confirm, hits, drop)


def add(s, pixels, status=HIGH, flag=D1, confirm=D2, hits=2, drop=0.6):
    mask = pixels if isinstance(pixels, np.ndarray) else np.zeros(s["status"].shape, dtype=bool)
    if not isinstance(pixels, np.ndarray):
        for r, c in pixels:
            mask[r, c] = True
    s["status"][mask] = status
    s["flag_day"][mask] = dn(flag)
    s["confirm_day"][mask] = dn(confirm) if status >= HIGH else 0
    s["flag_hits"][mask] = hits
    s["flag_drop"][mask] = drop
    return s


def block(shape, rows: slice, cols: slice) -> np.ndarray:
    m = np.zeros(shape, dtype=bool)
    m[rows, cols] = True
    return m


# ---------------------------------------------------------------------------------------------------------
# alert_polygons


def test_block_of_4x5_pixels_is_one_polygon_of_0_20_ha():
    s = state_with((10, 10), block((10, 10), slice(2, 6), slice(3, 8)))
    out = alert_polygons(s, GRID, UTM48N)
    assert len(out) == 1
    row = out.iloc[0]
    assert row["area_ha"] == pytest.approx(0.20, abs=1e-12)
    assert row["confidence"] == "high"
    # rows 2..5, cols 3..7 -> x 860030..860080, y 1339940..1339980
    expected = shapely.box(X0 + 30, Y0 - 60, X0 + 80, Y0 - 20)
    assert row.geometry.geom_type == "MultiPolygon"
    assert row.geometry.equals(expected)
    assert out.crs == UTM48N


def test_empty_state_gives_empty_frame_with_columns():
    out = alert_polygons(detect.new_state((5, 5)), GRID, UTM48N)
    assert len(out) == 0
    assert {"id", "confidence", "first_detected", "confirmed", "area_ha", "geometry"} <= set(out.columns)
    assert out.crs == UTM48N


@pytest.mark.parametrize(("min_area_ha", "kept"), [(0.1, 0), (0.03, 1), (0.01, 1)])
def test_three_pixel_blob_and_minimum_area(min_area_ha, kept):
    s = state_with((6, 6), [(1, 1), (1, 2), (2, 2)])  # 3 x 100 m² = 0.03 ha
    out = alert_polygons(s, GRID, UTM48N, min_area_ha=min_area_ha)
    assert len(out) == kept
    if kept:
        assert out.iloc[0]["area_ha"] == pytest.approx(0.03, abs=1e-12)


@pytest.mark.parametrize(("npix", "kept"), [(9, 0), (10, 1)])
def test_minimum_area_boundary_is_inclusive(npix, kept):
    s = state_with((3, 12), [(1, c) for c in range(npix)])
    assert len(alert_polygons(s, GRID, UTM48N, min_area_ha=0.1)) == kept


def test_diagonal_touching_blobs_form_one_alert():
    s = state_with((8, 8), block((8, 8), slice(1, 3), slice(1, 3)) | block((8, 8), slice(3, 5), slice(3, 5)))
    out = alert_polygons(s, GRID, UTM48N, min_area_ha=0.05)  # each blob alone (0.04 ha) is too small
    assert len(out) == 1
    assert out.iloc[0]["area_ha"] == pytest.approx(0.08, abs=1e-12)


def test_diagonal_touching_blobs_give_a_valid_geometry():
    s = state_with((8, 8), block((8, 8), slice(1, 3), slice(1, 3)) | block((8, 8), slice(3, 5), slice(3, 5)))
    geom = alert_polygons(s, GRID, UTM48N, min_area_ha=0.01).iloc[0].geometry
    assert shapely.is_valid(geom), shapely.is_valid_reason(geom)


def test_blobs_one_pixel_apart_are_two_alerts():
    s = state_with((8, 8), block((8, 8), slice(1, 3), slice(1, 3)) | block((8, 8), slice(1, 3), slice(4, 6)))
    out = alert_polygons(s, GRID, UTM48N, min_area_ha=0.01)
    assert len(out) == 2
    assert sorted(out["area_ha"]) == pytest.approx([0.04, 0.04])


def test_id_from_earliest_flagged_pixel():
    s = state_with((10, 10), block((10, 10), slice(3, 6), slice(3, 8)), flag=D2, confirm=D3)
    add(s, [(4, 5)], flag=D1, confirm=D3)  # the seed: flagged first
    out = alert_polygons(s, GRID, UTM48N)
    # centre of (row 4, col 5): x = 860055, y = 1339955 -> 86005, 133995 (10 m units)
    assert out.iloc[0]["id"] == "20240304-086005-0133995"
    assert out.iloc[0]["first_detected"] == "2024-03-04"


def test_id_stable_when_alert_grows():
    shape = (12, 12)
    s = state_with(shape, block(shape, slice(4, 7), slice(4, 8)), flag=D2, confirm=D3)
    add(s, [(5, 6)], flag=D1, confirm=D2)  # the one earliest pixel
    before = alert_polygons(s, GRID, UTM48N).iloc[0]["id"]
    assert before == "20240304-086006-0133994"  # centre of (row 5, col 6): (860065, 1339945)
    # later-flagged pixels to the north-west (earlier in scan order) and to the south-east
    add(s, block(shape, slice(1, 4), slice(1, 5)), flag=D2, confirm=D3)
    add(s, block(shape, slice(7, 10), slice(6, 10)), flag=D3, confirm=D3)
    after = alert_polygons(s, GRID, UTM48N)
    assert len(after) == 1
    assert after.iloc[0]["id"] == before
    assert after.iloc[0]["area_ha"] == pytest.approx((12 + 12 + 12) * 0.01)


def _tied_growth_scenarios(count=40, seed=0):
    """Alerts whose first scene flagged a whole rectangle at once, then grew by two later-flagged rows."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        n = int(rng.integers(12, 48))
        r0, c0 = (int(v) for v in rng.integers(1, n // 2, 2))
        h, w = (int(v) for v in rng.integers(2, n // 2 - 1, 2))
        yield (n, n), (slice(r0, r0 + h), slice(c0, c0 + w)), (slice(r0 + h, r0 + h + 2), slice(c0, c0 + w))




def test_id_stable_when_alert_grows_after_a_many_pixel_first_flag():
    changed = []
    for shape, first, grown in [((23, 23), (slice(9, 11), slice(7, 12)), (slice(11, 13), slice(7, 12))),
                                *_tied_growth_scenarios()]:
        s = state_with(shape, block(shape, *first), flag=D1, confirm=D2)
        before = alert_polygons(s, GRID, UTM48N, min_area_ha=0.01).iloc[0]["id"]
        add(s, block(shape, *grown), flag=D2, confirm=D3)
        after = alert_polygons(s, GRID, UTM48N, min_area_ha=0.01)
        assert len(after) == 1
        if after.iloc[0]["id"] != before:
            changed.append((shape, first, before, after.iloc[0]["id"]))
    assert not changed


def test_id_unchanged_by_another_alert_elsewhere_in_the_window():
    shape = (40, 40)
    changed = []
    for h, w in [(5, 7), (3, 4), (6, 6), (4, 9), (8, 3)]:
        s = state_with(shape, block(shape, slice(5, 5 + h), slice(5, 5 + w)), flag=D1, confirm=D2)
        before = alert_polygons(s, GRID, UTM48N, min_area_ha=0.01).iloc[0]["id"]
        add(s, block(shape, slice(30, 35), slice(30, 35)), flag=D3, confirm=D3)  # unrelated, later
        after = alert_polygons(s, GRID, UTM48N, min_area_ha=0.01)
        assert len(after) == 2
        if before not in set(after["id"]):
            changed.append(((h, w), before, sorted(after["id"])))
    assert not changed


def test_dates_first_detected_confirmed_last_update():
    shape = (6, 6)
    s = state_with(shape, [(1, 1), (1, 2)], status=LOW, flag=D1)
    add(s, [(2, 1)], status=HIGH, flag=D2, confirm=D3)
    add(s, [(2, 2)], status=HIGHEST, flag=D2, confirm=date(2024, 3, 19))
    row = alert_polygons(s, GRID, UTM48N, min_area_ha=0.01).iloc[0]
    assert row["first_detected"] == "2024-03-04"   # earliest flag
    assert row["confirmed"] == "2024-03-19"        # earliest confirmation among confirmed pixels
    assert row["last_update"] == "2024-03-24"      # latest flag or confirmation


def test_unconfirmed_alert_has_no_confirmed_date():
    s = state_with((5, 5), [(1, 1), (1, 2)], status=LOW, hits=1, drop=0.3)
    row = alert_polygons(s, GRID, UTM48N, min_area_ha=0.01).iloc[0]
    assert row["confidence"] == "low"
    assert row["confirmed"] is None
    assert row["last_update"] == "2024-03-04"


@pytest.mark.parametrize(("statuses", "expected"), [
    ((LOW, LOW, LOW, LOW), "low"),
    ((HIGH, LOW, LOW, LOW), "high"),           # one confirmed pixel is a whole mapping unit here (0.01 ha)
    ((HIGH, HIGHEST, LOW, LOW), "highest"),
    ((HIGHEST, LOW, LOW, LOW), "highest"),
    ((HIGHEST, HIGH, HIGH, HIGH), "highest"),
])
def test_confidence_is_the_highest_level_held_by_a_mapping_unit(statuses, expected):
    s = detect.new_state((4, 6))
    for col, st in enumerate(statuses):
        add(s, [(1, col + 1)], status=st)
    assert alert_polygons(s, GRID, UTM48N, min_area_ha=0.01).iloc[0]["confidence"] == expected


def test_a_growing_alert_is_confirmed_once_a_mapping_unit_of_it_is():
    s = detect.new_state((10, 10))
    add(s, block((10, 10), slice(0, 2), slice(0, 5)), status=HIGH, flag=D1, confirm=D2)   # 10 px = 0.1 ha
    add(s, block((10, 10), slice(2, 8), slice(0, 5)), status=LOW, flag=D2, hits=1)        # 30 px newer, low
    row = alert_polygons(s, GRID, UTM48N).iloc[0]
    assert (row["confidence"], row["confirmed"]) == ("high", "2024-03-14")
    add(s, block((10, 10), slice(0, 1), slice(0, 5)), status=LOW, flag=D1, hits=1)        # now 5 px confirmed
    row = alert_polygons(s, GRID, UTM48N).iloc[0]
    assert (row["confidence"], row["confirmed"]) == ("low", None)


def test_mean_drop_is_per_hit():
    s = state_with((4, 4), [(1, 1)], hits=2, drop=0.6)   # 0.3 per hit
    add(s, [(1, 2)], status=LOW, hits=1, drop=0.2)        # 0.2
    row = alert_polygons(s, GRID, UTM48N, min_area_ha=0.01).iloc[0]
    assert row["mean_drop"] == pytest.approx(0.25, abs=1e-6)


def test_scene_ids_before_and_after():
    s = state_with((4, 4), [(1, 1)])
    add(s, [(1, 2)], flag=D2, confirm=D3)  # (1, 1) is the seed: flagged first
    s["before_day"][1, 1] = dn(date(2024, 2, 23))
    s["before_day"][1, 2] = dn(date(2024, 3, 4))
    row = alert_polygons(s, GRID, UTM48N, min_area_ha=0.01, scene_id=lambda d: f"S2_{d:%Y%m%d}").iloc[0]
    assert row["scene_before"] == "S2_20240223"
    assert row["scene_after"] == "S2_20240304"


def test_one_km_square_is_100_ha_and_matches_geodesic_area():
    s = state_with((100, 100), np.ones((100, 100), dtype=bool))
    row = alert_polygons(s, GRID, UTM48N).iloc[0]
    assert row["area_ha"] == pytest.approx(100.0, abs=1e-9)
    lonlat = gpd.GeoSeries([row.geometry], crs=UTM48N).to_crs(4326).iloc[0]
    geodesic_ha = abs(Geod(ellps="WGS84").geometry_area_perimeter(lonlat)[0]) / 10000
    assert geodesic_ha == pytest.approx(100.0, rel=0.005)
    # UTM scale 360.5 km east of the central meridian: k ≈ 0.9996·(1 + x²/(2R²)) ≈ 1.00120, areas scale by k²
    x = (X0 + 500 - 500000) / 0.9996
    k = 0.9996 * (1 + x * x / (2 * 6378137.0 ** 2))
    assert geodesic_ha == pytest.approx(100.0 / k ** 2, rel=5e-4)


# ---------------------------------------------------------------------------------------------------------
# attach_admin: district and centroid in WGS 84 and VN-2000


# A 60 m x 60 m alert around 108.44E 11.94N (inside Đà Lạt city); UTM 48N of that point ≈ (874765, 1322249).
DL_GRID = Affine(10.0, 0.0, 874700.0, 0.0, -10.0, 1322300.0)
DL_CENTROID = (874760.0, 1322250.0)  # rows 2..7, cols 3..8


@pytest.fixture(scope="module")
def region():
    return load_region()


def _dalat_alert():
    s = state_with((12, 12), block((12, 12), slice(2, 8), slice(3, 9)))
    return alert_polygons(s, DL_GRID, UTM48N)


def _lacduong_alert():
    # around 108.35E 12.05N (Lạc Dương), UTM ≈ (864990, 1332690)
    grid = Affine(10.0, 0.0, 864900.0, 0.0, -10.0, 1332800.0)
    s = state_with((12, 12), block((12, 12), slice(4, 8), slice(4, 8)), status=LOW)
    return alert_polygons(s, grid, UTM48N)


def test_dalat_alert_gets_the_dalat_district(region):
    out = attach_admin(_dalat_alert(), region.units(), region.official_crs)
    assert out.iloc[0]["district"] == "Thành phố Đà Lạt"
    assert out.iloc[0]["district_id"] == "672"
    assert out.crs.to_epsg() == 4326
    assert out.iloc[0]["status"] == "new"
    assert out.iloc[0]["vn2000_epsg"] == 5899


def test_districts_follow_their_rows(region):
    alerts = pd.concat([_lacduong_alert(), _dalat_alert()], ignore_index=True)
    out = attach_admin(gpd.GeoDataFrame(alerts, crs=UTM48N), region.units(), region.official_crs)
    assert out["district"].tolist() == ["Huyện Lạc Dương", "Thành phố Đà Lạt"]
    assert out["district_id"].tolist() == ["675", "672"]


def test_alert_outside_the_province_has_no_district(region):
    # 109.2E 12.25N is in Khánh Hòa, east of Lâm Đồng; UTM ≈ (956600, 1355000)
    grid = Affine(10.0, 0.0, 956600.0, 0.0, -10.0, 1355000.0)
    s = state_with((12, 12), block((12, 12), slice(2, 8), slice(2, 8)))
    out = attach_admin(alert_polygons(s, grid, UTM48N), region.units(), region.official_crs)
    assert pd.isna(out.iloc[0]["district"]) and pd.isna(out.iloc[0]["district_id"])


def test_centroid_lonlat_is_the_inverse_utm_of_the_pixel_block_centre(region):
    out = attach_admin(_dalat_alert(), region.units(), region.official_crs)
    inv_utm = Transformer.from_pipeline("+proj=pipeline +step +inv +proj=utm +zone=48 +ellps=WGS84")
    lon, lat = inv_utm.transform(*DL_CENTROID)
    assert out.iloc[0]["centroid_lon"] == pytest.approx(lon, abs=1e-9)
    assert out.iloc[0]["centroid_lat"] == pytest.approx(lat, abs=1e-9)
    assert out.iloc[0]["centroid_lon"] == pytest.approx(108.44, abs=0.001)
    assert out.iloc[0]["centroid_lat"] == pytest.approx(11.94, abs=0.001)


def test_helmert_constants_are_those_of_epsg_6960():
    # cross-check the test's hand-written parameters against the EPSG database shipped with PROJ
    op = CoordinateOperation.from_epsg(6960)
    assert op.name == "VN-2000 to WGS 84 (2)"
    values = [p.value for p in op.params]
    assert values == pytest.approx(list(EPSG_6960.values()), abs=1e-12)
    assert "Coordinate Frame" in op.method_name


def test_vn2000_centroid_matches_explicit_7_parameter_pipeline(region):
    out = attach_admin(_dalat_alert(), region.units(), region.official_crs)
    # UTM 48N -> geographic -> geocentric -> inverse of VN-2000→WGS 84 Helmert -> geographic -> TM-3 107°45'
    pipeline = Transformer.from_pipeline(
        "+proj=pipeline +step +inv +proj=utm +zone=48 +ellps=WGS84 +step +proj=cart +ellps=WGS84 "
        f"+step +inv +proj=helmert {HELMERT} +step +inv +proj=cart +ellps=WGS84 +step {TM3_107_45}")
    ex, ey = pipeline.transform(*DL_CENTROID)
    assert abs(out.iloc[0]["vn2000_x"] - ex) < 0.05
    assert abs(out.iloc[0]["vn2000_y"] - ey) < 0.05
    # and it is not the ballpark (no datum shift), which is off by the size of the Helmert shift
    ballpark = Transformer.from_pipeline(
        f"+proj=pipeline +step +inv +proj=utm +zone=48 +ellps=WGS84 +step {TM3_107_45}")
    bx, by = ballpark.transform(*DL_CENTROID)
    assert np.hypot(ex - bx, ey - by) > 50
    assert np.hypot(out.iloc[0]["vn2000_x"] - bx, out.iloc[0]["vn2000_y"] - by) > 50


def test_wgs84_to_vn2000_transformer_uses_epsg_6960_not_a_ballpark():
    # attach_admin builds its transformer this way; check what PROJ picks for a point in Lâm Đồng
    t = Transformer.from_crs(4326, CRS.from_user_input("EPSG:5899"), always_xy=True)
    t.transform(108.44, 11.94)
    used = t.get_last_used_operation()
    assert "VN-2000 to WGS 84 (2)" in used.description
    assert "allpark" not in used.description
    assert used.accuracy == pytest.approx(1.0)
