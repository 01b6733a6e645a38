"""Hostile input is refused with a 4xx naming the problem, never a 500, and nothing it carries is stored as given:

- NUL bytes and path traversal in every path parameter of every route (read from ``app.routes``, so new routes
  are covered), and NUL bytes in every query parameter of every GET operation;
- a decompression bomb (a small PNG declaring 30000 x 30000 pixels) and an unbounded EXIF capture time;
- spreadsheet formulas in the cells of the public CSV exports (OWASP CSV injection), numbers left as numbers;
- planning coordinates outside lon/lat (1e308, longitude 200), upload errors naming the server's temp folder;
- the ``id`` filter of the admin-units collection, and a zoom-0 vector tile that holds the features on both
  backends.
"""

from __future__ import annotations

import csv
import io
import json
import re
import struct
import tempfile
import zlib

import mapbox_vector_tile
import pytest
from conftest import sample_alerts
from reviewkit import jpeg_with_gps, login

ALERT = "20240312-086200-0133600"
# (a bare ".." never reaches a route: the client resolves it, as browsers do)
HOSTILE_SEGMENTS = ["a%00b", "%00", "..%2f..%2fetc%2fpasswd", "..%2F..%2Fhealth", "%2e%2e", "%c0%ae%c0%ae"]
PLAUSIBLE = {"collection_id": "alerts", "z": "0", "x": "0", "y": "0", "fmt": "png", "layer": "alerts",
             "year": "2024", "layer_name": "truecolor"}


@pytest.fixture
def admin(app_client):
    app_client.headers.update(login(app_client, "admin"))
    return app_client


def _route_urls(app) -> list[tuple[str, str]]:
    """(method, URL) for every operation of the app's OpenAPI document (built from its routes, so a new route is
    in it) with each hostile segment in each of its path parameters in turn, and the static files' mount."""
    out = [("GET", f"/static/{bad}") for bad in HOSTILE_SEGMENTS]
    for path, operations in app.openapi()["paths"].items():
        names = re.findall(r"{(\w+)}", path)
        for name in names:
            for bad in HOSTILE_SEGMENTS:
                url = path
                for other in names:
                    url = url.replace("{" + other + "}", bad if other == name else PLAUSIBLE.get(other, "1"))
                out += [(method.upper(), url) for method in operations]
    return out


def test_nul_and_traversal_in_every_path_parameter_are_4xx(admin):
    urls = _route_urls(admin.app)
    assert len({u for _, u in urls}) > 100  # every route with a path parameter is there
    failures = []
    for method, url in urls:
        r = admin.request(method, url)
        if not 400 <= r.status_code < 500:
            failures.append(f"{method} {url} -> {r.status_code}")
    assert not failures, "\n".join(failures)


def test_nul_in_every_query_parameter_is_4xx(admin):
    admin.get(f"/alerts/{ALERT}")
    failures = []
    for path, operations in admin.get("/openapi.json").json()["paths"].items():
        get = operations.get("get")
        if not get:
            continue
        url = re.sub(r"{(\w+)}", lambda m: PLAUSIBLE.get(m[1], ALERT if m[1] == "alert_id" else "1"), path)
        for param in (p["name"] for p in get.get("parameters", []) if p["in"] == "query"):
            r = admin.get(url, params={param: "a\x00b"})
            if r.status_code >= 500 or (r.status_code == 200 and param not in ("f",)):
                failures.append(f"{url}?{param}=a%00b -> {r.status_code}")
    assert not failures, "\n".join(failures)


# -- photos ---------------------------------------------------------------------------------------------------
def _png_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A valid 1-bit PNG of ``width`` x ``height`` black pixels: ~110 kB that would decode to 112 MB (or to
    900 MB of RGB)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer = zlib.compressobj(9)
    row = bytes(1 + (width + 7) // 8)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def test_a_decompression_bomb_is_refused_and_not_stored(admin):
    r = admin.post(f"/alerts/{ALERT}/photos", files={"file": ("bomb.png", _png_bomb())})
    assert r.status_code == 422, r.text
    assert r.json()["detail"].endswith("file: the image declares more than the 60 megapixels accepted")
    assert r.json()["code"] == "invalid_input"
    assert admin.get(f"/alerts/{ALERT}/photos").json() == []


def test_the_exif_capture_time_is_stored_as_iso_or_not_at_all(admin):
    huge = admin.post(f"/alerts/{ALERT}/photos", files={"file": ("a.jpg", jpeg_with_gps(11.9, 108.4, "9" * 60000))})
    odd = admin.post(f"/alerts/{ALERT}/photos", files={"file": ("b.jpg", jpeg_with_gps(11.9, 108.4, "<b>x</b>"))})
    good = admin.post(f"/alerts/{ALERT}/photos", files={"file": ("c.jpg", jpeg_with_gps(11.9, 108.4))})
    assert [r.status_code for r in (huge, odd, good)] == [201, 201, 201]
    assert huge.json()["taken_at"] is None and odd.json()["taken_at"] is None
    assert good.json()["taken_at"] == "2024-06-14T09:30:00"


# -- CSV formula injection --------------------------------------------------------------------------------------
FORMULAS = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+1+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
            "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1"]


