"""The store on both backends (GeoPackage and PostGIS): transactional upserts by stable id, filters, migrations.

The GeoPackage must also stay a real GeoPackage that GDAL reads.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pyogrio
import pytest
from conftest import sample_alerts
from shapely.geometry import MultiPolygon, box

from geo.errors import ConfigError, InvalidInputError, NotFoundError
from geo.query import Query
from geo.store import open_store


def test_gdal_opens_the_store_as_a_geopackage_with_an_alerts_layer(tmp_path):
    store = open_store(tmp_path / "store.gpkg")
    store.sync_alerts(sample_alerts())
    layers = dict(pyogrio.list_layers(store.url))
    assert layers["alerts"] == "MultiPolygon"
    assert "scenes" in layers
    info = pyogrio.read_info(store.url, layer="alerts")
    assert info["features"] == 3
    assert info["crs"] == "EPSG:4326"
    frame = pyogrio.read_dataframe(store.url, layer="alerts", bbox=(108.349, 11.999, 108.361, 12.011))
    assert list(frame["id"]) == ["20240305-086100-0133500"]


def test_sync_updates_by_id_keeps_review_status_and_removes_vanished_unreviewed(store):
    alerts = sample_alerts()
    alerts.loc[0, "area_ha"] = 3.0  # the alert grew
    alerts.loc[0, "geometry"] = MultiPolygon([box(108.35, 12.00, 108.365, 12.01)])
    counts = store.sync_alerts(alerts.iloc[[0, 2]])
    assert counts == {"inserted": 0, "updated": 2, "removed": 1}
    assert store.get_alert("20240305-086100-0133500")["area_ha"].item() == 3.0
    with pytest.raises(NotFoundError):
        store.get_alert("20240312-086200-0133600")
    # The R-tree follows the new geometry.
    assert store.count_alerts(Query(bbox=(108.362, 12.001, 108.364, 12.002))) == 1


def test_resync_of_the_same_alerts_changes_nothing(store):
    before = store.query_alerts()
    store.sync_alerts(sample_alerts())
    after = store.query_alerts()
    assert before.drop(columns="geometry").equals(after.drop(columns="geometry"))
    assert before.geometry.geom_equals(after.geometry).all()


def test_queries_filter_by_bbox_dates_and_confidence(store):
    assert store.count_alerts() == 3
    assert store.count_alerts(Query(start=date(2024, 3, 10))) == 2
    assert store.count_alerts(Query(start=date(2024, 3, 1), end=date(2024, 3, 31))) == 2
    assert store.count_alerts(Query(filters={"confidence": ("high", "highest")})) == 2
    assert store.count_alerts(Query(bbox=(108.29, 11.94, 108.33, 11.98))) == 1
    page = store.query_alerts(Query(limit=2, offset=1))
    assert list(page["id"]) == ["20240312-086200-0133600", "20240305-086100-0133500"]


def test_a_failed_write_leaves_the_store_unchanged(store):
    version = store.data_version()
    broken = sample_alerts()
    broken.loc[1, "geometry"] = None  # cannot be encoded: the whole sync must roll back
    with pytest.raises(InvalidInputError, match="20240312-086200-0133600"):
        store.sync_alerts(broken)
    assert store.count_alerts() == 3
    assert store.data_version() == version


def test_scene_catalogue_upserts_by_id(store):
    store.upsert_scenes([{"id": "a", "acquired": "2024-01-02", "status": "ok", "path": "/x", "processed": 0}])
    store.upsert_scenes([{"id": "a", "acquired": "2024-01-02", "status": "ok", "path": "/x", "processed": 1}])
    scenes = store.scenes()
    assert len(scenes) == 1 and scenes[0]["processed"] == 1


def test_store_url_must_name_a_known_backend(tmp_path):
    with pytest.raises(ConfigError, match="neither a .gpkg"):
        open_store(tmp_path / "alerts.sqlite")


def test_migrations_are_recorded_in_order_and_reopening_applies_none(store):
    applied = store.applied_migrations()
    assert applied == sorted(applied) and applied[0] == "0001_initial"
    assert {"0002_users", "0003_review"} <= set(applied)
    assert store.migrate() == []
    again = open_store(store.url)
    assert again.applied_migrations() == applied and again.count_alerts() == 3
    again.close()


def test_review_columns_start_empty_and_sync_keeps_them(store):
    alert = store.get_alert("20240305-086100-0133500").iloc[0]
    assert alert["status"] == "new" and alert["version"] == 1 and alert["assigned_to"] is None
    with store.transaction() as tx:
        tx.execute("UPDATE alerts SET status = 'assigned', assigned_to = 'an', version = 2 WHERE id = ?",
                   ["20240305-086100-0133500"])
    store.sync_alerts(sample_alerts().iloc[[1, 2]])  # the detector no longer reports the assigned alert
    kept = store.get_alert("20240305-086100-0133500").iloc[0]
    assert (kept["status"], kept["assigned_to"], kept["version"]) == ("assigned", "an", 2)


def test_filters_by_review_fields(store):
    with store.transaction() as tx:
        tx.execute("UPDATE alerts SET status = 'assigned', assigned_to = 'an' WHERE id = ?",
                   ["20240312-086200-0133600"])
    assert store.count_alerts(Query(filters={"status": ("assigned",)})) == 1
    assert store.count_alerts(Query(filters={"assigned_to": ("an",)})) == 1
    assert store.count_alerts(Query(filters={"status": ("new",), "district_id": ("675",)})) == 2
    assert store.count_alerts(Query(filters={"district_id": ()})) == 0


def test_a_failed_transaction_changes_nothing(store):
    version = store.data_version()
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.execute("UPDATE alerts SET status = 'dismissed'")
        raise RuntimeError("interrupted")
    assert store.count_alerts(Query(filters={"status": ("new",)})) == 3
    assert store.data_version() == version


def test_postgis_url_that_cannot_connect_is_a_config_error():
    with pytest.raises(ConfigError, match="cannot connect"):
        open_store("postgresql://postgres@127.0.0.1:1/nothing?connect_timeout=2")


def test_a_store_from_before_the_review_migrations_is_upgraded_in_place(backend_url):
    """A store made by the walking skeleton (schema 0001 only, alerts in it) gains the review schema on opening,
    keeping its alerts, which start unreviewed at version 1. The skeleton's GeoPackage had no record of
    migrations at all: its alerts and scenes layers are taken for migration 0001."""
    from geo.store.schema import MIGRATIONS, migrations

    if backend_url.endswith(".gpkg"):
        import sqlite3

        from geo.store.schema import ALERTS

        frame = sample_alerts()
        frame["status"] = "new"
        for column in ALERTS.columns_since("0001_initial"):  # the skeleton's layer had every 0001 column
            if column.name not in frame:
                frame[column.name] = pd.Series(dtype="float64" if column.type in ("real", "integer") else object)
        pyogrio.write_dataframe(frame, backend_url, layer="alerts", promote_to_multi=True)
        pyogrio.write_dataframe(pd.DataFrame({"id": pd.Series([], dtype=object), "status": pd.Series([], dtype=object),
                                              "processed": pd.Series([], dtype="int64")}), backend_url,
                                layer="scenes", append=True)
        with sqlite3.connect(backend_url) as con:
            con.execute("CREATE UNIQUE INDEX alerts_id ON alerts(id)")
            con.execute("CREATE UNIQUE INDEX scenes_id ON scenes(id)")
            con.execute("CREATE TABLE forestmon_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)")
            con.executemany("INSERT INTO forestmon_meta VALUES (?, ?)", [("schema_version", 1), ("data_version", 0)])
    else:
        import psycopg

        from geo.store.postgis import PostGISDialect

        first = migrations()[0]
        with psycopg.connect(backend_url, autocommit=True) as conn:
            for statement in PostGISDialect.statements(PostGISDialect.__new__(PostGISDialect), first):
                conn.execute(statement)
            conn.execute("CREATE TABLE schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL)")
            conn.execute("INSERT INTO schema_migrations VALUES ('0001_initial', now())")
            conn.execute("INSERT INTO alerts (id, status, area_ha, first_detected, geom) VALUES "
                         "('20240305-086100-0133500', 'new', 2.5, '2024-03-05', "
                         "ST_Multi(ST_MakeEnvelope(108.35, 12.0, 108.36, 12.01, 4326))), "
                         "('20240312-086200-0133600', 'new', 0.4, '2024-03-12', "
                         "ST_Multi(ST_MakeEnvelope(108.40, 12.05, 108.401, 12.051, 4326)))")
    with open_store(backend_url) as store:
        assert store.applied_migrations() == list(MIGRATIONS)
        alert = store.get_alert("20240305-086100-0133500").iloc[0]
        assert (alert["status"], alert["version"], alert["area_ha"]) == ("new", 1, 2.5)
        assert store.count_alerts(Query(bbox=(108.399, 12.049, 108.402, 12.052))) == 1


def test_a_geopackage_left_with_a_hot_journal_by_a_crash_opens_rolled_back(tmp_path):
    """A process killed mid-transaction leaves a rollback journal; the next open must roll it back, not fail."""
    import subprocess
    import sys

    path = tmp_path / "store.gpkg"
    store = open_store(path)
    store.sync_alerts(sample_alerts())
    crash = (
        "import os, sqlite3\n"
        f"con = sqlite3.connect({str(path)!r}, isolation_level=None)\n"
        "con.execute('BEGIN IMMEDIATE')\n"
        "con.execute('DELETE FROM forestmon_meta')\n"  # no R-tree trigger here: plain sqlite3 may write it
        "con.execute('PRAGMA cache_spill = 1')\n"
        "con.execute('CREATE TABLE filler AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
        "WHERE i < 200000) SELECT i, hex(randomblob(64)) AS b FROM n')\n"
        "os._exit(9)\n"  # killed: no commit, no rollback, the journal stays
    )
    subprocess.run([sys.executable, "-c", crash], check=False)
    assert path.with_name("store.gpkg-journal").exists()
    reopened = open_store(path)
    assert reopened.count_alerts() == 3 and reopened.data_version() >= 1
    with reopened.reading() as tx:
        assert tx.fetchone("SELECT name FROM sqlite_master WHERE name = 'filler'") is None
    assert pyogrio.read_info(path, layer="alerts")["features"] == 3


def test_detection_runs_and_their_coverage_round_trip(store):
    first = store.record_run({"first_scene": "2024-03-04", "last_scene": "2024-03-04", "scenes": 1, "mode": "series"},
                             [{"unit_id": "675", "unit": "Huyện Lạc Dương", "forest_ha": 812.5, "observed_ha": 406.25,
                               "observed_share": 0.5, "area_ha": 13100.0, "watched_share": 0.062}])
    second = store.record_run({"first_scene": "2024-03-11", "last_scene": "2024-03-11", "scenes": 2,
                               "mode": "series"}, [])
    assert second == first + 1
    runs = store.runs()
    assert [r["id"] for r in runs] == [second, first]
    assert runs[0]["coverage"] == []
    assert runs[1]["coverage"] == [{"unit_id": "675", "unit": "Huyện Lạc Dương", "forest_ha": 812.5,
                                    "observed_ha": 406.25, "observed_share": 0.5, "area_ha": 13100.0,
                                    "watched_share": 0.062}]
    assert runs[1]["first_scene"] == "2024-03-04" and runs[1]["mode"] == "series"


def _open_when_told(path: str, start, results) -> None:
    start.wait()
    try:
        store = open_store(path)
        store.sync_alerts(sample_alerts().iloc[[0]])  # and use it
        store.close()
        results.put("ok")
    except Exception as exc:  # noqa: BLE001 - reported to the test, whatever it is
        results.put(f"{type(exc).__name__}: {exc}")


def test_processes_opening_a_new_geopackage_together_all_get_the_same_store(tmp_path):
    """The server's workers start at the same moment on a brand-new data folder: each may create the store, one
    file wins, none fails (they raced on one temporary file and one worker died), nothing is left beside it."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    for attempt in range(3):
        path = tmp_path / f"new{attempt}" / "forestmon.gpkg"
        start, results = ctx.Event(), ctx.Queue()
        procs = [ctx.Process(target=_open_when_told, args=(str(path), start, results)) for _ in range(4)]
        for p in procs:
            p.start()
        start.set()
        outcomes = [results.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(timeout=60)
        assert outcomes == ["ok"] * 4, outcomes
        assert sorted(f.name for f in path.parent.iterdir()) == ["forestmon.gpkg"]
        store = open_store(path)
        assert store.count_alerts() == 1
        store.close()


def test_a_new_geopackage_whose_first_migration_was_cut_short_after_its_layers_is_finished_on_opening(tmp_path):
    """GDAL makes 0001's alerts layer before 0001's transaction. A process that looks in between (a worker
    starting beside the one creating the store), or a creation killed there, sees that layer without
    ``forestmon_meta`` or a record of migrations: that is an unfinished new store, not one of the first stores
    (which had ``forestmon_meta``), and opening it runs 0001 instead of taking it as done."""
    from geo.store.geopackage import GeoPackageDialect
    from geo.store.schema import migrations

    path = tmp_path / "forestmon.gpkg"
    GeoPackageDialect(path).before(migrations()[0])  # the file and 0001's layers; 0001's transaction never ran
    store = open_store(path)
    assert store.applied_migrations() == [m.name for m in migrations()]
    store.sync_alerts(sample_alerts().iloc[[0]])
    assert store.count_alerts() == 1 and store.data_version() > 0
    store.close()


def test_one_of_the_first_geopackages_with_no_record_of_migrations_is_upgraded_and_keeps_its_alerts(tmp_path):
    """The first stores held an alerts layer, a scenes table and ``forestmon_meta``, and recorded no
    migrations: 0001 is taken as done, the rest are applied, the alerts stay."""
    import sqlite3

    from geo.store.geopackage import GeoPackageDialect, _register_functions
    from geo.store.schema import migrations

    path = tmp_path / "forestmon.gpkg"
    GeoPackageDialect(path).before(migrations()[0])
    con = sqlite3.connect(path)
    _register_functions(con)  # the R-tree triggers GDAL wrote call them
    with con:
        con.execute("CREATE TABLE scenes (id TEXT PRIMARY KEY, sensor TEXT, acquired TEXT, source TEXT, path TEXT, "
                    "cloud_pct REAL, valid_fraction REAL, status TEXT, reason TEXT, processed INTEGER)")
        con.execute("CREATE TABLE forestmon_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)")
        con.executemany("INSERT INTO forestmon_meta VALUES (?, ?)", [("schema_version", 1), ("data_version", 3)])
        con.execute("INSERT INTO alerts (id, first_detected) VALUES ('old-1', '2024-03-01')")
    con.close()
    store = open_store(path)
    assert store.applied_migrations() == [m.name for m in migrations()]
    assert store.count_alerts() == 1 and store.data_version() == 3
    store.close()


def test_an_empty_file_where_the_store_goes_becomes_the_store(tmp_path):
    """A SQLite client that opens the missing path first (a script watching the store, the sqlite3 shell) leaves
    an empty file there: it holds nothing, and the new store takes its place."""
    path = tmp_path / "forestmon.gpkg"
    path.touch()
    store = open_store(path)
    store.sync_alerts(sample_alerts().iloc[[0]])
    assert store.count_alerts() == 1
    store.close()
