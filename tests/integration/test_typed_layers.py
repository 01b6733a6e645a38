"""QGIS-side: the store's planning zones keep each source attribute as a typed column (integer, real, text, date)
and the planting lots are a typed GDAL layer, read back with pyogrio (GeoPackage) and GDAL's ogrinfo (PostGIS)."""

from __future__ import annotations

import re
import subprocess
from datetime import date

import geopandas as gpd
import pandas as pd
import pyogrio
from psycopg.conninfo import conninfo_to_dict
from shapely.geometry import box

from geo.store import open_store
from geo.store.attributes import column_name, kind_of
from geo.workflow.planning import import_layer
from geo.workflow.planting import import_lots


def _plan(tmp_path, name="plan.gpkg", **extra) -> str:
    frame = gpd.GeoDataFrame({
        "loai_dat": ["RPH", "ONT"], "Tên khu": ["Khu Bidoup", "Khu dân cư"], "dien_tich": [12.5, 3.25],
        "so_thua": pd.Series([7, 11], dtype="int64"), "ngay_duyet": pd.to_datetime(["2024-03-01", "2024-05-20"]),
        "zone_type": ["x", "y"], **extra,
    }, geometry=[box(108.40, 11.90, 108.41, 11.91), box(108.42, 11.90, 108.43, 11.91)], crs=4326)
    path = tmp_path / name
    pyogrio.write_dataframe(frame, path, layer="zones")
    return path


def _ogr_fields(url: str, layer: str) -> dict[str, str]:
    """Field name → OGR type of a PostGIS table, as Debian's GDAL (what QGIS uses) reads it."""
    info = conninfo_to_dict(url.split("?")[0])
    schema = re.search(r"search_path%3D([^,&]+)", url).group(1)
    pg = (f"PG:dbname={info['dbname']} host={info.get('host', '127.0.0.1')} user={info.get('user', 'postgres')} "
          f"port={info.get('port', 5432)} schemas={schema}")
    out = subprocess.run(["ogrinfo", "-ro", "-so", pg, layer], capture_output=True, text=True, check=True).stdout
    return dict(re.findall(r"^(\w+): (\w+)", out, flags=re.MULTILINE))


def test_column_names_and_kinds():
    assert column_name("Tên khu", set()) == "ten_khu"
    assert column_name("2024", set()) == "a_2024"
    assert column_name("zone_type", {"zone_type"}) == "src_zone_type"
    assert len(column_name("x" * 200, set())) == 48
    assert kind_of(pd.Series([1, 2])) == "bigint"
    assert kind_of(pd.Series([1.5, None])) == "real"
    assert kind_of(pd.Series(["2024-01-02", None], dtype=object)) == "date"
    assert kind_of(pd.Series(["a", 1], dtype=object)) == "text"


def test_planning_zone_attributes_are_typed_columns(backend_url, tmp_path):
    with open_store(backend_url) as store:
        record = import_layer(store, _plan(tmp_path), name="QH", kind="zoning", valid_from=date(2024, 1, 1))
        assert record["columns"] == {"loai_dat": "loai_dat", "Tên khu": "ten_khu", "dien_tich": "dien_tich",
                                     "so_thua": "so_thua", "ngay_duyet": "ngay_duyet", "zone_type": "src_zone_type"}
        # a second version whose so_thua is text gets its own column; the integer column keeps its type
        import_layer(store, _plan(tmp_path, "plan2.gpkg", so_thua=["7a", "11b"]), name="QH", kind="zoning",
                     valid_from=date(2025, 1, 1))
    if backend_url.startswith("postgresql"):
        fields = _ogr_fields(backend_url, "planning_zones")
        assert fields["ten_khu"] == "String" and fields["dien_tich"] == "Real"
        assert fields["so_thua"] == "Integer64" and fields["ngay_duyet"] == "Date"
        assert fields["so_thua_text"] == "String"
        return
    info = pyogrio.read_info(backend_url, layer="planning_zones")
    types = dict(zip(info["fields"], info["dtypes"], strict=True))
    assert types["ten_khu"] == "object" and types["dien_tich"] == "float64" and types["so_thua"] == "int64"
    assert types["ngay_duyet"].startswith("datetime64") and types["so_thua_text"] == "object"
    zones = pyogrio.read_dataframe(backend_url, layer="planning_zones").sort_values(["layer_id", "feature_index"])
    first = zones[zones["layer_id"] == "qh-20240101"]
    assert list(first["ten_khu"]) == ["Khu Bidoup", "Khu dân cư"]
    assert list(first["so_thua"]) == [7, 11] and list(first["dien_tich"]) == [12.5, 3.25]
    assert [str(d)[:10] for d in first["ngay_duyet"]] == ["2024-03-01", "2024-05-20"]
    assert list(zones[zones["layer_id"] == "qh-20250101"]["so_thua_text"]) == ["7a", "11b"]


