"""The detection run: fold every catalogued scene not yet processed into the detector state, window by window
in parallel threads, then turn the pixels in alert into polygons and store them.

Re-running is safe: the state is replaced atomically once all windows are done, each pixel ignores
observations not newer than its last, and alerts are synced by their stable ids.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import rasterio.warp
import rasterio.windows
import shapely
from rasterio.features import rasterize
from rasterio.windows import Window
from shapely.geometry import box
from shapely.ops import unary_union

from geo import cloudmask, indices
from geo.detect import model as detect
from geo.detect import state as statefile
from geo.detect.polygons import alert_polygons, attach_admin, concat_pixels, flag_pixels
from geo.errors import InvalidInputError
from geo.forest import CATEGORY_NAMES, ForestLayer
from geo.grid import Grid
from geo.memory import keep_freed_memory
from geo.progress import Progress, log_progress
from geo.region import Region
from geo.scenes import SceneFile, grid_footprint, open_scene, read_dn, read_window
from geo.store import Store

log = logging.getLogger(__name__)
WINDOW = 512


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


FOREST_FILE, UNITS_FILE = "forest.tif", "units.tif"


def _grid_profile(grid: Grid, count: int, dtype: str) -> dict:
    return {"driver": "GTiff", "width": grid.width, "height": grid.height, "count": count, "dtype": dtype,
            "crs": grid.crs, "transform": grid.transform, "tiled": True, "blockxsize": WINDOW,
            "blockysize": WINDOW, "compress": "zstd", "zstd_level": 1, "interleave": "band", "BIGTIFF": "IF_SAFER"}


def _burn_forest(layer: ForestLayer, grid: Grid, path: Path) -> None:
    """The user's forest layer as category codes on the grid, kept beside the state for later runs."""
    tmp = path.with_suffix(".tmp.tif")
    with rasterio.open(tmp, "w", **_grid_profile(grid, 1, "uint8"), nodata=None) as dst:
        for window in grid.windows(WINDOW):
            shape = (int(window.height), int(window.width))
            dst.write(layer.codes(grid.window_transform(window), shape, grid.crs), 1, window=window)
        dst.update_tags(SOURCE=str(layer.path), **{f"CODE_{k}": v for k, v in CATEGORY_NAMES.items()})
    os.replace(tmp, path)


def grid_units(region: Region, grid: Grid) -> gpd.GeoDataFrame:
    """The region's admin units in the grid's CRS, cut to the grid."""
    units = region.units().to_crs(grid.crs)
    units["geometry"] = units.geometry.clip_by_rect(*grid.bounds)
    return units


def units_raster(units, grid: Grid, path: Path) -> Path:
    """The admin units on the grid (1..n in the units' order, 0 outside them all), burnt once and kept beside the
    state for coverage counts; burnt again when the units or the grid change."""
    digest = hashlib.sha1(grid.to_json().encode())
    for unit in units.itertuples():
        digest.update(f"{unit.id}|".encode() + shapely.to_wkb(unit.geometry))
    key = digest.hexdigest()
    if path.exists():
        with rasterio.open(path) as src:
            if src.tags().get("UNITS_KEY") == key:
                return path
    shapes = [(g, k) for k, g in enumerate(units.geometry, start=1) if not g.is_empty]
    tmp = path.with_suffix(".tmp.tif")
    with rasterio.Env(GDAL_CACHEMAX=512), \
            rasterio.open(tmp, "w", **_grid_profile(grid, 1, "uint16"), nodata=None) as dst:
        for window in grid.windows(WINDOW):
            area = box(*rasterio.windows.bounds(window, grid.transform))
            inside = [k for g, k in shapes if g.contains(area)]
            shape = (int(window.height), int(window.width))
            if inside or not any(g.intersects(area) for g, _ in shapes):
                codes = np.full(shape, inside[0] if inside else 0, np.uint16)
            else:
                codes = rasterize(shapes, out_shape=shape, transform=grid.window_transform(window), fill=0,
                                  dtype="uint16")
            dst.write(codes, 1, window=window)
        dst.update_tags(UNITS_KEY=key, **{f"UNIT_{k}": unit.id for k, unit in enumerate(units.itertuples(), start=1)})
    os.replace(tmp, path)
    return path


