"""The pipeline runner: catalogue scenes, fold new ones into the detector state window by window, store alerts.

Re-running is safe: scenes are keyed by file, the state is replaced atomically once all windows are done,
each pixel ignores observations not newer than its last, and alerts are synced by their stable ids.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import rasterio
import rasterio.warp
from shapely.geometry import box
from shapely.ops import unary_union

from geo import cloudmask, detect, indices, review
from geo.errors import InvalidInputError
from geo.polygons import alert_polygons, attach_admin
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


def run_detection(region: Region, store: Store, state_dir: Path, *,
                  params: detect.DetectorParams = detect.DetectorParams(), min_area_ha: float = 0.1,
                  grid: Grid | None = None, progress: Progress = _noop) -> DetectResult:
    """Fold every catalogued scene not yet processed into the per-pixel state, then store the alerts."""
    state_dir.mkdir(parents=True, exist_ok=True)
    grid = grid or grid_for(region, store, state_dir)
    grid.save(state_dir / "grid.json")
    records = [r for r in store.scenes("ok") if not r["processed"]]
    records.sort(key=lambda r: (r["acquired"], r["id"]))
    scenes = [open_scene(Path(r["path"])) for r in records]
    state_path = state_dir / "detector.tif"
    tmp_path = state_dir / "detector.tmp.tif"
    profile = {"driver": "GTiff", "width": grid.width, "height": grid.height, "count": len(detect.STATE_BANDS),
               "dtype": "float32", "crs": grid.crs, "transform": grid.transform, "tiled": True,
               "blockxsize": WINDOW, "blockysize": WINDOW, "compress": "deflate", "predictor": 3,
               "interleave": "band", "BIGTIFF": "IF_SAFER"}
    windows = list(grid.windows(WINDOW))
    if scenes:
        old = rasterio.open(state_path) if state_path.exists() else None
        try:
            with rasterio.open(tmp_path, "w", **profile) as dst:
                for i, name in enumerate(detect.STATE_BANDS, start=1):
                    dst.set_band_description(i, name)
                for w_i, window in enumerate(windows, start=1):
                    shape = (int(window.height), int(window.width))
                    if old is not None:
                        data = old.read(window=window)
                        state = {n: data[i] for i, n in enumerate(detect.STATE_BANDS)}
                    else:
                        state = detect.new_state(shape)
                    for scene in scenes:
                        _fold(state, scene, grid, window, params)
                    dst.write(np.stack([state[n] for n in detect.STATE_BANDS]), window=window)
                    progress("detect", w_i, len(windows))
        finally:
            if old is not None:
                old.close()
        os.replace(tmp_path, state_path)
        store.upsert_scenes([{**r, "processed": 1} for r in records])
    if not state_path.exists():
        return DetectResult(0, 0, {"inserted": 0, "updated": 0, "removed": 0})

    scene_ids = {date.fromisoformat(r["acquired"]): r["id"] for r in store.scenes("ok")}
    with rasterio.open(state_path) as src:
        needed = ("status", "flag_day", "confirm_day", "flag_drop", "flag_hits", "before_day")
        state = {n: src.read(detect.STATE_BANDS.index(n) + 1) for n in needed}
    polygons = alert_polygons(state, grid.transform, grid.crs, min_area_ha=min_area_ha,
                              scene_id=scene_ids.get)
    alerts = attach_admin(polygons, region.units(), region.official_crs)
    counts = store.sync_alerts(alerts)
    assigned = review.auto_assign(store)  # new alerts go to the rangers of their admin units
    log.info("detection: %d new scenes, %d alerts (%s); assigned %s", len(scenes), len(alerts), counts, assigned)
    return DetectResult(scenes_processed=len(scenes), alerts=len(alerts), counts=counts)


def _fold(state: dict[str, np.ndarray], scene: SceneFile, grid: Grid, window,
          params: detect.DetectorParams) -> None:
    bands = read_window(scene, grid, window)
    clear = cloudmask.scl_clear_mask(bands["SCL"])
    if not clear.any():
        return  # all cloud or outside the scene: nothing observed in this window
    ndvi = indices.ndvi(bands["B04"], bands["B08"])
    nbr = indices.nbr(bands["B08"], bands["B12"])
    detect.update(state, scene.acquired, ndvi, clear, nbr, params)