def _lots(tmp_path) -> str:
    frame = gpd.GeoDataFrame({
        "lot_id": ["L1", "L2"], "planted": ["2024-03-15", "2024-06-01"], "species": ["Keo lai", "Thông"],
        "trees": [1600, 2500], "programme": ["Trồng rừng tập trung", "Trồng cây phân tán"],
    }, geometry=[box(108.40, 11.90, 108.401, 11.901), box(108.41, 11.90, 108.411, 11.901)], crs=4326)
    path = tmp_path / "lots.geojson"
    frame.to_file(path)
    return path


def test_planting_lots_are_a_typed_gis_layer(backend_url, tmp_path):
    with open_store(backend_url) as store:
        import_lots(store, _lots(tmp_path), "EPSG:32648")
        import_lots(store, _lots(tmp_path), "EPSG:32648")  # re-import updates, geometry still a GIS geometry
    if backend_url.startswith("postgresql"):
        fields = _ogr_fields(backend_url, "planting_lots")
        assert (fields["planted"], fields["trees"], fields["area_ha"], fields["programme"]) == \
            ("Date", "Integer64", "Real", "String")
        return
    assert ("planting_lots", "MultiPolygon") in [tuple(x) for x in pyogrio.list_layers(backend_url)]
    info = pyogrio.read_info(backend_url, layer="planting_lots")
    types = dict(zip(info["fields"], info["dtypes"], strict=True))
    assert types["planted"].startswith("datetime64") and types["trees"] == "int64"
    assert types["area_ha"] == "float64" and types["programme"] == "object"
    lots = pyogrio.read_dataframe(backend_url, layer="planting_lots")
    assert list(lots["trees"]) == [1600, 2500] and str(lots.crs) == "EPSG:4326"
    assert lots.geometry.iloc[0].equals(box(108.40, 11.90, 108.401, 11.901))
    # the spatial index answers a bbox (GDAL uses the R-tree), as Debian's GDAL (QGIS's) reads the layer too
    near = pyogrio.read_dataframe(backend_url, layer="planting_lots", bbox=(108.409, 11.899, 108.412, 11.902))
    assert list(near["lot_id"]) == ["L2"]
    out = subprocess.run(["ogrinfo", "-ro", "-so", backend_url, "planting_lots"], capture_output=True, text=True,
                         check=True).stdout
    assert "Feature Count: 2" in out and "Geometry: Multi Polygon" in out
    assert re.search(r"^planted: Date", out, flags=re.MULTILINE)
    assert re.search(r"^trees: Integer64", out, flags=re.MULTILINE)


def test_a_store_from_before_0014_gains_typed_zone_columns_and_a_lots_layer(backend_url, tmp_path, monkeypatch):
    """Zones stored with their attributes as JSON only, and lots as WKB, come out typed after the migrations."""
    import geo.store.store as store_module
    from geo.store.schema import MIGRATIONS, migrations
    from geo.workflow.planning import read_planning_file

    every = migrations()
    monkeypatch.setattr(store_module, "migrations", lambda: [m for m in every if m.name < "0014"])
    with open_store(backend_url) as old:
        read = read_planning_file(_plan(tmp_path), kind="zoning")
        old.replace_planning_layer({"id": "qh-20240101", "name": "QH", "kind": "zoning", "valid_from": "2024-01-01"},
                                   read.zones.assign(layer_id="qh-20240101"))  # JSON only, as before 0014
        if backend_url.endswith(".gpkg"):  # lots as the old GeoPackage table held them: plain WKB
            with old.transaction() as tx:
                tx.execute("INSERT INTO planting_lots (lot_id, planted, trees, programme, area_ha, geom, imported_at) "
                           "VALUES ('L1', '2024-03-15', 1600, 'Keo', 1.2, ?, '2024-04-01T00:00:00+00:00')",
                           [box(108.40, 11.90, 108.401, 11.901).wkb])
    monkeypatch.undo()
    with open_store(backend_url) as store:
        assert store.applied_migrations() == list(MIGRATIONS)
        if backend_url.endswith(".gpkg"):
            assert planting_lots_of(store) == [("L1", 1600)]
    if backend_url.startswith("postgresql"):
        fields = _ogr_fields(backend_url, "planning_zones")
        assert (fields["so_thua"], fields["dien_tich"], fields["ten_khu"]) == ("Integer64", "Real", "String")
        return
    zones = pyogrio.read_dataframe(backend_url, layer="planning_zones")
    assert list(zones["so_thua"]) == [7, 11] and list(zones["ten_khu"]) == ["Khu Bidoup", "Khu dân cư"]
    assert zones["dien_tich"].dtype == "float64" and zones["so_thua"].dtype == "int64"
    lots = pyogrio.read_dataframe(backend_url, layer="planting_lots")
    assert list(lots["trees"]) == [1600] and lots.geometry.iloc[0].equals(box(108.40, 11.90, 108.401, 11.901))