def run_detection(region: Region, store: Store, state_dir: Path, *,
                  params: detect.DetectorParams = detect.DetectorParams(), min_area_ha: float = 0.1,
                  grid: Grid | None = None, forest_layer: Path | None = None,
                  progress: Progress = log_progress, threads: int | None = None) -> DetectResult:
    """Fold every catalogued scene not yet processed into the per-pixel state, then store the alerts.

    Works window by window, ``threads`` windows at a time (default: one per core; memory follows the windows
    in flight, not the area). With a ``forest_layer`` only its forest is monitored (it is kept for later
    runs); without one, forest is judged from each pixel's history. With exactly two scenes and no history,
    the two-date mode compares them (low confidence at most). Also records, for the run and each admin unit,
    the share of monitored forest seen cloud-free. One run at a time per state folder: a second one stops
    with a clear message rather than overwrite the first one's state.
    """
    # A small GDAL block cache: every block is decoded once and never read again, and a large cache only
    # costs the fresh memory it fills (a third of the time of reading a tile's bands).
    with statefile.locked(state_dir), rasterio.Env(GDAL_CACHEMAX=64):
        return _detect(region, store, state_dir, params=params, min_area_ha=min_area_ha, grid=grid,
                       forest_layer=forest_layer, progress=progress, threads=threads)


