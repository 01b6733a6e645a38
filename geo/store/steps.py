"""The data steps of migrations (``geo.store.schema.STEPS``): what DDL alone cannot do, run inside the migration's
transaction after its statements, on either backend.

- ``zone_attributes`` (0014): every zone's source attributes, until then only a JSON text (``properties``), also
  become typed columns of ``planning_zones`` (``geo.store.attributes``); the JSON stays for popups and tiles.
- ``lots_layer`` (0015): on the GeoPackage, ``planting_lots`` is rebuilt as a feature layer GDAL and QGIS list:
  declared types GDAL reads typed (DATE, INTEGER, REAL), GeoPackage geometry blobs, registered in
  ``gpkg_contents`` and ``gpkg_geometry_columns``, with an R-tree index kept by GDAL's triggers. On PostGIS the
  table already is one (a typed geometry column).
"""

from __future__ import annotations

import shapely

from geo.store.attributes import fixed_names, from_json, plan, rows
from geo.store.geopackage import SRS_ID, decode_geometry, encode_geometry
from geo.store.schema import PLANNING_ZONES, PLANTING_LOTS
from geo.store.sql import Dialect, Tx

# imported_at stays TEXT: GeoPackage DATETIME wants 'YYYY-MM-DDTHH:MM:SS.SSSZ', the store writes '+00:00'.
_LOT_TYPES = {"serial": "INTEGER PRIMARY KEY", "text": "TEXT", "date": "DATE", "timestamp": "TEXT",
              "real": "REAL", "integer": "INTEGER", "bigint": "INTEGER", "geometry": "MULTIPOLYGON"}


def zone_attributes(dialect: Dialect, tx: Tx) -> None:
    zones = tx.fetch("SELECT layer_id, feature_index, properties FROM planning_zones ORDER BY layer_id, feature_index")
    if not zones:
        return
    attrs = from_json([z["properties"] for z in zones])
    if attrs.empty:
        return
    columns = plan(tx, dialect, "planning_zones", fixed_names(PLANNING_ZONES), attrs)
    sets = ", ".join(f'"{column}" = ?' for column, _ in columns.values())
    tx.executemany(f"UPDATE planning_zones SET {sets} WHERE layer_id = ? AND feature_index = ?",
                   [[*values, z["layer_id"], z["feature_index"]] for values, z in zip(rows(attrs, columns), zones,
                                                                                      strict=True)])


def lots_layer(dialect: Dialect, tx: Tx) -> None:
    if dialect.name != "geopackage":
        return
    names = [c.name for c in PLANTING_LOTS.columns]
    body = ", ".join(f"{c.name} {_LOT_TYPES[c.type]} {c.constraint}".rstrip() for c in PLANTING_LOTS.columns)
    tx.execute(f"CREATE TABLE planting_lots_layer ({body})")
    listed = ", ".join(names)
    old = tx.fetch(f"SELECT {listed} FROM planting_lots ORDER BY id")
    for row in old:  # WKB until now (a blob already starting 'GP' is a GeoPackage geometry)
        blob = row["geom"]
        if blob is not None:
            blob = bytes(blob)
            geom = decode_geometry(blob) if blob[:2] == b"GP" else shapely.from_wkb(blob)
            row["geom"] = encode_geometry(geom)
    tx.executemany(f"INSERT INTO planting_lots_layer ({listed}) VALUES ({', '.join('?' for _ in names)})",
                   [[r[n] for n in names] for r in old])
    tx.execute("DROP TABLE planting_lots")
    tx.execute("ALTER TABLE planting_lots_layer RENAME TO planting_lots")
    for index in PLANTING_LOTS.indexes:
        tx.execute(dialect.index(PLANTING_LOTS, index))
    tx.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id) "
               "VALUES ('planting_lots', 'features', 'planting_lots', ?)", [SRS_ID])
    tx.execute("INSERT INTO gpkg_geometry_columns (table_name, column_name, geometry_type_name, srs_id, z, m) "
               "VALUES ('planting_lots', 'geom', 'MULTIPOLYGON', ?, 0, 0)", [SRS_ID])
    tx.execute("UPDATE gpkg_contents SET min_x = ?, min_y = ?, max_x = ?, max_y = ? WHERE table_name = ?",
               [*_extent([r["geom"] for r in old]), "planting_lots"])
    _rtree(tx, "planting_lots", "id")


def _rtree(tx: Tx, table: str, key: str) -> None:
    """The GeoPackage R-tree spatial index of ``table`` (key column ``key``), filled, with the triggers that keep
    it: GDAL's own for the alerts layer, renamed (the GeoPackage standard's text, so GDAL and QGIS use it)."""
    tx.execute(f"CREATE VIRTUAL TABLE rtree_{table}_geom USING rtree(id, minx, maxx, miny, maxy)")
    tx.execute(f"INSERT INTO rtree_{table}_geom SELECT {key}, ST_MinX(geom), ST_MaxX(geom), ST_MinY(geom), "
               f"ST_MaxY(geom) FROM {table} WHERE geom NOT NULL AND NOT ST_IsEmpty(geom)")
    triggers = tx.fetch("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'rtree_alerts_geom_%'")
    for trigger in triggers:
        tx.execute(trigger["sql"].replace("rtree_alerts_geom", f"rtree_{table}_geom")
                   .replace('"alerts"', f'"{table}"').replace('"fid"', f'"{key}"'))
    tx.execute("INSERT INTO gpkg_extensions (table_name, column_name, extension_name, definition, scope) "
               "VALUES (?, 'geom', 'gpkg_rtree_index', 'http://www.geopackage.org/spec120/#extension_rtree', "
               "'write-only')", [table])


def _extent(blobs: list) -> list:
    geoms = [decode_geometry(b) for b in blobs if b is not None]
    return list(shapely.total_bounds(geoms)) if geoms else [None] * 4


STEPS = {"zone_attributes": zone_attributes, "lots_layer": lots_layer}


def run_step(name: str, dialect: Dialect, tx: Tx) -> None:
    """Run one named data step in the migration's transaction."""
    STEPS[name](dialect, tx)
