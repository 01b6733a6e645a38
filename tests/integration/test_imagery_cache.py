"""Imagery tiles rendered once: kept on disk in the data directory under a key naming the scenes drawn, answered
with that key's ETag (304 when current), and moved on to a new key when the catalogue changes. Both backends."""

from __future__ import annotations

from datetime import date

import pytest
from conftest import write_scene
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings

TILE = "/imagery/latest/truecolor/tiles/WebMercatorQuad/14/13121/7637.png"  # over the scenes below


def _catalogue(store, tmp_path, days):
    scenes = []
    for day in days:
        path = write_scene(tmp_path / f"S2_{day:%Y%m%d}.tif", day, size=256)
        scenes.append({"id": f"{day:%Y%m%d}-test", "sensor": "Sentinel-2", "acquired": day.isoformat(),
                       "source": "test", "path": str(path), "cloud_pct": 0.0, "valid_fraction": 1.0,
                       "status": "ok", "reason": None, "processed": 1})
    store.upsert_scenes(scenes)
    return scenes


@pytest.fixture
def client(store, tmp_path):
    with TestClient(create_app(Settings(data_dir=tmp_path, store_url=store.url))) as c:
        yield c


def test_a_tile_is_rendered_once_and_kept_until_the_catalogue_changes(client, store, tmp_path):
    first = _catalogue(store, tmp_path, [date(2024, 5, 1)])
    r = client.get(TILE)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    kept = list((tmp_path / "cache" / "tiles").rglob("*.png"))
    assert len(kept) == 1 and kept[0].read_bytes() == r.content
    assert kept[0].relative_to(tmp_path / "cache" / "tiles").parts[1:] == ("truecolor", "14", "13121", "7637.png")

    # The scene's file gone: the same tile can only come from the cache, not from rendering.
    (tmp_path / "S2_20240501.tif").rename(tmp_path / "moved.tif")
    again = client.get(TILE)
    assert again.status_code == 200 and again.content == r.content
    assert again.headers["etag"] == r.headers["etag"]
    assert client.get(TILE, headers={"If-None-Match": r.headers["etag"]}).status_code == 304
    (tmp_path / "moved.tif").rename(tmp_path / "S2_20240501.tif")

    # A review or any other write leaves imagery tiles current (their key is the scenes, not the data version).
    store.sync_alerts(store.query_alerts())
    assert client.get(TILE, headers={"If-None-Match": r.headers["etag"]}).status_code == 304

    # A newer scene: the mosaic's scenes change, so do the key, the ETag and the file.
    _catalogue(store, tmp_path, [date(2024, 5, 8)])
    newer = client.get(TILE, headers={"If-None-Match": r.headers["etag"]})
    assert newer.status_code == 200 and newer.headers["etag"] != r.headers["etag"]
    assert len(list((tmp_path / "cache" / "tiles").rglob("*.png"))) == 2
    # A single scene's tile keeps its own key whatever comes later.
    one = client.get(TILE.replace("latest", first[0]["id"]))
    assert one.status_code == 200 and one.content == r.content


def test_a_tile_outside_the_scenes_is_transparent_and_not_kept(client, store, tmp_path):
    _catalogue(store, tmp_path, [date(2024, 5, 1)])
    r = client.get("/imagery/latest/ndvi/tiles/WebMercatorQuad/14/0/0.png")
    assert r.status_code == 200
    assert not any((tmp_path / "cache").rglob("*.png"))


def test_a_tile_whose_client_has_left_is_not_rendered(store, tmp_path, monkeypatch):
    """The ASGI app called for a tile by a client that has already hung up (its receive says http.disconnect):
    nothing is rendered or kept, as for a request that waited in the queue after its client gave up."""
    import asyncio

    from api.routers import imagery_tiles

    _catalogue(store, tmp_path, [date(2024, 5, 1)])
    rendered = []
    real = imagery_tiles.render_tile
    monkeypatch.setattr(imagery_tiles, "render_tile", lambda *a, **k: rendered.append(a) or real(*a, **k))
    app = create_app(Settings(data_dir=tmp_path, store_url=store.url))
    path, _, query = TILE.partition("?")

    async def call(receive) -> list[dict]:
        sent = []

        async def send(message):
            sent.append(message)
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
                 "path": path, "raw_path": path.encode(), "query_string": query.encode(), "headers": [],
                 "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "root_path": ""}
        await app(scope, receive, send)
        return sent

    async def gone():
        return {"type": "http.disconnect"}

    async def present():
        await asyncio.sleep(3600)  # the client stays connected and sends nothing more

    asyncio.run(call(gone))
    assert rendered == [] and not list((tmp_path / "cache").rglob("*.png"))
    sent = asyncio.run(call(present))
    assert sent[0]["status"] == 200 and len(rendered) == 1