def _detect(region: Region, store: Store, state_dir: Path, *,
            params: detect.DetectorParams = detect.DetectorParams(), min_area_ha: float = 0.1,
            grid: Grid | None = None, forest_layer: Path | None = None,
            progress: Progress = log_progress, threads: int | None = None) -> DetectResult:
    state_dir.mkdir(parents=True, exist_ok=True)
    grid = grid or grid_for(region, store, state_dir)
    grid.save(state_dir / "grid.json")
    forest_path = state_dir / FOREST_FILE
    if forest_layer is not None:
        _burn_forest(ForestLayer(forest_layer), grid, forest_path)
    catalogued = sorted(store.scenes("ok"), key=lambda r: (r["acquired"], r["id"]))
    records = [r for r in catalogued if not r["processed"]]
    old = statefile.open_state(state_dir, grid)
    learned_through = old.learned_through if old is not None else 0
    # Scenes judged by earlier runs and not yet learned into the baseline.
    waiting = [r for r in catalogued if r["processed"] and _day(r) > learned_through]
    two_date = len(records) == 2 and old is None and len(catalogued) == 2
    units = grid_units(region, grid)
    if not records:
        if old is None:
            return DetectResult(0, 0, {"inserted": 0, "updated": 0, "removed": 0})
        try:
            pixels = _gather_pixels(old.flags, forest_path, grid, region.tile_px)
        finally:
            old.close()
        coverage = []
    else:
        steps, learned_through = _plan(waiting, records, learned_through, params.refit_days, two_date)
        # Only the scenes this run reads are opened. Catalogued tiles were checked whole when ingested: a read
        # error later still names the file.
        opened = {r["id"]: _Scene(open_scene(Path(r["path"]), check=False), grid)
                  for _, step in steps for r in step}
        plan = [(kind, [opened[r["id"]] for r in step]) for kind, step in steps]
        keep_freed_memory()  # windows' buffers are reused rather than mapped and zero-filled afresh
        refit = any(kind == "learn" for kind, _ in plan) or old is None
        files = statefile.create(state_dir, grid) if refit else None  # else the model and sums stay as they are
        units_path = units_raster(units, grid, state_dir / UNITS_FILE)
        cache = CoverageCache.load(state_dir, old, forest_path, units_path)
        fold = _WindowPass(plan, grid, old, files, forest_path, units_path, len(units), params, two_date, cache)
        windows = list(grid.windows(WINDOW, region.tile_px))
        parts = []
        try:
            with ThreadPoolExecutor(threads or os.cpu_count() or 1) as pool:
                for w_i, part in enumerate(pool.map(fold, windows), start=1):
                    parts.append(part)
                    progress("detect", w_i, len(windows))
            record_files = tuple(f.path for f in (files or (old.model, old.second, old.sums)))
            table = statefile.FlagTable.gather(grid.width, [(w, part.flags, part.held)
                                                            for w, part in zip(windows, parts, strict=True)])
        except BaseException:
            if files:
                statefile.discard(*files)  # the saved state stays as it was
            raise
        finally:
            fold.close()
            if files:
                for f in files:
                    f.close()
            if old is not None:
                old.close()
        if files is not None or not table.same_as(old.flags):  # (nothing observed: nothing to write)
            statefile.commit(state_dir, grid, record_files, table, learned_through)
        CoverageCache.save(state_dir, forest_path, units_path, _day(records[-1]),
                           list(zip(windows, parts, strict=True)))
        store.upsert_scenes([{**r, "processed": 1} for r in records])
        pixels = concat_pixels([p.pixels for p in parts if p.pixels is not None])
        unit_forest = np.sum([p.unit_forest for p in parts], axis=0)
        unit_seen = np.sum([p.unit_seen for p in parts], axis=0)
        coverage = _coverage(units, unit_forest, unit_seen, grid.resolution**2 / 10000)
        store.record_run({"first_scene": records[0]["acquired"], "last_scene": records[-1]["acquired"],
                          "scenes": len(records), "mode": "two-date" if two_date else "series"}, coverage)

    # Name acquisitions, not tile records (one acquisition may span several tiles).
    scene_ids = {date.fromisoformat(r["acquired"]): r.get("acquisition") or r["id"] for r in store.scenes("ok")}
    polygons = alert_polygons(None, grid.transform, grid.crs, min_area_ha=min_area_ha, scene_id=scene_ids.get,
                              pixels=pixels, categories=CATEGORY_NAMES)
    alerts = attach_admin(polygons, region.units(), region.official_crs, region.province(), region.official_crs_alt)
    counts = store.sync_alerts(alerts)
    log.info("detection: %d new scenes, %d alerts (%s)", len(records), len(alerts), counts)
    return DetectResult(scenes_processed=len(records), alerts=len(alerts), counts=counts, coverage=coverage)


def _day(record: dict) -> int:
    return detect.day_number(date.fromisoformat(record["acquired"]))


def _plan(judged: list[dict], new: list[dict], learned_through: int, refit_days: int,
          two_date: bool) -> tuple[list[tuple[str, list[dict]]], int]:
    """The run's steps in time order over catalogue records: ("judge", [scene]) for each new scene and
    ("learn", scenes) for each batch of judged scenes learned into the baseline (then refitted). A batch is
    learned before judging a scene when the baseline would otherwise be more than ``refit_days`` older than it,
    and at the end once the newest scene is ``refit_days`` past the baseline; the first scenes of a new state
    are learned at once. Returns the steps and the day the baseline is learned through afterwards."""
    if two_date:  # two dates and no history: compared, learned by a later run
        return [("compare", new)], learned_through
    steps: list[tuple[str, list[dict]]] = []
    waiting = list(judged)
    for scene in new:
        if waiting and (_day(scene) - learned_through > refit_days or learned_through == 0):
            steps.append(("learn", waiting))
            learned_through = max(_day(s) for s in waiting)
            waiting = []
        steps.append(("judge", [scene]))
        waiting.append(scene)
    newest = _day(new[-1])
    if waiting and (newest - learned_through >= refit_days or learned_through == 0):
        steps.append(("learn", waiting))
        learned_through = max(learned_through, newest)
    return steps, learned_through


