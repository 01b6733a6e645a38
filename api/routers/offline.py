"""``POST /offline/package``: what a phone needs to work on some alerts with no signal, and how big it is.

The answer lists every URL the app reads for those alerts (each alert, its history, its photos and their images,
the TileJSONs, the alert and admin vector tiles, the imagery tiles of each alert's before/after scenes and of the
latest mosaic within a buffer of the alert, at the zooms each layer serves up to 16) with its size in bytes. The
sizes of the JSON, photos and vector tiles are those of the bodies themselves (TileJSONs at a nominal few hundred
bytes); imagery tiles are counted at the mean size of a spread sample of them, rendered for the purpose. The app
stores each file in the Cache Storage its service worker answers from; a package above the cap is refused before
anything is downloaded.
"""

from __future__ import annotations

import json
from typing import Annotated

import geopandas as gpd
import morecantile
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field, model_validator
from pyproj import Geod

from api.auth import CurrentUser
from api.collections import CollectionContext, alerts_source, collection
from api.deps import RegionDep, SettingsDep, StoreDep
from api.params import collection_context
from api.routers.alerts import get_alert
from api.routers.imagery_tiles import pick_scenes, tile_source
from geo.errors import InvalidInputError, NotFoundError
from geo.query import MAX_IDS, Query
from geo.workflow import exports, photos, privacy, review
from maps.rastertiles import zoom_range
from maps.vectortiles import MAX_FEATURES, encode_tile, tile_bounds

router = APIRouter(prefix="/offline", tags=["offline"])
TMS = morecantile.tms.get("WebMercatorQuad")
MAX_ZOOM = 16            # imagery and alert tiles are taken up to this zoom
VECTOR_MIN_ZOOM = 8      # a province-wide view
ADMIN_MAX_ZOOM = 14      # the app's admin source stops there (MapLibre overzooms it)
IMAGERY_LAYERS = ("truecolor", "ndvi")  # what the alert panel shows of each scene
IMAGERY_SAMPLE = 40      # imagery tiles rendered to measure a package
PROJECTED = 32648        # UTM 48N: the buffer is in metres
EXPORT_FORMATS = ("gpx", "kml", "gpkg")  # for the GPS units rangers carry (a Garmin reads GPX)
GEOD = Geod(ellps="WGS84")
Context = Annotated[CollectionContext, Depends(collection_context)]


class PackageRequest(BaseModel):
    """Either ``ids`` (the alerts of a list) or ``bbox`` (a rectangle drawn on the map: the alerts inside it)."""

    ids: list[Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$")]] | None = Field(
        default=None, min_length=1, max_length=MAX_IDS, description="the alerts to take")
    bbox: tuple[float, float, float, float] | None = Field(
        default=None, description="west, south, east, north (WGS 84 degrees): the alerts the user may read inside")
    buffer_m: float | None = Field(default=None, ge=0, le=5000, description="imagery around each alert (m)")
    cap_mb: float | None = Field(default=None, gt=0, description="refuse a package larger than this (MB); at most "
                                 "the server's cap")


    @model_validator(mode="after")
    def _one_selection(self) -> PackageRequest:
        if (self.ids is None) == (self.bbox is None):
            raise ValueError("give either ids or bbox")
        if self.bbox is not None:
            west, south, east, north = self.bbox
            if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
                raise ValueError("bbox: west < east and south < north, in WGS 84 degrees")
        return self


class Resource(BaseModel):
    url: str
    bytes: int


class Package(BaseModel):
    alerts: list[str]
    bbox: tuple[float, float, float, float] | None = Field(default=None, description="the drawn area, if any")
    buffer_m: float
    cap_bytes: int
    bytes: int = Field(description="the sum of the resources' sizes")
    resources: list[Resource]


def _tiles(bounds: list[tuple[float, float, float, float]], zooms: range) -> list[tuple[int, int, int]]:
    found = {(t.z, t.x, t.y) for w, s, e, n in bounds for t in TMS.tiles(w, s, e, n, list(zooms))}
    return sorted(found)


