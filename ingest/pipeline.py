"""The pipeline runner: catalogue scenes, fold new ones into the detector state window by window, store alerts.

Re-running is safe: scenes are keyed by file, the state is replaced atomically once all windows are done,
each pixel ignores observations not newer than its last, and alerts are synced by their stable ids.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import rasterio
import rasterio.warp
from rasterio.features import rasterize
from shapely.geometry import box
from shapely.ops import unary_union

from geo import cloudmask, detect, indices
from geo.errors import InvalidInputError
from geo.forest import CATEGORY_NAMES, ForestLayer
from geo.polygons import PIXEL_FIELDS, alert_pixels, alert_polygons, attach_admin, concat_pixels
from geo.region import Region
from geo.store import Store
from ingest.grid import Grid
from ingest.local import SceneFile, find_files, open_scene, read_window

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]
WINDOW = 512


def _noop(label: str, done: int, total: int) -> None:
    if done == total or done % 10 == 0:
        log.info("%s: %d/%d", label, done, total)


@dataclass
class IngestResult:
    ok: list[dict]
    failed: list[dict]


def ingest_local(paths: list[Path], store: Store, grid: Grid | None = None, *,
                 band_map: dict[str, int] | None = None, progress: Progress = _noop) -> IngestResult:
    """Recognise scene files and record them in the catalogue; bad files are recorded as failed, by name."""
    files = find_files(paths)
    known = {s["path"]: s for s in store.scenes()}
    ok, failed = [], []
    for i, path in enumerate(files, start=1):
        key = str(path.resolve())
        if key in known and known[key]["status"] == "ok":
            ok.append(known[key])
            progress("catalogue", i, len(files))
            continue
        try:
            scene = open_scene(path, band_map)
            record = _catalogue_record(scene, grid)
            ok.append(record)
        except InvalidInputError as exc:
            record = {"id": f"failed-{path.name}", "path": key, "source": "local", "status": "failed",
                      "reason": str(exc), "processed": 0}
            failed.append(record)
            log.info("skipped %s", exc)
        store.upsert_scenes([record])
        progress("catalogue", i, len(files))
    return IngestResult(ok=ok, failed=failed)


def _catalogue_record(scene: SceneFile, grid: Grid | None) -> dict:
    with rasterio.open(scene.path) as src:
        # Cloud and valid shares from a decimated SCL read: cheap, and plenty for a catalogue figure.
        step = max(1, max(src.width, src.height) // 512)
        scl = src.read(scene.bands["SCL"], out_shape=(src.height // step, src.width // step),
                       resampling=rasterio.enums.Resampling.nearest)
    valid = float((cloudmask.scl_clear_mask(scl, buffer_px=0)).mean())
    return {"id": scene.id, "sensor": scene.sensor, "acquired": scene.acquired.isoformat(),
            "source": "local", "path": str(scene.path.resolve()),
            "cloud_pct": round(100 * cloudmask.cloud_fraction(scl), 2), "valid_fraction": round(valid, 4),
            "status": "ok", "reason": None, "processed": 0}


def grid_for(region: Region, store: Store, state_dir: Path) -> Grid:
    """The analysis grid of this data directory: fixed at the first detection run and saved beside the state.

    First time: the scenes' footprints on the region's grid, cut to the province's bounds.
    """
    saved = state_dir / "grid.json"
    if saved.exists():
        return Grid.from_json(saved.read_text())
    footprints = []
    for record in store.scenes("ok"):
        with rasterio.open(record["path"]) as src:
            footprints.append(box(*rasterio.warp.transform_bounds(src.crs, region.grid_crs, *src.bounds)))
    if not footprints:
        raise InvalidInputError("no usable scenes in the catalogue: run `forestmon ingest PATH` first")
    province = region.province().to_crs(region.grid_crs).total_bounds
    area = unary_union(footprints).intersection(box(*province))
    if area.is_empty:
        raise InvalidInputError(f"the scenes do not overlap the region {region.title}")
    return Grid.covering(area.bounds, region.grid_crs, region.resolution)


@dataclass
class DetectResult:
    scenes_processed: int
    alerts: int
    counts: dict[str, int]
    coverage: list[dict] = field(default_factory=list)


STATE_FILE, FOREST_FILE = "detector.tif", "forest.tif"


def _state_profile(grid: Grid, count: int, dtype: str) -> dict:
    return {"driver": "GTiff", "width": grid.width, "height": grid.height, "count": count, "dtype": dtype,
            "crs": grid.crs, "transform": grid.transform, "tiled": True, "blockxsize": WINDOW,
            "blockysize": WINDOW, "compress": "zstd", "zstd_level": 1, "interleave": "band", "BIGTIFF": "IF_SAFER"}


def _burn_forest(layer: ForestLayer, grid: Grid, path: Path) -> None:
    """The user's forest layer as category codes on the grid, kept beside the state for later runs."""
    tmp = path.with_suffix(".tmp.tif")
    with rasterio.open(tmp, "w", **_state_profile(grid, 1, "uint8"), nodata=None) as dst:
        for window in grid.windows(WINDOW):
            shape = (int(window.height), int(window.width))
            dst.write(layer.codes(grid.window_transform(window), shape, grid.crs), 1, window=window)
        dst.update_tags(SOURCE=str(layer.path), **{f"CODE_{k}": v for k, v in CATEGORY_NAMES.items()})
    os.replace(tmp, path)


