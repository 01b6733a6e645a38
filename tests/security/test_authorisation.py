"""The authorisation matrix: every write operation of the API × anonymous (401), viewer (403), a ranger of
another unit (403: the sample alerts are in unit 675, ``binh`` covers 673), planner (403 but for planning
writes) and admin (2xx), on both store backends.

The operations are read from the app's OpenAPI document, so a new write route without an entry below fails.
"""

from __future__ import annotations

import io

import geopandas as gpd
import pytest
from reviewkit import PASSWORD, jpeg_with_gps, login
from shapely.geometry import box

ALERT = "20240305-086100-0133500"  # unit 675
OTHER = "20240312-086200-0133600"  # unit 675 too
WRITES = ("post", "put", "patch", "delete")


def _assigned(client, admin):
    r = client.post(f"/alerts/{ALERT}/transitions", headers=admin, json={"to": "assigned", "version": 1,
                                                                         "assignee": "an"})
    assert r.status_code == 200, r.text


def _confirmed(client, admin, alert=ALERT):
    r = client.post(f"/alerts/{alert}/transitions", headers=admin, json={"to": "assigned", "version": 1,
                                                                         "assignee": "an"})
    assert r.status_code == 200, r.text
    for version, body in ((2, {"to": "in_field"}), (3, {"to": "confirmed", "cause": "fire"})):
        assert client.post(f"/alerts/{alert}/transitions", headers=admin,
                           json={**body, "version": version}).status_code == 200


