"""The detector on a real Sentinel-2 series (stable deciduous forest, real clouds and snow): few false alarms."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from geo import detect

PATCH = Path(__file__).parents[1] / "data" / "eolearn_testpatch"


@pytest.fixture(scope="module")
def series():
    arrays = np.load(PATCH / "series.npz")
    ndvi = arrays["ndvi_x10000"].astype(np.float32) / 10000
    ndvi[arrays["ndvi_x10000"] == -32768] = np.nan
    days = [date.fromisoformat(t[:10]) for t in json.loads((PATCH / "timestamps.json").read_text())]
    clear = (arrays["clm"] == 0) & (arrays["is_data"] == 1)
    return days, ndvi, clear, arrays["lulc"] == 2


def test_high_confidence_false_alarms_cover_at_most_half_a_percent_of_the_forest(series):
    days, ndvi, clear, forest = series
    assert len(days) == 68 and forest.sum() == 7601
    state = detect.new_state(ndvi.shape[1:])
    for day, obs, ok in zip(days, ndvi, clear, strict=True):
        detect.update(state, day, obs, ok)
    confirmed = (state["status"] >= detect.HIGH) & forest
    assert confirmed.sum() / forest.sum() <= 0.005
    # The forest was watched, not skipped: nearly every forest pixel learned a full baseline.
    assert ((state["n"] >= detect.DetectorParams().min_obs) & forest).sum() / forest.sum() > 0.95
