"""Offline areas on both stores: photo thumbnails (small, upright, without EXIF, cached by ETag, the photo's own
login), the ``id`` filter of every alert listing (and its refusals), the GPS-unit exports of exactly a package's
alerts, and a package for a rectangle drawn on the map (and its refusals, in Vietnamese and English)."""

from __future__ import annotations

import io
import sqlite3
import xml.etree.ElementTree as ET

import pytest
from PIL import Image
from reviewkit import jpeg_with_gps, login

from geo.workflow.review import auto_assign

HIGH = "20240305-086100-0133500"    # box(108.35, 12.00, 108.36, 12.01)
LOW = "20240312-086200-0133600"     # box(108.40, 12.05, 108.401, 12.051)
HIGHEST = "20240610-086300-0133700"  # box(108.30, 11.95, 108.32, 11.97)


@pytest.fixture
def ranger(app_client, store):
    auto_assign(store)
    return app_client, login(app_client, "an")


def _rotated_jpeg() -> bytes:
    """A 640 x 400 JPEG whose EXIF says: turn it 90° clockwise to show it (orientation 6), taken with GPS."""
    exif = Image.open(io.BytesIO(jpeg_with_gps(12.0, 108.35))).getexif()
    exif[0x0112] = 6
    image = Image.new("RGB", (640, 400), (200, 30, 30))
    image.paste((30, 30, 200), (0, 0, 320, 400))  # left half blue: after turning, the top half is blue
    buf = io.BytesIO()
    image.save(buf, "JPEG", exif=exif)
    return buf.getvalue()


