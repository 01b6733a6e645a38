"""Imagery tiles (XYZ PNG/WebP on WebMercatorQuad, with TileJSON) of the catalogued scenes: true colour, false
colour, NDVI and change magnitude, per scene or ``latest`` (a cloud-free mosaic of the newest scenes).

A scene is named by a catalogue record's id (one tile of an acquisition, ``…-TILE``) or by an acquisition id (all
its tile records drawn together): alerts name their ``scene_before``/``scene_after`` by acquisition.

Only scenes the catalogue names are served: the path comes from the catalogue, never from the request. A tile
on the grid but outside the scenes is transparent (200); an unknown scene, a tile off the grid or outside the
layer's zoom range (from the scenes' resolution, as the TileJSON says) is a 404, answered before any pixel is read.
A rendered tile is kept on disk under a key naming the scenes it draws, so it is rendered once for every worker
and a catalogue change (other scenes) moves on to new keys; its ETag is that key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path as FilePath
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request, Response

from api.caching import cached
from api.deps import SettingsDep, StoreDep
from api.limits import client_gone
from api.settings import Settings
from geo.datadir import write_atomically
from geo.errors import NotFoundError
from geo.scenes import open_scene
from geo.store import Store
from maps.rastertiles import FORMATS, LAYERS, NoImagery, TileScene, empty_tile, render_tile, scene_info, zoom_range
from maps.vectortiles import tile_bounds

router = APIRouter(prefix="/imagery", tags=["imagery tiles"])
MOSAIC_DEPTH = 6  # scenes in the cloud-free mosaic, and in the reference the change layer compares with
LayerName = Literal["truecolor", "falsecolor", "ndvi", "change"]
SceneId = Annotated[str, Path(pattern=r"^[A-Za-z0-9._-]{1,200}$",
                              description="a scene id from /imagery/scenes, or 'latest' for the newest mosaic")]


@lru_cache(maxsize=512)
def _tile_scene(path: str) -> TileScene:
    scene = open_scene(FilePath(path))
    return TileScene(str(scene.path), tuple(sorted(scene.bands.items())), scene.scale, scene.offset)


def pick_scenes(store: Store, scene_id: str) -> tuple[list[dict], list[dict]]:
    """(scenes shown, newest first; reference scenes for the change layer, newest first) from the catalogue."""
    scenes = store.scenes("ok")
    if not scenes:
        raise NotFoundError("no scene has been ingested yet")
    if scene_id == "latest":
        newest = scenes[::-1]
        return newest[:MOSAIC_DEPTH], newest[MOSAIC_DEPTH:2 * MOSAIC_DEPTH]
    index = next((i for i, s in enumerate(scenes) if s["id"] == scene_id), None)
    if index is not None:
        return [scenes[index]], scenes[max(0, index - MOSAIC_DEPTH):index][::-1]
    tiles = [i for i, s in enumerate(scenes) if s.get("acquisition") == scene_id]
    if not tiles:
        raise NotFoundError(f"no catalogued scene {scene_id!r}; see /imagery/scenes")
    # an acquisition: its tile records, compared with as many earlier records per tile as a single record is
    earlier = [s for s in scenes[:tiles[0]] if s.get("acquisition") != scene_id][::-1]
    return [scenes[i] for i in tiles][::-1], earlier[:MOSAIC_DEPTH * len(tiles)]


def scene_links(request: Request, store: Store, scene_id: str | None) -> dict | None:
    """For an alert's scene (an acquisition or record id): its TileJSON and tile URL per imagery layer, or None
    when the catalogue does not hold it (an alert of a store whose imagery is elsewhere)."""
    if not scene_id:
        return None
    records = [s for s in store.scenes("ok") if scene_id in (s["id"], s.get("acquisition"))]
    if not records:
        return None
    base = f"{_base(request)}/imagery/{scene_id}"
    return {"id": scene_id, "acquired": records[0]["acquired"],
            "tilejson": {name: f"{base}/{name}/tilejson.json" for name in LAYERS},
            "tiles": {name: f"{base}/{name}/tiles/WebMercatorQuad/{{z}}/{{x}}/{{y}}.png" for name in LAYERS}}


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.get("/scenes", summary="Catalogued scenes and their imagery layers")
def list_scenes(request: Request, store: StoreDep) -> dict:
    layers = {name: spec.description for name, spec in LAYERS.items()}
    out = [{"id": "latest", "title": f"cloud-free mosaic of the newest {MOSAIC_DEPTH} scenes"}]
    out += [{"id": s["id"], "acquired": s["acquired"], "cloud_pct": s["cloud_pct"], "sensor": s["sensor"]}
            for s in store.scenes("ok")[::-1]]
    for item in out:
        item["tilejson"] = {name: f"{_base(request)}/imagery/{item['id']}/{name}/tilejson.json" for name in LAYERS}
    return {"layers": layers, "scenes": out}


@router.get("/{scene_id}/{layer}/tilejson.json", summary="TileJSON of an imagery layer")
def imagery_tilejson(request: Request, store: StoreDep, scene_id: SceneId, layer: LayerName,
                     format: Literal["png", "webp"] = "png") -> dict:
    shown, _ = pick_scenes(store, scene_id)
    infos = [scene_info(s["path"]) for s in shown]
    minzoom, maxzoom = zoom_range([s["path"] for s in shown])
    west = min(i["bounds"][0] for i in infos)
    south = min(i["bounds"][1] for i in infos)
    east = max(i["bounds"][2] for i in infos)
    north = max(i["bounds"][3] for i in infos)
    return {"tilejson": "3.0.0", "name": f"{scene_id} {layer}", "description": LAYERS[layer].description,
            "tiles": [f"{_base(request)}/imagery/{scene_id}/{layer}/tiles/WebMercatorQuad/{{z}}/{{x}}/{{y}}.{format}"],
            "minzoom": minzoom, "maxzoom": maxzoom,
            "bounds": [west, south, east, north], "scheme": "xyz"}


@router.get("/{scene_id}/{layer}/tiles/WebMercatorQuad/{z}/{x}/{y}.{fmt}", summary="An imagery tile",
            response_class=Response,
            responses={200: {"content": {"image/png": {}, "image/webp": {}}},
                       404: {"description": "unknown scene, tile outside the grid or the layer's zoom range"}})
def imagery_tile(request: Request, store: StoreDep, settings: SettingsDep, scene_id: SceneId, layer: LayerName,
                 z: Annotated[int, Path(ge=0, le=22)], x: Annotated[int, Path(ge=0)], y: Annotated[int, Path(ge=0)],
                 fmt: Literal["png", "webp"]) -> Response:
    key, build_bytes = tile_source(store, settings, scene_id, layer, z, x, y, fmt)

    def build() -> Response:
        if client_gone(request) and not settings.paths.cached_tile(key, layer, z, x, y, fmt).is_file():
            return Response(status_code=499)  # left while this waited for a thread: the answer goes nowhere
        return Response(build_bytes(), media_type=FORMATS[fmt][1])
    # A scene's pixels never change: the tile and its ETag follow only the scenes drawn.
    return cached(request, key, build, max_age=settings.cache_max_age)


def tile_source(store: Store, settings: Settings, scene_id: str, layer: str, z: int, x: int, y: int,
                fmt: str = "png") -> tuple[str, Callable[[], bytes]]:
    """(the key naming the scenes a tile draws, a function giving its bytes): 404 for an unknown scene, a tile off
    the grid or outside the layer's zooms, before any pixel is read. The bytes are read from the disk cache, or
    rendered and kept there (a tile outside the scenes is transparent and not kept)."""
    tile_bounds(z, x, y)  # 404 outside the grid
    shown, reference = pick_scenes(store, scene_id)
    minzoom, maxzoom = zoom_range([s["path"] for s in shown])
    if not minzoom <= z <= maxzoom:
        raise NotFoundError(f"zoom {z} is outside the zooms of {scene_id}/{layer}: {minzoom}-{maxzoom} "
                            "(see its tilejson.json)")
    drawn = shown + (reference if layer == "change" else [])
    key = hashlib.sha256("|".join(s["id"] for s in drawn).encode()).hexdigest()[:24]
    path = settings.paths.cached_tile(key, layer, z, x, y, fmt)

    def tile_bytes() -> bytes:
        if path.is_file():
            return path.read_bytes()
        try:
            data = render_tile(layer, [_tile_scene(s["path"]) for s in shown], x, y, z, fmt,
                               reference=[_tile_scene(s["path"]) for s in reference])
        except NoImagery:  # on the grid, outside the scenes: transparent, as an empty MVT tile is empty
            return empty_tile(fmt)  # not kept: the world is large
        write_atomically(path, data)
        return data
    return key, tile_bytes