def planting_lots_of(store) -> list[tuple]:
    from geo.workflow.planting import list_lots

    lots = list_lots(store)
    return list(zip(lots["lot_id"], lots["trees"], strict=True))


def test_the_upload_answers_the_columns_and_items_still_show_the_attributes(app_client, tmp_path):
    from reviewkit import login

    path = _plan(tmp_path)
    with open(path, "rb") as f:
        r = app_client.post("/planning/layers", files={"file": (path.name, f, "application/geopackage+sqlite3")},
                            data={"name": "QH", "kind": "zoning", "valid_from": "2024-01-01"},
                            headers=login(app_client, "planner"))
    assert r.status_code == 201, r.text
    assert r.json()["columns"]["Tên khu"] == "ten_khu" and r.json()["columns"]["so_thua"] == "so_thua"
    items = app_client.get("/ogc/collections/plan-qh-20240101/items").json()["features"]
    first = items[0]["properties"]
    assert first["Tên khu"] == "Khu Bidoup" and first["so_thua"] == 7 and first["dien_tich"] == 12.5


def test_two_imports_adding_the_same_columns_at_once_both_land(backend_url, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    files = [_plan(tmp_path, f"plan{i}.gpkg") for i in range(2)]
    with open_store(backend_url) as store, ThreadPoolExecutor(2) as pool:
        done = list(pool.map(lambda i: import_layer(store, files[i], name=f"QH{i}", kind="zoning",
                                                    valid_from=date(2024, 1, 1)), range(2)))
        assert [d["columns"]["so_thua"] for d in done] == ["so_thua", "so_thua"]
        with store.reading() as tx:
            assert tx.scalar("SELECT count(*) AS n FROM planning_zones WHERE so_thua = 11") == 2


QGIS_FIELDS = """
import os, sys
from qgis.core import QgsApplication, QgsVectorLayer
QgsApplication.setPrefixPath("/usr", True)
app = QgsApplication([], False)
app.initQgis()
for name in sys.argv[2:]:
    layer = QgsVectorLayer(f"{sys.argv[1]}|layername={name}", name, "ogr")
    print(name, layer.isValid(), layer.featureCount(), layer.wkbType(),
          ",".join(f"{f.name()}:{f.typeName()}" for f in layer.fields()), sep="|")
sys.stdout.flush()
os._exit(0)  # what was asked is printed; QGIS's own teardown of GDAL layers may crash a headless exit
"""


def test_qgis_opens_the_stores_zones_and_lots_with_typed_fields(tmp_path):
    """QGIS (the Debian package, headless) adds the GeoPackage store's layers as a planner would (Layer → Add
    Vector Layer): the zones' source attributes and the lots' columns come with their types."""
    import os

    store_path = tmp_path / "store.gpkg"
    with open_store(str(store_path)) as store:
        import_layer(store, _plan(tmp_path), name="QH", kind="zoning", valid_from=date(2024, 1, 1))
        import_lots(store, _lots(tmp_path), "EPSG:32648")
    run = subprocess.run(["/usr/bin/python3", "-c", QGIS_FIELDS, str(store_path), "planning_zones",
                          "planting_lots"], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert run.returncode == 0, run.stderr[-2000:]
    rows = {line.split("|")[0]: line.split("|")[1:] for line in run.stdout.splitlines() if "|" in line}
    for name, count in (("planning_zones", "2"), ("planting_lots", "2")):
        assert rows[name][:2] == ["True", count], rows
    zones = dict(f.split(":") for f in rows["planning_zones"][3].split(","))
    assert zones["ten_khu"].lower().startswith("string") and zones["dien_tich"].lower() in ("real", "double")
    assert zones["so_thua"].lower().startswith("integer") and zones["ngay_duyet"].lower() == "date"
    lots = dict(f.split(":") for f in rows["planting_lots"][3].split(","))
    assert lots["planted"].lower() == "date" and lots["trees"].lower().startswith("integer")
    assert lots["area_ha"].lower() in ("real", "double") and lots["programme"].lower().startswith("string")