def run_detection(region: Region, store: Store, state_dir: Path, *,
                  params: detect.DetectorParams = detect.DetectorParams(), min_area_ha: float = 0.1,
                  grid: Grid | None = None, forest_layer: Path | None = None,
                  progress: Progress = _noop) -> DetectResult:
    """Fold every catalogued scene not yet processed into the per-pixel state, then store the alerts.

    Works window by window (memory follows the window, not the area). With a ``forest_layer`` only its
    forest is monitored (it is kept for later runs); without one, forest is judged from each pixel's history.
    With exactly two scenes and no history, the two-date mode compares them (low confidence at most).
    Also records, for the run and each admin unit, the share of monitored forest seen cloud-free.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    grid = grid or grid_for(region, store, state_dir)
    grid.save(state_dir / "grid.json")
    forest_path = state_dir / FOREST_FILE
    if forest_layer is not None:
        _burn_forest(ForestLayer(forest_layer), grid, forest_path)
    records = [r for r in store.scenes("ok") if not r["processed"]]
    records.sort(key=lambda r: (r["acquired"], r["id"]))
    scenes = [open_scene(Path(r["path"])) for r in records]
    state_path, tmp_path = state_dir / STATE_FILE, state_dir / "detector.tmp.tif"
    two_date = len(scenes) == 2 and not state_path.exists() and len(store.scenes("ok")) == 2
    units = region.units().to_crs(grid.crs)
    units["geometry"] = units.geometry.clip_by_rect(*grid.bounds)  # rasterised per window: keep it small
    unit_forest = np.zeros(len(units) + 1)
    unit_seen = np.zeros(len(units) + 1)
    windows = list(grid.windows(WINDOW))
    if scenes:
        old = rasterio.open(state_path) if state_path.exists() else None
        forest_src = rasterio.open(forest_path) if forest_path.exists() else None
        try:
            with rasterio.open(tmp_path, "w", **_state_profile(grid, len(detect.STATE_BANDS), "float32"),
                               predictor=3) as dst:
                for i, name in enumerate(detect.STATE_BANDS, start=1):
                    dst.set_band_description(i, name)
                for w_i, window in enumerate(windows, start=1):
                    shape = (int(window.height), int(window.width))
                    if old is not None:
                        data = old.read(window=window)
                        state = {n: data[i] for i, n in enumerate(detect.STATE_BANDS)}
                    else:
                        state = detect.new_state(shape)
                    forest = forest_src.read(1, window=window) if forest_src is not None else None
                    if two_date:
                        seen = _compare(state, scenes, grid, window, params, forest)
                    else:
                        seen = np.zeros(shape, dtype=bool)
                        for scene in scenes:
                            seen |= _fold(state, scene, grid, window, params, forest)
                    dst.write(np.stack([state[n] for n in detect.STATE_BANDS]), window=window)
                    watched = detect.monitored(state)
                    unit_ids = _unit_raster(units, grid, window, shape)
                    unit_forest += np.bincount(unit_ids[watched], minlength=unit_forest.size)
                    unit_seen += np.bincount(unit_ids[watched & seen], minlength=unit_seen.size)
                    progress("detect", w_i, len(windows))
        finally:
            for src in (old, forest_src):
                if src is not None:
                    src.close()
        os.replace(tmp_path, state_path)
        store.upsert_scenes([{**r, "processed": 1} for r in records])
    if not state_path.exists():
        return DetectResult(0, 0, {"inserted": 0, "updated": 0, "removed": 0})

    coverage = []
    if scenes:
        pixel_ha = grid.resolution**2 / 10000
        for k, unit in enumerate(units.itertuples(), start=1):
            if unit_forest[k] > 0:
                coverage.append({"unit_id": unit.id, "unit": unit.name,
                                 "forest_ha": round(unit_forest[k] * pixel_ha, 2),
                                 "observed_ha": round(unit_seen[k] * pixel_ha, 2),
                                 "observed_share": round(unit_seen[k] / unit_forest[k], 4)})
        store.record_run({"first_scene": scenes[0].acquired.isoformat(), "last_scene": scenes[-1].acquired.isoformat(),
                          "scenes": len(scenes), "mode": "two-date" if two_date else "series"}, coverage)

    scene_ids = {date.fromisoformat(r["acquired"]): r["id"] for r in store.scenes("ok")}
    pixels = _gather_pixels(state_path, forest_path, grid)
    polygons = alert_polygons(None, grid.transform, grid.crs, min_area_ha=min_area_ha, scene_id=scene_ids.get,
                              pixels=pixels, categories=CATEGORY_NAMES)
    alerts = attach_admin(polygons, region.units(), region.official_crs, region.province(), region.official_crs_alt)
    counts = store.sync_alerts(alerts)
    log.info("detection: %d new scenes, %d alerts (%s)", len(scenes), len(alerts), counts)
    return DetectResult(scenes_processed=len(scenes), alerts=len(alerts), counts=counts, coverage=coverage)


def _unit_raster(units, grid: Grid, window, shape: tuple[int, int]) -> np.ndarray:
    """Admin unit of each pixel of the window: 1..n in the units' order, 0 outside them all."""
    pairs = [(g, k) for k, g in enumerate(units.geometry, start=1) if not g.is_empty]
    return rasterize(pairs, out_shape=shape, transform=grid.window_transform(window), fill=0, dtype="int32")


