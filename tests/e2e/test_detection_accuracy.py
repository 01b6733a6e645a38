"""Issue 4's acceptance on the demo's known truth: accuracy, every clearing found fast, no false causes."""

from __future__ import annotations

from datetime import date

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import rasterio

from geo.cloudmask import SCL_CLOUDY, SCL_NO_DATA
from geo.evaluate import accuracy
from ingest.synthetic import COFFEE, CROPS, GREENHOUSE, TOWN, WATER

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def results(demo_run):
    assert demo_run["proc"].returncode == 0, demo_run["proc"].stderr[-2000:]
    d = demo_run["data_dir"]
    alerts = pyogrio.read_dataframe(d / "forestmon.gpkg", layer="alerts").to_crs(32648)
    scenes = pyogrio.read_dataframe(d / "forestmon.gpkg", layer="scenes", read_geometry=False)
    truth = gpd.read_file(d / "demo" / "truth.gpkg")
    return alerts, scenes[scenes["status"] == "ok"].sort_values("acquired"), truth, d


def test_area_weighted_precision_and_recall_at_least_0_9_for_clearings_of_0_3_ha(results):
    alerts, scenes, truth, _ = results
    last = date.fromisoformat(scenes["acquired"].max())
    score = accuracy(alerts, truth, "EPSG:32648", until=last, min_truth_ha=0.3)
    assert score.precision >= 0.9 and score.recall >= 0.9, score


def test_every_clearing_of_half_a_hectare_or_more_is_found(results):
    alerts, _, truth, _ = results
    big = truth[truth["area_ha"] >= 0.5]
    assert len(big) >= 10
    missed = [int(t.id) for t in big.itertuples() if not alerts.intersects(t.geometry).any()]
    assert not missed


def test_median_delay_is_at_most_two_valid_observations(results):
    """Count the clear observations of each clearing from its start to its first alert (1 = the first one)."""
    alerts, scenes, truth, _ = results
    delays = []
    for t in truth.itertuples():
        hit = alerts[alerts.intersects(t.geometry)]
        if hit.empty:
            continue
        first = hit["first_detected"].min()
        x, y = t.geometry.representative_point().coords[0]
        valid = 0
        for s in scenes.itertuples():
            if t.start_date <= s.acquired <= first:
                with rasterio.open(s.path) as src:
                    scl = next(src.sample([(x, y)], indexes=7))[0]
                valid += scl not in (*SCL_CLOUDY, SCL_NO_DATA)
        delays.append(valid)
    assert len(delays) == len(truth)
    assert np.median(delays) <= 2, delays


def test_no_alert_comes_from_clouds_shadows_or_non_forest(results):
    alerts, _, truth, d = results
    cleared = truth.union_all()
    for a in alerts.itertuples():  # every alert lies on a real clearing...
        assert a.geometry.intersection(cleared).area / a.geometry.area >= 0.9, a.id
    with rasterio.open(d / "demo" / "landcover.tif") as src:  # ...and none on crops, coffee, town, water
        lc = src.read(1)
        from rasterio.features import rasterize
        alerted = rasterize(alerts.geometry, out_shape=lc.shape, transform=src.transform) > 0
    assert not np.isin(lc[alerted], (CROPS, COFFEE, TOWN, GREENHOUSE, WATER)).any()
