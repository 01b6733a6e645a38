"""Killing an ingest at any point and re-running it completes the work with no duplicates and no rework of
finished tiles; the same run on a Dask cluster started by the test (worker processes, scheduler over TCP)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
import rasterio
from conftest import write_scene
from sentinelhub_server import wait_until

from geo.region import load_region
from geo.store import open_store
from ingest.catalogue import ingest_local

N_SCENES = 10


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scenes")
    for i in range(N_SCENES):
        day = date(2024, 1, 1) + timedelta(days=5 * i)
        # each scene straddles two tiles (880000 is a tile edge): 20 tile jobs in all
        write_scene(folder / f"S2_{day:%Y%m%d}.tif", day, size=1200, x0=879400, y0=1340000)
    return folder


def _ok_count(store_path: Path) -> int:
    try:
        con = sqlite3.connect(store_path, timeout=5)
        try:
            return con.execute("SELECT count(*) FROM scenes WHERE status = 'ok'").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def test_kill_and_rerun_finishes_without_duplicates_or_rework(scenes, tmp_path):
    data_dir = tmp_path / "d"
    store_path = data_dir / "forestmon.gpkg"
    exe = Path(sys.executable).with_name("forestmon")
    args = [str(exe), "ingest", str(scenes), "--no-detect", "--data-dir", str(data_dir)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        assert wait_until(lambda: _ok_count(store_path) >= 3, timeout=120), "no tile finished in time"
        os.killpg(proc.pid, signal.SIGKILL)                     # as a power cut would: no clean-up at all
    finally:
        proc.wait(timeout=30)
    first = open_store(store_path).scenes("ok")
    assert 3 <= len(first) < 2 * N_SCENES, "the run finished before it could be killed"
    before = {r["id"]: os.stat(r["path"]).st_mtime_ns for r in first}

    again = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"catalogued {N_SCENES} scene(s), 0 failed" in again.stdout
    assert f"{len(first)} already done" in again.stdout
    records = open_store(store_path).scenes()
    assert len(records) == 2 * N_SCENES == len({r["id"] for r in records})
    assert all(r["status"] == "ok" for r in records)
    for r in records:
        if r["id"] in before:
            assert os.stat(r["path"]).st_mtime_ns == before[r["id"]]   # finished tiles were not written again
        with rasterio.open(r["path"]) as src:                       # every tile whole and readable
            src.read(8)
    # a tile cut short by the kill only ever existed under a temporary name
    assert len(list((data_dir / "ard").rglob("*.tif"))) == 2 * N_SCENES


def test_ingest_on_a_dask_cluster_started_by_the_test(scenes, tmp_path):
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        store = open_store(tmp_path / "store.gpkg")
        result = ingest_local([scenes], store, load_region("lamdong"), tmp_path / "ard",
                              scheduler=cluster.scheduler_address)
        workers = len(cluster.scheduler_info["workers"])
    assert workers == 2
    assert len(result.ok) == N_SCENES and result.tiles_written == 2 * N_SCENES
    assert len(store.scenes("ok")) == 2 * N_SCENES


def test_unreachable_scheduler_is_one_clear_error(scenes, tmp_path):
    from geo.errors import ConfigError

    store = open_store(tmp_path / "store.gpkg")
    with pytest.raises(ConfigError, match="cannot reach the Dask scheduler"):
        ingest_local([scenes / "S2_20240101.tif"], store, load_region("lamdong"), tmp_path / "ard",
                     scheduler="tcp://127.0.0.1:9")
