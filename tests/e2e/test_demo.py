"""The README's main job, as a user runs it: `forestmon demo --no-serve` from nothing to scored alerts."""

from __future__ import annotations

import re

import pyogrio
import pytest

pytestmark = pytest.mark.e2e


def test_demo_runs_end_to_end_and_prints_recall_and_precision_last(demo_run):
    proc = demo_run["proc"]
    assert proc.returncode == 0, proc.stderr[-2000:]
    last = proc.stdout.strip().splitlines()[-1]
    match = re.fullmatch(r"recall=([0-9.]+) precision=([0-9.]+)", last)
    assert match, f"last line was {last!r}"
    recall, precision = float(match[1]), float(match[2])
    assert recall >= 0.8 and precision >= 0.8
    assert "SYNTHETIC" in proc.stdout
    # detection is followed by assignment; a fresh demo has no rangers, so none is assigned
    assert re.search(r"^processed \d+ new scene\(s\); \d+ alert\(s\) .*; assigned 0$", proc.stdout, re.M)


def test_demo_processing_takes_under_five_minutes(demo_run):
    assert demo_run["seconds"] < 300


def test_demo_leaves_a_geopackage_store_a_report_and_the_truth(demo_run):
    data_dir = demo_run["data_dir"]
    layers = dict(pyogrio.list_layers(data_dir / "forestmon.gpkg"))
    assert layers["alerts"] == "MultiPolygon"
    alerts = pyogrio.read_dataframe(data_dir / "forestmon.gpkg", layer="alerts")
    assert len(alerts) >= 10
    assert set(alerts["confidence"]) <= {"low", "high", "highest"}
    assert alerts["district"].notna().all()
    province = [p for p in (data_dir / "reports").glob("*.html") if "_" not in p.stem]  # W_UNIT: a unit's
    units = [p for p in (data_dir / "reports").glob("*_*.html")]
    assert len(province) == 1 and len(units) >= 1
    assert province[0].with_suffix(".pdf").is_file() and all(u.with_suffix(".pdf").is_file() for u in units)
    html = province[0].read_text(encoding="utf-8")
    assert "mô phỏng" in html and "617,7" in html
    assert (data_dir / "demo" / "truth.gpkg").exists()
    assert len(list((data_dir / "demo" / "scenes").glob("*.tif"))) >= 70


def test_rerunning_the_demo_changes_nothing(demo_run):
    import subprocess
    import sys
    from pathlib import Path

    data_dir = demo_run["data_dir"]
    before = pyogrio.read_dataframe(data_dir / "forestmon.gpkg", layer="alerts").sort_values("id")
    exe = Path(sys.executable).with_name("forestmon")
    again = subprocess.run([str(exe), "demo", "--no-serve", "--data-dir", str(data_dir)], capture_output=True,
                           text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "processed 0 new scene(s)" in again.stdout
    after = pyogrio.read_dataframe(data_dir / "forestmon.gpkg", layer="alerts").sort_values("id")
    assert list(before["id"]) == list(after["id"])
    assert again.stdout.strip().splitlines()[-1] == demo_run["proc"].stdout.strip().splitlines()[-1]


def test_the_demos_greening_plantation_lots_come_out_established_with_their_planting_dates(demo_run):
    """The demo registers its two plantation lots (bare when planted, a closed canopy about 14 months later) and
    checks them from its own scenes: established at the end of the series, not yet established six months after
    planting; the register's planting dates are kept."""
    from datetime import date, timedelta

    from api.settings import Settings
    from geo.store import open_store
    from geo.workflow.lot_growth import lots_growth

    proc = demo_run["proc"]
    assert ("plantation lots checked from the imagery: DEMO-TR-01 planted 2023-05-03: established"
            in proc.stdout), proc.stdout[-2000:]
    with open_store(Settings(data_dir=demo_run["data_dir"]).store) as store:
        last = max(s["acquired"] for s in store.scenes("ok"))
        end = {lot["lot_id"]: lot for lot in lots_growth(store, date.fromisoformat(last))["lots"]}
        assert {k: (v["planted"], v["status"]) for k, v in end.items()} == {
            "DEMO-TR-01": ("2023-05-03", "established"), "DEMO-TR-02": ("2023-06-02", "established")}
        assert all(v["green_share"] >= 0.9 for v in end.values())
        early = lots_growth(store, date(2023, 5, 3) + timedelta(days=180))["lots"]
        assert {lot["status"] for lot in early} <= {"not_yet_visible", "establishing"}
        registered = sum(v["area_ha"] for v in end.values())
        assert registered == pytest.approx(24 + 15, rel=0.01)


def test_the_demo_stores_a_land_use_plan_its_clearings_fall_in(demo_run):
    """Planners get a plan to overlay: the demo stores its synthetic land-use plan (a zone file with a provincial
    plan's columns) as a layer version, and the overlay finds the alerts in its keep-forest zones, and some in the
    zone approved for conversion, with the hectares of the alerts themselves; a re-run replaces it, no second
    version."""
    import geopandas as gpd

    from api.settings import Settings
    from geo.store import open_store
    from geo.workflow.overlay import overlay_report

    settings = Settings(data_dir=demo_run["data_dir"])
    plan = gpd.read_file(settings.paths.demo_plan)
    assert {"loai_dat", "ten_khu"} <= set(plan.columns)
    assert {"RDD", "RPH", "RSX", "HNK", "ODT", "MNC", "CHUYEN_DOI"} <= set(plan["loai_dat"])
    assert plan.to_crs(32648).area.min() >= 10 * 10_000 - 1  # no zone under 10 ha, as on a plan
    with open_store(settings.store) as store:
        layers = store.planning_layers()
        assert [(rec["name"], rec["kind"], rec["valid_from"]) for rec in layers] == [
            ("Quy hoạch sử dụng đất 2021-2030 (mô phỏng)", "landuse_plan", "2021-01-01")]
        assert layers[0]["feature_count"] == len(plan)
        report = overlay_report(store)
        alerts = store.query_alerts()
    ha = report["summary"].set_index("zone_class")["ha"]
    total = alerts.to_crs(32648).area.sum() / 10_000
    assert ha["outside"] < 0.01  # the plan covers the whole area: every alert lies in its zones
    assert ha["keep_forest"] + ha["conversion"] + ha["other"] == pytest.approx(total, rel=1e-3)
    assert ha["keep_forest"] > 0.9 * total and ha["conversion"] > 0
