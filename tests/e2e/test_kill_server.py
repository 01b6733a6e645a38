"""Killing the server (SIGKILL) in the middle of a batch of reviews loses no acknowledged review and leaves no
half-written one, on both backends; the restarted server carries on from the stored state."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import geopandas as gpd
import httpx
import pytest
from conftest import free_port
from reviewkit import PASSWORD
from shapely.geometry import MultiPolygon, box

from api.users import add_user
from geo.store import open_store
from geo.workflow import review

N_ALERTS = 120


def many_alerts(n: int) -> gpd.GeoDataFrame:
    rows = []
    for i in range(n):
        x, y = 108.30 + (i % 12) * 0.002, 11.95 + (i // 12) * 0.002
        rows.append({"id": f"20240401-{i:06d}-0000000", "confidence": "high", "first_detected": "2024-04-01",
                     "confirmed": "2024-04-15", "last_update": "2024-04-15", "area_ha": 1.0 + i / 100,
                     "district_id": "675", "district": "Huyện Lạc Dương", "mean_drop": 0.4,
                     "geometry": MultiPolygon([box(x, y, x + 0.001, y + 0.001)])})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=4326)


def start_server(url: str, data_dir: Path, port: int) -> subprocess.Popen:
    exe = Path(sys.executable).with_name("forestmon")
    env = {**os.environ, "FORESTMON_DATABASE_URL": url, "FORESTMON_DATA_DIR": str(data_dir)}
    proc = subprocess.Popen([str(exe), "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # its own group: it and its workers
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


@pytest.mark.e2e
def test_kill_mid_batch_loses_no_acknowledged_review(backend_url, tmp_path):
    with open_store(backend_url) as store:
        store.sync_alerts(many_alerts(N_ALERTS))
        add_user(store, "an", PASSWORD, "ranger", ["675"])
        review.auto_assign(store)
    port = free_port()
    server = start_server(backend_url, tmp_path, port)
    base = f"http://127.0.0.1:{port}"
    token = httpx.post(f"{base}/auth/token", data={"username": "an", "password": PASSWORD}).json()["access_token"]
    acknowledged: dict[str, int] = {}  # alert id -> version the server said it committed
    errors: list[str] = []

    def batch() -> None:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10) as client:
            for i in range(N_ALERTS):
                alert_id = f"20240401-{i:06d}-0000000"
                for body in ({"to": "in_field", "version": 2},
                             {"to": "dismissed", "version": 3, "reason": "seasonal_crop", "note": f"batch {i}"}):
                    try:
                        r = client.post(f"/alerts/{alert_id}/transitions", json=body)
                    except httpx.HTTPError:
                        return  # the server is gone
                    if r.status_code != 200:
                        errors.append(r.text)
                        return
                    acknowledged[alert_id] = r.json()["version"]

    worker = threading.Thread(target=batch)
    worker.start()
    while len(acknowledged) < 25 and worker.is_alive():
        time.sleep(0.01)
    os.killpg(server.pid, signal.SIGKILL)  # the supervisor and every worker: no shutdown, as a power cut would
    server.wait(timeout=10)
    worker.join(timeout=30)
    assert not errors
    assert 25 <= len(acknowledged) < N_ALERTS, "the kill must land in the middle of the batch"

    with open_store(backend_url) as store:
        alerts = store.query_alerts().set_index("id")
        for alert_id, version in acknowledged.items():
            assert alerts.loc[alert_id, "version"] >= version  # every acknowledged review is stored
        for alert_id, alert in alerts.iterrows():  # and every stored one is whole: state, version and history agree
            steps = review.history(store, alert_id)
            assert len(steps) == alert["version"] - 1
            assert steps[-1]["to_status"] == alert["status"] and steps[-1]["version"] == alert["version"]
            if alert["status"] == "dismissed":
                assert alert["dismiss_reason"] == "seasonal_crop" and alert["review_note"] == steps[-1]["note"]

    server = start_server(backend_url, tmp_path, port)  # restart: same data, migrations already applied
    try:
        health = httpx.get(f"{base}/health").json()
        assert health["alerts"] == N_ALERTS
        last = f"20240401-{N_ALERTS - 1:06d}-0000000"
        r = httpx.post(f"{base}/alerts/{last}/transitions", json={"to": "in_field", "version": 2},
                       headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=10)
