"""The login throttle at ``/auth/token``, on both backends: after 5 failures in the window an account answers
429 with ``Retry-After`` and a clear message, the right password included, until the window passes; 20 failures
from one address stop that address; a success resets the account's count; the counts live in the store, so every
worker process (here: two apps on one store) sees the same.
"""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from reviewkit import PASSWORD, login

import api.users
from api.app import create_app
from api.settings import Settings


def _try(client, username: str, password: str = "wrong-password-1"):
    return client.post("/auth/token", data={"username": username, "password": password},
                       headers={"Accept-Language": "en"})


def test_an_account_is_throttled_after_five_failures_even_with_the_right_password(app_client):
    for _ in range(api.users.MAX_FAILURES["user"]):
        assert _try(app_client, "an").status_code == 401
    r = _try(app_client, "an", PASSWORD)
    assert r.status_code == 429
    assert 0 < int(r.headers["Retry-After"]) <= api.users.WINDOW_SECONDS
    assert "too many failed logins" in r.json()["detail"] and "seconds" in r.json()["detail"]
    assert r.json()["code"] == "throttled"
    assert _try(app_client, "binh", PASSWORD).status_code == 200  # other accounts from the same address log in


def test_a_success_resets_the_account_count(app_client):
    for _ in range(2):
        for _ in range(api.users.MAX_FAILURES["user"] - 1):
            assert _try(app_client, "an").status_code == 401
        login(app_client, "an")


def test_the_account_logs_in_again_when_the_window_has_passed(app_client, monkeypatch):
    monkeypatch.setattr(api.users, "WINDOW_SECONDS", 2)
    for _ in range(api.users.MAX_FAILURES["user"]):
        _try(app_client, "an")
    assert _try(app_client, "an", PASSWORD).status_code == 429
    time.sleep(2.2)
    login(app_client, "an")


def test_an_address_is_throttled_after_twenty_failures_over_any_names(app_client):
    for i in range(api.users.MAX_FAILURES["addr"]):
        assert _try(app_client, f"guess{i}").status_code == 401  # unknown names count for the address too
    r = _try(app_client, "admin", PASSWORD)
    assert r.status_code == 429 and "your address" in r.json()["detail"] and r.headers["Retry-After"]


def test_workers_share_the_counts(app_client, store, tmp_path):
    """Two apps on one store stand for two server processes: failures at one count at the other."""
    for _ in range(api.users.MAX_FAILURES["user"]):
        assert _try(app_client, "an").status_code == 401
    with TestClient(create_app(Settings(data_dir=tmp_path, store_url=store.url))) as other:
        assert _try(other, "an", PASSWORD).status_code == 429


def test_a_burst_of_parallel_guesses_gets_no_more_tries_than_allowed(store, tmp_path):
    """Twenty wrong passwords sent at once to a real server (parallel threads, one store connection each): the
    database orders the counts, so exactly the allowed five are checked and the other fifteen get 429."""
    import threading

    import httpx
    from conftest import ServerThread

    from api.users import add_user

    add_user(store, "an", PASSWORD, "ranger", ("675",))
    with ServerThread(create_app(Settings(data_dir=tmp_path, store_url=store.url))) as server:
        barrier, statuses = threading.Barrier(20), []

        def guess(i: int) -> None:
            with httpx.Client(timeout=60) as client:
                barrier.wait()
                statuses.append(client.post(f"{server.url}/auth/token",
                                            data={"username": "an", "password": f"guess-{i}"}).status_code)
        threads = [threading.Thread(target=guess, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(statuses) == [401] * api.users.MAX_FAILURES["user"] + [429] * (20 - api.users.MAX_FAILURES["user"])