def test_a_photo_thumbnail_is_small_upright_without_exif_and_cached(ranger):
    client, headers = ranger
    up = client.post(f"/alerts/{HIGH}/photos", files={"file": ("site.jpg", _rotated_jpeg(), "image/jpeg")},
                     headers=headers)
    assert up.status_code == 201, up.text
    photo_id = up.json()["id"]
    r = client.get(f"/photos/{photo_id}/thumbnail", headers=headers)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    thumb = Image.open(io.BytesIO(r.content))
    assert thumb.size == (200, 320)  # upright (portrait) and 320 px on the long side
    assert thumb.getpixel((100, 40))[2] > 150 and thumb.getpixel((100, 280))[0] > 150  # blue on top, red below
    assert not thumb.getexif() and b"Exif" not in r.content and len(r.content) < 20000
    # Cached by ETag: the same copy is a 304.
    again = client.get(f"/photos/{photo_id}/thumbnail", headers={**headers, "If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and not again.content
    # The photo's own rule: a login is needed, an unknown photo is a 404 with its code.
    assert client.get(f"/photos/{photo_id}/thumbnail").status_code == 401
    missing = client.get("/photos/999999/thumbnail", headers=headers)
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


def test_alerts_by_id_in_every_listing(ranger):
    client, headers = ranger
    ids = lambda r: sorted(f["id"] for f in r.json()["features"])  # noqa: E731
    r = client.get(f"/alerts?id={HIGH},{LOW}")
    assert r.status_code == 200, r.text
    assert ids(r) == sorted([HIGH, LOW])
    assert ids(client.get(f"/ogc/collections/alerts/items?id={HIGHEST}")) == [HIGHEST]
    assert ids(client.get(f"/alerts?id={HIGH}&id={HIGHEST}&confidence=high")) == [HIGH]
    # Exports and tiles take it too.
    gpx = client.get(f"/exports/alerts?format=gpx&id={LOW},{HIGHEST}", headers=headers)
    assert gpx.status_code == 200, gpx.text
    names = {e.text for e in ET.fromstring(gpx.content).iter() if e.tag.endswith("}name")}
    assert {LOW, HIGHEST} <= names and HIGH not in names
    tile = "/ogc/collections/alerts/tiles/WebMercatorQuad/12/3280/1910"  # holds HIGH (108.35 E, 12.0 N)
    with_it, without = client.get(f"{tile}?id={HIGH}"), client.get(f"{tile}?id={LOW}")
    assert with_it.status_code == 200 and len(with_it.content) > 0, with_it.text
    assert without.status_code in (200, 204) and len(without.content) < len(with_it.content)
    # A list too long, or not of ids, is refused with its own code, in Vietnamese unless asked otherwise.
    long = client.get("/alerts?id=" + ",".join(f"a{i}" for i in range(501)))
    assert long.status_code == 422 and long.json()["code"] == "id_list_too_long"
    assert "501" in long.json()["detail"] and "500" in long.json()["detail"] and "chia nhỏ" in long.json()["detail"]
    bad = client.get("/exports/alerts?format=gpx&id=ok,x' OR 1=1--", headers={"Accept-Language": "en"})
    assert bad.status_code == 422 and bad.json()["code"] == "id_list_invalid"
    assert "is not an id" in bad.json()["detail"]


def test_an_offline_package_holds_thumbnails_and_the_exports_of_its_alerts(ranger, tmp_path):
    client, headers = ranger
    photo_id = client.post(f"/alerts/{HIGH}/photos", files={"file": ("a.jpg", _rotated_jpeg(), "image/jpeg")},
                           headers=headers).json()["id"]
    pkg = client.post("/offline/package", json={"ids": [HIGH, LOW]}, headers=headers).json()
    urls = {item["url"]: item["bytes"] for item in pkg["resources"]}
    thumb = f"/photos/{photo_id}/thumbnail"
    assert urls[thumb] == len(client.get(thumb, headers=headers).content)
    assert f"/photos/{photo_id}" not in urls  # the originals stay on the server
    for fmt in ("gpx", "kml", "gpkg"):
        url = f"/exports/alerts?format={fmt}&id={HIGH},{LOW}"
        assert url in urls, sorted(urls)
        body = client.get(url, headers=headers)
        assert body.status_code == 200 and abs(len(body.content) - urls[url]) <= 0.1 * urls[url]
    path = tmp_path / "area.gpkg"
    path.write_bytes(client.get(f"/exports/alerts?format=gpkg&id={HIGH},{LOW}", headers=headers).content)
    with sqlite3.connect(path) as db:
        table = db.execute("SELECT table_name FROM gpkg_contents").fetchone()[0]
        assert sorted(r[0] for r in db.execute(f'SELECT id FROM "{table}"')) == sorted([HIGH, LOW])


def test_an_offline_package_for_a_drawn_rectangle(ranger):
    client, headers = ranger
    r = client.post("/offline/package", json={"bbox": [108.34, 11.99, 108.41, 12.06]}, headers=headers)
    assert r.status_code == 200, r.text
    pkg = r.json()
    assert sorted(pkg["alerts"]) == sorted([HIGH, LOW]) and pkg["bbox"] == [108.34, 11.99, 108.41, 12.06]
    urls = {item["url"] for item in pkg["resources"]}
    assert f"/alerts/{HIGH}/history" in urls and f"/alerts/{HIGHEST}" not in urls

    def refused(body: dict, lang: str = "vi") -> dict:
        answer = client.post("/offline/package", json=body, headers={**headers, "Accept-Language": lang})
        assert answer.status_code == 422, answer.text
        return answer.json()

    empty = refused({"bbox": [107.0, 11.0, 107.01, 11.01]})
    assert empty["code"] == "offline_empty_area" and "Không có cảnh báo" in empty["detail"]
    huge = refused({"bbox": [107.0, 11.0, 108.0, 12.0]}, "en")  # about 12 000 km²
    assert huge["code"] == "offline_area_too_large" and "2500 km²" in huge["detail"]
    assert "2500 km²" in refused({"bbox": [107.0, 11.0, 108.0, 12.0]})["detail"]
    assert refused({"bbox": [108.4, 12.0, 108.3, 12.1]})["code"] == "validation_error"  # west > east
    assert refused({"ids": [HIGH], "bbox": [108.3, 11.9, 108.5, 12.1]})["code"] == "validation_error"
    assert refused({})["code"] == "validation_error"
    assert client.post("/offline/package", json={"bbox": [108.3, 11.9, 108.5, 12.1]}).status_code == 401


def test_an_offline_package_refuses_too_many_alerts_or_files(store, tmp_path):
    from fastapi.testclient import TestClient
    from reviewkit import PASSWORD

    from api.app import create_app
    from api.settings import Settings
    from api.users import add_user

    add_user(store, "an", PASSWORD, "ranger", ("675",))
    # Lowered limits: the sample store holds three alerts (the defaults are 500 alerts, 20 000 files).
    settings = Settings(data_dir=tmp_path, store_url=store.url, offline_max_alerts=2, offline_max_files=30)
    with TestClient(create_app(settings)) as client:
        headers = login(client, "an")
        many = client.post("/offline/package", json={"bbox": [108.2, 11.9, 108.5, 12.1]},
                           headers={**headers, "Accept-Language": "en"})
        assert many.status_code == 422 and many.json()["code"] == "offline_too_many_alerts"
        assert "holds 3 alerts, more than the 2" in many.json()["detail"]
        files = client.post("/offline/package", json={"ids": [HIGHEST]}, headers=headers)
        assert files.status_code == 422 and files.json()["code"] == "offline_too_many_files"
        assert "30 tệp" in files.json()["detail"]


def _walk(n: int = 5) -> list[dict]:
    """A ranger walking north-east towards HIGH, one fix a minute (times with a +07:00 offset, Vietnam's)."""
    return [{"lon": 108.340 + 0.002 * i, "lat": 11.990 + 0.002 * i, "t": f"2024-03-20T09:0{i}:00+07:00",
             "accuracy_m": 8.0} for i in range(n)]


def test_a_recorded_walk_is_kept_once_and_given_back_as_gpx(ranger, store):
    client, headers = ranger
    key = {"Idempotency-Key": "track-key-0000001"}
    answers = [client.post(f"/alerts/{HIGH}/tracks", json={"points": _walk()}, headers={**headers, **key})
               for _ in range(2)]  # the first answer was lost on the way: sent again
    assert [a.status_code for a in answers] == [201, 201], answers[0].text
    track = answers[0].json()
    assert answers[1].json() == track
    assert (track["alert_id"], track["point_count"], track["uploaded_by"]) == (HIGH, 5, "an")
    assert track["started_at"] == "2024-03-20T02:00:00Z" and track["ended_at"] == "2024-03-20T02:04:00Z"
    assert 1150 < track["length_m"] < 1300  # 4 steps of ~307 m on the ellipsoid
    listed = client.get(f"/alerts/{HIGH}/tracks", headers=headers).json()
    assert [t["id"] for t in listed] == [track["id"]]
    gpx = client.get(f"/tracks/{track['id']}.gpx", headers=headers)
    assert gpx.status_code == 200 and gpx.headers["content-type"].startswith("application/gpx+xml")
    ns = {"g": "http://www.topografix.com/GPX/1/1"}
    points = ET.fromstring(gpx.content).findall(".//g:trkpt", ns)
    assert [(float(p.get("lat")), float(p.get("lon"))) for p in points] == [
        (round(w["lat"], 7), round(w["lon"], 7)) for w in _walk()]
    assert points[0].find("g:time", ns).text == "2024-03-20T02:00:00Z"
    # A walk shows where a person went: a login is needed, as for photos; bad input is named.
    assert client.get(f"/alerts/{HIGH}/tracks").status_code == 401
    assert client.get(f"/tracks/{track['id']}.gpx").status_code == 401
    assert client.get("/tracks/99999.gpx", headers=headers).status_code == 404
    backwards = client.post(f"/alerts/{HIGH}/tracks", json={"points": _walk()[::-1]}, headers=headers)
    assert backwards.status_code == 422 and "points[1].t" in backwards.json()["detail"]
    assert client.post(f"/alerts/{HIGH}/tracks", json={"points": _walk(1)}, headers=headers).status_code == 422
    assert client.post(f"/alerts/{HIGH}/tracks", json={"points": _walk()}).status_code == 401
    assert client.post("/alerts/nope/tracks", json={"points": _walk()}, headers=headers).status_code == 404
    with store.reading() as tx:
        assert tx.scalar("SELECT count(*) FROM tracks") == 1