def _coverage(units, unit_forest: np.ndarray, unit_seen: np.ndarray, pixel_ha: float) -> list[dict]:
    coverage = []
    for k, unit in enumerate(units.itertuples(), start=1):
        if unit_forest[k] > 0:
            coverage.append({"unit_id": unit.id, "unit": unit.name,
                             "forest_ha": round(unit_forest[k] * pixel_ha, 2),
                             "observed_ha": round(unit_seen[k] * pixel_ha, 2),
                             "observed_share": round(unit_seen[k] / unit_forest[k], 4)})
    return coverage


class CoverageCache:
    """The monitored forest per admin unit of each window as the last run counted it, for windows with no alert:
    a window that no scene of a run covers is then not read at all. Valid for the same model, forest layer and
    units, from the day counted until the next day one of its pixels becomes monitored. A derived file
    (``coverage.npz``): when missing or stale, the windows are counted again."""

    FILE = "coverage.npz"

    def __init__(self, entries: dict[tuple[int, int], tuple[np.ndarray, int, int]]):
        self.entries = entries

    def get(self, window: Window, day: int) -> tuple[np.ndarray, int, int] | None:
        """(counts, day counted, valid until) of the window, if valid on ``day``."""
        entry = self.entries.get((int(window.row_off), int(window.col_off)))
        return entry if entry is not None and entry[1] <= day < entry[2] else None

    @staticmethod
    def _key(state_dir: Path, forest_path: Path, units_path: Path) -> str:
        paths = statefile.current_paths(state_dir)
        stamp = lambda p: f"{p.name}:{p.stat().st_mtime_ns}" if p.exists() else "-"  # noqa: E731
        return "|".join([paths[0].name if paths else "-", stamp(forest_path), stamp(units_path)])

    @classmethod
    def load(cls, state_dir: Path, old: statefile.State | None, forest_path: Path, units_path: Path) -> CoverageCache:
        path = state_dir / cls.FILE
        if old is None or not path.exists():
            return cls({})
        try:
            with np.load(path) as data:
                if str(data["key"]) != cls._key(state_dir, forest_path, units_path):
                    return cls({})
                return cls({(int(r), int(c)): (counts, int(d), int(u)) for r, c, counts, d, u in
                            zip(data["row"], data["col"], data["counts"], data["day"], data["until"], strict=True)})
        except (OSError, KeyError, ValueError, zipfile.BadZipFile):
            return cls({})

    @classmethod
    def save(cls, state_dir: Path, forest_path: Path, units_path: Path, day: int,
             parts: list[tuple[Window, _WindowResult]]) -> None:
        kept = [(w, p) for w, p in parts if p.until > day]
        counts = np.array([p.unit_forest for _, p in kept], np.int64) if kept else np.zeros((0, 0), np.int64)
        tmp = state_dir / (cls.FILE + ".tmp")
        with open(tmp, "wb") as handle:
            np.savez(handle, key=cls._key(state_dir, forest_path, units_path),
                     row=np.array([int(w.row_off) for w, _ in kept], np.int64),
                     col=np.array([int(w.col_off) for w, _ in kept], np.int64),
                     counts=counts,
                     day=np.array([p.since or day for _, p in kept], np.int64),
                     until=np.array([p.until for _, p in kept], np.int64))
        os.replace(tmp, state_dir / cls.FILE)


@dataclass
class _Scene:
    """A catalogued scene and where its pixels lie on the grid (None: not on the grid, read warped)."""

    file: SceneFile
    footprint: Window | None

    def __init__(self, file: SceneFile, grid: Grid):
        self.file = file
        self.footprint = grid_footprint(file, grid)


@dataclass
class _WindowResult:
    flags: detect.WindowFlags       # the window's pixels in alert
    held: dict[int, np.ndarray]     # observations held out of learning, by day, of scenes not yet learned
    pixels: dict[str, np.ndarray] | None  # the window's alert pixels (see geo.polygons.alert_pixels), if any
    unit_forest: np.ndarray         # monitored pixels per admin unit (index 0: outside every unit)
    unit_seen: np.ndarray           # ...of which seen clear by this run's scenes
    until: int = 0                  # unit_forest holds until this day (no alert, same model); 0: not to be kept
    since: int = 0                  # ...from this day (0: this run's)


