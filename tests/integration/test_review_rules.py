"""The review rules on both backends: 401 without credentials, 403 for the wrong role or unit, 422 naming the
field, 409 for an invalid transition (naming the allowed ones) or a stale version, and exactly one winner when
two rangers confirm the same alert at once."""

from __future__ import annotations

import threading

import pytest
from reviewkit import PASSWORD, login

from api.users import add_user, authenticate, create_api_key, set_disabled, user_for_secret
from geo.errors import AuthenticationError, ConflictError, InvalidInputError
from geo.workflow import review

BIG = "20240610-086300-0133700"


def assigned(client, admin) -> None:
    assert client.post("/assignments/run", headers=admin).json()["assigned"] == 3


def test_writes_without_credentials_are_401(app_client):
    for method, url, kwargs in [
        ("post", f"/alerts/{BIG}/transitions", {"json": {"to": "in_field", "version": 1}}),
        ("post", "/assignments/run", {}),
        ("post", "/cases", {"json": {}}),
        ("post", "/users", {"json": {}}),
        ("get", "/me/queue", {}),
    ]:
        r = getattr(app_client, method)(url, **kwargs)
        assert r.status_code == 401, (url, r.text)
        assert r.headers["WWW-Authenticate"] == "Bearer"
    bad = app_client.post("/assignments/run", headers={"Authorization": "Bearer not-a-token", "Accept-Language": "en"})
    assert bad.status_code == 401 and "invalid or expired token" in bad.json()["detail"]
    assert app_client.post("/auth/token", data={"username": "an", "password": "wrong-password"}).status_code == 401


def test_wrong_roles_and_units_are_403(app_client):
    app_client.headers["Accept-Language"] = "en"  # the English messages name the details checked here
    admin = login(app_client, "admin")
    assigned(app_client, admin)
    for user in ("viewer", "planner"):
        r = app_client.post(f"/alerts/{BIG}/transitions", headers=login(app_client, user),
                            json={"to": "in_field", "version": 2})
        assert r.status_code == 403 and f"role {user!r}" in r.json()["detail"]
    # A ranger of another district may not touch this alert; a ranger may not assign or add users.
    r = app_client.post(f"/alerts/{BIG}/transitions", headers=login(app_client, "binh"),
                        json={"to": "in_field", "version": 2})
    assert r.status_code == 403 and "not among your units (673)" in r.json()["detail"]
    ranger = login(app_client, "an")
    assert app_client.post("/assignments/run", headers=ranger).status_code == 403
    assert app_client.get("/users", headers=ranger).status_code == 403
    r = app_client.post(f"/alerts/{BIG}/transitions", headers=ranger, json={"to": "assigned", "version": 2,
                                                                             "assignee": "an"})
    assert r.status_code == 403 and "only an admin" in r.json()["detail"]
    # Nothing changed.
    assert app_client.get(f"/alerts/{BIG}").json()["properties"]["version"] == 2


@pytest.mark.parametrize(("body", "field"), [
    ({"to": "flying", "version": 2}, "to"),
    ({"to": "in_field"}, "version"),
    ({"to": "in_field", "version": 0}, "version"),
    ({"to": "confirmed", "version": 3}, "cause"),
    ({"to": "confirmed", "version": 3, "cause": "aliens"}, "cause"),
    ({"to": "dismissed", "version": 3}, "reason"),
    ({"to": "dismissed", "version": 3, "reason": "other"}, "note"),
    ({"to": "confirmed", "version": 3, "cause": "other", "note": "  "}, "note"),
])
def test_bad_review_input_is_422_naming_the_field(app_client, body, field):
    admin = login(app_client, "admin")
    assigned(app_client, admin)
    ranger = login(app_client, "an")
    app_client.post(f"/alerts/{BIG}/transitions", headers=ranger, json={"to": "in_field", "version": 2})
    r = app_client.post(f"/alerts/{BIG}/transitions", headers=ranger, json=body)
    assert r.status_code == 422, r.text
    assert field in str(r.json()["detail"])
    assert app_client.get(f"/alerts/{BIG}").json()["properties"]["status"] == "in_field"


def test_invalid_transition_and_stale_version_are_409_and_change_nothing(app_client):
    app_client.headers["Accept-Language"] = "en"  # the English messages name the details checked here
    admin = login(app_client, "admin")
    ranger = login(app_client, "an")
    r = app_client.post(f"/alerts/{BIG}/transitions", headers=admin, json={"to": "in_field", "version": 1})
    assert r.status_code == 409
    assert r.json()["detail"] == f"alert {BIG} is 'new' and cannot become 'in_field'; allowed: assigned"
    assigned(app_client, admin)
    r = app_client.post(f"/alerts/{BIG}/transitions", headers=ranger, json={"to": "in_field", "version": 1})
    assert r.status_code == 409 and "your version 1, now 2" in r.json()["detail"]
    r = app_client.post(f"/alerts/{BIG}/transitions", headers={**ranger, "If-Match": '"1"'}, json={"to": "in_field"})
    assert r.status_code == 409
    history = app_client.get(f"/alerts/{BIG}/history").json()
    assert [h["action"] for h in history] == ["assign"]
    assert app_client.get("/alerts/nope/history").status_code == 404
    assert app_client.post("/alerts/nope/transitions", headers=admin,
                           json={"to": "assigned", "version": 1, "assignee": "an"}).status_code == 404
    r = app_client.post("/users", headers=admin, json={"username": "an", "password": PASSWORD, "role": "ranger"})
    assert r.status_code == 409


