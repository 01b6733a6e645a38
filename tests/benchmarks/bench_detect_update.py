"""Benchmark: one weekly detection update over a Sentinel-2-tile-sized grid with a year of baseline state.

    .venv/bin/python tests/benchmarks/bench_detect_update.py [--size 10980] [--workdir DIR] [--unstaggered]

Builds (once, in the work directory) a synthetic update scene (B02-B12 and SCL, a third of it cloudy,
clearings cut into forest), ingests it onto the grid (analysis-ready tiles, as `forestmon ingest` does: the
province's 20 km tiles, about half the grid) and a detector state holding a year of baseline for every pixel
they cover (the rest of the grid was never observed: empty records); then measures, each in its own process so peak
memory is its own:
  - reference: merely reading the update's input rasters (the bands detection reads: B04, B08, B11, B12, SCL
    of the analysis-ready tiles) with rasterio, block by block, in one thread; three times (before, between
    and after the weeks), the median is the reference;
  - week: `run_detection` on that acquisition in a steady weekly cycle with a scene a week. The refit is
    staggered (geo.detect.plan): every week one group of windows in four (rows of windows in turn) reaches its
    refit day, so the run judges the scene everywhere (reads the baseline model, writes the flags), and in that
    quarter also learns it and the three scenes judged since the group's last refit (copies of the update's
    tiles dated 21, 14 and 7 days earlier) and writes that group's new sums and model; then builds the alert
    polygons and stores them. Each of the four weeks of a cycle is such a week (another group's quarter), so
    this is also the four-week average. It uses every core;
  - judge only: the same scene in a week where no group refits (what a weekly run cost before the stagger in
    three weeks of four);
  - with --unstaggered: every window refits in the same run (``refit_days`` 0 over the same four scenes: what
    the fourth week cost before the stagger).
Prints the times, the ratios to the reference, and each run's peak RSS (VmHWM) and CPU time. Targets: week
ratio <= 1.5 (judge-only weeks) / four-week average <= 3, peak RSS <= 3 GB. The default size is a full tile
(10980 px; the state is 62 bytes a pixel, ~20 GB of disk with the copies); --size 2048 gives a quick run. The
detector's compiled code is cached on disk by an untimed first run after the preparation (as by the first run
after an install); loading it is part of the timed runs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
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
from geo.detect.plan import STAGGER  # noqa: E402
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


STATES = ("state-week0", "state-week1", "state-week2", "state-week3", "state-judge", "state-unstaggered")
WAITING = (21, 14, 7)  # days before the update of the scenes judged since the last refit (the refit week)


def _state(workdir: Path, size: int) -> None:
    """A year of weekly clear observations of stable forest for every pixel of the update's tiles (the rest of
    the grid, outside the province's tiles, was never observed: empty records), learned through four weeks
    before the update: one strip of pixels, each with its own noisy history, folded for real and repeated down
    the grid (``state-files``, made once). The state folders share its model and sums (in one file of each kind,
    every refit group's): ``state-week<g>`` (group g's refit week: it learned through four weeks ago, the other
    groups through this week's scene), ``state-judge`` (every group refitted this week already) and
    ``state-unstaggered`` (every group learned through four weeks ago)."""
    from geo.datadir import StateDir
    from geo.detect import state as statefile

    grid = Grid.covering((X0, Y0 - size * 10, X0 + size * 10, Y0), "EPSG:32648", 10)
    shared = workdir / "state-files"
    names = {suffix: sorted(shared.glob(f"detector-*.{suffix}")) for suffix in ("model", "sums")}
    if all(len(found) == 1 for found in names.values()):  # made by an earlier preparation
        paths = tuple(names[suffix][0] for suffix in ("model", "sums"))
    else:
        last = UPDATE_DAY - timedelta(days=28)
        days = [last - timedelta(days=7 * k) for k in range(51, -1, -1)]
        rng = np.random.default_rng(1)
        strip = detect.new_state((min(256, size), size))
        for day in days:
            noise = rng.normal(0, 0.01, (2, *strip.shape)).astype(np.float32)
            detect.update(strip, day, 0.8 + noise[0], np.ones(strip.shape, bool), 0.6 + noise[1])
        shutil.rmtree(shared, ignore_errors=True)
        shared.mkdir()
        files = statefile.create(StateDir(shared), grid)
        imaged = _imaged(workdir, grid)
        for row in range(0, size, strip.shape[0]):
            rows = min(strip.shape[0], size - row)
            window = rasterio.windows.Window(0, row, size, rows)
            for f, part in zip(files, (strip.model, strip.sums), strict=True):
                f.write(window, np.where(imaged[row:row + rows], part[:rows], np.zeros(1, part.dtype)))
        for f in files:
            f.close()
        paths = tuple(f.path for f in files)
    # The weekly states share the record files; they differ in what each refit group has learned through.
    from geo.detect.plan import STAGGER
    from geo.region import load_region

    layout = statefile.Layout.of(grid, 512, load_region().tile_px)
    update = detect.day_number(UPDATE_DAY)
    four_weeks_ago = detect.day_number(UPDATE_DAY - timedelta(days=28))
    # the week of group g's refit: it learned through four weeks ago (the others are only judged this week)
    states = [(f"state-week{g}", tuple(four_weeks_ago if h == g else update for h in range(STAGGER)))
              for g in range(STAGGER)]
    states += [("state-judge", (update,) * STAGGER), ("state-unstaggered", (four_weeks_ago,) * STAGGER)]
    for name, learned in states:
        state_dir = workdir / name
        state_dir.mkdir(exist_ok=True)
        for path in paths:
            if not (state_dir / path.name).exists():
                os.link(path, state_dir / path.name)
        statefile.commit(StateDir(state_dir), grid, tuple(state_dir / path.name for path in paths),
                         statefile.FlagTable.empty(grid.width), learned, layout)
        grid.save(StateDir(state_dir).grid)


def _imaged(workdir: Path, grid: Grid) -> np.ndarray:
    """The grid's pixels inside the update's analysis-ready tiles (the province's 20 km tiles the scene touches):
    only they have ever been observed; the rest of the grid has empty records, as in a real state."""
    out = np.zeros((grid.height, grid.width), bool)
    for path in (workdir / "ard").rglob("*.tif"):
        with rasterio.open(path) as src:
            c0, r0 = (int(round(v)) for v in ~grid.transform * (src.bounds.left, src.bounds.top))
            out[max(r0, 0):r0 + src.height, max(c0, 0):c0 + src.width] = True
    return out


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
    if not all((workdir / name / "detector.vrt").exists() for name in STATES):
        _state(workdir, size)
    for name in STATES:  # the admin units on the grid, as the first run burns them
        state = StateDir(workdir / name)
        if not state.units.exists():
            units_raster(grid_units(load_region(), _grid(workdir)), _grid(workdir), state)


def _grid(workdir: Path) -> Grid:
    return Grid.from_json((workdir / "state-judge" / "grid.json").read_text())


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
    shutil.copy(workdir / ("catalogued.gpkg" if week == "judge" else "catalogued-refit.gpkg"), run_dir / "store.gpkg")
    store = open_store(run_dir / "store.gpkg")
    region = load_region()
    # state-week<g>: group g learned through four weeks ago, so this week's scene is past its refit day and it
    # refits; the unstaggered refit (refit_days 0): every window at once
    params = detect.DetectorParams(refit_days=0) if week == "unstaggered" else detect.DetectorParams()
    start, cpu = time.perf_counter(), time.process_time()
    run_detection(region, store, run_dir / "state", params=params)
    return time.perf_counter() - start, time.process_time() - cpu


def _peak_rss_mb() -> float:
    """This process's peak resident memory since its exec (VmHWM; ru_maxrss would count the parent's before it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(kind: str, workdir: Path) -> None:
    seconds, cpu = run_reference(workdir) if kind == "reference" else run_ours(workdir, kind)
    print(json.dumps({"seconds": seconds, "cpu": cpu, "peak_rss_mb": _peak_rss_mb()}))


def measure(kind: str, workdir: Path) -> dict:
    """One timed run in a process of its own, on an idle machine: the previous run's output is deleted and
    everything written before is on disk first (not written back by the system during this run)."""
    shutil.rmtree(workdir / "run", ignore_errors=True)
    os.sync()
    out = subprocess.run([sys.executable, __file__, "--child", kind, "--workdir", str(workdir)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=10980, help="grid width and height in pixels")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/forestmon-bench-detect"))
    parser.add_argument("--unstaggered", action="store_true", help="also time every window refitting at once")
    parser.add_argument("--child", choices=["reference", "week0", "week1", "week2", "week3", "judge", "unstaggered"],
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    workdir = args.workdir / str(args.size) if not args.child else args.workdir
    if args.child:
        _child(args.child, workdir)
        return
    t = time.perf_counter()
    prepare(workdir, args.size)
    measure("week0", workdir)  # untimed: compiles (and caches on disk) what a run uses, as the first run would
    print(f"prepared {args.size} x {args.size} px in {time.perf_counter() - t:.0f} s ({workdir})", flush=True)
    # The reference is read three times (first, between the weeks, last) and its median taken: one sample's
    # noise would otherwise shift every ratio of the run.
    refs = [measure("reference", workdir)]
    weeks = [measure(f"week{g}", workdir) for g in range(STAGGER // 2)]
    refs.append(measure("reference", workdir))
    weeks += [measure(f"week{g}", workdir) for g in range(STAGGER // 2, STAGGER)]
    runs = [(f"week {g + 1} (judge the scene; group {g}, {share:.0%} of the rows, also learns the 4 scenes it "
             f"judged and refits; polygons, store)", w) for g, (w, share) in enumerate(zip(weeks, shares(workdir),
                                                                                          strict=True))]
    runs.append(("judge only (no group refits: a run between refit days)", measure("judge", workdir)))
    if args.unstaggered:
        runs.append(("unstaggered refit (every window learns the 4 scenes and refits)", measure("unstaggered",
                                                                                                workdir)))
    refs.append(measure("reference", workdir))
    ref = sorted(refs, key=lambda r: r["seconds"])[1]
    samples = ", ".join(f"{r['seconds']:.2f}" for r in refs)
    print(f"reference (read the update's B04, B08, B11, B12, SCL): {ref['seconds']:.2f} s, the median of "
          f"{samples} (CPU {ref['cpu']:.2f} s), peak RSS "
          f"{ref['peak_rss_mb']:.0f} MB")
    for name, ours in runs:
        print(f"{name}: {ours['seconds']:.2f} s (CPU {ours['cpu']:.2f} s on {os.cpu_count()} cores), "
              f"peak RSS {ours['peak_rss_mb']:.0f} MB; ratio {ours['seconds'] / ref['seconds']:.2f}, "
              f"CPU ratio {ours['cpu'] / ref['cpu']:.2f}")
    ratios = [w["seconds"] / ref["seconds"] for w in weeks]
    judge = runs[STAGGER][1]["seconds"] / ref["seconds"]
    print(f"ratio weekly/reference = {min(ratios):.2f}-{max(ratios):.2f} (a refit week of each group), four-week "
          f"average {sum(ratios) / len(ratios):.2f} (target <= 3); judge only {judge:.2f} (target <= 1.5); "
          f"peak RSS {max(r['peak_rss_mb'] for _, r in runs) / 1024:.2f} GB (target <= 3 GB)")


def shares(workdir: Path) -> list[float]:
    """Each refit group's share of the grid's rows."""
    from geo.datadir import StateDir
    from geo.detect import state as statefile

    grid = _grid(workdir)
    layout = statefile.Layout.parse(dict(statefile._META.findall(StateDir(workdir / "state-judge").vrt.read_text()))
                                    ["STRIPES"])
    rows = layout.row_groups(grid.height)
    return [float((rows == g).mean()) for g in range(STAGGER)]


if __name__ == "__main__":
    main()
