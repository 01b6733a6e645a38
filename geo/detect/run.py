"""The detection run: fold every catalogued scene not yet processed into the detector state, window by window
in parallel threads, then turn the pixels in alert into polygons and store them as alerts.

A run follows a plan (``geo.detect.plan``): new scenes are judged against the fitted baseline as they come,
judged scenes are learned into it in batches. Each window of the grid runs the plan with
``geo.detect.window.fold``, reading the scenes it needs where they cover it. Re-running is safe: the state is
replaced atomically once all windows are done (``geo.detect.state``), each pixel ignores observations not newer
than its last, and alerts are synced by their stable ids. One run at a time per state folder.
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import rasterio
import rasterio.warp
from rasterio.windows import Window
from shapely.geometry import box
from shapely.ops import unary_union

from geo import cloudmask, indices
from geo.datadir import StateDir
from geo.detect import state as statefile
from geo.detect.coverage import CoverageCache, WindowCount, coverage_rows, grid_units, units_raster
from geo.detect.model import MODEL_DTYPE, SUMS_DTYPE, DetectorParams, TwoDateParams, day_number
from geo.detect.plan import STAGGER, plan, record_day, refit_offset
from geo.detect.polygons import MIN_AREA_HA, alert_polygons, attach_admin, concat_pixels, flag_pixels
from geo.detect.window import (
    Observation,
    TwoDateView,
    WindowFlags,
    before_after,
    coverage_counts,
    fold,
    new_state,
)
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


@dataclass
class DetectResult:
    scenes_processed: int
    alerts: int
    counts: dict[str, int]
    coverage: list[dict] = field(default_factory=list)


def run_detection(region: Region, store: Store, state_dir: Path | StateDir, *,
                  params: DetectorParams = DetectorParams(), min_area_ha: float = MIN_AREA_HA,
                  grid: Grid | None = None, forest_layer: Path | None = None,
                  progress: Progress = log_progress, threads: int | None = None,
                  two_date_params: TwoDateParams = TwoDateParams()) -> DetectResult:
    """Fold every catalogued scene not yet processed into the per-pixel state, then store the alerts.

    Works window by window, ``threads`` windows at a time (default: one per core; memory follows the windows
    in flight, not the area). With a ``forest_layer`` only its forest is monitored (it is kept for later
    runs); without one, forest is judged from each pixel's history. With exactly two scenes and no history,
    the two-date mode compares them (low confidence at most). Also records, for the run and each admin unit,
    the share of monitored forest seen cloud-free. One run at a time per state folder: a second one stops
    with a clear message rather than overwrite the first one's state.
    """
    state = state_dir if isinstance(state_dir, StateDir) else StateDir(Path(state_dir))
    # A small GDAL block cache: every block is decoded once and never read again, and a large cache only
    # costs the fresh memory it fills (a third of the time of reading a tile's bands).
    with statefile.locked(state), rasterio.Env(GDAL_CACHEMAX=64):
        return _detect(region, store, state, params=params, min_area_ha=min_area_ha, grid=grid,
                       forest_layer=forest_layer, progress=progress, threads=threads, two_date_params=two_date_params)


def _detect(region: Region, store: Store, state: StateDir, *, params: DetectorParams, min_area_ha: float,
            grid: Grid | None, forest_layer: Path | None, progress: Progress, threads: int | None,
            two_date_params: TwoDateParams) -> DetectResult:
    grid = grid or grid_for(region, store, state)
    grid.save(state.grid)
    if forest_layer is not None:
        _burn_forest(ForestLayer(forest_layer), grid, state.forest)
    catalogued = sorted(store.scenes("ok"), key=lambda r: (r["acquired"], r["id"]))
    records = [r for r in catalogued if not r["processed"]]
    old = statefile.open_state(state, grid)
    layout = old.layout if old is not None and old.layout is not None else statefile.Layout.of(grid, WINDOW,
                                                                                               region.tile_px)
    learned = old.learned if old is not None else (0,) * STAGGER
    two_date = len(records) == 2 and old is None and len(catalogued) == 2
    units = grid_units(region, grid)
    if not records:
        if old is None:
            return DetectResult(0, 0, {"inserted": 0, "updated": 0, "removed": 0})
        try:
            pixels = _gather_pixels(old.flags, state.forest, grid, region.tile_px)
        finally:
            old.close()
        coverage = []
    else:
        # Each refit group's plan (geo.detect.plan): the scenes it judged and has not learned yet wait for its
        # next refit day.
        plans, learned_after = {}, []
        for g in range(STAGGER):
            waiting = [r for r in catalogued if r["processed"] and record_day(r) > learned[g]]
            steps, through = plan(waiting, records, learned[g], params.refit_days, two_date,
                                  refit_offset(g, params.refit_days))
            plans[g] = steps
            learned_after.append(through)
        # Only the scenes this run reads are opened. Catalogued tiles were checked whole when ingested: a read
        # error later still names the file.
        opened = {r["id"]: _Scene(open_scene(Path(r["path"]), check=False), grid)
                  for steps in plans.values() for _, step in steps for r in step}
        scene_plans = {g: [(kind, [opened[r["id"]] for r in step]) for kind, step in steps]
                       for g, steps in plans.items()}
        refitting = {g for g, steps in scene_plans.items() if any(kind == "learn" for kind, _ in steps)}
        if old is None:
            refitting = set(range(STAGGER))
        if refitting:  # groups with no rows hold nothing: they take this run's files
            refitting |= set(range(STAGGER)) - layout.groups_with_rows(grid.height)
        keep_freed_memory()  # windows' buffers are reused rather than mapped and zero-filled afresh
        # new model and sums files for the groups that refit; the others' stay as they are
        files = statefile.create(state, grid, layout, refitting) if refitting else None
        units_raster(units, grid, state, WINDOW)
        cache = CoverageCache.load(state, old is not None)
        window_pass = _WindowPass(scene_plans, refitting, layout, grid, old, files, state, len(units), params, cache,
                                  two_date_params)
        windows = layout.split(list(grid.windows(WINDOW, region.tile_px)))
        parts = []
        try:
            with ThreadPoolExecutor(threads or os.cpu_count() or 1) as pool:
                for w_i, part in enumerate(pool.map(window_pass, windows), start=1):
                    parts.append(part)
                    progress("detect", w_i, len(windows))
            if files is not None:
                record_files = tuple(statefile.group_paths(f, o) for f, o in
                                     zip(files, (old.model, old.sums) if old else (None,) * 2, strict=True))
            else:
                record_files = (old.model.paths, old.sums.paths)
            table = statefile.FlagTable.gather(grid.width, [(w, part.flags, part.held)
                                                            for w, part in zip(windows, parts, strict=True)])
        except BaseException:
            if files:
                statefile.discard(*files)  # the saved state stays as it was
            raise
        finally:
            window_pass.close()
            if files:
                for f in files:
                    f.close()
            if old is not None:
                old.close()
        if files is not None or not table.same_as(old.flags):  # (nothing observed: nothing to write)
            statefile.commit(state, grid, record_files, table, tuple(learned_after), layout)
        model_files = record_files[0]
        CoverageCache.save(state, record_day(records[-1]), [p.count for p in parts],
                           lambda w: model_files[layout.group(int(w.row_off))].name)
        pixels = concat_pixels([p.pixels for p in parts if p.pixels is not None])
        unit_forest = np.sum([p.count.counts for p in parts], axis=0)
        unit_seen = np.sum([p.unit_seen for p in parts], axis=0)
        coverage = coverage_rows(units, unit_forest, unit_seen, grid.resolution**2 / 10000)
        store.record_run({"first_scene": records[0]["acquired"], "last_scene": records[-1]["acquired"],
                          "scenes": len(records), "mode": "two-date" if two_date else "series"}, coverage,
                         scenes=records)

    # Name acquisitions, not tile records (one acquisition may span several tiles).
    scene_ids = {date.fromisoformat(r["acquired"]): r.get("acquisition") or r["id"] for r in store.scenes("ok")}
    polygons = alert_polygons(None, grid.transform, grid.crs, min_area_ha=min_area_ha, scene_id=scene_ids.get,
                              pixels=pixels, categories=CATEGORY_NAMES)
    alerts = attach_admin(polygons, region.units(), region.official_crs, region.province(), region.official_crs_alt)
    counts = store.sync_alerts(alerts)
    log.info("detection: %d new scenes, %d alerts (%s)", len(records), len(alerts), counts)
    return DetectResult(scenes_processed=len(records), alerts=len(alerts), counts=counts, coverage=coverage)


def grid_for(region: Region, store: Store, state: StateDir) -> Grid:
    """The analysis grid of this data directory: fixed at the first detection run and saved beside the state.

    First time: the scenes' footprints on the region's grid, cut to the province's bounds.
    """
    if state.grid.exists():
        return Grid.from_json(state.grid.read_text())
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


def _burn_forest(layer: ForestLayer, grid: Grid, path: Path) -> None:
    """The user's forest layer as category codes on the grid, kept beside the state for later runs."""
    tmp = path.with_suffix(".tmp.tif")
    with rasterio.open(tmp, "w", **grid.gtiff_profile(1, "uint8", WINDOW), nodata=None) as dst:
        for window in grid.windows(WINDOW):
            shape = (int(window.height), int(window.width))
            dst.write(layer.codes(grid.window_transform(window), shape, grid.crs), 1, window=window)
        dst.update_tags(SOURCE=str(layer.path), **{f"CODE_{k}": v for k, v in CATEGORY_NAMES.items()})
    os.replace(tmp, path)