def _case(client, admin) -> int:
    _confirmed(client, admin)
    r = client.post("/cases", headers=admin, json={"number": "C-1", "opened": "2024-06-01",
                                                  "violation_type": "fire", "alert_ids": [ALERT]})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _subscription(client, admin) -> int:
    r = client.post("/subscriptions", headers=admin, json={"email": "x@example.vn"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _lots(tmp_path) -> bytes:
    path = tmp_path / "lots.gpkg"
    gpd.GeoDataFrame({"lot_id": ["P1"], "planted": ["2024-03-01"], "trees": [2000]},
                     geometry=[box(860000, 1335000, 860200, 1335100)], crs=32648).to_file(path)
    return path.read_bytes()


ZONES = (b'{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"zone_type": "RPH"}, '
         b'"geometry": {"type": "Polygon", "coordinates": [[[108.3, 11.9], [108.4, 11.9], [108.4, 12.0], '
         b'[108.3, 11.9]]]}}]}')

# (method, path) -> (setup(client, admin headers, tmp_path) -> request kwargs, roles other than admin allowed).
# "ranger_other" is the ranger of another unit; a route without units refuses every ranger by role.
SPECS = {
    ("post", "/me/api-keys"): (lambda c, a, t: {"url": "/me/api-keys", "json": {"name": "script"}},
                               {"viewer", "ranger_other", "planner"}),  # anyone logged in makes their own keys
    ("post", "/users"): (lambda c, a, t: {"url": "/users", "json": {"username": "new", "password": PASSWORD,
                                                                   "role": "viewer"}}, set()),
    ("post", "/users/{username}/disable"): (lambda c, a, t: {"url": "/users/viewer/disable"}, set()),
    ("post", "/alerts/{alert_id}/transitions"): (
        lambda c, a, t: (_assigned(c, a), {"url": f"/alerts/{ALERT}/transitions",
                                           "json": {"to": "in_field", "version": 2}})[1], set()),
    ("post", "/assignments/run"): (lambda c, a, t: {"url": "/assignments/run"}, set()),
    ("post", "/alerts/{alert_id}/photos"): (
        lambda c, a, t: {"url": f"/alerts/{ALERT}/photos",
                         "files": {"file": ("site.jpg", jpeg_with_gps(12.0, 108.35), "image/jpeg")}}, set()),
    ("post", "/alerts/{alert_id}/tracks"): (
        lambda c, a, t: {"url": f"/alerts/{ALERT}/tracks", "json": {"points": [
            {"lon": 108.35, "lat": 12.0, "t": "2024-06-14T02:00:00Z"},
            {"lon": 108.351, "lat": 12.001, "t": "2024-06-14T02:01:00Z"}]}}, set()),
    ("post", "/cases"): (
        lambda c, a, t: (_confirmed(c, a), {"url": "/cases", "json": {
            "number": "C-2", "opened": "2024-06-01", "violation_type": "fire", "alert_ids": [ALERT]}})[1], set()),
    ("patch", "/cases/{case_id}"): (
        lambda c, a, t: {"url": f"/cases/{_case(c, a)}", "json": {"version": 1, "outcome": "dropped"}}, set()),
    ("post", "/cases/{case_id}/alerts"): (
        lambda c, a, t: (_confirmed(c, a, OTHER), {"url": f"/cases/{_case(c, a)}/alerts",
                                                   "json": {"alert_ids": [OTHER], "version": 1}})[1], set()),
    ("post", "/alerts/status"): (lambda c, a, t: {"url": "/alerts/status", "json": {"ids": [ALERT]}},
                                 {"viewer", "ranger_other", "planner"}),  # a read, for anyone logged in
    ("post", "/offline/package"): (lambda c, a, t: {"url": "/offline/package", "json": {"ids": [ALERT],
                                                                                      "buffer_m": 0}},
                                   {"viewer", "ranger_other", "planner"}),
    ("post", "/subscriptions"): (lambda c, a, t: {"url": "/subscriptions", "json": {"email": "tinh@example.vn"}},
                                 set()),
    ("delete", "/subscriptions/{subscription_id}"): (
        lambda c, a, t: {"url": f"/subscriptions/{_subscription(c, a)}"}, set()),
    ("post", "/cases/import"): (
        lambda c, a, t: {"url": "/cases/import", "files": {"file": (
            "cases.csv", b"number,opened,violation_type,district_id\nH-1,2023-02-01,fire,675\n", "text/csv")}},
        set()),
    ("post", "/planting-lots/import"): (
        lambda c, a, t: {"url": "/planting-lots/import",
                         "files": {"file": ("lots.gpkg", _lots(t), "application/geopackage+sqlite3")}},
        {"planner"}),
    ("post", "/planning/layers"): (
        lambda c, a, t: {"url": "/planning/layers",
                         "files": {"file": ("zones.geojson", io.BytesIO(ZONES), "application/geo+json")},
                         "data": {"name": "zones", "kind": "zoning", "valid_from": "2024-01-01"}},
        {"planner"}),
}
PUBLIC_WRITES = {("post", "/auth/token")}  # logging in: throttled instead (test_login_throttle.py)


def test_every_write_operation_is_in_the_matrix(app_client):
    paths = app_client.app.openapi()["paths"]
    writes = {(m, p) for p, ops in paths.items() for m in ops if m in WRITES}
    assert writes - PUBLIC_WRITES == set(SPECS), "a write route without an authorisation entry"


@pytest.mark.parametrize("operation", list(SPECS), ids=[f"{m} {p}" for m, p in SPECS])
def test_write_matrix(app_client, tmp_path, operation):
    method, _ = operation
    setup, allowed = SPECS[operation]
    admin = login(app_client, "admin")
    request = setup(app_client, admin, tmp_path)
    send = getattr(app_client, method)

    def call(headers=None):
        kwargs = dict(request)
        if "files" in kwargs:  # a file is read once per request
            kwargs["files"] = {k: (n, d.getvalue() if hasattr(d, "getvalue") else d, t)
                               for k, (n, d, t) in kwargs["files"].items()}
        return send(headers=headers, **kwargs)

    assert call().status_code == 401
    for role, user in (("viewer", "viewer"), ("ranger_other", "binh"), ("planner", "planner")):
        r = call(login(app_client, user))
        if role in allowed:
            assert 200 <= r.status_code < 300, (role, r.text)
        else:
            assert r.status_code == 403, (role, r.status_code, r.text)
    r = call(admin)
    assert 200 <= r.status_code < 300, r.text


def test_a_ranger_acts_in_their_own_unit(app_client):
    """The unit rule is not a blanket refusal: ``an`` covers unit 675, where the other ranger was refused."""
    admin, ranger = login(app_client, "admin"), login(app_client, "an")
    case_id = _case(app_client, admin)
    r = app_client.patch(f"/cases/{case_id}", headers=ranger, json={"version": 1, "outcome": "dropped"})
    assert r.status_code == 200, r.text
    r = app_client.post(f"/alerts/{ALERT}/photos", headers=ranger,
                        files={"file": ("site.jpg", jpeg_with_gps(12.0, 108.35), "image/jpeg")})
    assert r.status_code == 201, r.text


def test_a_refused_write_changes_nothing(app_client):
    admin, other = login(app_client, "admin"), login(app_client, "binh")
    case_id = _case(app_client, admin)
    assert app_client.patch(f"/cases/{case_id}", headers=other,
                            json={"version": 1, "outcome": "dropped"}).status_code == 403
    assert app_client.post(f"/alerts/{ALERT}/photos", headers=other, files={
        "file": ("site.jpg", jpeg_with_gps(12.0, 108.35), "image/jpeg")}).status_code == 403
    case = app_client.get(f"/cases/{case_id}", headers=admin).json()
    assert (case["outcome"], case["version"]) == ("pending", 1)
    assert app_client.get(f"/alerts/{ALERT}/photos", headers=admin).json() == []
