"""The web map at ``/`` is rendered once per data version and language (it costs ~70 ms of CPU), answered with an
ETag (304 while current), and shows a write at once. Both backends."""

from __future__ import annotations

from conftest import sample_alerts
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings


def test_the_web_map_is_revalidated_and_follows_the_data(store, tmp_path):
    with TestClient(create_app(Settings(data_dir=tmp_path, store_url=store.url, lang="en"))) as client:
        first = client.get("/")
        assert first.status_code == 200 and "3 alerts" in first.text
        tag = first.headers["etag"]
        assert client.get("/", headers={"If-None-Match": tag}).status_code == 304
        assert client.get("/?lang=vi").headers["etag"] != tag

        store.sync_alerts(sample_alerts().iloc[:2])  # a write: one alert fewer
        second = client.get("/", headers={"If-None-Match": tag})
        assert second.status_code == 200 and second.headers["etag"] != tag
        assert "2 alerts" in second.text