@dataclass
class _Observation:
    """One scene on one window, as the detector reads it: digital numbers (``dn``) when the scene lies on the
    grid, else indices warped onto the window (``ndvi``, ``nbr``, ``ndmi``); the clear-land mask."""

    clear: np.ndarray
    dn: dict[str, np.ndarray] | None = None
    ndvi: np.ndarray | None = None
    nbr: np.ndarray | None = None
    ndmi: np.ndarray | None = None


class _WindowPass:
    """Runs the plan on one window: judges new scenes against the baseline, learns batches of judged scenes and
    refits the baseline. Called from several threads at once, each thread with its own open files (GDAL
    handles are not shared between threads)."""

    def __init__(self, plan: list[tuple[str, list[_Scene]]], grid: Grid, old: statefile.State | None,
                 files: tuple[statefile.RecordFile, statefile.RecordFile] | None, forest_path: Path,
                 units_path: Path, n_units: int, params: detect.DetectorParams, two_date: bool,
                 cache: CoverageCache):
        self.plan, self.grid, self.old, self.files, self.params = plan, grid, old, files, params
        self.second_map = old.second.mapped() if old is not None and files is None else None
        self.cache = cache
        self.judged = [s for kind, scenes in plan if kind != "learn" for s in scenes]
        self.forest_path = forest_path if forest_path.exists() else None
        self.units_path, self.n_units = units_path, n_units + 1
        self.two_date = two_date
        learned = {id(s) for kind, scenes in plan if kind == "learn" for s in scenes}
        self.keep = {id(s) for kind, scenes in plan if kind == "judge" for s in scenes if id(s) in learned}
        self.last_day = max(s.file.acquired for _, scenes in plan for s in scenes)
        self._local = threading.local()
        self._opened: list = []
        self._lock = threading.Lock()

    def _buffer(self, name: str, dtype, count: int = 1) -> np.ndarray:
        """This thread's flat buffer ``name`` for ``count`` arrays of a window, reused from window to window."""
        buffers = self._local.__dict__.setdefault("buffers", {})
        if name not in buffers:
            buffers[name] = np.empty(count * WINDOW * WINDOW, dtype)
        return buffers[name]

    def _open(self, path: Path):
        files = self._local.__dict__.setdefault("files", {})
        if path not in files:
            files[path] = rasterio.open(path)
            with self._lock:
                self._opened.append(files[path])
        return files[path]

    def close(self) -> None:
        for src in self._opened:
            src.close()
        self.second_map = None  # unmapped once no window holds a view of it

    def __call__(self, window: Window) -> _WindowResult:
        shape = (int(window.height), int(window.width))
        if self.old is None:
            return self._pass(window, np.zeros(shape, detect.MODEL_DTYPE), np.zeros(shape, detect.SECOND_DTYPE))
        if self.files is None and not self._observed(window):
            hit = self.cache.get(window, detect.day_number(self.last_day))
            if hit is not None and not self.old.flags.window(window).pix.size and not self.old.flags.held(window):
                # no scene of this run covers the window and nothing in it can have changed: no reads at all
                counts, since, until = hit
                return _WindowResult(detect.WindowFlags.empty(), {}, None, counts, np.zeros_like(counts), until, since)
        if self.files is None:  # judged only: the baseline is read into this thread's buffer, never changed; the
            # second indices' where a pixel is flagged (pages of the mapped file)
            try:
                return self._pass(window, self.old.model.read(window, self._buffer("model", detect.MODEL_DTYPE)),
                                  self.second_map.window(window))
            finally:
                self.second_map.release(window)
        return self._pass(window, self.old.model.read(window), self.old.second.read(window))

    def _pass(self, window: Window, model: np.ndarray, second: np.ndarray) -> _WindowResult:
        r0, c0 = int(window.row_off), int(window.col_off)
        shape = (int(window.height), int(window.width))
        old, p = self.old, self.params
        flags = old.flags.window(window) if old is not None else detect.WindowFlags.empty()
        held = old.flags.held(window) if old is not None else {}
        forest = self._open(self.forest_path).read(1, window=window) if self.forest_path else None
        seen = np.zeros(shape, dtype=bool)
        sums, kept = None, {}
        for kind, scenes in self.plan:
            if kind == "compare":
                flags, held, seen = self._compare(scenes, window, forest)
            elif kind == "judge":
                scene = scenes[0]
                obs = self._read(scene, window)
                if obs is None:
                    continue
                if obs.dn is not None:
                    _, flags, out = detect.judge_dn(model, second, flags, scene.file.acquired, obs.dn, obs.clear,
                                                    scene.file.scale, scene.file.offset, p, forest, seen)
                else:
                    _, flags, out = detect.judge(model, second, flags, scene.file.acquired, obs.ndvi, obs.clear,
                                                 obs.nbr, p, forest, obs.ndmi, seen)
                day = detect.day_number(scene.file.acquired)
                held[day] = np.concatenate([held[day], out]) if day in held else out
                if id(scene) in self.keep:  # learned later in this run: not read twice
                    kept[id(scene)] = obs
            else:
                if sums is None:
                    sums = old.sums.read(window) if old is not None else np.zeros(shape, detect.SUMS_DTYPE)
                for scene in scenes:
                    obs = kept.pop(id(scene), None) or self._read(scene, window)
                    if obs is None:
                        continue
                    day = scene.file.acquired
                    out = detect.held_out(shape, flags, day, held.get(detect.day_number(day), np.zeros(0, np.int32)))
                    if obs.dn is not None:
                        detect.learn_dn(sums, day, obs.dn, obs.clear, out, scene.file.scale, scene.file.offset, p)
                    else:
                        detect.learn(sums, day, obs.ndvi, obs.clear, out, obs.nbr, obs.ndmi, p)
                detect.refit(sums, model, second, p)
                through = max(detect.day_number(s.file.acquired) for s in scenes)
                held = {d: h for d, h in held.items() if d > through}
                flags = flags.alerts()
        flags = flags.alerts()
        if self.files is not None:
            if sums is None:
                sums = old.sums.read(window) if old is not None else np.zeros(shape, detect.SUMS_DTYPE)
            for f, part in zip(self.files, (model, second, sums), strict=True):
                f.write(window, part)
        alert = np.zeros(shape, dtype=bool)
        alert.reshape(-1)[flags.pix] = True
        unit_forest, unit_seen, until = detect.coverage_counts(model, alert, seen, self._unit_ids(window),
                                                               self.n_units, self.last_day, forest, p)
        pixels = flag_pixels(flags, shape[1], r0, c0, forest) if flags.pix.size else None
        return _WindowResult(flags, held, pixels, unit_forest, unit_seen, 0 if flags.pix.size else until)

    def _observed(self, window: Window) -> bool:
        """Whether a scene this run judges may cover the window (one not on the grid may cover anything)."""
        r0, c0 = int(window.row_off), int(window.col_off)
        r1, c1 = r0 + int(window.height), c0 + int(window.width)
        return any(s.footprint is None or (s.footprint.row_off < r1 and r0 < s.footprint.row_off + s.footprint.height
                                           and s.footprint.col_off < c1 and c0 < s.footprint.col_off
                                           + s.footprint.width) for s in self.judged)

    def _unit_ids(self, window: Window) -> np.ndarray:
        """Admin unit of each pixel of the window (1..n in the units' order, 0 outside them all)."""
        return self._open(self.units_path).read(1, window=window)

    def _read(self, scene: _Scene, window: Window) -> _Observation | None:
        """One scene on the window (None where it does not cover it), read as stored (digital numbers) when it
        lies on the grid; parts of the window it does not cover are no data."""
        if scene.footprint is None:  # not on the grid: read warped onto the window, as reflectance
            ndvi, nbr, ndmi, clear = _indices(scene.file, self.grid, window)
            return _Observation(clear, ndvi=ndvi, nbr=nbr, ndmi=ndmi) if clear.any() else None
        fp = scene.footprint
        r0, c0 = max(int(window.row_off), fp.row_off), max(int(window.col_off), fp.col_off)
        r1 = min(int(window.row_off + window.height), fp.row_off + fp.height)
        c1 = min(int(window.col_off + window.width), fp.col_off + fp.width)
        if r1 <= r0 or c1 <= c0:
            return None
        names = ("B04", "B08", "B12", "SCL", "B11") if "B11" in scene.file.bands else ("B04", "B08", "B12", "SCL")
        part = Window(c0 - fp.col_off, r0 - fp.row_off, c1 - c0, r1 - r0)
        src = self._open(scene.file.path)
        reuse = id(scene) not in self.keep and src.dtypes[0] == "uint16"  # (kept ones are not overwritten)
        dn = read_dn(src, scene.file, part, names, self._buffer("dn", np.uint16, 5) if reuse else None)
        shape = (int(window.height), int(window.width))
        if (r1 - r0, c1 - c0) != shape:  # the scene covers part of the window
            wr = slice(r0 - int(window.row_off), r1 - int(window.row_off))
            wc = slice(c0 - int(window.col_off), c1 - int(window.col_off))
            for name, band in dn.items():
                whole = np.zeros(shape, band.dtype)
                whole[wr, wc] = band
                dn[name] = whole
        return _Observation(cloudmask.scl_clear_mask(dn["SCL"]), dn=dn)

    def _compare(self, scenes: list[_Scene], window: Window,
                 forest: np.ndarray | None) -> tuple[detect.WindowFlags, dict[int, np.ndarray], np.ndarray]:
        """Two-date mode on one window: the earlier scene is the baseline for the later one."""
        shape = (int(window.height), int(window.width))
        (nd0, _, _, clear0), (nd1, _, _, clear1) = (_indices(s.file, self.grid, window) for s in scenes)
        s = detect.new_state(shape)
        detect.before_after(s, scenes[0].file.acquired, scenes[1].file.acquired, nd0, nd1, clear0, clear1,
                            self.params, forest)
        flags = detect.WindowFlags.from_dense(s.flags)
        return flags, {detect.day_number(scenes[1].file.acquired): flags.pix.copy()}, clear1


