"""Ingest runs: find or fetch acquisitions, cut them into analysis-ready tiles on the region's grid (in parallel
on Dask), and record each tile in the scene catalogue as soon as it is written.

Re-running is safe: tiles are keyed by acquisition and tile, a tile recorded done with its file present is
skipped, and a bad input is recorded as failed, by name, while the others go on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import geopandas as gpd
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from geo.errors import ConfigError, ForestmonError
from geo.progress import Progress, log_progress
from geo.region import Region
from geo.store import Store
from geo.tiles import TileScheme
from ingest import sentinelhub_source as sh
from ingest.acquisition import Acquisition
from ingest.ard import TileJob, write_tile
from ingest.discover import find_acquisitions
from ingest.executor import run_jobs
from ingest.sentinelhub_source import SentinelHubSettings

log = logging.getLogger(__name__)


@dataclass
class IngestResult:
    ok: list[dict]                  # one summary per acquisition whose tiles are all on disk
    failed: list[dict]              # one record per input or acquisition that failed, with the reason
    tiles_written: int = 0
    tiles_skipped: int = 0          # already done by an earlier run


def region_area(region: Region, area: BaseGeometry | None = None) -> BaseGeometry:
    """The area to ingest in the grid CRS: the given one (EPSG:4326) or the province."""
    if area is not None:
        return gpd.GeoSeries([area], crs=4326).to_crs(region.grid_crs).iloc[0]
    return unary_union(list(region.province().to_crs(region.grid_crs).geometry))


def ingest_local(paths: list[Path], store: Store, region: Region, out_dir: Path, *,
                 band_map: dict[str, int] | None = None, progress: Progress = log_progress,
                 scheduler: str | None = None, forest_mask: Path | None = None,
                 area: BaseGeometry | None = None) -> IngestResult:
    """Find the acquisitions under ``paths`` and write them as analysis-ready tiles; bad inputs are recorded as
    failed, by name, and the rest goes on."""
    found, failures = find_acquisitions(list(paths), region.grid_crs, band_map)
    failed = []
    for path, reason in failures:
        record = {"id": f"failed-{Path(path).name}", "path": str(Path(path).resolve()), "source": "local",
                  "source_path": str(Path(path).resolve()), "status": "failed", "reason": reason, "processed": 0}
        failed.append(record)
        log.info("skipped %s", reason)
    if failed:
        store.upsert_scenes(failed)
    result = ingest_acquisitions(found, store, region, out_dir, progress=progress, scheduler=scheduler,
                                 forest_mask=forest_mask, area=area)
    result.failed = failed + result.failed
    return result


def tile_done(record: dict | None) -> bool:
    """A tile finished by an earlier run: recorded empty, or recorded ok with its file still there."""
    return bool(record) and (record["status"] == "empty" or (record["status"] == "ok" and bool(record["path"])
                                                              and Path(record["path"]).exists()))


def ingest_sentinelhub(settings: SentinelHubSettings, store: Store, region: Region, out_dir: Path, cache_dir: Path,
                       start: date, end: date, *, max_cloud: float = 100.0, area: BaseGeometry | None = None,
                       progress: Progress = log_progress, scheduler: str | None = None,
                       forest_mask: Path | None = None) -> IngestResult:
    """Search the catalogue, download each scene's tiles not done yet (cached), then write them like local files.

    A tile whose download still fails after the retries is recorded as failed and the others go on; a credential
    problem stops the run with one clear message.
    """
    where = region_area(region, area)
    area_lonlat = area if area is not None else unary_union(list(region.province().geometry))
    scenes = sh.search(settings, area_lonlat, start, end, max_cloud)
    scheme = TileScheme(region.grid_crs, region.resolution, region.tile_px)
    known = {r["id"]: r for r in store.scenes()}
    source = settings.endpoint
    acquisitions: list[Acquisition] = []
    failed: list[dict] = []
    skipped = 0
    progress("download", 0, len(scenes))
    for i, scene in enumerate(scenes, start=1):
        footprint = sh.footprint_in(scene, region.grid_crs).intersection(where)
        todo = []
        for tile in scheme.tiles_intersecting(footprint):
            bounds = sh.tile_bounds(tile, footprint)
            acq_id = scene.id.replace("sentinelhub", source)
            if bounds is None or tile_done(known.get(f"{acq_id}-{tile.id}")):
                skipped += 1
                continue
            todo.append((tile, bounds, sh.tile_requests(settings, scene, tile, bounds, cache_dir)))
        try:   # the whole scene at once (parallel downloads); on failure tile by tile to keep the good ones
            sh.download(settings, [r for _, _, reqs in todo for r in reqs])
            ok_tiles = todo
        except ConfigError:
            raise
        except ForestmonError:
            ok_tiles = []
            for tile, bounds, reqs in todo:
                try:
                    sh.download(settings, reqs)
                    ok_tiles.append((tile, bounds, reqs))
                except ConfigError:
                    raise
                except ForestmonError as exc:
                    acq_id = scene.id.replace("sentinelhub", source)
                    record = {"id": f"{acq_id}-{tile.id}", "acquisition": acq_id, "tile": tile.id, "path": None,
                              "sensor": "Sentinel-2", "acquired": scene.day.isoformat(), "source": source,
                              "source_path": ",".join(scene.item_ids), "status": "failed", "reason": str(exc),
                              "processed": 0}
                    store.upsert_scenes([record])
                    failed.append(record)
        for _tile, bounds, reqs in ok_tiles:
            paths = [item.get_storage_paths()[1] for r in reqs for item in r.download_list]
            acquisitions.append(sh.acquisition(scene, paths, bounds, source, settings.cloud_layers))
        progress("download", i, len(scenes))
    result = ingest_acquisitions(acquisitions, store, region, out_dir, progress=progress, scheduler=scheduler,
                                 forest_mask=forest_mask, area=area)
    result.failed = failed + result.failed
    result.tiles_skipped += skipped
    return result


def ingest_acquisitions(acquisitions: list[Acquisition], store: Store, region: Region, out_dir: Path, *,
                        progress: Progress = log_progress, scheduler: str | None = None,
                        forest_mask: Path | None = None, area: BaseGeometry | None = None) -> IngestResult:
    """Cut every acquisition on the region's tiles (in parallel on Dask) and record each tile in the catalogue.

    Tiles already recorded as done, with their file present, are skipped: re-running after a kill finishes the
    work without duplicates. Each finished tile is recorded as soon as it is written.
    """
    scheme = TileScheme(region.grid_crs, region.resolution, region.tile_px)
    where = region_area(region, area)
    known = {r["id"]: r for r in store.scenes()}
    jobs: list[TileJob] = []
    pending: dict[str, int] = {}
    failed: list[dict] = []
    summaries: dict[str, dict] = {}
    skipped = 0
    for acq in acquisitions:
        footprint = box(*acq.bounds).intersection(where) if acq.bounds else where
        tiles = scheme.tiles_intersecting(footprint)
        summary = summaries.setdefault(acq.id, {"id": acq.id, "acquired": acq.acquired.date().isoformat(),
                                                "sensor": acq.sensor, "source_path": acq.source_path, "tiles": 0})
        summary["tiles"] += len(tiles)
        if not tiles:
            record = {"id": f"failed-{acq.id}", "acquisition": acq.id, "path": acq.source_path,
                      "source_path": acq.source_path, "source": acq.source, "sensor": acq.sensor,
                      "acquired": acq.acquired.date().isoformat(), "status": "failed", "processed": 0,
                      "reason": f"{acq.source_path}: does not overlap the region {region.title}"}
            store.upsert_scenes([record])
            failed.append(record)
            summaries.pop(acq.id)
            continue
        pending.setdefault(acq.id, 0)
        for tile in tiles:
            job = TileJob(acq, tile, str(out_dir), where.intersection(box(*tile.grid.bounds)),
                          str(forest_mask) if forest_mask else None)
            if tile_done(known.get(job.record_id)):
                skipped += 1
                continue
            jobs.append(job)
            pending[acq.id] += 1
    total_acq = len(pending)
    finished = [a for a, n in pending.items() if n == 0]
    progress("scenes", len(finished), total_acq)
    progress("tiles", 0, len(jobs))
    bad: dict[str, dict] = {}
    done_tiles = 0

    def record(result: dict) -> None:
        nonlocal done_tiles
        store.upsert_scenes([result])
        done_tiles += 1
        if result["status"] == "failed":
            log.warning("tile failed: %s", result["reason"])
            bad.setdefault(result["acquisition"], result)
        pending[result["acquisition"]] -= 1
        if pending[result["acquisition"]] == 0:
            finished.append(result["acquisition"])
            progress("scenes", len(finished), total_acq)
        progress("tiles", done_tiles, len(jobs))

    run_jobs(write_tile, jobs, scheduler=scheduler, on_result=record)
    ok = [s for a, s in summaries.items() if a not in bad]
    return IngestResult(ok=ok, failed=failed + list(bad.values()), tiles_written=done_tiles - len(bad),
                        tiles_skipped=skipped)