@router.post("/package", response_model=Package, summary="The URLs and size of an offline package for some alerts",
             responses={404: {"description": "an unknown alert"},
                        422: {"description": "larger than the cap (code offline_too_large), too many alerts or "
                              "files, a drawn area too large or empty (offline_too_many_alerts, "
                              "offline_too_many_files, offline_area_too_large, offline_empty_area)"}})
def package(body: PackageRequest, request: Request, ctx: Context, user: CurrentUser, store: StoreDep,
            settings: SettingsDep, region: RegionDep) -> dict:
    buffer_m = settings.offline_buffer_m if body.buffer_m is None else body.buffer_m
    cap_mb = min(body.cap_mb or settings.offline_cap_mb, settings.offline_cap_mb)
    cap = int(cap_mb * 1024 * 1024)
    ids = list(dict.fromkeys(body.ids)) if body.ids is not None else _ids_inside(body.bbox, ctx, settings)
    resources: dict[str, int] = {}
    features = []
    for alert_id in ids:
        answer = get_alert(request, ctx, store, region, alert_id)
        resources[f"/alerts/{alert_id}"] = len(answer.body)
        features.append(json.loads(answer.body))
        shown = privacy.shown(review.history(store, alert_id), "alert_history", public=False)
        resources[f"/alerts/{alert_id}/history"] = len(json.dumps(shown, ensure_ascii=False).encode())
        listed = photos.list_photos(store, alert_id)
        resources[f"/alerts/{alert_id}/photos"] = len(json.dumps(listed, ensure_ascii=False).encode())
        for photo in listed:  # thumbnails: what the panel shows (the originals stay on the server)
            data, _ = photos.photo_bytes(store, photo["id"])
            resources[f"/photos/{photo['id']}/thumbnail"] = len(photos.thumbnail(data)[0])
    # The alerts as files for GPS units, exactly these alerts (the id filter of every alert listing).
    selection = Query(filters={"id": tuple(ids)})
    frame = privacy.shown_frame(exports.layer(store, "alerts", None, selection), "alerts", public=False)
    for fmt in EXPORT_FORMATS:
        resources[export_url(ids, fmt)] = len(exports.export(frame, fmt, "alerts", 4326))
    frame = gpd.GeoDataFrame.from_features(features, crs=4326)
    buffered = frame.to_crs(PROJECTED).buffer(buffer_m).to_crs(4326)
    boxes = [tuple(b) for b in buffered.bounds.to_numpy()]

    # Imagery: each alert's own scenes around it, and the latest mosaic around every alert.
    layers: dict[tuple[str, str], list[tuple[float, float, float, float]]] = {}
    for feature, box in zip(features, boxes, strict=True):
        for scene in (feature.get("imagery") or {}).values():
            for layer in IMAGERY_LAYERS:
                if scene:
                    layers.setdefault((scene["id"], layer), []).append(box)
    try:
        pick_scenes(store, "latest")
        layers[("latest", "truecolor")] = boxes
    except NotFoundError:  # no imagery at all: the package holds the alerts only
        pass
    planned: list[tuple[str, str, int, int, int]] = []
    for (scene_id, layer), scene_boxes in layers.items():
        resources[f"/imagery/{scene_id}/{layer}/tilejson.json"] = 400
        shown, _ = pick_scenes(store, scene_id)
        low, high = zoom_range([s["path"] for s in shown])
        planned += [(scene_id, layer, z, x, y) for z, x, y in _tiles(scene_boxes, range(low, min(high, MAX_ZOOM) + 1))]
    alerts_tiles = _tiles(boxes, range(VECTOR_MIN_ZOOM, MAX_ZOOM + 1))
    admin_tiles = _tiles(boxes, range(VECTOR_MIN_ZOOM, ADMIN_MAX_ZOOM + 1))
    if len(planned) * 1024 > cap:  # even at 1 KB a tile it is too big: refuse before rendering anything
        _too_large(len(planned) * 1024, cap_mb)
    files = len(resources) + len(planned) + len(alerts_tiles) + len(admin_tiles) + 2
    if files > settings.offline_max_files:
        raise InvalidInputError(f"the offline package needs {files} files, more than the {settings.offline_max_files}"
                                " allowed: choose a smaller area", code="offline_too_many_files", count=files,
                                max=settings.offline_max_files)

    # Vector tiles as the map asks for them (no filters), built as the tile route builds them.
    admin = collection(ctx, "admin_2024")
    for source, tiles in ((alerts_source(ctx), alerts_tiles), (admin, admin_tiles)):
        base = f"/ogc/collections/{source.id}/tiles/WebMercatorQuad"
        resources[f"{base}/tilejson.json"] = 600
        for z, x, y in tiles:
            _, lonlat = tile_bounds(z, x, y)
            query = Query(bbox=lonlat, limit=MAX_FEATURES)
            data = source.mvt(z, x, y, query)
            if data is None:
                gdf, _ = source.items(query)
                data = encode_tile({source.id: gdf}, z, x, y)
            resources[f"{base}/{z}/{x}/{y}"] = len(data)
    total = sum(resources.values())
    if total > cap:
        _too_large(total, cap_mb)
    # Imagery tiles: a sample of them is rendered (and kept in the tile cache) and the rest counted at their
    # sample's mean size, so the plan answers in seconds; the download renders the others. The sample is drawn
    # within each layer and zoom (tiles alike in size: a false-colour z16 tile is not a true-colour z10 one), in
    # proportion to their counts, spread over each group's tiles.
    groups: dict[tuple[str, int], list[tuple[str, str, int, int, int]]] = {}
    for tile in planned:
        groups.setdefault((tile[1], tile[2]), []).append(tile)
    for group in groups.values():
        take = max(2, round(IMAGERY_SAMPLE * len(group) / len(planned)))
        picks = {round(i * (len(group) - 1) / max(take - 1, 1)) for i in range(min(take, len(group)))}
        sample = [len(tile_source(store, settings, *group[i])[1]()) for i in sorted(picks)]
        mean = sum(sample) / len(sample)
        for scene_id, layer, z, x, y in group:
            resources[f"/imagery/{scene_id}/{layer}/tiles/WebMercatorQuad/{z}/{x}/{y}.png"] = round(mean)
    total = sum(resources.values())
    if total > cap:
        _too_large(total, cap_mb)
    return {"alerts": ids, "bbox": body.bbox, "buffer_m": buffer_m, "cap_bytes": cap, "bytes": total,
            "resources": [{"url": url, "bytes": size} for url, size in resources.items()]}


