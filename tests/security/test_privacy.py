"""The privacy rule and the read rule over every read operation, on both backends.

With public reads on, an anonymous reader sees no user names, no review or case notes and no field photos (their
list, their files and the EXIF GPS in them) anywhere: JSON, HTML, exports in every format, vector tiles. With
public reads off, every read answers 401 without a login but ``/health`` (and the OpenAPI document, the docs
and ``/static``, which FastAPI and the mount serve outside the routers). The read operations are taken from the
app's OpenAPI document, so a new read route without an entry below fails.
"""

from __future__ import annotations

import math

import pytest
from fastapi.testclient import TestClient
from reviewkit import PASSWORD, jpeg_with_gps, login

from api.app import create_app
from api.settings import Settings
from api.users import add_user

ALERT = "20240610-086300-0133700"  # unit 675, centre 108.31 E 11.96 N
REVIEWER = "ranger.zed"            # a name to look for in every public answer
NOTE, CASE_NOTE = "private-note-7q", "case-note-9w"
EXPORT_FORMATS = ("gpkg", "geojson", "csv", "kml", "gpx")


def _tile(lon: float, lat: float, z: int) -> str:
    n = 2 ** z
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return f"{z}/{int((lon + 180) / 360 * n)}/{int(y)}"


# GET path in the OpenAPI document -> the URLs that read it (ids of the reviewed alert, its case and photo).
def _reads(case_id: int, photo_id: int) -> dict[str, list[str]]:
    tile = _tile(108.31, 11.96, 12)
    return {
        "/health": ["/health"], "/imagery/latest.png": ["/imagery/latest.png"],
        "/runs": ["/runs"], "/runs/{run_id}": ["/runs/1"], "/subscriptions": ["/subscriptions"],
        "/reports/{name}": ["/reports/week.html"], "/reports/": ["/reports/", "/reports/?f=html"],
        "/alerts": ["/alerts"], "/alerts/{alert_id}": [f"/alerts/{ALERT}"],
        "/alerts/{alert_id}/history": [f"/alerts/{ALERT}/history"], "/me/queue": ["/me/queue"],
        "/alerts/{alert_id}/photos": [f"/alerts/{ALERT}/photos"], "/photos/{photo_id}": [f"/photos/{photo_id}"],
        "/photos/{photo_id}/thumbnail": [f"/photos/{photo_id}/thumbnail"],
        "/alerts/{alert_id}/tracks": [f"/alerts/{ALERT}/tracks"], "/tracks/{track_id}.gpx": ["/tracks/1.gpx"],
        "/cases": ["/cases"], "/cases/{case_id}": [f"/cases/{case_id}"], "/targets/{year}": ["/targets/2024"],
        "/exports/{layer}": [f"/exports/{layer}?format={f}" for layer in ("alerts", "cases", "planting_lots")
                             for f in EXPORT_FORMATS],
        "/planting-lots": ["/planting-lots"], "/me": ["/me"], "/users": ["/users"],
        "/ogc/": ["/ogc/"], "/ogc/conformance": ["/ogc/conformance"], "/ogc/collections": ["/ogc/collections"],
        "/ogc/collections/{collection_id}": ["/ogc/collections/alerts"],
        "/ogc/collections/{collection_id}/queryables": ["/ogc/collections/alerts/queryables"],
        "/ogc/collections/{collection_id}/items": ["/ogc/collections/alerts/items",
                                                   "/ogc/collections/alerts/items?f=html"],
        "/ogc/collections/{collection_id}/items/{feature_id}": [f"/ogc/collections/alerts/items/{ALERT}",
                                                                f"/ogc/collections/alerts/items/{ALERT}?f=html"],
        "/ogc/collections/{collection_id}/tiles/WebMercatorQuad/tilejson.json": [
            "/ogc/collections/alerts/tiles/WebMercatorQuad/tilejson.json"],
        "/ogc/collections/{collection_id}/tiles/WebMercatorQuad/{z}/{x}/{y}": [
            f"/ogc/collections/alerts/tiles/WebMercatorQuad/{tile}"],
        "/planning/layers": ["/planning/layers"], "/planning/styles": ["/planning/styles"],
        "/planning/overlay": ["/planning/overlay", "/planning/overlay?f=csv", "/planning/overlay?f=gpkg"],
        "/planning/diff": ["/planning/diff?from=a-20230101&to=a-20240101"],
        "/planting-lots/growth": ["/planting-lots/growth"],
        "/planting-lots/replanting-candidates": ["/planting-lots/replanting-candidates"],
        "/planting-lots/{lot_id}/growth": ["/planting-lots/L1/growth"],
        "/imagery/scenes": ["/imagery/scenes"],
        "/imagery/{scene_id}/{layer}/tilejson.json": ["/imagery/latest/truecolor/tilejson.json"],
        "/imagery/{scene_id}/{layer}/tiles/WebMercatorQuad/{z}/{x}/{y}.{fmt}": [
            f"/imagery/latest/truecolor/tiles/WebMercatorQuad/{tile}.png"],
    }


PUBLIC_WITHOUT_LOGIN = {"/health"}