class _Scene:
    """A catalogued scene and where its pixels lie on the grid (None: not on the grid, read warped)."""

    def __init__(self, file: SceneFile, grid: Grid):
        self.file = file
        self.footprint: Window | None = grid_footprint(file, grid)

    @property
    def day(self) -> date:
        return self.file.acquired


@dataclass
class _WindowResult:
    flags: WindowFlags              # the window's pixels in alert
    held: dict[int, np.ndarray]     # observations held out of learning, by day, of scenes not yet learned
    pixels: dict[str, np.ndarray] | None  # the window's alert pixels (see geo.detect.polygons), if any
    count: WindowCount              # monitored pixels per admin unit, and how long the count holds
    unit_seen: np.ndarray           # ...of which seen clear by this run's scenes


class _WindowPass:
    """Runs its group's plan on one window (``fold``), writes the window of the new state files when its group
    refits, and counts its monitored forest. Called from several threads at once, each thread with its own open
    files (GDAL handles are not shared between threads)."""

    def __init__(self, plans: dict[int, list[tuple[str, list[_Scene]]]], refitting: set[int],
                 layout: statefile.Layout, grid: Grid, old: statefile.State | None,
                 files: tuple[statefile.Records, ...] | None, state: StateDir, n_units: int,
                 params: DetectorParams, cache: CoverageCache, two_date: TwoDateParams = TwoDateParams()):
        self.plans, self.refitting, self.layout = plans, refitting, layout
        self.grid, self.old, self.files, self.params = grid, old, files, params
        self.two_date = two_date
        self.sums_map = old.sums.mapped() if old is not None else None
        self.cache = cache
        some = plans[0]
        self.judged = [s for kind, scenes in some if kind != "learn" for s in scenes]
        self.forest_path = state.forest if state.forest.exists() else None
        self.units_path, self.n_units = state.units, n_units + 1
        self.last_day = max(s.day for _, scenes in some for s in scenes)
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
        self.sums_map = None  # unmapped once no window holds a view of it

    def __call__(self, window: Window) -> _WindowResult:
        shape = (int(window.height), int(window.width))
        group = self.layout.group(int(window.row_off))
        plan, refits = self.plans[group], group in self.refitting
        if refits and self._never_observed(window, plan):
            # nothing to judge, learn or write: its rows are left unwritten in the new files and read as empty records
            none = np.zeros(self.n_units, np.int64)
            return _WindowResult(WindowFlags.empty(), {}, None, WindowCount(window, none, 0, 65535), none.copy())
        if self.old is None:
            return self._pass(window, plan, refits, np.zeros(shape, MODEL_DTYPE))
        if not refits and not self._observed(window):
            hit = self.cache.get(window, day_number(self.last_day), self.old.model.paths[group].name)
            if hit is not None and not self.old.flags.window(window).pix.size and not self.old.flags.held(window):
                # no scene of this run covers the window and nothing in it can have changed: no reads at all
                counts, since, until = hit
                return _WindowResult(WindowFlags.empty(), {}, None, WindowCount(window, counts, since, until),
                                     np.zeros_like(counts))
        # The baseline is read (into this thread's buffer when it is only judged against); the sums, which the
        # second indices' baselines are fitted from where a pixel is flagged, are judged with from their mapped
        # file (only those pages are read), and read whole only to be learned into.
        model = self.old.model.read(window, None if refits else self._buffer("model", MODEL_DTYPE))
        try:
            return self._pass(window, plan, refits, model, self.sums_map.window(window))
        finally:
            self.sums_map.release(window)

    def _sums(self, window: Window) -> np.ndarray:
        shape = (int(window.height), int(window.width))
        return self.old.sums.read(window) if self.old is not None else np.zeros(shape, SUMS_DTYPE)

    def _pass(self, window: Window, plan: list, refits: bool, model: np.ndarray,
              judged_sums: np.ndarray | None = None) -> _WindowResult:
        r0, c0 = int(window.row_off), int(window.col_off)
        shape = (int(window.height), int(window.width))
        flags = self.old.flags.window(window) if self.old is not None else WindowFlags.empty()
        held = self.old.flags.held(window) if self.old is not None else {}
        forest = self._open(self.forest_path).read(1, window=window) if self.forest_path else None
        seen = np.zeros(shape, dtype=bool)
        sums = None
        if plan[0][0] == "compare":
            flags, held, seen = self._compare(plan[0][1], window, forest)
        else:
            done = fold(plan, lambda scene, kept: self._read(scene, window, kept), model, flags, held,
                        self.params, sums=lambda: self._sums(window), judged_sums=judged_sums, forest=forest,
                        seen=seen)
            flags, held, sums = done.flags, done.held, done.sums
        if refits:
            for f, part in zip(self.files, (model, sums if sums is not None else self._sums(window)), strict=True):
                f.write(window, part)
        alert = np.zeros(shape, dtype=bool)
        alert.reshape(-1)[flags.pix] = True
        units = self._open(self.units_path).read(1, window=window)  # 1..n in the units' order, 0 outside them all
        unit_forest, unit_seen, until = coverage_counts(model, alert, seen, units, self.n_units, self.last_day,
                                                        forest, self.params)
        pixels = flag_pixels(flags, shape[1], r0, c0, forest) if flags.pix.size else None
        count = WindowCount(window, unit_forest, 0, 0 if flags.pix.size else until)
        return _WindowResult(flags, held, pixels, count, unit_seen)

    def _observed(self, window: Window, scenes: list[_Scene] | None = None) -> bool:
        """Whether a scene this run judges (or of ``scenes``) may cover the window (one not on the grid may cover
        anything)."""
        r0, c0 = int(window.row_off), int(window.col_off)
        r1, c1 = r0 + int(window.height), c0 + int(window.width)
        return any(s.footprint is None or (s.footprint.row_off < r1 and r0 < s.footprint.row_off + s.footprint.height
                                           and s.footprint.col_off < c1 and c0 < s.footprint.col_off
                                           + s.footprint.width) for s in (self.judged if scenes is None else scenes))

    def _never_observed(self, window: Window, plan: list) -> bool:
        """Whether a refitting window has never been observed and no scene of its plan covers it (outside the
        imagery, e.g. beyond the province's tiles): its records are empty and stay so."""
        if self._observed(window, [s for _, scenes in plan for s in scenes]):
            return False
        if self.old is None:
            return True
        if self.old.flags.window(window).pix.size or self.old.flags.held(window):
            return False
        return not self.old.sums.read(window, self._buffer("sums", SUMS_DTYPE)).view(np.uint8).any()

    def _read(self, scene: _Scene, window: Window, kept: bool) -> Observation | None:
        """One scene on the window (None where it does not cover it), read as stored (digital numbers) when it
        lies on the grid; parts of the window it does not cover are no data. ``kept``: the arrays outlive
        the next read, so they are not read into this thread's reused buffer."""
        if scene.footprint is None:  # not on the grid: read warped onto the window, as reflectance
            ndvi, nbr, ndmi, clear = _indices(scene.file, self.grid, window)
            return Observation(scene.day, clear, ndvi=ndvi, nbr=nbr, ndmi=ndmi) if clear.any() else None
        fp = scene.footprint
        r0, c0 = max(int(window.row_off), fp.row_off), max(int(window.col_off), fp.col_off)
        r1 = min(int(window.row_off + window.height), fp.row_off + fp.height)
        c1 = min(int(window.col_off + window.width), fp.col_off + fp.width)
        if r1 <= r0 or c1 <= c0:
            return None
        names = ("B04", "B08", "B12", "SCL", *(b for b in ("B11", "B02") if b in scene.file.bands))
        part = Window(c0 - fp.col_off, r0 - fp.row_off, c1 - c0, r1 - r0)
        src = self._open(scene.file.path)
        reuse = not kept and src.dtypes[0] == "uint16"
        dn = read_dn(src, scene.file, part, names, self._buffer("dn", np.uint16, 6) if reuse else None)
        shape = (int(window.height), int(window.width))
        if (r1 - r0, c1 - c0) != shape:  # the scene covers part of the window
            wr = slice(r0 - int(window.row_off), r1 - int(window.row_off))
            wc = slice(c0 - int(window.col_off), c1 - int(window.col_off))
            for name, band in dn.items():
                whole = np.zeros(shape, band.dtype)
                whole[wr, wc] = band
                dn[name] = whole
        quality = cloudmask.observation_quality(dn["SCL"], dn.get("B02"), dn["B04"], dn.get("B11"),
                                                scale=scene.file.scale, offset=scene.file.offset)
        return Observation(scene.day, quality, dn=dn, scale=scene.file.scale, offset=scene.file.offset)

    def _compare(self, scenes: list[_Scene], window: Window,
                 forest: np.ndarray | None) -> tuple[WindowFlags, dict[int, np.ndarray], np.ndarray]:
        """Two-date mode on one window: the earlier scene is the baseline for the later one."""
        shape = (int(window.height), int(window.width))
        first, second = (_two_date_view(s.file, self.grid, window, self.two_date) for s in scenes)
        s = new_state(shape)
        before_after(s, scenes[0].day, scenes[1].day, first, second, self.params, forest, self.two_date)
        flags = WindowFlags.from_dense(s.flags)
        return flags, {day_number(scenes[1].day): flags.pix.copy()}, second.clear


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


