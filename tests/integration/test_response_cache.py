"""Responses built once per data version: a page of alerts is built once per data version and language, answered
with an ETag (304 while current), and shows a write at once; a body kept for one caller is never given to a
caller who may see less. Both backends."""

from __future__ import annotations

from conftest import sample_alerts
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings


def test_a_page_of_alerts_is_revalidated_and_follows_the_data(store, tmp_path):
    with TestClient(create_app(Settings(data_dir=tmp_path, store_url=store.url, lang="en"))) as client:
        first = client.get("/alerts")
        assert first.status_code == 200 and first.json()["numberMatched"] == 3
        tag = first.headers["etag"]
        assert client.get("/alerts", headers={"If-None-Match": tag}).status_code == 304
        assert client.get("/alerts?status=new").headers["etag"] != tag

        store.sync_alerts(sample_alerts().iloc[:2])  # a write: one alert fewer
        second = client.get("/alerts", headers={"If-None-Match": tag})
        assert second.status_code == 200 and second.headers["etag"] != tag
        assert second.json()["numberMatched"] == 2


def test_bodies_kept_for_one_caller_are_not_given_to_another(app_client):
    """The alerts as an admin sees them (with the reviewer's fields), then as an anonymous reader: not the same."""
    from reviewkit import login

    admin = app_client.get("/alerts", headers=login(app_client, "admin")).json()["features"]
    anonymous = app_client.get("/alerts").json()["features"]
    assert "assigned_to" in admin[0]["properties"]
    assert "assigned_to" not in anonymous[0]["properties"]
    again = app_client.get("/alerts", headers=login(app_client, "admin")).json()["features"]
    assert again == admin


BIG = "20240610-086300-0133700"  # 12 ha near Đà Lạt, district 675 (ranger "an")


def _tile_statuses(client, headers: dict | None = None) -> dict[str, dict]:
    """The alerts of the z12 tile over the 12 ha alert, by id, with their properties."""
    import mapbox_vector_tile
    import morecantile

    t = morecantile.tms.get("WebMercatorQuad").tile(108.31, 11.96, 12)
    r = client.get(f"/ogc/collections/alerts/tiles/WebMercatorQuad/12/{t.x}/{t.y}", headers=headers or {})
    assert r.status_code == 200, r.text
    features = mapbox_vector_tile.decode(r.content)["alerts"]["features"]
    return {f["properties"]["id"]: f["properties"] for f in features}


def test_a_tile_built_for_one_caller_answers_another_of_the_same_role_and_follows_a_review(app_client):
    """Tiles are kept by role and data version: the second ranger gets the first ranger's tile, a review changes
    it for both at once (a new data version), and the public never gets the logged-in tile's private columns."""
    from reviewkit import login

    client = app_client
    admin, an, binh = (login(client, u) for u in ("admin", "an", "binh"))
    assert client.post("/assignments/run", headers=admin).status_code == 200
    first = _tile_statuses(client, an)
    assert first[BIG]["status"] == "assigned" and first[BIG]["assigned_to"] == "an"
    memo = client.app.state.response_memo
    kept = len(memo.items)
    assert _tile_statuses(client, binh) == first  # the same role: answered from the kept body
    assert len(memo.items) == kept
    public = _tile_statuses(client)
    assert public[BIG]["status"] == "assigned" and "assigned_to" not in public[BIG]  # the public's own body

    r = client.post(f"/alerts/{BIG}/transitions", headers=an, json={"to": "in_field", "version": 2})
    assert r.status_code == 200, r.text
    assert _tile_statuses(client, binh)[BIG]["status"] == "in_field"
    assert _tile_statuses(client)[BIG]["status"] == "in_field"
    r = client.post(f"/alerts/{BIG}/transitions", headers=an,
                    json={"to": "confirmed", "version": 3, "cause": "illegal_logging"})
    assert r.status_code == 200, r.text
    assert _tile_statuses(client, an)[BIG]["status"] == "confirmed"
    assert _tile_statuses(client, admin)[BIG]["status"] == "confirmed"


def test_identical_tile_requests_arriving_together_build_once(app_client, monkeypatch):
    """Single flight: eight threads ask for the same tile at once; the tile is built once, all get its bytes."""
    import threading
    import time

    from api.collections import AlertSource

    built = []
    mvt = AlertSource.mvt

    def slow_mvt(self, *args, **kwargs):  # PostGIS's tile, or None for the Python encoder's
        built.append(1)
        time.sleep(0.3)
        return mvt(self, *args, **kwargs)

    monkeypatch.setattr(AlertSource, "mvt", slow_mvt)
    url = "/ogc/collections/alerts/tiles/WebMercatorQuad/12/3281/1911"
    bodies = []
    threads = [threading.Thread(target=lambda: bodies.append(app_client.get(url))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in bodies] == [200] * 8
    assert len({r.content for r in bodies}) == 1
    assert len(built) == 1


def test_logging_in_keeps_the_data_version_and_a_review_moves_it(app_client, store):
    """A login counts an attempt and issues a token: nothing any response shows, so every caller's cached tiles
    and pages stay current; a review is shown, so it moves the version."""
    from reviewkit import login

    before = store.data_version()
    an = login(app_client, "an")
    login(app_client, "admin")
    assert app_client.post("/auth/token", data={"username": "an", "password": "wrong-password"}).status_code == 401
    assert store.data_version() == before
    admin = login(app_client, "admin")
    assert app_client.post("/assignments/run", headers=admin).status_code == 200
    assert store.data_version() > before
    moved = store.data_version()
    r = app_client.post(f"/alerts/{BIG}/transitions", headers=an, json={"to": "in_field", "version": 2})
    assert r.status_code == 200 and store.data_version() > moved
