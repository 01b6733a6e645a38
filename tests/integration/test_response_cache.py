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
