"""The detector on the realistic cube (tests/realistic_cube.py), beside the JRC ``nrt`` package's CCDC on the same
cube in the same run: area-weighted recall and precision of high-confidence alerts of at least 0.3 ha, median
delay, and what each observation-quality signal adds (ablations).

    .venv/bin/python tests/benchmarks/bench_realistic.py [--size 1000] [--clearings 300] [--quick]

``--quick`` skips the ablations. Needs the ``bench`` extra (nrt).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

import realistic_cube as rc  # noqa: E402

from geo import cloudmask  # noqa: E402
from geo.detect import DetectorParams  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=1000)
    ap.add_argument("--dates", type=int, default=66)
    ap.add_argument("--clearings", type=int, default=300)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    cube = rc.make_cube(args.size, args.dates, args.clearings)
    print(f"cube {args.size}x{args.size} px, {args.dates} dates, {cube.clearing.max()} clearings, "
          f"forest {cube.forest.mean():.0%}")

    def quality(b, scl):
        return cloudmask.observation_quality(scl, b["B02"], b["B04"], b["B11"])

    runs = {"forestmon": (quality, DetectorParams(), cube.forest)}
    if not args.quick:
        runs |= {
            "own-forest": (quality, DetectorParams(), None),  # forest judged from each pixel's own history
            "scl-only": (lambda b, scl: cloudmask.scl_clear_mask(scl), DetectorParams(), cube.forest),
            "no-distance": (lambda b, scl: cloudmask.observation_quality(scl, b["B02"], b["B04"], b["B11"],
                                                                          near_px=0), DetectorParams(), cube.forest),
            "no-spectral": (lambda b, scl: cloudmask.observation_quality(scl), DetectorParams(), cube.forest),
            "no-haze-test": (lambda b, scl: cloudmask.observation_quality(scl, None, b["B04"], b["B11"]),
                             DetectorParams(), cube.forest),
            "no-snow-test": (lambda b, scl: cloudmask.observation_quality(scl, b["B02"], b["B04"], None),
                             DetectorParams(), cube.forest),
            "old-rule": (lambda b, scl: cloudmask.scl_clear_mask(scl), DetectorParams(confirm_hits=1), cube.forest),
        }
    for name, (q, params, forest) in runs.items():
        t0 = time.perf_counter()
        polygons = name == "forestmon"
        alert, d_obs, d_days, watched = rc.run_forestmon(cube, q, params, forest, polygons=polygons)
        print(rc.evaluate(cube, alert, d_obs, d_days).line(name + (" alerts" if polygons else "")),
              f"watched={watched:.3f} time={time.perf_counter() - t0:.0f}s", flush=True)
        if polygons:  # the same run, its pixels confirmed one by one
            print(rc.evaluate(cube, cube.stats["confirmed_pixels"], d_obs, d_days).line(name + " pixels"))
            print(f"leaked rims and haze: {cube.stats['leaked'] / cube.stats['clear']:.1%} of clear observations")
    t0 = time.perf_counter()
    alert, d_obs, d_days = rc.run_nrt(cube, cube.forest)
    print(rc.evaluate(cube, alert, d_obs, d_days).line("nrt-ccdc"), f"time={time.perf_counter() - t0:.0f}s")


if __name__ == "__main__":
    main()