def test_csv_exports_neutralise_formulas_and_keep_numbers(admin, store):
    alerts = sample_alerts()
    alerts["district"] = FORMULAS[:3]
    alerts["mean_drop"] = -3.5
    store.sync_alerts(alerts)
    register = io.StringIO()
    out = csv.writer(register)
    out.writerow(["number", "opened", "violation_type", "area_ha", "outcome", "district_id", "note"])
    out.writerows([f"CASE-{i}", "2024-02-01", "other", "1.5", "pending", f, f] for i, f in enumerate(FORMULAS))
    out.writerows([f, "2024-03-01", "other", "", "pending", "", ""] for f in FORMULAS)
    r = admin.post("/cases/import", files={"file": ("cases.csv", register.getvalue().encode())})
    assert r.status_code == 200, r.text

    for layer, text_columns in (("alerts", ["district"]), ("cases", ["number", "district_id", "note"])):
        body = admin.get(f"/exports/{layer}", params={"format": "csv"}).content.decode("utf-8")
        cells = list(csv.DictReader(io.StringIO(body)))
        assert cells
        for row in cells:
            for column, value in row.items():
                assert not value.startswith(("=", "+", "@", "\t", "\r")), (layer, column, value)
                assert not value.startswith("-") or re.fullmatch(r"-[\d.]+", value), (layer, column, value)
        shown = {row[c] for row in cells for c in text_columns}
        assert {"'" + f for f in FORMULAS if f.strip() == f} & shown, shown  # kept, behind a quote
        if layer == "alerts":
            assert {row["mean_drop"] for row in cells} == {"-3.5"}  # a number stays a number
        else:
            assert {row["area_ha"] for row in cells} >= {"1.5"}


# -- planning and planting uploads --------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ['number,opened,violation_type\r\n"K1,2023-05-01,fire\r\n',
                                  "number,opened,violation_type\nK1\r2,2023-05-01,fire\n",
                                  "number,opened,violation_type\nK\x001,2023-05-01,fire\n"])
def test_a_malformed_case_register_is_a_422_naming_the_line(admin, text):
    """An unclosed quote, a stray carriage return, a NUL: the CSV reader's own errors become a 422, not a 500."""
    r = admin.post("/cases/import", files={"file": ("cases.csv", text.encode())})
    assert r.status_code == 422, r.text
    assert "CSV line" in r.json()["detail"] or "NUL" in r.json()["detail"]


def _layer(coords: list[list[float]]) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"zone_type": "RPH"}, "geometry": {"type": "Polygon", "coordinates": [c]}}
        for c in coords]}).encode()


@pytest.mark.parametrize("bad", [
    [[108.3, 11.9], [1e308, 11.9], [108.4, 12.0], [108.3, 11.9]],
    [[200.0, 11.9], [200.1, 11.9], [200.1, 12.0], [200.0, 11.9]],
    [[108.3, 95.0], [108.4, 95.0], [108.4, 96.0], [108.3, 95.0]],
])
def test_planning_coordinates_outside_lonlat_are_refused_naming_the_feature(admin, store, bad):
    good = [[108.3, 11.9], [108.4, 11.9], [108.4, 12.0], [108.3, 11.9]]
    r = admin.post("/planning/layers", files={"file": ("zones.geojson", _layer([good, bad]))},
                   data={"name": "plan", "kind": "zoning", "valid_from": "2024-01-01"})
    assert r.status_code == 422, r.text
    assert "zones.geojson" in r.json()["detail"] and "features 1" in r.json()["detail"], r.text
    assert store.planning_layers() == []


@pytest.mark.parametrize(("path", "name"), [("/planning/layers", "vung-quy-hoach.geojson"),
                                            ("/planting-lots/import", "lo-trong.geojson")])
def test_upload_errors_name_the_clients_file_never_the_temp_folder(admin, path, name):
    form = {"name": "plan", "kind": "zoning", "valid_from": "2024-01-01"} if path == "/planning/layers" else None
    r = admin.post(path, files={"file": (name, b'{"type": "FeatureCollection", "features": [')}, data=form)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert name in detail, detail
    assert tempfile.gettempdir() not in detail and "forestmon-upload" not in detail, detail


# -- small defects of the collections ---------------------------------------------------------------------------
def test_the_admin_units_id_filter_is_applied(admin):
    admin_id = next(c["id"] for c in admin.get("/ogc/collections").json()["collections"] if c["id"] != "alerts")
    every = admin.get(f"/ogc/collections/{admin_id}/items", params={"limit": 100}).json()
    one = every["features"][1]["id"]
    assert every["numberMatched"] > 2
    picked = admin.get(f"/ogc/collections/{admin_id}/items", params={"id": one}).json()
    assert [f["id"] for f in picked["features"]] == [one] and picked["numberMatched"] == 1
    assert admin.get(f"/ogc/collections/{admin_id}/items", params={"id": "no-such-unit"}).json()["numberMatched"] == 0


def test_a_zoom_0_vector_tile_holds_the_features_on_both_backends(admin):
    r = admin.get("/ogc/collections/alerts/tiles/WebMercatorQuad/0/0/0")
    assert r.status_code == 200
    layer = mapbox_vector_tile.decode(r.content)["alerts"]
    assert sorted(f["properties"]["fid"] for f in layer["features"]) == sorted(sample_alerts()["id"])