def _too_large(size: int, cap_mb: float):
    size_mb, cap_text = f"{size / 2**20:.3g}", f"{cap_mb:g}"
    raise InvalidInputError(f"the offline package is about {size_mb} MB, over the {cap_text} MB limit: choose a "
                            "smaller area", code="offline_too_large", size_mb=size_mb, cap_mb=cap_text)


def export_url(ids: list[str], fmt: str) -> str:
    """The export of exactly these alerts in ``fmt``, as the app asks for it (and the service worker keeps it)."""
    return f"/exports/alerts?format={fmt}&id={','.join(ids)}"


def _ids_inside(bbox: tuple[float, float, float, float], ctx: CollectionContext, settings) -> list[str]:
    """The alerts the caller may read inside a drawn rectangle, refused (naming why) when the rectangle is larger
    than the set area, holds nothing, or holds more alerts than one package takes."""
    west, south, east, north = bbox
    area_km2 = abs(GEOD.polygon_area_perimeter([west, east, east, west], [south, south, north, north])[0]) / 1e6
    if area_km2 > settings.offline_max_area_km2:
        shown, limit = f"{area_km2:.0f}", f"{settings.offline_max_area_km2:g}"
        raise InvalidInputError(f"the drawn area is about {shown} km², more than the {limit} km² allowed: draw a "
                                "smaller area", code="offline_area_too_large", area_km2=shown, max_km2=limit)
    most = settings.offline_max_alerts
    frame, matched = alerts_source(ctx).items(Query(bbox=bbox, limit=most + 1))
    count = max(matched or 0, len(frame))
    if count == 0:
        raise InvalidInputError("the drawn area holds no alert you may read", code="offline_empty_area")
    if count > most:
        raise InvalidInputError(f"the drawn area holds {count} alerts, more than the {most} of one offline package: "
                                "draw a smaller area", code="offline_too_many_alerts", count=count, max=most)
    return [str(i) for i in frame["id"]]
