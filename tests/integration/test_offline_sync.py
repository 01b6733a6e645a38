"""What a phone's sync needs from the API, on both stores: a retried write (same Idempotency-Key, answer dropped)
creates nothing twice; the status of many alerts in one request; an offline package's URLs and size, and its cap."""

from __future__ import annotations

import pytest
from reviewkit import jpeg_with_gps, login

from geo.workflow.review import auto_assign

HIGH = "20240305-086100-0133500"
LOW = "20240312-086200-0133600"


@pytest.fixture
def ranger(app_client, store):
    auto_assign(store)
    return app_client, login(app_client, "an")


def _history(client, headers, alert_id):
    return client.get(f"/alerts/{alert_id}/history", headers=headers).json()


def test_a_retried_review_step_is_applied_once_and_answered_again(ranger):
    client, headers = ranger
    version = client.get(f"/alerts/{HIGH}").json()["properties"]["version"]
    before = len(_history(client, headers, HIGH))
    key = {"Idempotency-Key": "0b6c3f5e-5d3a-4f1e-9d11-6f2c6f0e8a01"}
    first = client.post(f"/alerts/{HIGH}/transitions", json={"to": "in_field", "version": version},
                        headers={**headers, **key})
    assert first.status_code == 200, first.text
    again = client.post(f"/alerts/{HIGH}/transitions", json={"to": "in_field", "version": version},
                        headers={**headers, **key})  # the first answer was lost on the way: sent again
    assert again.status_code == 200 and again.json() == first.json()
    assert len(_history(client, headers, HIGH)) == before + 1
    # Without a key the same retry is a stale version: the key is what makes it safe.
    plain = client.post(f"/alerts/{HIGH}/transitions", json={"to": "in_field", "version": version}, headers=headers)
    assert plain.status_code == 409 and plain.json()["code"] in ("stale_version", "invalid_transition")
    # The same key for another request is refused, naming the key, in Vietnamese by default.
    other = client.post(f"/alerts/{HIGH}/transitions", json={"to": "dismissed", "version": version + 1,
                                                             "reason": "cloud_shadow"}, headers={**headers, **key})
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
    assert "0b6c3f5e" in other.json()["detail"] and "khác" in other.json()["detail"]


def test_a_retried_photo_upload_stores_one_photo(ranger):
    client, headers = ranger
    photo = jpeg_with_gps(12.0, 108.4)
    key = {"Idempotency-Key": "photo-key-000000001"}
    answers = [client.post(f"/alerts/{HIGH}/photos", files={"file": ("a.jpg", photo, "image/jpeg")},
                           headers={**headers, **key}) for _ in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 201]
    assert len({a.json()["id"] for a in answers}) == 1
    assert len(client.get(f"/alerts/{HIGH}/photos", headers=headers).json()) == 1
    bad = client.post(f"/alerts/{HIGH}/photos", files={"file": ("a.jpg", photo, "image/jpeg")},
                      headers={**headers, "Idempotency-Key": "no"})
    assert bad.status_code == 422 and bad.json()["code"] == "idempotency_key"


def test_the_status_of_many_alerts_in_one_request(ranger):
    client, headers = ranger
    version = client.get(f"/alerts/{LOW}").json()["properties"]["version"]
    client.post(f"/alerts/{LOW}/transitions", json={"to": "in_field", "version": version}, headers=headers)
    r = client.post("/alerts/status", json={"ids": [LOW, HIGH]}, headers=headers)
    assert r.status_code == 200, r.text
    low, high = r.json()
    assert (low["id"], low["status"], low["version"]) == (LOW, "in_field", version + 1)
    assert low["last_change"] and high["status"] == "assigned" and high["assigned_to"] == "an"
    missing = client.post("/alerts/status", json={"ids": [HIGH, "nope"]}, headers=headers)
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]


def test_an_offline_package_lists_what_the_app_reads_and_its_cap_refuses(ranger):
    client, headers = ranger
    r = client.post("/offline/package", json={"ids": [HIGH, LOW]}, headers=headers)
    assert r.status_code == 200, r.text
    pkg = r.json()
    urls = {item["url"]: item["bytes"] for item in pkg["resources"]}
    assert f"/alerts/{HIGH}" in urls and f"/alerts/{LOW}/history" in urls
    assert any(u.startswith("/ogc/collections/alerts/tiles/WebMercatorQuad/16/") for u in urls)
    assert pkg["bytes"] == sum(urls.values()) and pkg["buffer_m"] == 500
    # Each listed body is the size the server answers with.
    for url in [f"/alerts/{HIGH}", next(u for u in urls if "/alerts/tiles/WebMercatorQuad/14/" in u)]:
        assert len(client.get(url, headers=headers).content) == urls[url]
    tiny = client.post("/offline/package", json={"ids": [HIGH, LOW], "cap_mb": 0.001},
                       headers={**headers, "Accept-Language": "en"})
    assert tiny.status_code == 422 and tiny.json()["code"] == "offline_too_large"
    assert "0.001 MB limit" in tiny.json()["detail"]
    vi = client.post("/offline/package", json={"ids": [HIGH, LOW], "cap_mb": 0.001}, headers=headers)
    assert "vượt giới hạn 0.001 MB" in vi.json()["detail"]
    assert client.post("/offline/package", json={"ids": [HIGH]}).status_code == 401
