"""Benchmark: one weekly detection update over a Sentinel-2-tile-sized grid with a year of baseline state.

    .venv/bin/python tests/benchmarks/bench_detect_update.py [--size 10980] [--workdir DIR]

Builds (once, in the work directory) a synthetic update scene (B02-B12 and SCL, a third of it cloudy,
clearings cut into forest), ingests it onto the grid (analysis-ready tiles, as `forestmon ingest` does) and a
detector state holding a year of baseline for every pixel; then measures, each in its own process so peak
memory is its own:
  - reference: merely reading the update's input rasters (the bands detection reads: B04, B08, B11, B12, SCL
    of the analysis-ready tiles) with rasterio, block by block, in one thread;
  - weekly: `run_detection` on that acquisition in a week that judges it (reads the baseline model, writes the
    flags), builds the alert polygons and stores them; it uses every core;
  - refit week: the same in the week the baseline is refitted (with a scene a week, every fourth): it also
    learns this scene and the three judged since the last refit (copies of the update's tiles dated 21, 14
    and 7 days earlier) into the sums, and writes new sums and model.
Prints the times, the ratios to the reference, and each run's peak RSS and CPU time. Targets:
weekly ratio <= 1.5, peak RSS <= 3 GB. The default size is a full tile (10980 px; the state is 78 bytes a
pixel and a refit writes a new one, so it needs ~22 GB of disk); --size 2048 gives a quick run. The
detector's compiled code is cached on disk by the preparation step (as by the first run after an install);
loading it is part of the timed run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.transform import from_origin

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from geo import detect  # noqa: E402
from geo.grid import Grid  # noqa: E402

X0, Y0 = 840000.0, 1340000.0  # Lâm Hà and Lạc Dương (inside Lâm Đồng), on the 20 km tile grid
UPDATE_DAY = date(2024, 3, 5)
BANDS = ("B02", "B03", "B04", "B08", "B11", "B12", "SCL")


def _scene(path: Path, size: int) -> None:
    rng = np.random.default_rng(5)
    profile = {"driver": "COG", "width": size, "height": size, "count": 7, "dtype": "uint16", "nodata": 0,
               "crs": "EPSG:32648", "transform": from_origin(X0, Y0, 10, 10), "compress": "deflate",
               "predictor": 2, "blocksize": 512, "BIGTIFF": "IF_SAFER"}
    forest = np.array([250, 500, 300, 3100, 1500, 700, 4], dtype=np.float32)
    soil = np.array([900, 1200, 1500, 2100, 2900, 2300, 5], dtype=np.float32)
    tmp = path.with_suffix(".tmp.tif")
    # A COG is written whole by GDAL: build it in row strips through a temporary tiled GeoTIFF.
    strip = 512
    gtiff = {**profile, "driver": "GTiff", "tiled": True, "blockxsize": 512, "blockysize": 512}
    gtiff.pop("blocksize")
    with rasterio.open(tmp, "w", **gtiff) as dst:
        for r in range(0, size, strip):
            h = min(strip, size - r)
            cut = rng.random((h, size)) < 0.002
            data = np.where(cut[None], soil[:, None, None], forest[:, None, None])
            data[:6] *= rng.normal(1, 0.015, (6, h, size)).astype(np.float32)
            cloud = (np.arange(size)[None, :] + r + np.arange(h)[:, None]) % 3000 < 1000
            data[6][cloud] = 9
            dst.write(data.astype(np.uint16), window=rasterio.windows.Window(0, r, size, h))
        dst.descriptions = BANDS
        dst.update_tags(ACQUISITION_DATE=UPDATE_DAY.isoformat())
    with rasterio.open(tmp) as src:
        rasterio.shutil.copy(src, path, **{k: v for k, v in profile.items() if k not in ("width", "height", "count",
                                                                                          "dtype", "crs", "transform")})
    tmp.unlink()


WAITING = (21, 14, 7)  # days before the update of the scenes judged since the last refit (the refit week)


def _state(workdir: Path, size: int) -> None:
    """A year of weekly clear observations of stable forest for every pixel, learned through four weeks before
    the update: one strip of pixels, each with its own noisy history, folded for real and repeated down the
    grid. Two state folders share its model and sums: ``state-weekly`` (every earlier scene learned: a week
    that only judges) and ``state-refit`` (the scenes of the last three weeks judged, not yet learned: the
    week the baseline is refitted, every fourth)."""
    from geo.datadir import StateDir
    from geo.detect import state as statefile

    grid = Grid.covering((X0, Y0 - size * 10, X0 + size * 10, Y0), "EPSG:32648", 10)
    last = UPDATE_DAY - timedelta(days=28)
    days = [last - timedelta(days=7 * k) for k in range(51, -1, -1)]
    rng = np.random.default_rng(1)
    strip = detect.new_state((min(256, size), size))
    for day in days:
        noise = rng.normal(0, 0.01, (2, *strip.shape)).astype(np.float32)
        detect.update(strip, day, 0.8 + noise[0], np.ones(strip.shape, bool), 0.6 + noise[1])
    shared = workdir / "state-files"
    shared.mkdir(exist_ok=True)
    files = statefile.create(StateDir(shared), grid)
    for row in range(0, size, strip.shape[0]):
        rows = min(strip.shape[0], size - row)
        window = rasterio.windows.Window(0, row, size, rows)
        for f, part in zip(files, (strip.model, strip.second, strip.sums), strict=True):
            f.write(window, part[:rows])
    for f in files:
        f.close()
    for name, through in (("state-weekly", UPDATE_DAY - timedelta(days=WAITING[-1])), ("state-refit", last)):
        state_dir = workdir / name
        state_dir.mkdir(exist_ok=True)
        for f in files:
            os.link(f.path, state_dir / f.path.name)
        statefile.commit(StateDir(state_dir), grid, tuple(state_dir / f.path.name for f in files),
                         statefile.FlagTable.empty(grid.width), detect.day_number(through))
        grid.save(StateDir(state_dir).grid)


def _waiting_scenes(workdir: Path) -> None:
    """The refit week's catalogue: the update's tiles, and copies of them dated 21, 14 and 7 days earlier,
    catalogued as judged by earlier runs."""
    import shutil

    from geo.store import open_store

    store = open_store(workdir / "catalogued.gpkg")
    update = store.scenes("ok")
    records = []
    for days in WAITING:
        day = UPDATE_DAY - timedelta(days=days)
        for r in update:
            path = Path(r["path"])
            copy = workdir / f"ard-{day:%Y%m%d}" / path.parent.name / path.name.replace(
                f"{UPDATE_DAY:%Y%m%d}", f"{day:%Y%m%d}")
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, copy)
            with rasterio.open(copy, "r+", IGNORE_COG_LAYOUT_BREAK="YES") as dst:  # (tags only)
                dst.update_tags(ACQUISITION_DATE=day.isoformat())
            records.append({**r, "id": r["id"].replace(f"{UPDATE_DAY:%Y%m%d}", f"{day:%Y%m%d}"), "path": str(copy),
                            "acquired": day.isoformat(), "acquired_time": f"{day.isoformat()}T00:00:00+00:00",
                            "acquisition": r["acquisition"].replace(f"{UPDATE_DAY:%Y%m%d}", f"{day:%Y%m%d}"),
                            "processed": 1})
    store.close()
    shutil.copy(workdir / "catalogued.gpkg", workdir / "catalogued-refit.tmp.gpkg")
    store = open_store(workdir / "catalogued-refit.tmp.gpkg")
    store.upsert_scenes(records)
    store.close()
    (workdir / "catalogued-refit.tmp.gpkg").rename(workdir / "catalogued-refit.gpkg")


def prepare(workdir: Path, size: int) -> None:
    from geo.datadir import StateDir
    from geo.detect.coverage import grid_units, units_raster
    from geo.region import load_region
    from geo.store import open_store
    from ingest.catalogue import ingest_local

    workdir.mkdir(parents=True, exist_ok=True)
    scene = workdir / f"update_{UPDATE_DAY:%Y%m%d}.tif"
    if not scene.exists():
        _scene(scene, size)
    template = workdir / "catalogued.gpkg"
    if not template.exists():  # the update ingested once: its tiles are the update's input rasters
        store = open_store(workdir / "catalogued.tmp.gpkg")
        ingest_local([scene], store, load_region(), workdir / "ard")
        store.close()
        (workdir / "catalogued.tmp.gpkg").rename(template)
    if not (workdir / "catalogued-refit.gpkg").exists():
        _waiting_scenes(workdir)
    if not (workdir / "state-refit" / "detector.vrt").exists():
        _state(workdir, size)
    for name in ("state-weekly", "state-refit"):  # the admin units on the grid, as the first run burns them
        state = StateDir(workdir / name)
        if not state.units.exists():
            units_raster(grid_units(load_region(), _grid(workdir)), _grid(workdir), state)
    if not (workdir / "state-weekly" / "coverage.npz").exists():
        _previous_week(workdir)


def _previous_week(workdir: Path) -> None:
    """The coverage counts a weekly run leaves for the next (``coverage.npz``: the monitored forest of the windows
    with no alert), from a run on a scratch copy of the weekly state."""
    import shutil

    from geo.detect.run import run_detection
    from geo.region import load_region
    from geo.store import open_store

    scratch = workdir / "scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.copytree(workdir / "state-weekly", scratch / "state", copy_function=os.link)
    shutil.copy(workdir / "catalogued.gpkg", scratch / "store.gpkg")
    run_detection(load_region(), open_store(scratch / "store.gpkg"), scratch / "state")
    shutil.copy(scratch / "state" / "coverage.npz", workdir / "state-weekly" / "coverage.npz")
    shutil.rmtree(scratch)


def _grid(workdir: Path) -> Grid:
    return Grid.from_json((workdir / "state-weekly" / "grid.json").read_text())


def run_reference(workdir: Path) -> tuple[float, float]:
    tiles = sorted((workdir / "ard").rglob("*.tif"))
    start, cpu = time.perf_counter(), time.process_time()
    for path in tiles:
        with rasterio.open(path) as src:
            bands = [src.descriptions.index(b) + 1 for b in ("B04", "B08", "B11", "B12", "SCL")]
            for _, window in src.block_windows(1):
                src.read(bands, window=window)
    return time.perf_counter() - start, time.process_time() - cpu


def run_ours(workdir: Path, week: str) -> tuple[float, float]:
    import shutil

    from geo.detect.run import run_detection
    from geo.region import load_region
    from geo.store import open_store

    run_dir = workdir / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    (run_dir / "state").mkdir(parents=True)
    for path in (workdir / f"state-{week}").iterdir():  # a run writes new state files, never edits the current
        os.link(path, run_dir / "state" / path.name)
    shutil.copy(workdir / ("catalogued-refit.gpkg" if week == "refit" else "catalogued.gpkg"), run_dir / "store.gpkg")
    store = open_store(run_dir / "store.gpkg")
    region = load_region()
    start, cpu = time.perf_counter(), time.process_time()
    run_detection(region, store, run_dir / "state")
    return time.perf_counter() - start, time.process_time() - cpu


def _child(kind: str, workdir: Path) -> None:
    seconds, cpu = run_reference(workdir) if kind == "reference" else run_ours(workdir, kind)
    print(json.dumps({"seconds": seconds, "cpu": cpu,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def measure(kind: str, workdir: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", kind, "--workdir", str(workdir)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=10980, help="grid width and height in pixels")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/forestmon-bench-detect"))
    parser.add_argument("--child", choices=["reference", "weekly", "refit"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    workdir = args.workdir / str(args.size) if not args.child else args.workdir
    if args.child:
        _child(args.child, workdir)
        return
    t = time.perf_counter()
    prepare(workdir, args.size)
    print(f"prepared {args.size} x {args.size} px in {time.perf_counter() - t:.0f} s ({workdir})")
    ref = measure("reference", workdir)
    weekly = measure("weekly", workdir)
    refit = measure("refit", workdir)
    print(f"reference (read the update's B04, B08, B11, B12, SCL): {ref['seconds']:.2f} s "
          f"(CPU {ref['cpu']:.2f} s), peak RSS {ref['peak_rss_mb']:.0f} MB")
    for name, ours in (("weekly update (judge the scene, polygons, store)", weekly),
                       ("refit week (also learn it and the 3 scenes judged before, refit)", refit)):
        print(f"{name}: {ours['seconds']:.2f} s (CPU {ours['cpu']:.2f} s on {os.cpu_count()} cores), "
              f"peak RSS {ours['peak_rss_mb']:.0f} MB")
    ratio = weekly["seconds"] / ref["seconds"]
    print(f"ratio weekly/reference = {ratio:.2f} (target <= 1.5), CPU ratio {weekly['cpu'] / ref['cpu']:.2f}; "
          f"peak RSS {weekly['peak_rss_mb'] / 1024:.2f} GB (target <= 3 GB)")
    print(f"ratio refit week/reference = {refit['seconds'] / ref['seconds']:.2f}, peak RSS "
          f"{refit['peak_rss_mb'] / 1024:.2f} GB; over four weeks (three weekly, one refit): "
          f"{(3 * weekly['seconds'] + refit['seconds']) / 4 / ref['seconds']:.2f}")


if __name__ == "__main__":
    main()