def _two_date_view(scene: SceneFile, grid: Grid, window: Window, two: TwoDateParams) -> TwoDateView:
    """One scene of the two-date mode on a window. Read with a margin of ``two.near_cloud_m`` around the window
    (within the grid), so a cloud just outside the window still counts as near; the clear mask's buffer is one
    pixel of the sensor's own mask (Sentinel-2 SCL 20 m, Landsat QA 30 m), in grid pixels."""
    res = grid.resolution
    near_px = cloudmask.buffer_px(two.near_cloud_m, res)
    r0, c0 = max(int(window.row_off) - near_px, 0), max(int(window.col_off) - near_px, 0)
    r1 = min(int(window.row_off + window.height) + near_px, grid.height)
    c1 = min(int(window.col_off + window.width) + near_px, grid.width)
    bands = read_window(scene, grid, Window(c0, r0, c1 - c0, r1 - r0), ("B04", "B08", "B12", "SCL"))
    inner = (slice(int(window.row_off) - r0, int(window.row_off) - r0 + int(window.height)),
             slice(int(window.col_off) - c0, int(window.col_off) - c0 + int(window.width)))
    buffer = cloudmask.buffer_px(two.mask_buffer_pixels * cloudmask.mask_resolution_m(scene.sensor, res), res)
    scl = bands["SCL"]
    red, nir, swir2 = (bands[b][inner] for b in ("B04", "B08", "B12"))
    clear = cloudmask.scl_clear_mask(scl, buffer)[inner] & np.isfinite(red) & np.isfinite(nir) & np.isfinite(swir2)
    return TwoDateView(indices.ndvi(red, nir), swir2, clear, cloudmask.near_cloud(scl, near_px)[inner])


def _indices(scene: SceneFile, grid: Grid, window) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """NDVI, NBR, NDMI (None without B11) and the observation quality (``cloudmask.observation_quality``) of one
    scene's window, warped onto the grid."""
    names = ("B04", "B08", "B12", "SCL", *(b for b in ("B11", "B02") if b in scene.bands))
    bands = read_window(scene, grid, window, names)
    clear = cloudmask.observation_quality(bands["SCL"], bands.get("B02"), bands["B04"], bands.get("B11"))
    clear[~(np.isfinite(bands["B04"]) & np.isfinite(bands["B08"]))] = cloudmask.UNUSABLE
    ndmi = indices.ndmi(bands["B08"], bands["B11"]) if "B11" in bands else None
    return indices.ndvi(bands["B04"], bands["B08"]), indices.nbr(bands["B08"], bands["B12"]), ndmi, clear
