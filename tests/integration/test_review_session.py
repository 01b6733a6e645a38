"""The acceptance script, on the GeoPackage and on PostGIS: a ranger and an admin review alerts through the API,
open a case, and the targets and the history show every step."""

from __future__ import annotations

import pytest
from reviewkit import jpeg_with_gps, login

BIG, MID, SMALL = "20240610-086300-0133700", "20240305-086100-0133500", "20240312-086200-0133600"
BASELINE_CSV = """number,opened,violation_type,area_ha,timber_m3,outcome,fine_amount,district_id,note
23/VP-01,2023-02-11,illegal_logging,4.5,30.0,administrative_fine,15000000,675,
23/VP-02,2023-04-02,farming_encroachment,6.0,,criminal_prosecution,,675,
23/VP-03,2023-06-20,illegal_clearing,3.5,25.5,pending,,673,
23/VP-04,2023-09-09,illegal_logging,2.0,24.5,dropped,,675,
23/VP-05,2023-11-30,fire,4.0,20.0,pending,,676,
"""


def test_scripted_ranger_and_admin_session(app_client):
    client = app_client
    admin = login(client, "admin")

    # The admin imports last year's cases (the baseline) and assigns the new alerts by district.
    r = client.post("/cases/import", headers=admin, files={"file": ("cases2023.csv", BASELINE_CSV, "text/csv")})
    assert r.json() == {"inserted": 5, "updated": 0}
    r = client.post("/assignments/run", headers=admin)
    assert r.json() == {"assigned": 3, "by_ranger": {"an": 3}}

    # The ranger logs in; the queue is in priority order (12 ha highest, 2.5 ha high, 0.4 ha low).
    ranger = login(client, "an")
    queue = client.get("/me/queue", headers=ranger).json()
    assert [f["id"] for f in queue["features"]] == [BIG, MID, SMALL]
    assert [f["properties"]["priority"] for f in queue["features"]] == [36.0, 5.0, 0.4]
    r = client.get(f"/alerts/{BIG}", headers=ranger)
    alert = r.json()["properties"]
    assert (alert["status"], alert["version"], alert["assigned_to"]) == ("assigned", 2, "an")
    assert "assigned_to" not in client.get(f"/alerts/{BIG}").json()["properties"]  # not shown to the public
    assert r.headers["ETag"] == '"2"'

    # Field check, a photo with its GPS position, then the confirmation with a cause.
    r = client.post(f"/alerts/{BIG}/transitions", headers=ranger, json={"to": "in_field", "version": 2})
    assert r.status_code == 200 and r.json()["version"] == 3 and r.headers["ETag"] == '"3"'
    r = client.post(f"/alerts/{BIG}/photos", headers=ranger,
                    files={"file": ("site.jpg", jpeg_with_gps(11.96, 108.31), "image/jpeg")})
    assert r.status_code == 201, r.text
    photo = r.json()
    assert photo["lat"] == pytest.approx(11.96, abs=1e-5) and photo["lon"] == pytest.approx(108.31, abs=1e-5)
    assert photo["taken_at"] == "2024-06-14T09:30:00" and photo["uploaded_by"] == "an"
    assert client.get(f"/photos/{photo['id']}", headers=ranger).content[:2] == b"\xff\xd8"
    assert client.get(f"/photos/{photo['id']}").status_code == 401  # field photos are not public
    r = client.post(f"/alerts/{BIG}/transitions", headers={**ranger, "If-Match": '"3"'},
                    json={"to": "confirmed", "cause": "illegal_logging", "note": "stumps of 40 trees"})
    assert r.status_code == 200, r.text
    assert r.json() == {"id": BIG, "status": "confirmed", "version": 4, "assigned_to": "an"}

    # A case with the timber volume; the damaged area defaults to the alert's 12 ha.
    r = client.post("/cases", headers=ranger, json={
        "number": "24/VP-17", "opened": "2024-06-15", "violation_type": "illegal_logging",
        "alert_ids": [BIG], "timber_m3": 35.5})
    assert r.status_code == 201, r.text
    case = r.json()
    assert (case["area_ha"], case["timber_m3"], case["outcome"], case["alert_ids"]) == (12.0, 35.5, "pending", [BIG])
    r = client.patch(f"/cases/{case['id']}", headers=admin,
                     json={"version": 1, "outcome": "administrative_fine", "fine_amount": 50_000_000})
    assert r.status_code == 200 and r.json()["version"] == 2

    # Another alert dismissed from the desk with a coded reason.
    r = client.post(f"/alerts/{SMALL}/transitions", headers=ranger,
                    json={"to": "dismissed", "version": 2, "reason": "cloud_shadow"})
    assert r.status_code == 200, r.text

    # The targets show the new figures against 2023 (5 cases, 20 ha, 100 m³; -20% -> 4 cases, 16 ha, 80 m³).
    t = client.get("/targets/2024", params={"as_of": "2024-06-30"}).json()
    v = t["violations"]
    assert (v["cases"]["baseline"], v["cases"]["target"], v["cases"]["current"]) == (5, 4, 1)
    assert (v["damaged_area_ha"]["baseline"], v["damaged_area_ha"]["current"]) == (20.0, 12.0)
    assert (v["damaged_timber_m3"]["baseline"], v["damaged_timber_m3"]["target"]) == (100.0, 80.0)
    assert v["damaged_timber_m3"]["current"] == 35.5
    # 182 of 366 days: 12 ha so far projects to 24.13 ha, above the 16 ha target.
    assert v["damaged_area_ha"]["projected"] == pytest.approx(12.0 * 366 / 182, abs=1e-3)
    assert v["damaged_area_ha"]["on_track"] is False
    assert t["afforestation"]["new_plantation_ha"]["target"] == 617.7
    assert [c["alert_id"] for c in t["replanting_candidates"]] == [BIG]

    # The history shows every step, who did it and the version it produced (who and notes: logged in only).
    steps = client.get(f"/alerts/{BIG}/history", headers=ranger).json()
    assert [(s["username"], s["action"], s["from_status"], s["to_status"], s["version"]) for s in steps] == [
        ("system", "assign", "new", "assigned", 2),
        ("an", "start_field_check", "assigned", "in_field", 3),
        ("an", "confirm", "in_field", "confirmed", 4),
        ("an", "open_case", "confirmed", "confirmed", 4),
    ]
    assert steps[2]["reason"] == "illegal_logging" and steps[2]["note"] == "stumps of 40 trees"
    public = client.get(f"/alerts/{BIG}/history").json()
    assert [(s["username"], s["note"], s["action"]) for s in public][2] == (None, None, "confirm")
    small = client.get(f"/alerts/{SMALL}/history").json()
    assert [(s["action"], s["reason"]) for s in small] == [("assign", None), ("dismiss", "cloud_shadow")]
    assert client.get(f"/alerts/{SMALL}").json()["properties"]["dismiss_reason"] == "cloud_shadow"

    # The admin re-opens the dismissed alert; it goes back to the ranger's queue.
    r = client.post(f"/alerts/{SMALL}/transitions", headers=admin, json={"to": "assigned", "version": 3})
    assert r.status_code == 200 and r.json()["assigned_to"] == "an"
    assert [f["id"] for f in client.get("/me/queue", headers=ranger).json()["features"]] == [MID, SMALL]
