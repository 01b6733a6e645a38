"""The API through HTTP: GeoJSON alerts with filters, clear 4xx on bad input, the map page, health, OpenAPI."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings


@pytest.fixture
def client(store, tmp_path):
    settings = Settings(data_dir=tmp_path, store_url=store.url)
    with TestClient(create_app(settings)) as c:
        yield c


def test_alerts_are_a_geojson_feature_collection(client):
    r = client.get("/alerts")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/geo+json")
    body = r.json()
    assert body["type"] == "FeatureCollection"
    assert body["numberMatched"] == 3
    feature = body["features"][0]
    assert feature["geometry"]["type"] == "MultiPolygon"
    assert feature["id"] == feature["properties"]["id"] == "20240610-086300-0133700"
    assert feature["properties"]["district"] == "Huyện Lạc Dương"


@pytest.mark.parametrize(("query", "ids"), [
    ("bbox=108.29,11.94,108.33,11.98", ["20240610-086300-0133700"]),
    ("start=2024-03-10&end=2024-03-31", ["20240312-086200-0133600"]),
    ("confidence=high&confidence=highest", ["20240610-086300-0133700", "20240305-086100-0133500"]),
    ("limit=1&offset=2", ["20240305-086100-0133500"]),
])
def test_alert_filters(client, query, ids):
    r = client.get(f"/alerts?{query}")
    assert r.status_code == 200, r.text
    assert [f["id"] for f in r.json()["features"]] == ids


@pytest.mark.parametrize("query", [
    "status=new", "status=assigned", "district_id=675", "district_id=999", "min_area_ha=1", "max_area_ha=1",
    "min_area_ha=0.3&max_area_ha=3", "confidence=high,highest", "datetime=2024-03-01/2024-03-31",
    "status=new&confidence=low&bbox=108.3,11.9,108.5,12.1",
])
def test_alerts_filter_exactly_as_the_ogc_items_of_the_alerts_collection(client, store, query):
    """/alerts is the alerts collection's items under a short name: every filter is honoured (none is accepted
    and ignored), with the same answer as the OGC route."""
    first, last = store.query_alerts()["id"].iloc[[0, -1]]  # so that status and district filters tell them apart
    with store.transaction() as tx:
        tx.execute("UPDATE alerts SET status = 'assigned' WHERE id = ?", [first])
        tx.execute("UPDATE alerts SET district_id = '676' WHERE id = ?", [last])
    short = client.get(f"/alerts?{query}")
    ogc = client.get(f"/ogc/collections/alerts/items?{query}&limit=1000")
    assert short.status_code == ogc.status_code == 200, short.text
    expected = [f["id"] for f in ogc.json()["features"]]
    assert [f["id"] for f in short.json()["features"]] == expected
    assert short.json()["numberMatched"] == ogc.json()["numberMatched"] == len(expected)
    assert short.json()["features"] == ogc.json()["features"]
    everything = client.get("/alerts").json()["numberMatched"]
    assert len(expected) < everything  # each filter leaves something out


@pytest.mark.parametrize("path", ["/alerts", "/ogc/collections/alerts/items", "/ogc/collections",
                                  "/ogc/collections/alerts/items/20240312-086200-0133600"])
@pytest.mark.parametrize("param", ["stauts=new", "colour=red", "district=675"])
def test_an_unknown_query_parameter_is_refused_with_400_naming_it(client, path, param):
    r = client.get(f"{path}?{param}")
    assert r.status_code == 400, r.text
    assert param.split("=")[0] in r.json()["detail"]


def test_one_alert_by_id(client):
    r = client.get("/alerts/20240312-086200-0133600")
    assert r.status_code == 200
    assert r.json()["properties"]["confidence"] == "low"


def test_unknown_alert_id_is_404_with_a_json_message(client):
    r = client.get("/alerts/no-such-alert")
    assert r.status_code == 404
    assert r.json() == {"detail": "Không tìm thấy: no alert with id 'no-such-alert'", "code": "not_found"}  # vi first
    r = client.get("/alerts/no-such-alert", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert r.json() == {"detail": "no alert with id 'no-such-alert'", "code": "not_found"}


@pytest.mark.parametrize("bbox", ["1,2,3", "a,b,c,d", "108,12,107,13", "200,0,201,1", ""])
def test_malformed_bbox_is_422_naming_the_parameter(client, bbox):
    r = client.get("/alerts", params={"bbox": bbox})
    assert r.status_code == 422
    assert "bbox" in str(r.json()["detail"])


@pytest.mark.parametrize(("query", "name"), [
    ("start=2024-13-01", "start"), ("end=yesterday", "end"), ("confidence=medium", "confidence"),
    ("limit=0", "limit"), ("offset=-1", "offset"), ("start=2024-05-01&end=2024-04-01", "start"),
])
def test_other_bad_query_values_are_422_naming_the_parameter(client, query, name):
    r = client.get(f"/alerts?{query}")
    assert r.status_code == 422
    assert name in str(r.json()["detail"])


def test_health_reports_the_store(client):
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["alerts"] == 3


def test_openapi_documents_the_alert_endpoints_and_has_no_outside_references(client):
    spec = client.get("/openapi.json")
    assert spec.status_code == 200
    assert {"/alerts", "/alerts/{alert_id}", "/health"} <= set(spec.json()["paths"])
    assert "http" not in spec.text.replace("http://127.0.0.1", "")
    assert client.get("/docs").status_code == 200


def test_the_app_page_is_served_with_local_assets_only(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-cache"
    assert '<script type="module" src="/static/app/app.js">' in r.text
    # nothing loaded from another server (the inline icon's SVG namespace is a name, not a request)
    assert not re.search(r"""(src|href|content)\s*=\s*["']\s*(https?:)?//""", r.text), r.text
    for module in ("app", "api", "map", "i18n", "planner", "offline", "outbox", "position"):
        assert client.get(f"/static/app/{module}.js").status_code == 200, module
    assert client.get("/static/vendor/leaflet/leaflet.js").status_code == 200