def _reviewed(client) -> tuple[int, int]:
    """The alert reviewed by REVIEWER with notes, a photo with EXIF GPS and a case: (case id, photo id)."""
    admin, ranger = login(client, "admin"), login(client, REVIEWER)
    steps = [(admin, 1, {"to": "assigned", "assignee": REVIEWER}), (ranger, 2, {"to": "in_field", "note": NOTE}),
             (ranger, 3, {"to": "confirmed", "cause": "other", "note": NOTE})]
    for who, version, body in steps:
        r = client.post(f"/alerts/{ALERT}/transitions", headers=who, json={**body, "version": version})
        assert r.status_code == 200, r.text
    r = client.post(f"/alerts/{ALERT}/photos", headers=ranger,
                    files={"file": ("site.jpg", jpeg_with_gps(11.96, 108.31), "image/jpeg")})
    assert r.status_code == 201, r.text
    photo_id = r.json()["id"]
    walk = [{"lon": 108.30 + i / 1000, "lat": 11.95 + i / 1000, "t": f"2024-06-14T02:0{i}:00Z"} for i in range(3)]
    r = client.post(f"/alerts/{ALERT}/tracks", headers=ranger, json={"points": walk})
    assert r.status_code == 201 and r.json()["id"] == 1, r.text
    r = client.post("/cases", headers=ranger, json={"number": "P-1", "opened": "2024-06-20", "violation_type": "other",
                                                   "alert_ids": [ALERT], "note": CASE_NOTE})
    assert r.status_code == 201, r.text
    return r.json()["id"], photo_id


@pytest.fixture
def reviewed(app_client, store):
    add_user(store, REVIEWER, PASSWORD, "ranger", ("675",))
    return _reviewed(app_client)


def _get_operations(client) -> set[str]:
    return {p for p, ops in client.app.openapi()["paths"].items() if "get" in ops}


def test_every_read_operation_is_in_the_matrix(app_client):
    assert _get_operations(app_client) == set(_reads(1, 1))


def test_anonymous_readers_see_no_names_notes_or_photos(app_client, reviewed):
    case_id, photo_id = reviewed
    jpeg = jpeg_with_gps(11.96, 108.31)
    for urls in _reads(case_id, photo_id).values():
        for url in urls:
            r = app_client.get(url)
            assert r.status_code < 500, (url, r.text)
            for private in (REVIEWER.encode(), NOTE.encode(), CASE_NOTE.encode()):
                assert private not in r.content, (url, private)
            assert b"Exif" not in r.content and jpeg[:200] not in r.content, url
    assert app_client.get(f"/photos/{photo_id}").status_code == 401
    assert app_client.get(f"/photos/{photo_id}/thumbnail").status_code == 401
    assert app_client.get(f"/alerts/{ALERT}/tracks").status_code == 401
    assert app_client.get("/tracks/1.gpx").status_code == 401
    assert app_client.get(f"/alerts/{ALERT}/photos").status_code == 401
    history = app_client.get(f"/alerts/{ALERT}/history").json()
    assert [(h["action"], h["username"], h["note"]) for h in history][-1] == ("open_case", None, None)
    case = app_client.get(f"/cases/{case_id}").json()
    assert (case["created_by"], case["note"], case["outcome"]) == (None, None, "pending")


def test_logged_in_readers_see_the_review(app_client, reviewed):
    case_id, photo_id = reviewed
    viewer = login(app_client, "viewer")
    assert NOTE in app_client.get(f"/alerts/{ALERT}/history", headers=viewer).text
    assert CASE_NOTE in app_client.get("/cases", headers=viewer).text
    assert REVIEWER in app_client.get("/exports/alerts?format=csv", headers=viewer).text
    assert app_client.get(f"/photos/{photo_id}", headers=viewer).content == jpeg_with_gps(11.96, 108.31)
    assert app_client.get(f"/photos/{photo_id}/thumbnail", headers=viewer).content.startswith(b"\xff\xd8")
    assert app_client.get(f"/alerts/{ALERT}/tracks", headers=viewer).json()[0]["uploaded_by"] == REVIEWER
    assert b"<trkpt" in app_client.get("/tracks/1.gpx", headers=viewer).content


def test_with_public_reads_off_every_read_needs_a_login(store, tmp_path):
    add_user(store, "viewer", PASSWORD, "viewer")
    settings = Settings(data_dir=tmp_path, store_url=store.url, public_reads=False)
    with TestClient(create_app(settings)) as client:
        reads = _reads(1, 1)
        assert _get_operations(client) == set(reads)
        for path, urls in reads.items():
            for url in urls:
                expected = 200 if path in PUBLIC_WITHOUT_LOGIN else 401
                assert client.get(url).status_code == expected, url
        for url in ("/openapi.json", "/docs", "/redoc", "/static/vendor/leaflet/leaflet.js"):
            assert client.get(url).status_code == 200, url
        viewer = login(client, "viewer")
        for url in ("/", "/alerts", "/cases", "/planning/layers", "/planning/overlay", "/exports/alerts?format=csv"):
            assert client.get(url, headers=viewer).status_code == 200, url
