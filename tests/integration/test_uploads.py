"""Every upload is refused with 413 once it passes its size limit, one setting for files and one for photos,
and nothing is stored."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from reviewkit import PASSWORD, USERS, jpeg_with_gps, login

from api.app import create_app
from api.settings import Settings
from api.users import add_user

ALERT = "20240312-086200-0133600"


@pytest.fixture
def client(store, tmp_path):
    for name, (role, units) in USERS.items():
        add_user(store, name, PASSWORD, role, units)
    settings = Settings(data_dir=tmp_path, store_url=store.url, upload_max_mb=0.02, max_photo_mb=0.01)
    with TestClient(create_app(settings)) as c:
        c.headers.update(login(c, "admin"))
        yield c


@pytest.mark.parametrize(("path", "name", "data"), [
    ("/planning/layers", "a.geojson", b"{" * 30_000),
    ("/planting-lots/import", "lots.geojson", b"{" * 30_000),
    ("/cases/import", "cases.csv", b"number,opened,violation_type\n" + b"x" * 30_000),
    (f"/alerts/{ALERT}/photos", "photo.jpg", jpeg_with_gps(11.9, 108.4) + b"\0" * 30_000),
])
def test_each_upload_over_its_limit_is_413_and_stores_nothing(client, store, path, name, data):
    form = {"name": "a", "kind": "zoning", "valid_from": "2024-01-01"} if path == "/planning/layers" else None
    before = store.data_version()
    r = client.post(path, files={"file": (name, data)}, data=form)
    assert r.status_code == 413, r.text
    assert "MB allowed" in r.json()["detail"]
    assert store.data_version() == before


def test_a_photo_under_the_limit_is_stored(client):
    r = client.post(f"/alerts/{ALERT}/photos", files={"file": ("photo.jpg", jpeg_with_gps(11.9, 108.4))})
    assert r.status_code == 201, r.text
