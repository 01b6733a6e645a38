"""Exports honour the alert filters of ``/alerts`` (bbox, datetime/start/end, status, confidence, district_id,
min/max area), so the app downloads exactly the selection it shows, as GPX, KML or GeoPackage. Both backends."""

from __future__ import annotations

import pyogrio
import pytest
from reviewkit import login

ALL = {"20240305-086100-0133500", "20240312-086200-0133600", "20240610-086300-0133700"}


def _export_ids(client, query: str, fmt: str, tmp_path) -> set[str]:
    r = client.get(f"/exports/alerts?format={fmt}&{query}")
    assert r.status_code == 200, r.text
    path = tmp_path / f"selection.{fmt}"
    path.write_bytes(r.content)
    if fmt == "gpx":  # one waypoint per alert, named by its id
        return set(pyogrio.read_dataframe(path, layer="waypoints")["name"])
    frame = pyogrio.read_dataframe(path)
    return set(frame["Name"] if fmt == "kml" else frame["id"])


@pytest.mark.parametrize("query", [
    "bbox=108.29,11.94,108.33,11.98", "start=2024-03-10&end=2024-03-31", "datetime=2024-03-01/2024-03-31",
    "confidence=high,highest", "status=assigned", "district_id=999", "min_area_ha=1&max_area_ha=5",
    "status=assigned&confidence=low&bbox=108.3,11.9,108.5,12.1",
])
def test_an_export_holds_what_alerts_shows_for_the_same_filters(app_client, tmp_path, query):
    admin = login(app_client, "admin")
    app_client.post("/assignments/run", headers=admin)  # all three assigned, so status filters differ
    app_client.post("/alerts/20240305-086100-0133500/transitions", headers=admin,
                    json={"to": "dismissed", "version": 2, "reason": "cloud_shadow"})
    shown = {f["id"] for f in app_client.get(f"/alerts?{query}").json()["features"]}
    assert shown != ALL  # each filter selects fewer than all
    for fmt in ("gpkg", "kml", "gpx"):
        assert _export_ids(app_client, query, fmt, tmp_path) == shown, (fmt, query)


def test_no_filter_exports_every_alert(app_client, tmp_path):
    assert _export_ids(app_client, "", "gpkg", tmp_path) == ALL


def test_a_misspelt_filter_is_refused_not_ignored(app_client):
    r = app_client.get("/exports/alerts?format=gpx&stauts=new")
    assert r.status_code == 400 and r.json()["code"] == "unknown_parameter"
    r = app_client.get("/exports/alerts?format=gpx&bbox=1,2")
    assert r.status_code == 422 and r.json()["code"] == "invalid_input"
    r = app_client.get("/exports/cases?format=geojson&status=new")
    assert r.status_code == 422 and r.json()["code"] == "invalid_input"
    cases = app_client.get("/exports/cases?format=csv&year=2024")  # the year is the cases' own filter
    assert cases.status_code == 200 and cases.text.startswith("WKT,id,number")
