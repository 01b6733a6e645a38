"""Detection through the CLI on small scenes: two-date mode, a forest layer, coverage, clouds, bad grids."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import rasterio
from click.testing import CliRunner
from conftest import write_scene
from shapely.geometry import box

from api.cli import cli
from geo import detect
from geo.datadir import StateDir
from geo.detect import state as statefile
from geo.errors import ForestmonError
from geo.store import open_store

CLEARING = (slice(10, 30), slice(20, 40))  # 20 x 20 pixels = 4 ha


def run(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_two_dates_give_low_confidence_alerts_of_the_clearing(tmp_path):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    write_scene(scenes / "before_20240105.tif", date(2024, 1, 5))
    write_scene(scenes / "after_20240305.tif", date(2024, 3, 5), bare=CLEARING)
    out = run("ingest", scenes, "--data-dir", tmp_path / "d")
    assert "1 alert(s)" in out
    alerts = pyogrio.read_dataframe(tmp_path / "d" / "forestmon.gpkg", layer="alerts")
    assert list(alerts["confidence"]) == ["low"]
    assert alerts.iloc[0]["area_ha"] == 4.0
    assert alerts.iloc[0]["first_detected"] == "2024-03-05"
    store = open_store(tmp_path / "d" / "forestmon.gpkg")
    assert store.runs()[0]["mode"] == "two-date"


def test_a_forest_layer_limits_monitoring_and_names_the_category(tmp_path):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    write_scene(scenes / "before_20240105.tif", date(2024, 1, 5))
    write_scene(scenes / "after_20240305.tif", date(2024, 3, 5), bare=CLEARING)
    # Protection forest over the left half of the clearing only (cols 20-29 of the grid at x0 = 860000).
    layer = gpd.GeoDataFrame({"loai_rung": ["Rừng phòng hộ"]},
                             geometry=[box(860000, 1339000, 860300, 1340000)], crs=32648)
    layer.to_file(tmp_path / "forest.gpkg")
    out = run("ingest", scenes, "--forest", tmp_path / "forest.gpkg", "--data-dir", tmp_path / "d")
    alerts = pyogrio.read_dataframe(tmp_path / "d" / "forestmon.gpkg", layer="alerts")
    assert alerts.iloc[0]["area_ha"] == 2.0
    assert alerts.iloc[0]["forest_category"] == "protection"
    # The output and the run record say how much of each unit is watched.
    coverage = store_runs(tmp_path / "d")[0]["coverage"]
    assert coverage and all(c["area_ha"] > 0 and 0 < c["watched_share"] <= 1 for c in coverage)
    for c in coverage:
        assert c["watched_share"] == pytest.approx(c["forest_ha"] / c["area_ha"], abs=1e-4)
        share = f"{100 * c['watched_share']:.0f}%"
        assert f"{c['forest_ha']:,.0f} ha watched ({share} of its {c['area_ha']:,.0f} ha)" in out


def store_runs(data_dir):
    return open_store(data_dir / "forestmon.gpkg").runs()


def state_bytes(state_dir) -> bytes:
    """The saved detector state: the VRT and every file it names."""
    return b"".join(p.read_bytes() for p in [StateDir(state_dir).vrt, *statefile.current_paths(StateDir(state_dir))])


def test_all_cloud_scene_is_a_no_op_and_coverage_says_unseen(tmp_path):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    write_scene(scenes / "a_20240105.tif", date(2024, 1, 5))
    run("ingest", scenes, "--data-dir", tmp_path / "d")
    before = state_bytes(tmp_path / "d" / "state")
    write_scene(scenes / "b_20240110.tif", date(2024, 1, 10), cloud=True)
    out = run("ingest", scenes, "--data-dir", tmp_path / "d")
    assert "processed 1 new scene(s); 0 alert(s)" in out
    store = open_store(tmp_path / "d" / "forestmon.gpkg")
    newest = store.runs()[0]
    assert newest["scenes"] == 1
    assert all(c["observed_share"] == 0 for c in newest["coverage"])
    assert state_bytes(tmp_path / "d" / "state") == before  # nothing was observed
    run("detect", "--data-dir", tmp_path / "d")  # nothing new: a no-op


def test_a_long_series_confirms_the_clearing_and_rerunning_changes_nothing(tmp_path):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    start = date(2023, 1, 3)
    for k in range(45):  # a year and a quarter of weekly-ish scenes, clearing on 2024-02-06
        day = start + timedelta(days=10 * k)
        write_scene(scenes / f"s_{day:%Y%m%d}.tif", day, bare=CLEARING if day >= date(2024, 2, 6) else None)
    run("ingest", scenes, "--data-dir", tmp_path / "d")
    alerts = pyogrio.read_dataframe(tmp_path / "d" / "forestmon.gpkg", layer="alerts")
    assert len(alerts) == 1
    assert alerts.iloc[0]["confidence"] == "highest"
    assert alerts.iloc[0]["first_detected"] == "2024-02-07"  # the first scene after the cut
    assert alerts.iloc[0]["district"] in ("Huyện Lạc Dương", "Huyện Lâm Hà", "Huyện Đam Rông")
    assert alerts.iloc[0]["vn2000_epsg"] == 5899
    out = run("detect", "--data-dir", tmp_path / "d")
    assert "processed 0 new scene(s); 1 alert(s)" in out
    assert '"inserted": 0' in out


def test_scenes_on_different_grids_are_read_onto_one_grid(tmp_path):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    write_scene(scenes / "a_20240105.tif", date(2024, 1, 5))
    write_scene(scenes / "b_20240305.tif", date(2024, 3, 5), x0=860005.0, bare=CLEARING)  # shifted half a pixel
    run("ingest", scenes, "--data-dir", tmp_path / "d")
    alerts = pyogrio.read_dataframe(tmp_path / "d" / "forestmon.gpkg", layer="alerts")
    assert len(alerts) == 1 and abs(alerts.iloc[0]["area_ha"] - 4.0) <= 0.2 + 1e-9  # one pixel column


def test_a_tile_unreadable_at_detection_names_the_file_and_leaves_the_state_whole(tmp_path):
    """An analysis-ready tile damaged after it was catalogued: the run stops with the file's name, the saved
    state and the catalogue are as before (nothing half-folded), and no partial state file is left behind."""
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    write_scene(scenes / "a_20240105.tif", date(2024, 1, 5))
    run("ingest", scenes, "--data-dir", tmp_path / "d")
    state_dir = tmp_path / "d" / "state"
    before = state_bytes(state_dir)
    write_scene(scenes / "b_20240110.tif", date(2024, 1, 10))
    run("ingest", scenes, "--data-dir", tmp_path / "d", "--no-detect")
    store = open_store(tmp_path / "d" / "forestmon.gpkg")
    tile = next(r for r in store.scenes("ok") if not r["processed"])
    data = open(tile["path"], "rb").read()
    open(tile["path"], "wb").write(data[: len(data) * 9 // 10])  # truncated: its last blocks are gone
    result = CliRunner().invoke(cli, ["detect", "--data-dir", str(tmp_path / "d")])
    assert isinstance(result.exception, ForestmonError)  # one line from the CLI, not a traceback
    assert str(result.exception).startswith(f"{tile['path']}: cannot read")
    assert state_bytes(state_dir) == before
    assert sorted(state_dir.glob("detector-*")) == sorted(statefile.current_paths(StateDir(state_dir))[:2])  # none left
    assert [r["id"] for r in open_store(tmp_path / "d" / "forestmon.gpkg").scenes("ok") if not r["processed"]] \
        == [tile["id"]]  # still to do: a re-run after the file is restored folds it in


def test_a_second_detection_run_at_the_same_time_stops_with_a_clear_message(tmp_path):
    """Two runs on one state folder would each write a state from the same old one, and the later commit
    would drop the other's observations: the second run stops instead, and runs once the first is done."""
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    write_scene(scenes / "a_20240105.tif", date(2024, 1, 5))
    run("ingest", scenes, "--data-dir", tmp_path / "d", "--no-detect")
    with statefile.locked(StateDir(tmp_path / "d" / "state")):  # a run in progress
        result = CliRunner().invoke(cli, ["detect", "--data-dir", str(tmp_path / "d")])
    assert isinstance(result.exception, ForestmonError)
    assert "another detection run is using this state" in str(result.exception)
    assert "processed 1 new scene(s)" in run("detect", "--data-dir", tmp_path / "d")


