"""Adding confirmed alerts to an existing case through the API, on both backends: the case's area grows by
theirs, each alert's history records it, and stale versions, unconfirmed alerts and alerts already in a case are
refused with 409 and change nothing."""

from __future__ import annotations

from reviewkit import login

BIG, MID, SMALL = "20240610-086300-0133700", "20240305-086100-0133500", "20240312-086200-0133600"


def _confirm(client, headers, alert_id):
    for version, body in ((1, {"to": "assigned", "assignee": "an"}), (2, {"to": "in_field"}),
                          (3, {"to": "confirmed", "cause": "illegal_clearing"})):
        r = client.post(f"/alerts/{alert_id}/transitions", headers=headers, json={**body, "version": version})
        assert r.status_code == 200, r.text


def test_a_ranger_adds_a_confirmed_alert_to_an_open_case(app_client):
    client = app_client
    admin, ranger = login(client, "admin"), login(client, "an")
    _confirm(client, admin, BIG)
    _confirm(client, admin, MID)
    case = client.post("/cases", headers=ranger, json={"number": "24/VP-07", "opened": "2024-06-20",
                                                       "violation_type": "illegal_clearing",
                                                       "alert_ids": [BIG]}).json()
    assert (case["area_ha"], case["version"]) == (12.0, 1)

    r = client.post(f"/cases/{case['id']}/alerts", headers=ranger,
                    json={"alert_ids": [MID], "version": 1, "note": "cùng một đám rẫy"})
    assert r.status_code == 200, r.text
    assert r.json()["alert_ids"] == sorted([BIG, MID])
    assert (r.json()["area_ha"], r.json()["version"]) == (14.5, 2)
    assert client.get(f"/alerts/{MID}", headers=ranger).json()["properties"]["case_id"] == case["id"]
    step = client.get(f"/alerts/{MID}/history", headers=ranger).json()[-1]
    assert (step["action"], step["reason"], step["note"]) == ("add_to_case", "case 24/VP-07", "cùng một đám rẫy")

    # the version the ranger saw is now stale; an unconfirmed alert and one already in the case are refused
    assert client.post(f"/cases/{case['id']}/alerts", headers=ranger,
                       json={"alert_ids": [SMALL], "version": 1}).json()["code"] == "not_confirmed"
    _confirm(client, admin, SMALL)
    stale = client.post(f"/cases/{case['id']}/alerts", headers=ranger, json={"alert_ids": [SMALL], "version": 1})
    assert (stale.status_code, stale.json()["code"]) == (409, "stale_version")
    again = client.post(f"/cases/{case['id']}/alerts", headers=ranger, json={"alert_ids": [MID], "version": 2})
    assert (again.status_code, again.json()["code"]) == (409, "already_in_case")
    assert client.get(f"/alerts/{SMALL}", headers=ranger).json()["properties"]["case_id"] is None
    assert client.get(f"/cases/{case['id']}", headers=ranger).json()["version"] == 2
    missing = client.post("/cases/999/alerts", headers=ranger, json={"alert_ids": [SMALL], "version": 1})
    assert missing.status_code == 404