def test_concurrent_confirmations_exactly_one_wins(store):
    """Eight threads confirm the same alert with the version they all saw: one succeeds, seven get a conflict."""
    add_user(store, "an", PASSWORD, "ranger", ["675"])
    review.auto_assign(store)
    ranger = authenticate(store, "an", PASSWORD)
    review.transition(store, BIG, "in_field", actor=ranger, version=2)
    results: list[str] = []
    barrier = threading.Barrier(8)

    def confirm(i: int) -> None:
        barrier.wait()
        try:
            review.transition(store, BIG, "confirmed", actor=ranger, version=3, cause="illegal_clearing",
                              note=f"thread {i}")
            results.append("ok")
        except ConflictError:
            results.append("409")

    threads = [threading.Thread(target=confirm, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["409"] * 7 + ["ok"]
    alert = store.get_alert(BIG).iloc[0]
    assert (alert["status"], alert["version"]) == ("confirmed", 4)
    confirms = [h for h in review.history(store, BIG) if h["action"] == "confirm"]
    assert len(confirms) == 1 and confirms[0]["note"] == alert["review_note"]


def test_concurrent_confirmations_through_http_exactly_one_409(app_client):
    admin = login(app_client, "admin")
    assigned(app_client, admin)
    ranger = login(app_client, "an")
    app_client.post(f"/alerts/{BIG}/transitions", headers=ranger, json={"to": "in_field", "version": 2})
    codes: list[int] = []
    barrier = threading.Barrier(2)

    def confirm() -> None:
        barrier.wait()
        codes.append(app_client.post(f"/alerts/{BIG}/transitions", headers=ranger,
                                     json={"to": "confirmed", "version": 3, "cause": "fire"}).status_code)

    threads = [threading.Thread(target=confirm) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200, 409]


def test_history_is_append_only(store):
    add_user(store, "an", PASSWORD, "ranger", ["675"])
    review.auto_assign(store)
    with pytest.raises(Exception, match="append-only"), store.transaction() as tx:
        tx.execute("UPDATE alert_history SET username = 'someone else'")
    with pytest.raises(Exception, match="append-only"), store.transaction() as tx:
        tx.execute("DELETE FROM alert_history")
    assert {h["username"] for h in review.history(store, BIG)} == {"system"}


def test_passwords_are_argon2_hashes_and_disabling_revokes_keys(store):
    add_user(store, "an", PASSWORD, "ranger", ["675"])
    with store.reading() as tx:
        stored = tx.scalar("SELECT password_hash FROM users WHERE username = 'an'")
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    key = create_api_key(store, "an", "gps sync")
    assert user_for_secret(store, key).username == "an"
    with store.reading() as tx:
        assert key not in str(tx.fetch("SELECT * FROM credentials"))
    set_disabled(store, "an")
    with pytest.raises(AuthenticationError):
        user_for_secret(store, key)
    with pytest.raises(AuthenticationError):
        authenticate(store, "an", PASSWORD)
    with pytest.raises(InvalidInputError, match="password"):
        add_user(store, "bo", "short", "viewer")
    with pytest.raises(InvalidInputError, match="role"):
        add_user(store, "bo", PASSWORD, "king")


def test_api_keys_work_as_header_and_reads_can_require_login(app_client, store, tmp_path):
    ranger = login(app_client, "an")
    key = app_client.post("/me/api-keys", headers=ranger, json={"name": "script"}).json()["api_key"]
    assert app_client.get("/me", headers={"X-API-Key": key}).json()["username"] == "an"
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings

    closed = TestClient(create_app(Settings(data_dir=tmp_path, store_url=store.url, public_reads=False)))
    assert closed.get("/alerts").status_code == 401
    assert closed.get("/alerts", headers={"X-API-Key": key}).status_code == 200
    assert closed.get("/targets/2024").status_code == 401


def test_text_with_nul_characters_is_422_on_both_backends(app_client):
    """Found by the fuzz run: PostgreSQL refuses NUL in text, so both backends refuse it up front."""
    admin = login(app_client, "admin")
    r = app_client.post("/cases", headers=admin, json={"number": "A\x00", "opened": "2024-01-01",
                                                       "violation_type": "fire", "alert_ids": ["x\x00"]})
    assert r.status_code == 422 and "NUL" in r.json()["detail"]
    assert app_client.get("/alerts/a%00b/history").status_code == 422


def test_special_use_and_protection_forest_come_first_in_the_queue(store):
    """Priority = ha × confidence weight × forest weight: 0.4 ha of low-confidence loss in special-use forest
    (0.4 × 1 × 3 = 1.2) goes before 0.5 ha of the same in plain forest (0.5)."""
    assert review.priority(0.4, "low", "special_use") == 1.2
    assert review.priority(2.5, "high", "protection") == 10.0
    assert review.priority(0.5, "low", None) == 0.5
    with store.transaction() as tx:
        tx.execute("UPDATE alerts SET forest_category = 'special_use' WHERE id = ?", ["20240312-086200-0133600"])
    add_user(store, "an", PASSWORD, "ranger", units=["675"])
    review.auto_assign(store)
    queue = review.queue(store, "an")
    assert list(queue["priority"]) == [36.0, 5.0, 1.2]
