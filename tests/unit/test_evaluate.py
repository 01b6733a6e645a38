"""Accuracy against ground truth: exact area-weighted precision/recall, the ``until`` cut, missed ids, delays."""

from __future__ import annotations

from datetime import date

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from pyproj import CRS

from geo.evaluate import accuracy

UTM48N = CRS.from_epsg(32648)
X0, Y0 = 860000.0, 1330000.0


def sq(x: float, y: float, w: float, h: float | None = None):
    """A rectangle with its lower-left corner (x, y) metres from the origin."""
    return shapely.box(X0 + x, Y0 + y, X0 + x + w, Y0 + y + (w if h is None else h))


def truth_frame(rows):
    """rows: (id, start_date, geometry)"""
    return gpd.GeoDataFrame({"id": [r[0] for r in rows], "start_date": [r[1] for r in rows]},
                            geometry=[r[2] for r in rows], crs=UTM48N)


def alert_frame(rows):
    """rows: (id, first_detected, geometry)"""
    return gpd.GeoDataFrame({"id": [r[0] for r in rows], "first_detected": [r[1] for r in rows]},
                            geometry=[r[2] for r in rows], crs=UTM48N)


# Two 1 ha clearings; alert A covers the right half of T1 and as much outside it, alert B a quarter of T2.
T1 = (1, "2024-03-01", sq(0, 0, 100))
T2 = (2, "2024-03-05", sq(300, 0, 100))
A = ("a", "2024-03-11", sq(50, 0, 100))       # 1 ha, 0.5 ha of it on T1      -> delay 10 days
B = ("b", "2024-03-25", sq(300, 0, 50))       # 0.25 ha, all of it on T2      -> delay 20 days


def test_two_squares_exact_precision_and_recall():
    acc = accuracy(alert_frame([A, B]), truth_frame([T1, T2]), UTM48N)
    # hit 0.5 + 0.25 = 0.75 ha; alerted 1.25 ha; cleared 2 ha
    assert acc.precision == pytest.approx(0.75 / 1.25, abs=1e-12)
    assert acc.recall == pytest.approx(0.75 / 2.0, abs=1e-12)
    assert (acc.found, acc.total, acc.missed) == (2, 2, [])


def test_median_delay_in_days():
    acc = accuracy(alert_frame([A, B]), truth_frame([T1, T2]), UTM48N)
    assert acc.median_delay_days == 15.0  # median of 10 and 20


def test_median_delay_of_odd_count():
    t3 = (3, "2024-03-01", sq(600, 0, 100))
    c = ("c", "2024-04-30", sq(600, 0, 100))  # 60 days
    acc = accuracy(alert_frame([A, B, c]), truth_frame([T1, T2, t3]), UTM48N)
    assert acc.median_delay_days == 20.0  # median of 10, 20, 60


def test_delay_uses_the_earliest_touching_alert():
    early = ("e", "2024-03-04", sq(0, 0, 20))  # 3 days after T1 started
    acc = accuracy(alert_frame([A, early]), truth_frame([T1]), UTM48N)
    assert acc.median_delay_days == 3.0


def test_missed_clearing_ids_are_listed():
    t3 = (3, "2024-02-01", sq(600, 0, 100))
    t4 = (4, "2024-02-15", sq(900, 0, 50))
    acc = accuracy(alert_frame([A, B]), truth_frame([T1, T2, t3, t4]), UTM48N)
    assert acc.missed == [3, 4]
    assert (acc.found, acc.total) == (2, 4)
    assert acc.recall == pytest.approx(0.75 / (2.0 + 1.0 + 0.25), abs=1e-12)
    assert acc.precision == pytest.approx(0.6, abs=1e-12)


def test_truth_after_until_is_excluded():
    t3 = (3, "2024-04-02", sq(600, 0, 100))  # starts the day after the last observation
    acc = accuracy(alert_frame([A, B]), truth_frame([T1, T2, t3]), UTM48N, until=date(2024, 4, 1))
    assert (acc.found, acc.total, acc.missed) == (2, 2, [])
    assert acc.recall == pytest.approx(0.375, abs=1e-12)


def test_truth_starting_on_until_is_included():
    t3 = (3, "2024-04-01", sq(600, 0, 100))
    acc = accuracy(alert_frame([A, B]), truth_frame([T1, T2, t3]), UTM48N, until=date(2024, 4, 1))
    assert acc.total == 3 and acc.missed == [3]
    assert acc.recall == pytest.approx(0.75 / 3.0, abs=1e-12)


def test_without_until_all_truth_counts():
    t3 = (3, "2030-01-01", sq(600, 0, 100))
    assert accuracy(alert_frame([A, B]), truth_frame([T1, T2, t3]), UTM48N).total == 3


def test_small_clearings_are_neither_right_nor_wrong():
    small = (5, "2024-03-01", sq(1000, 0, 20))          # 0.04 ha, below min_truth_ha
    on_small = ("s", "2024-03-10", sq(1000, 0, 20))     # an alert exactly on it
    acc = accuracy(alert_frame([A, B, on_small]), truth_frame([T1, T2, small]), UTM48N, min_truth_ha=0.1)
    assert acc.precision == pytest.approx(0.6, abs=1e-12)   # its 0.04 ha do not count against the alerts
    assert acc.recall == pytest.approx(0.375, abs=1e-12)
    assert (acc.found, acc.total, acc.missed) == (2, 2, [])


def test_overlapping_alerts_are_not_counted_twice():
    duplicate = ("a2", "2024-03-12", sq(50, 0, 100))
    acc = accuracy(alert_frame([A, duplicate, B]), truth_frame([T1, T2]), UTM48N)
    assert acc.precision == pytest.approx(0.6, abs=1e-12)
    assert acc.recall == pytest.approx(0.375, abs=1e-12)


def test_alerts_in_wgs84_are_compared_in_the_projected_crs():
    alerts = alert_frame([A, B]).to_crs(4326)
    acc = accuracy(alerts, truth_frame([T1, T2]), UTM48N)
    assert acc.precision == pytest.approx(0.6, abs=1e-6)
    assert acc.recall == pytest.approx(0.375, abs=1e-6)


def test_no_alerts():
    acc = accuracy(alert_frame([]), truth_frame([T1, T2]), UTM48N)
    assert (acc.precision, acc.recall, acc.found, acc.total) == (0.0, 0.0, 0, 2)
    assert acc.missed == [1, 2]
    assert acc.median_delay_days is None


def test_no_alerts_and_no_truth_is_perfect():
    acc = accuracy(alert_frame([]), truth_frame([]), UTM48N)
    assert (acc.precision, acc.recall, acc.found, acc.total, acc.missed) == (1.0, 1.0, 0, 0, [])


def test_alerts_without_truth_have_zero_precision():
    acc = accuracy(alert_frame([A]), truth_frame([]), UTM48N)
    assert acc.precision == 0.0 and acc.recall == 1.0


def test_line_formats_recall_and_precision():
    acc = accuracy(alert_frame([A, B]), truth_frame([T1, T2]), UTM48N)
    assert acc.line() == "recall=0.375 precision=0.600"


def test_truth_with_datetime_start_dates():
    truth = truth_frame([T1, T2])
    truth["start_date"] = pd.to_datetime(truth["start_date"])
    acc = accuracy(alert_frame([A, B]), truth, UTM48N, until=date(2024, 4, 1))
    assert acc.median_delay_days == 15.0