def test_report_route_serves_only_report_files(client, tmp_path):
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "2024-W11.html").write_text("<html>ok</html>", encoding="utf-8")
    assert client.get("/reports/2024-W11.html").text == "<html>ok</html>"
    assert client.get("/reports/..%2Fstore.gpkg").status_code == 404
    assert client.get("/reports/nothing.html").status_code == 404


def test_latest_image_without_scenes_is_404(client):
    r = client.get("/imagery/latest.png", params={"lang": "en"})
    assert r.status_code == 404
    assert "no scene" in r.json()["detail"]


def test_anonymous_readers_do_not_see_who_reviews_or_their_notes(client, store):
    with store.transaction() as tx:
        tx.execute("UPDATE alerts SET assigned_to = ?, review_note = ?, reviewed_by = ? WHERE id = ?",
                   ["ranger_a", "đã kiểm tra hiện trường", "ranger_a", "20240312-086200-0133600"])
    one = client.get("/alerts/20240312-086200-0133600").json()["properties"]
    listed = next(f for f in client.get("/alerts").json()["features"] if f["id"] == "20240312-086200-0133600")
    for props in (one, listed["properties"]):
        assert not {"assigned_to", "review_note", "reviewed_by"} & set(props)
        assert props["status"] == "new"


def test_ogc_items_and_tiles_hide_reviewers_from_anonymous_readers(client, store):
    """The same rule as /alerts, on both backends and through both the Python and the PostGIS (SQL) paths."""
    import mapbox_vector_tile
    from reviewkit import PASSWORD, login

    from api.users import add_user

    alert = "20240312-086200-0133600"
    with store.transaction() as tx:
        tx.execute("UPDATE alerts SET assigned_to = ?, review_note = ?, reviewed_by = ? WHERE id = ?",
                   ["ranger_a", "ghi chú", "ranger_a", alert])
    add_user(store, "viewer1", PASSWORD, "viewer")
    logged_in = login(client, "viewer1")
    private = {"assigned_to", "review_note", "reviewed_by"}

    def props(headers=None):
        items = client.get("/ogc/collections/alerts/items", params={"f": "json"}, headers=headers).json()
        one = client.get(f"/ogc/collections/alerts/items/{alert}", params={"f": "json"}, headers=headers).json()
        listed = next(f for f in items["features"] if f["id"] == alert)
        return listed["properties"], one["properties"]

    for p in props():
        assert not private & set(p)
    for p in props(logged_in):
        assert p["assigned_to"] == "ranger_a" and p["review_note"] == "ghi chú"
    import morecantile

    t = morecantile.tms.get("WebMercatorQuad").tile(108.4005, 12.0505, 14)  # the tile holding the alert
    tile = client.get(f"/ogc/collections/alerts/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}")
    assert tile.status_code == 200
    features = mapbox_vector_tile.decode(tile.content)["alerts"]["features"]
    mine = [f for f in features if f["properties"].get("id") == alert]
    assert mine and not private & set(mine[0]["properties"])
