"""Where an alert lies, through the API on both backends: ``GET /alerts/{id}`` names its unit in each boundary
version (the 2024 district and the 2025 commune) and the planning zones in force it overlaps; ``zone_type``
filters the alerts, their pages and their exports by the zones they overlap."""

from __future__ import annotations

import json

from reviewkit import login

BIG, MID, SMALL = "20240610-086300-0133700", "20240305-086100-0133500", "20240312-086200-0133600"


def _plan(client, headers, zones: list[tuple[str, float, float]], valid_from: str) -> None:
    """A zoning plan of rectangles (zone type as the file writes it, west and east edges) over the sample alerts."""
    features = [{"type": "Feature", "properties": {"loai_dat": kind},
                 "geometry": {"type": "Polygon", "coordinates": [[[w, 11.8], [e, 11.8], [e, 12.2], [w, 12.2],
                                                                  [w, 11.8]]]}} for kind, w, e in zones]
    r = client.post("/planning/layers", headers=headers, data={"name": "Quy hoạch xã", "kind": "zoning",
                                                              "valid_from": valid_from},
                    files={"file": ("qh.geojson", json.dumps({"type": "FeatureCollection", "features": features}))})
    assert r.status_code == 201, r.text


def test_an_alert_names_its_units_and_the_zones_in_force(app_client):
    client, admin = app_client, login(app_client, "admin")
    _plan(client, admin, [("ONT", 108.0, 108.5)], "2023-01-01")  # replaced by the plan below
    _plan(client, admin, [("Đất rừng phòng hộ", 108.0, 108.31), ("ONT", 108.31, 108.5)], "2024-01-01")
    places = client.get(f"/alerts/{BIG}").json()["places"]  # 108.30–108.32: across both zones
    assert [(u["kind"], u["name"]) for u in places["units"]] == [("district", "Huyện Lạc Dương"),
                                                                 ("commune", "Phường Lang Biang - Đà Lạt")]
    zones = sorted(places["zones"], key=lambda z: z["zone_type"])
    assert [(z["zone_type"], z["vi"], z["zone_class"], z["valid_from"]) for z in zones] == [
        ("ONT", "Đất ở tại nông thôn", "conversion", "2024-01-01"),
        ("Đất rừng phòng hộ", "Đất rừng phòng hộ", "keep_forest", "2024-01-01")]
    assert abs(sum(z["share"] for z in zones) - 1.0) < 0.01 and 0.4 < zones[1]["share"] < 0.6


def test_zone_type_filters_the_list_its_pages_and_the_export(app_client):
    client, admin = app_client, login(app_client, "admin")
    _plan(client, admin, [("Đất rừng phòng hộ", 108.0, 108.31), ("ONT", 108.31, 108.5)], "2024-01-01")
    ids = lambda q: [f["id"] for f in client.get(f"/alerts?{q}").json()["features"]]  # noqa: E731
    assert ids("zone_type=RPH") == [BIG]
    assert sorted(ids("zone_type=ONT")) == sorted([BIG, MID, SMALL])
    assert ids("zone_type=ONT&min_area_ha=1") == [BIG, MID]
    page = client.get("/alerts?zone_type=ONT&limit=2&offset=2").json()
    assert (page["numberMatched"], page["numberReturned"]) == (3, 1)
    assert ids("zone_type=RDD") == []  # no special-use forest in the plan
    assert client.get("/alerts?zone_type=RPH&bbox=108.39,12.04,108.41,12.06").json()["features"] == []
    csv = client.get("/exports/alerts?format=csv&zone_type=RPH").text
    assert BIG in csv and SMALL not in csv and MID not in csv
