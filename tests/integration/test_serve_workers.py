"""``forestmon serve --workers 2`` as a user starts it, on both backends: two worker processes answer, a login
made on one is good on every one, concurrent reads and writes all succeed (no "database is locked"), and the
workers end with their supervisor even when it is killed -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from conftest import free_port
from reviewkit import PASSWORD, USERS

from api.users import add_user


def _children(pid: int) -> list[int]:
    found = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in found.read_text().split()] if found.exists() else []


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split("\n")[0].lower()
    except (OSError, IndexError):
        return "zombie"


def test_two_workers_share_the_store_and_the_logins(store, tmp_path):
    for name, (role, units) in USERS.items():
        add_user(store, name, PASSWORD, role, units)
    port = free_port()
    exe = Path(sys.executable).with_name("forestmon")
    env = {**os.environ, "FORESTMON_STORE_URL": store.url}
    proc = subprocess.Popen([str(exe), "serve", "--workers", "2", "--port", str(port), "--data-dir", str(tmp_path)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                if httpx.get(url + "/alerts", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.time() < deadline, proc.stdout.read() if proc.poll() else "slow"
            time.sleep(0.2)
        assert len(_children(proc.pid)) >= 2  # uvicorn's supervisor and its two workers

        headers = {"Authorization": "Bearer " + httpx.post(url + "/auth/token", data={
            "username": "admin", "password": PASSWORD}).json()["access_token"]}

        def call(i: int) -> int:
            with httpx.Client(base_url=url, timeout=30) as c:  # a new connection: any worker may answer
                if i % 5 == 0:
                    return c.post("/me/api-keys", json={"name": f"key-{i}"}, headers=headers).status_code
                return c.get("/me" if i % 2 else "/alerts", headers=headers).status_code

        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(call, range(60)))
        assert set(codes) <= {200, 201}, codes
        assert codes.count(201) == 12

        # The supervisor killed -9: its workers end too, none is left serving (or holding the port).
        workers = _children(proc.pid)
        proc.kill()
        proc.wait(timeout=10)
        deadline = time.time() + 30
        while any(Path(f"/proc/{pid}").exists() and "zombie" not in _state(pid) for pid in workers):
            assert time.time() < deadline, "workers outlived their supervisor"
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=40)