def test_scene_by_scene_runs_give_the_state_and_alerts_of_one_run_and_refit_on_schedule(tmp_path):
    """Weekly operation: each run judges its new scene against the baseline and writes only the flags; the
    judged scenes are learned (model and sums rewritten) once the baseline is ``refit_days`` old. The result
    does not depend on how the scenes were batched into runs: one run over the whole series ends with the
    same state, byte for byte, and the same alert."""
    start = date(2023, 1, 3)
    days = [start + timedelta(days=10 * k) for k in range(45)]  # clearing on 2024-02-06

    def scene(folder, day):
        write_scene(folder / f"s_{day:%Y%m%d}.tif", day, bare=CLEARING if day >= date(2024, 2, 6) else None)

    whole = tmp_path / "whole"
    whole.mkdir()
    for day in days:
        scene(whole, day)
    run("ingest", whole, "--data-dir", tmp_path / "a")

    weekly = tmp_path / "weekly"
    weekly.mkdir()
    state_dir = tmp_path / "b" / "state"
    models = []
    for day in days:
        scene(weekly, day)
        run("ingest", weekly, "--data-dir", tmp_path / "b")
        models.append(statefile.current_paths(StateDir(state_dir))[0].name)
    # The first scene is learned at once; after that (geo.detect.plan) the judged scenes are learned right after
    # the first scene on or after a refit day of the window's group (this small grid is all group 0: day
    # numbers that are multiples of 28). The runs in between leave the model and the sums as they were.
    refits = [k for k in range(1, len(models)) if models[k] != models[k - 1]]
    numbers = [detect.day_number(d) for d in days]
    assert refits == [k for k in range(1, len(days)) if numbers[k] // 28 > numbers[k - 1] // 28]
    assert all(b - a in (2, 3) for a, b in zip(refits, refits[1:], strict=False))  # every 20 or 30 days
    vrt = StateDir(state_dir).vrt.read_text()
    assert f'<MDI key="LEARNED_THROUGH">{numbers[refits[-1]]}</MDI>' in vrt

    a, b = statefile.current_paths(StateDir(tmp_path / "a" / "state")), statefile.current_paths(StateDir(state_dir))
    for x, y in zip(a[:2], b[:2], strict=True):  # model and sums
        assert x.read_bytes() == y.read_bytes(), x.name
    ta, tb = (statefile.FlagTable.load(p[2], 1) for p in (a, b))
    assert ta.same_as(tb)
    cols = ["confidence", "first_detected", "confirmed", "area_ha", "mean_drop", "scene_before"]
    alerts_a, alerts_b = (pyogrio.read_dataframe(tmp_path / d / "forestmon.gpkg", layer="alerts")[cols]
                          for d in ("a", "b"))
    for alerts in (alerts_a, alerts_b):  # scene ids name the file too: compare their dates
        alerts["scene_before"] = alerts["scene_before"].str[:8]
    assert len(alerts_a) == 1 and alerts_a.equals(alerts_b)
    assert alerts_a.iloc[0]["first_detected"] == "2024-02-07" and alerts_a.iloc[0]["confidence"] == "highest"


def _records(state_dir, grid_px: int):
    """The state's records over the whole grid (model, sums), whatever files hold them."""
    from rasterio.windows import Window

    from geo.grid import Grid

    state = statefile.open_state(StateDir(state_dir), Grid.from_json((state_dir / "grid.json").read_text()))
    try:
        whole = Window(0, 0, grid_px, grid_px)
        return [r.read(whole).tobytes() for r in (state.model, state.sums)], state.learned, state.flags
    finally:
        state.close()


def test_staggered_refits_take_turns_and_do_not_depend_on_how_runs_were_batched(tmp_path, monkeypatch):
    """Windows of 16 px make this 64 px grid four rows of windows, one per refit group (geo.detect.plan). With a
    scene a week, each weekly run refits one group (new files for its rows only, the other groups' files kept);
    every group learns every scene within its refit period; weekly runs, one run over the whole series, and a
    series whose runs were killed mid-way and re-run end with the same records, flags and alert."""
    from geo.detect import run as detection
    from geo.detect.plan import STAGGER

    monkeypatch.setattr(detection, "WINDOW", 16)
    start = date(2023, 1, 3)
    days = [start + timedelta(days=7 * k) for k in range(62)]  # clearing on 2024-02-06

    def scene(folder, day):
        write_scene(folder / f"s_{day:%Y%m%d}.tif", day, bare=CLEARING if day >= date(2024, 2, 6) else None)

    whole = tmp_path / "whole"
    whole.mkdir()
    for day in days:
        scene(whole, day)
    run("ingest", whole, "--data-dir", tmp_path / "a")

    weekly = tmp_path / "weekly"
    weekly.mkdir()
    state_dir = tmp_path / "b" / "state"
    learned = []
    for k, day in enumerate(days):
        scene(weekly, day)
        if k in (40, 41):  # runs killed in the middle of their windows (a refit's new files left behind as by
            # kill -9): nothing committed, the re-run does it all and removes the leftovers
            calls = {"n": 0}
            real = detection._WindowPass.__call__

            def dying(self, window, real=real, calls=calls):
                calls["n"] += 1
                if calls["n"] == 9:
                    raise RuntimeError("killed")
                return real(self, window)

            with monkeypatch.context() as patch:
                patch.setattr(detection._WindowPass, "__call__", dying)
                patch.setattr(statefile, "discard", lambda *files: None)
                result = CliRunner().invoke(cli, ["ingest", str(weekly), "--data-dir", str(tmp_path / "b")])
            assert result.exit_code != 0
        run("ingest", weekly, "--data-dir", tmp_path / "b")
        learned.append(_records(state_dir, 64)[1])
    numbers = [detect.day_number(d) for d in days]
    for week in range(4, len(days)):  # after the first weeks, exactly one group refits each week, in turn
        refitted = [g for g in range(STAGGER) if learned[week][g] != learned[week - 1][g]]
        assert len(refitted) == 1 and learned[week][refitted[0]] == numbers[week]
        assert refitted[0] == next(g for g in range(STAGGER) if learned[week][g] == numbers[week])
        assert all(numbers[week] - learned[week][g] < 28 for g in range(STAGGER))  # none waits a period
    assert {g for w in range(4, 8) for g in range(STAGGER) if learned[w][g] != learned[w - 1][g]} == set(range(4))
    named = statefile.current_paths(StateDir(state_dir))
    assert len(named) > 3  # files per group: model, sums, flags
    assert sorted(state_dir.glob("detector-*")) == sorted(p for p in named if p.name.startswith("detector-"))

    a, b = _records(tmp_path / "a" / "state", 64), _records(state_dir, 64)
    assert a[0] == b[0] and a[1] == b[1] and a[2].same_as(b[2])
    cols = ["confidence", "first_detected", "confirmed", "area_ha", "mean_drop"]
    alerts_a, alerts_b = (pyogrio.read_dataframe(tmp_path / d / "forestmon.gpkg", layer="alerts")[cols]
                          for d in ("a", "b"))
    assert len(alerts_a) == 1 and alerts_a.equals(alerts_b)
    with rasterio.open(state_dir / "detector.vrt") as src:  # GDAL sees the records, whichever file holds a row
        model = np.frombuffer(b[0][0], detect.MODEL_DTYPE).reshape(64, 64)
        assert src.descriptions[0] == "ndvi_b0"
        np.testing.assert_array_equal(src.read(1), model["ndvi_b0"])


def test_refit_days_0_learns_every_scene_as_it_comes(tmp_path):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    state_dir = tmp_path / "d" / "state"
    models = []
    for k in range(3):
        day = date(2024, 1, 5) + timedelta(days=5 * k)
        write_scene(scenes / f"s_{day:%Y%m%d}.tif", day)
        run("ingest", scenes, "--data-dir", tmp_path / "d", "--no-detect")
        run("detect", "--data-dir", tmp_path / "d", "--refit-days", "0")
        models.append(statefile.current_paths(StateDir(state_dir))[0].name)
        assert f'<MDI key="LEARNED_THROUGH">{detect.day_number(day)}</MDI>' in (state_dir / "detector.vrt").read_text()
    assert len(set(models)) == 3


def test_windows_no_scene_covers_are_counted_from_the_last_run_without_reading_them(tmp_path, monkeypatch):
    """Coverage needs the monitored forest of every window, seen or not. A weekly scene that covers part of
    the grid: the windows it misses (no alert in them, same baseline) take their counts from the last run's
    coverage.npz and are not read at all; the figures are those of counting them again."""
    from geo.detect import run as detection

    monkeypatch.setattr(detection, "WINDOW", 32)  # a 64 px grid in four windows
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    start = date(2023, 1, 3)
    for k in range(40):
        day = start + timedelta(days=10 * k)
        write_scene(scenes / f"s_{day:%Y%m%d}.tif", day)
    run("ingest", scenes, "--data-dir", tmp_path / "d")
    last = start + timedelta(days=10 * 39 + 5)
    write_scene(scenes / f"s_{last:%Y%m%d}.tif", last, size=32)  # window (0, 0) only

    reads = []
    read = statefile.Records.read
    monkeypatch.setattr(statefile.Records, "read", lambda self, w, *a: reads.append(w) or read(self, w, *a))
    run("ingest", scenes, "--data-dir", tmp_path / "d")
    coverage = open_store(tmp_path / "d" / "forestmon.gpkg").runs()[0]["coverage"]
    assert [(int(w.row_off), int(w.col_off)) for w in reads] == [(0, 0)]  # the model of the one window seen
    assert sum(c["forest_ha"] for c in coverage) == pytest.approx(64 * 64 / 100)  # all forest, all monitored
    assert sum(c["observed_ha"] for c in coverage) == pytest.approx(32 * 32 / 100)

    (tmp_path / "d" / "state" / "coverage.npz").unlink()  # counted again from the model: the same figures
    write_scene(scenes / "s_20240209.tif", date(2024, 2, 9), size=32)
    run("ingest", scenes, "--data-dir", tmp_path / "d")
    again = open_store(tmp_path / "d" / "forestmon.gpkg").runs()[0]["coverage"]
    assert [(c["forest_ha"], c["observed_ha"]) for c in again] == [(c["forest_ha"], c["observed_ha"]) for c in coverage]


def test_a_run_killed_while_recording_is_recorded_whole_by_the_rerun(tmp_path, backend_url):
    """kill -9 inside the commit that marks the scenes processed and records the run: nothing of it is kept,
    so the re-run folds the scenes again (which changes no state) and records the run and its coverage."""
    import os
    import subprocess
    import sys

    FORESTMON = str(Path(sys.executable).with_name("forestmon"))
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    for k, day in enumerate([date(2024, 1, 5), date(2024, 3, 5)]):
        write_scene(scenes / f"s{k}_{day:%Y%m%d}.tif", day, bare=CLEARING if k else None)
    env = {**os.environ, "FORESTMON_STORE_URL": backend_url}
    ingest = subprocess.run([FORESTMON, "ingest", str(scenes), "--data-dir", str(tmp_path / "d"),
                             "--no-detect"], env=env, capture_output=True, text=True)
    assert ingest.returncode == 0, ingest.stderr
    killed = (  # the detection CLI, killed right after the scenes are marked, before the run is inserted
        "import os, signal, sys\n"
        "from geo.store.store import Store\n"
        "mark = Store._upsert_scenes\n"
        "def mark_then_die(tx, scenes):\n"
        "    mark(tx, scenes)\n"
        "    if scenes and all(s.get('processed') for s in scenes):\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "Store._upsert_scenes = staticmethod(mark_then_die)\n"
        "from api.cli import main\n"
        "sys.argv = ['forestmon', 'detect', '--data-dir', sys.argv[1]]\n"
        "main()\n")
    result = subprocess.run([sys.executable, "-c", killed, str(tmp_path / "d")], env=env, capture_output=True)
    assert result.returncode == -9, result.stderr
    store = open_store(backend_url)
    assert store.runs() == [] and not any(r["processed"] for r in store.scenes("ok"))
    store.close()

    rerun = subprocess.run([FORESTMON, "detect", "--data-dir", str(tmp_path / "d")], env=env,
                           capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert "processed 2 new scene(s); 1 alert(s)" in rerun.stdout
    store = open_store(backend_url)
    runs = store.runs()
    assert len(runs) == 1 and runs[0]["scenes"] == 2 and runs[0]["coverage"]
    assert all(r["processed"] for r in store.scenes("ok"))
    assert len(store.query_alerts()) == 1
    store.close()


def test_windows_no_scene_has_ever_covered_stay_empty_and_learn_once_imaged(tmp_path, monkeypatch):
    """Outside the imagery (a grid reaching beyond the province's tiles) nothing is judged, learned or written:
    those rows are left unwritten in the state's files and read as empty records (not monitored). A scene that later
    covers them is learned there as anywhere."""
    from rasterio.windows import Window

    from geo.detect import run as detection
    from geo.detect.run import run_detection
    from geo.grid import Grid
    from geo.region import load_region

    monkeypatch.setattr(detection, "WINDOW", 16)
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    for k in range(3):  # the top-left 32 x 32 px of a 64 x 64 px grid
        write_scene(scenes / f"s_{20240105 + 7 * k}.tif", date(2024, 1, 5) + timedelta(days=7 * k), size=32)
    run("ingest", scenes, "--data-dir", tmp_path / "d", "--no-detect")
    region = load_region()
    grid = Grid.covering((860000, 1340000 - 640, 860000 + 640, 1340000), region.grid_crs, 10)
    state_dir = tmp_path / "d" / "state"
    whole = Window(0, 0, 64, 64)

    def records():
        state = statefile.open_state(StateDir(state_dir), grid)
        try:
            return state.model.read(whole), state.sums.read(whole)
        finally:
            state.close()

    run_detection(region, open_store(tmp_path / "d" / "forestmon.gpkg"), state_dir, grid=grid,
                  params=detect.DetectorParams(refit_days=0))
    model, sums = records()
    assert (sums["n"][:32, :32] == 3).all() and (model["ndvi_sigma"][:32, :32] > 0).all()
    for outside in (np.s_[:, 32:], np.s_[32:, :]):
        assert not model[outside].view(np.uint8).any() and not sums[outside].view(np.uint8).any()

    write_scene(scenes / "wide_20240202.tif", date(2024, 2, 2), size=64)
    run("ingest", scenes, "--data-dir", tmp_path / "d", "--no-detect")
    run_detection(region, open_store(tmp_path / "d" / "forestmon.gpkg"), state_dir, grid=grid,
                  params=detect.DetectorParams(refit_days=0))
    model, sums = records()
    assert (sums["n"][:32, :32] == 4).all() and (sums["n"][32:, :] == 1).all() and (sums["n"][:, 32:] == 1).all()
    assert (model["learned_day"] == detect.day_number(date(2024, 2, 2))).all()
