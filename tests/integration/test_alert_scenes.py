"""An alert's own scenes resolve: alerts name ``scene_before``/``scene_after`` by acquisition, the catalogue keeps
one record per tile of an acquisition (``<acquisition>-<tile>``, as the demo and ``forestmon ingest`` write it);
the imagery routes take either id, and ``GET /alerts/{id}`` links the before/after tiles. Both backends."""

from __future__ import annotations

import math
from datetime import date

import pytest
from conftest import sample_alerts, write_scene
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings

BEFORE, AFTER = "S2A_20240501_T48PZV", "S2B_20240611_T48PZV"
ALERT = "20240610-086300-0133700"


def _catalogue(store, tmp_path) -> None:
    """Two acquisitions of two side-by-side tiles each (record ids ``<acquisition>-<tile>``), the later one with
    a clearing cut into its first tile."""
    records = []
    for acq, day, bare in ((BEFORE, date(2024, 5, 1), None), (AFTER, date(2024, 6, 11), (slice(0, 128),) * 2)):
        for n, x0 in enumerate((860000.0, 862560.0)):
            tile = f"T{n}"
            path = write_scene(tmp_path / f"{acq}-{tile}.tif", day, size=256, x0=x0, bare=bare if n == 0 else None)
            records.append({"id": f"{acq}-{tile}", "acquisition": acq, "tile": tile, "sensor": "Sentinel-2",
                            "acquired": day.isoformat(), "source": "test", "path": str(path), "cloud_pct": 0.0,
                            "valid_fraction": 1.0, "status": "ok", "reason": None, "processed": 1})
    store.upsert_scenes(records)
    alerts = sample_alerts()
    alerts["scene_before"], alerts["scene_after"] = BEFORE, AFTER
    alerts.loc[alerts["id"] != ALERT, ["scene_before", "scene_after"]] = None, "S2X_not_catalogued"
    store.sync_alerts(alerts)


@pytest.fixture
def client(store, tmp_path):
    _catalogue(store, tmp_path)
    with TestClient(create_app(Settings(data_dir=tmp_path, store_url=store.url))) as c:
        yield c


def _tile_at(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def test_an_acquisition_id_draws_all_its_tile_records(client):
    whole = client.get(f"/imagery/{AFTER}/truecolor/tilejson.json")
    assert whole.status_code == 200, whole.text
    one = client.get(f"/imagery/{AFTER}-T0/truecolor/tilejson.json").json()
    west, south, east, north = whole.json()["bounds"]
    assert west == pytest.approx(one["bounds"][0]) and east > one["bounds"][2] + 0.01  # both tiles
    # A tile over the second tile record: drawn from the acquisition, empty from the first record alone.
    x, y = _tile_at(east - 0.005, (south + north) / 2, 15)
    path = f"truecolor/tiles/WebMercatorQuad/15/{x}/{y}.png"
    from_acquisition = client.get(f"/imagery/{AFTER}/{path}")
    from_first_record = client.get(f"/imagery/{AFTER}-T0/{path}")
    assert from_acquisition.status_code == from_first_record.status_code == 200
    assert len(from_acquisition.content) > len(from_first_record.content)  # pixels against a transparent tile
    # The change layer of an acquisition compares with the earlier one: the clearing shows only after.
    x, y = _tile_at(west + 0.003, north - 0.003, 15)
    change = client.get(f"/imagery/{AFTER}/change/tiles/WebMercatorQuad/15/{x}/{y}.png")
    assert change.status_code == 200 and change.headers["content-type"] == "image/png"
    assert client.get("/imagery/S2X_unknown/truecolor/tilejson.json").json()["code"] == "not_found"


def test_an_alert_links_its_before_and_after_imagery(client):
    r = client.get(f"/alerts/{ALERT}")
    assert r.status_code == 200
    imagery = r.json()["imagery"]
    assert imagery["before"]["id"] == BEFORE and imagery["after"]["id"] == AFTER
    assert imagery["before"]["acquired"] == "2024-05-01" and imagery["after"]["acquired"] == "2024-06-11"
    assert set(imagery["after"]["tilejson"]) == {"truecolor", "falsecolor", "ndvi", "change"}
    for side in ("before", "after"):
        tilejson = client.get(imagery[side]["tilejson"]["falsecolor"])
        assert tilejson.status_code == 200, tilejson.text
        assert tilejson.json()["tiles"][0].startswith(imagery[side]["tiles"]["falsecolor"].split("{z}")[0])
        x, y = _tile_at(108.31, 11.96, 14)
        tile = client.get(imagery[side]["tiles"]["truecolor"].format(z=14, x=x, y=y))
        assert tile.status_code == 200 and tile.content[:4] == b"\x89PNG"
    # An alert whose scenes the catalogue does not hold says so (null), rather than linking to a 404.
    other = client.get("/alerts/20240305-086100-0133500").json()["imagery"]
    assert other == {"before": None, "after": None}
