"""Benchmark: what each cloud signal does on a real Sentinel-2 series (the eo-learn patch in tests/data: stable
deciduous forest in Slovenia, real clouds and snow, 68 dates), where every alert in the forest is a false alarm.

    .venv/bin/python tests/benchmarks/bench_mask_signals.py

The patch carries Sentinel Hub's two s2cloudless layers, CLM (cloud mask) and CLP (cloud probability); it has no
SCL and no reflectance bands, so the spectral tests cannot run on it (their effect is measured on the realistic
cube, ``bench_realistic.py``). Each variant builds the mask as the tile writer would (``cloudmask.fold_clouds``),
then runs the detector over the series with the patch's forest class as the forest layer, and prints: the share
of observed pixel-dates masked, the share of the forest watched at the end, and the shares of the forest with a
first flag and with a high-confidence alert (false alarms; the test bar is 0.1%), and the forest's median NDVI
residual spread (the baseline's sigma: what a clearing must exceed, in units of it).
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from geo import cloudmask, detect  # noqa: E402
from geo.detect.model import NO_SIGMA, SD_UNIT  # noqa: E402

PATCH = ROOT / "tests" / "data" / "eolearn_testpatch"


def main() -> None:
    arrays = np.load(PATCH / "series.npz")
    ndvi = arrays["ndvi_x10000"].astype(np.float32) / 10000
    ndvi[arrays["ndvi_x10000"] == -32768] = np.nan
    days = [date.fromisoformat(t[:10]) for t in json.loads((PATCH / "timestamps.json").read_text())]
    forest = arrays["lulc"] == 2
    observed = arrays["is_data"] == 1
    clm, clp = arrays["clm"] == 1, arrays["clp"].astype(np.float32) / 255
    nothing = np.zeros_like(clm)
    variants = [
        ("no cloud mask", nothing, True),
        ("CLM", clm, True),
        ("CLM, no distance test", clm, False),
        ("CLP >= 0.4", clp >= 0.4 - 1e-6, True),
        ("CLM + CLP >= 0.4 (ingest's rule)", clm | (clp >= 0.4 - 1e-6), True),
        ("CLM + CLP >= 0.2", clm | (clp >= 0.2), True),
    ]
    print(f"eo-learn patch: {len(days)} dates, {forest.sum()} forest pixels, "
          f"{(~observed).mean():.1%} of pixel-dates without data")
    print(f"{'variant':36s} {'masked':>7s} {'watched':>8s} {'flagged':>8s} {'high':>7s} {'sigma':>6s}")
    for name, cloud, distance in variants:
        state = detect.new_state(ndvi.shape[1:])
        for day, obs, seen, cloudy in zip(days, ndvi, observed, cloud, strict=True):
            scl = np.where(seen, cloudmask.SCL_VEGETATION, cloudmask.SCL_NO_DATA).astype(np.uint8)
            cloudmask.fold_clouds(scl, cloudy)
            quality = cloudmask.observation_quality(scl, near_px=cloudmask.NEAR_CLOUD_PX if distance else 0)
            detect.update(state, day, obs, quality, forest=forest)
        watched = (state["ready_day"] != 0) & (state["ready_day"] <= detect.day_number(days[-1])) & forest
        flagged = (state["status"] > 0) & forest
        high = (state["status"] >= detect.HIGH) & forest
        n = forest.sum()
        sigma = state["ndvi_sigma"][forest & (state["ndvi_sigma"] != NO_SIGMA)]
        print(f"{name:36s} {cloud[observed].mean():7.1%} {watched.sum() / n:8.1%} {flagged.sum() / n:8.2%} "
              f"{high.sum() / n:7.2%} {np.median(sigma) * SD_UNIT:6.3f}")


if __name__ == "__main__":
    main()
