"""OGC API – Features under /ogc through HTTP: landing, conformance, collections, items with paging and filters,
HTML, clear 4xx on bad input, and ETags that follow the data version."""

from __future__ import annotations

import geopandas as gpd
import pytest
from conftest import sample_alerts
from fastapi.testclient import TestClient
from shapely.geometry import box

from api import collections as features
from api.app import create_app
from api.collections import FeatureSource
from api.settings import Settings

IDS = ["20240610-086300-0133700", "20240312-086200-0133600", "20240305-086100-0133500"]


@pytest.fixture
def client(store, tmp_path):
    settings = Settings(data_dir=tmp_path, store_url=store.url, cors_origins=["http://planner.example"])
    with TestClient(create_app(settings)) as c:
        yield c


def test_landing_and_conformance_link_to_the_api(client):
    body = client.get("/ogc/").json()
    rels = {link["rel"]: link["href"] for link in body["links"]}
    assert rels["conformance"].endswith("/ogc/conformance") and rels["data"].endswith("/ogc/collections")
    assert rels["service-desc"].endswith("/openapi.json")
    classes = client.get("/ogc/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in classes
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in classes
    assert client.get("/").status_code == 200  # the rangers' map keeps /


def test_collections_list_alerts_and_each_admin_version(client):
    found = {c["id"]: c for c in client.get("/ogc/collections").json()["collections"]}
    assert {"alerts", "admin_2024"} <= set(found)
    west, south, east, north = found["admin_2024"]["extent"]["spatial"]["bbox"][0]
    assert 107 < west < east < 109 and 11 < south < north < 13
    assert found["admin_2024"]["extent"]["temporal"]["interval"] == [["2004-01-01", "2025-06-30"]]
    assert client.get("/ogc/collections/alerts").json()["id"] == "alerts"


def test_items_page_with_number_matched_and_next_links(client):
    r = client.get("/ogc/collections/alerts/items", params={"limit": 2})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    body = r.json()
    assert body["numberMatched"] == 3 and body["numberReturned"] == 2
    assert [f["id"] for f in body["features"]] == IDS[:2]
    nxt = next(link["href"] for link in body["links"] if link["rel"] == "next")
    second = client.get(nxt.replace("http://testserver", "")).json()
    assert [f["id"] for f in second["features"]] == IDS[2:]
    assert not any(link["rel"] == "next" for link in second["links"])


@pytest.mark.parametrize(("query", "ids"), [
    ({"bbox": "108.29,11.94,108.33,11.98"}, [IDS[0]]),
    ({"datetime": "2024-03-01/2024-03-31"}, [IDS[1], IDS[2]]),
    ({"datetime": "../2024-03-05"}, [IDS[2]]),
    ({"datetime": "2024-06-10T00:00:00Z"}, [IDS[0]]),
    ({"confidence": "high,highest"}, [IDS[0], IDS[2]]),
    ({"status": "new"}, IDS),
    ({"status": "dismissed"}, []),
    ({"district_id": "675"}, IDS),
    ({"min_area_ha": 1, "max_area_ha": 5}, [IDS[2]]),
])
def test_item_filters(client, query, ids):
    r = client.get("/ogc/collections/alerts/items", params=query)
    assert r.status_code == 200, r.text
    assert [f["id"] for f in r.json()["features"]] == ids
    assert r.json()["numberMatched"] == len(ids)


def test_admin_units_filtered_by_bbox(client):
    body = client.get("/ogc/collections/admin_2024/items", params={"bbox": "108.40,11.92,108.46,11.96",
                                                                   "limit": 100}).json()
    names = {f["properties"]["name"] for f in body["features"]}
    assert "Thành phố Đà Lạt" in names and len(names) < 12


@pytest.mark.parametrize("collection", ["admin_2024", "alerts"])
def test_skip_geometry_gives_the_same_features_without_their_outlines(client, collection):
    """``skipGeometry=true`` (pygeoapi's name): what a list of names needs, a fraction of the bytes."""
    whole = client.get(f"/ogc/collections/{collection}/items", params={"limit": 100})
    light = client.get(f"/ogc/collections/{collection}/items", params={"limit": 100, "skipGeometry": "true"})
    assert light.status_code == 200
    a, b = whole.json(), light.json()
    assert [f["id"] for f in a["features"]] == [f["id"] for f in b["features"]] and b["numberMatched"] > 0
    assert [f["properties"] for f in a["features"]] == [f["properties"] for f in b["features"]]
    assert all(f["geometry"] is None for f in b["features"])
    assert all(f["geometry"] is not None for f in a["features"])
    if collection == "admin_2024":
        assert len(light.content) * 20 < len(whole.content)
    assert client.get(f"/ogc/collections/{collection}/items", params={"skipGeometry": "maybe"}).status_code == 422


def test_one_item_and_html(client):
    feature = client.get(f"/ogc/collections/alerts/items/{IDS[1]}").json()
    assert feature["id"] == IDS[1] and feature["properties"]["confidence"] == "low"
    page = client.get("/ogc/collections/alerts/items", params={"f": "html"})
    assert page.headers["content-type"].startswith("text/html") and IDS[0] in page.text
    assert "https://" not in page.text  # Leaflet served by the app
    browser = client.get("/ogc/collections", headers={"Accept": "text/html,application/xhtml+xml"})
    assert browser.headers["content-type"].startswith("text/html") and "admin_2024" in browser.text
    assert client.get("/ogc/collections/admin_2024/items/672?f=html").status_code == 200


@pytest.mark.parametrize(("path", "status", "word"), [
    ("/ogc/collections/alerts/items?bbox=1,2,3", 422, "bbox"),
    ("/ogc/collections/alerts/items?bbox=108,12,107,13", 422, "bbox"),
    ("/ogc/collections/alerts/items?datetime=yesterday", 400, "datetime"),
    ("/ogc/collections/alerts/items?datetime=2024-05-01/2024-04-01", 400, "datetime"),
    ("/ogc/collections/alerts/items?datetime=../..", 400, "datetime"),
    ("/ogc/collections/alerts/items?limit=0", 422, "limit"),
    ("/ogc/collections/alerts/items?limit=100001", 422, "limit"),
    ("/ogc/collections/alerts/items?offset=-1", 422, "offset"),
    ("/ogc/collections/alerts/items?confidence=medium", 422, "confidence"),
    ("/ogc/collections/alerts/items?zone_class=conversion", 400, "zone_class"),  # a filter alerts do not have
    ("/ogc/collections/alerts/items?min_area_ha=5&max_area_ha=1", 400, "min_area_ha"),
    ("/ogc/collections/nothing/items", 404, "nothing"),
    ("/ogc/collections/alerts/items/nothing", 404, "nothing"),
    ("/ogc/collections/admin_2024/items/99999", 404, "99999"),
    ("/ogc/collections/alerts/items?f=xml", 422, "f"),
])
def test_bad_input_is_4xx_with_a_message(client, path, status, word):
    r = client.get(path)
    assert r.status_code == status, r.text
    assert word in str(r.json()["detail"])


def test_etag_follows_the_data_version(client, store):
    url = "/ogc/collections/alerts/items"
    first = client.get(url)
    tag = first.headers["etag"]
    assert "must-revalidate" in first.headers["cache-control"]
    again = client.get(url, headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b""
    store.sync_alerts(sample_alerts().iloc[:2])  # the detector drops one unreviewed alert
    changed = client.get(url, headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["etag"] != tag
    assert changed.json()["numberMatched"] == 2


def test_cors_allows_the_configured_origin_only(client):
    ok = client.get("/ogc/collections", headers={"Origin": "http://planner.example"})
    assert ok.headers["access-control-allow-origin"] == "http://planner.example"
    other = client.get("/ogc/collections", headers={"Origin": "http://elsewhere.example"})
    assert "access-control-allow-origin" not in other.headers


def test_datetime_selects_boundary_versions_by_validity(client):
    during = client.get("/ogc/collections/admin_2024/items", params={"datetime": "2024-06-30"}).json()
    after = client.get("/ogc/collections/admin_2024/items", params={"datetime": "2025-07-01/.."}).json()
    assert during["numberMatched"] == 12 and after["numberMatched"] == 0


class _Lots(FeatureSource):
    """A collection from another module (as planting lots will be): features held in a frame."""

    id = "planting_lots"
    title = "Planting lots"
    description = "lots planted in 2024"

    def __init__(self):
        self.frame = gpd.GeoDataFrame({"fid": ["L1", "L2"], "trees": [1200, 800]},
                                      geometry=[box(108.40, 11.90, 108.41, 11.91), box(108.5, 12.0, 108.51, 12.01)],
                                      crs=4326)

    def items(self, query):
        hits = self.frame if query.bbox is None else self.frame[self.frame.intersects(box(*query.bbox))]
        return hits.iloc[query.offset:query.offset + (query.limit or len(hits))], len(hits)

    def item(self, fid):
        return self.frame[self.frame["fid"] == fid]


def test_other_modules_add_collections_through_providers(client, store, tmp_path, monkeypatch):
    def lots_for_rangers(ctx):
        if ctx.role == "ranger":
            yield _Lots()

    monkeypatch.setattr(features, "PROVIDERS", [*features.PROVIDERS])
    features.register_provider(lots_for_rangers)
    ids = [c["id"] for c in client.get("/ogc/collections").json()["collections"]]
    assert "planting_lots" not in ids  # no role: not listed

    from reviewkit import PASSWORD, login

    from api.users import add_user

    add_user(store, "an", PASSWORD, "ranger", ["675"])
    with TestClient(create_app(Settings(data_dir=tmp_path, store_url=store.url))) as ranger:
        ranger.headers.update(login(ranger, "an"))  # the auth layer sets the caller's role
        body = ranger.get("/ogc/collections/planting_lots/items", params={"bbox": "108.3,11.8,108.45,11.95"}).json()
        assert [f["id"] for f in body["features"]] == ["L1"] and body["features"][0]["properties"]["trees"] == 1200
        assert ranger.get("/ogc/collections/planting_lots/tiles/WebMercatorQuad/10/820/480").status_code == 200