def _gather_pixels(state_path: Path, forest_path: Path, grid: Grid) -> dict[str, np.ndarray]:
    """Alert pixels of the whole state, read window by window: memory follows the alerts, not the area."""
    parts = []
    bands = [detect.STATE_BANDS.index(n) + 1 for n in PIXEL_FIELDS]
    forest_src = rasterio.open(forest_path) if forest_path.exists() else None
    try:
        with rasterio.open(state_path) as src:
            for window in grid.windows(WINDOW):
                data = src.read(bands, window=window)
                if not (data[0] > 0).any():
                    continue
                state = dict(zip(PIXEL_FIELDS, data, strict=True))
                forest = forest_src.read(1, window=window) if forest_src is not None else None
                parts.append(alert_pixels(state, int(window.row_off), int(window.col_off), forest))
    finally:
        if forest_src is not None:
            forest_src.close()
    return concat_pixels(parts)


def _indices(scene: SceneFile, grid: Grid, window) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    bands = read_window(scene, grid, window)
    clear = cloudmask.scl_clear_mask(bands["SCL"]) & np.isfinite(bands["B04"]) & np.isfinite(bands["B08"])
    return indices.ndvi(bands["B04"], bands["B08"]), indices.nbr(bands["B08"], bands["B12"]), clear


def _fold(state: dict[str, np.ndarray], scene: SceneFile, grid: Grid, window,
          params: detect.DetectorParams, forest: np.ndarray | None) -> np.ndarray:
    """Fold one scene's window into the state; returns where it saw clear land."""
    ndvi, nbr, clear = _indices(scene, grid, window)
    if clear.any():  # an all-cloud window, or one outside the scene, observes nothing: a no-op
        detect.update(state, scene.acquired, ndvi, clear, nbr, params, forest)
    return clear


def _compare(state: dict[str, np.ndarray], scenes: list[SceneFile], grid: Grid, window,
             params: detect.DetectorParams, forest: np.ndarray | None) -> np.ndarray:
    """Two-date mode on one window: the earlier scene is the baseline for the later one."""
    (nd0, _, clear0), (nd1, _, clear1) = (_indices(s, grid, window) for s in scenes)
    detect.before_after(state, scenes[0].acquired, scenes[1].acquired, nd0, nd1, clear0, clear1, params, forest)
    return clear1