def _gather_pixels(flags: statefile.FlagTable, forest_path: Path, grid: Grid, tile_px: int) -> dict[str, np.ndarray]:
    """Alert pixels of the whole state, window by window: memory follows the alerts, not the area."""
    parts = []
    forest_src = rasterio.open(forest_path) if forest_path.exists() else None
    try:
        for window in grid.windows(WINDOW, tile_px):
            window_flags = flags.window(window)
            if not window_flags.pix.size:
                continue
            forest = forest_src.read(1, window=window) if forest_src is not None else None
            parts.append(flag_pixels(window_flags, int(window.width), int(window.row_off), int(window.col_off),
                                     forest))
    finally:
        if forest_src is not None:
            forest_src.close()
    return concat_pixels(parts)


def _indices(scene: SceneFile, grid: Grid, window) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """NDVI, NBR, NDMI (None without B11) and the clear-land mask of one scene's window, warped onto the grid."""
    names = ("B04", "B08", "B12", "SCL", "B11") if "B11" in scene.bands else ("B04", "B08", "B12", "SCL")
    bands = read_window(scene, grid, window, names)
    clear = cloudmask.scl_clear_mask(bands["SCL"]) & np.isfinite(bands["B04"]) & np.isfinite(bands["B08"])
    ndmi = indices.ndmi(bands["B08"], bands["B11"]) if "B11" in bands else None
    return indices.ndvi(bands["B04"], bands["B08"]), indices.nbr(bands["B08"], bands["B12"]), ndmi, clear
