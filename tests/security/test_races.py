"""Races decided by the database, on both backends: simultaneous requests to a real server (uvicorn on
127.0.0.1, requests served in parallel threads, each with its own store connection) get exactly one success
and 409 for the others, never a 500 — one case per alert, unique case numbers, unique user names.
"""

from __future__ import annotations

import threading

import httpx
import pytest
from conftest import ServerThread
from reviewkit import PASSWORD, USERS

from api.app import create_app
from api.settings import Settings
from api.users import add_user

ALERTS = ("20240305-086100-0133500", "20240312-086200-0133600", "20240610-086300-0133700")
N = 10


@pytest.fixture
def server(store, tmp_path):
    for name, (role, units) in USERS.items():
        add_user(store, name, PASSWORD, role, units)
    with ServerThread(create_app(Settings(data_dir=tmp_path, store_url=store.url))) as srv:
        yield srv


def _admin(url: str) -> dict[str, str]:
    r = httpx.post(f"{url}/auth/token", data={"username": "admin", "password": PASSWORD})
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _confirm(url: str, admin: dict, alert_id: str) -> None:
    for version, body in ((1, {"to": "assigned", "assignee": "an"}), (2, {"to": "in_field"}),
                          (3, {"to": "confirmed", "cause": "fire"})):
        r = httpx.post(f"{url}/alerts/{alert_id}/transitions", headers=admin, json={**body, "version": version})
        assert r.status_code == 200, r.text


def _at_once(requests: list[tuple[str, dict]]) -> list[httpx.Response]:
    """POST every (url, kwargs) from its own thread, all released together."""
    barrier = threading.Barrier(len(requests))
    out: list[httpx.Response | None] = [None] * len(requests)

    def send(i: int, url: str, kwargs: dict) -> None:
        with httpx.Client(timeout=60) as client:
            barrier.wait()
            out[i] = client.post(url, **kwargs)

    threads = [threading.Thread(target=send, args=(i, u, k)) for i, (u, k) in enumerate(requests)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def _statuses(responses) -> list[int]:
    return sorted(r.status_code for r in responses)


def test_one_case_per_alert_when_cases_are_opened_at_once(server, store):
    admin = _admin(server.url)
    _confirm(server.url, admin, ALERTS[0])
    responses = _at_once([(f"{server.url}/cases", {"headers": admin, "json": {
        "number": f"R-{i}", "opened": "2024-06-01", "violation_type": "fire", "alert_ids": [ALERTS[0]]}})
        for i in range(N)])
    assert _statuses(responses) == [201] + [409] * (N - 1), [r.text for r in responses]
    with store.reading() as tx:
        assert tx.scalar("SELECT count(*) AS n FROM cases") == 1
        assert tx.scalar("SELECT count(*) AS n FROM alert_history WHERE action = 'open_case'") == 1
        linked = tx.scalar("SELECT case_id FROM alerts WHERE id = ?", [ALERTS[0]])
        assert linked == tx.scalar("SELECT id FROM cases")


def test_one_case_per_number_when_numbered_at_once(server, store):
    admin = _admin(server.url)
    for alert_id in ALERTS:
        _confirm(server.url, admin, alert_id)
    responses = _at_once([(f"{server.url}/cases", {"headers": admin, "json": {
        "number": "SAME-1", "opened": "2024-06-01", "violation_type": "fire", "alert_ids": [ALERTS[i % 3]]}})
        for i in range(N)])
    assert _statuses(responses) == [201] + [409] * (N - 1), [r.text for r in responses]
    with store.reading() as tx:
        assert tx.scalar("SELECT count(*) AS n FROM cases") == 1
        assert tx.scalar("SELECT count(*) AS n FROM alerts WHERE case_id IS NOT NULL") == 1


def test_one_user_per_name_when_added_at_once(server, store):
    admin = _admin(server.url)
    responses = _at_once([(f"{server.url}/users", {"headers": admin, "json": {
        "username": "newcomer", "password": PASSWORD, "role": "viewer", "display_name": f"try {i}"}})
        for i in range(N)])
    assert _statuses(responses) == [201] + [409] * (N - 1), [r.text for r in responses]
    with store.reading() as tx:
        assert tx.scalar("SELECT count(*) AS n FROM users WHERE username = 'newcomer'") == 1


def test_cases_over_crossing_alert_lists_at_once_do_not_deadlock(server, store):
    """Alerts locked in one order: [A, B] and [B, A] at once give one case and 409s, never a deadlock's 500."""
    admin = _admin(server.url)
    for alert_id in ALERTS[:2]:
        _confirm(server.url, admin, alert_id)
    pair = list(ALERTS[:2])
    responses = _at_once([(f"{server.url}/cases", {"headers": admin, "json": {
        "number": f"X-{i}", "opened": "2024-06-01", "violation_type": "fire",
        "alert_ids": pair if i % 2 else pair[::-1]}}) for i in range(N)])
    assert _statuses(responses) == [201] + [409] * (N - 1), [r.text for r in responses]
    with store.reading() as tx:
        assert tx.scalar("SELECT count(DISTINCT case_id) AS n FROM alerts WHERE case_id IS NOT NULL") == 1
