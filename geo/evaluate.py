"""Accuracy of alerts against ground truth: area-weighted precision and recall, clearings found, delays."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import geopandas as gpd
import numpy as np
from pyproj import CRS


@dataclass
class Accuracy:
    precision: float         # share of alerted area that is truly cleared
    recall: float            # share of cleared area that is alerted
    found: int               # clearings touched by an alert
    total: int               # clearings that happened before the last observation
    missed: list[int]        # ids of clearings not touched by any alert
    median_delay_days: float | None  # clearing start to first detection, over found clearings

    def line(self) -> str:
        return f"recall={self.recall:.3f} precision={self.precision:.3f}"


def accuracy(alerts: gpd.GeoDataFrame, truth: gpd.GeoDataFrame, crs: CRS, *, until: date | None = None,
             min_truth_ha: float = 0.0) -> Accuracy:
    """Compare alert polygons with truth polygons (``start_date`` column) in the projected ``crs``.

    Only clearings that started on or before ``until`` (the last observation) and are at least
    ``min_truth_ha`` count; alerts overlapping smaller clearings are neither right nor wrong.
    """
    truth = truth.to_crs(crs)
    if until is not None:
        truth = truth[truth["start_date"].astype(str).str[:10] <= until.isoformat()]
    small = truth[truth.geometry.area / 10000 < min_truth_ha]
    truth = truth[truth.geometry.area / 10000 >= min_truth_ha]
    alerts = alerts.to_crs(crs)
    alert_union = alerts.geometry.union_all() if len(alerts) else None
    truth_union = truth.geometry.union_all() if len(truth) else None
    alert_area = alert_union.area if alert_union is not None else 0.0
    if alert_union is not None and len(small):
        alert_area -= alert_union.intersection(small.geometry.union_all()).area
    hit = alert_union.intersection(truth_union).area if alert_union is not None and truth_union is not None else 0.0
    truth_area = truth_union.area if truth_union is not None else 0.0
    found, missed, delays = 0, [], []
    for row in truth.itertuples():
        touching = alerts[alerts.intersects(row.geometry)] if len(alerts) else alerts
        if len(touching):
            found += 1
            first = min(date.fromisoformat(str(d)[:10]) for d in touching["first_detected"])
            delays.append((first - date.fromisoformat(str(row.start_date)[:10])).days)
        else:
            missed.append(int(row.id))
    return Accuracy(
        precision=hit / alert_area if alert_area > 0 else (1.0 if truth_area == 0 else 0.0),
        recall=hit / truth_area if truth_area > 0 else 1.0,
        found=found, total=len(truth), missed=missed,
        median_delay_days=float(np.median(delays)) if delays else None,
    )
