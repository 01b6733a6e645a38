"""The embedded store: one GeoPackage file that GDAL and QGIS open directly (layers ``alerts`` and ``scenes``).

The layers are created through GDAL (pyogrio) so the file is a standard GeoPackage with an R-tree index;
writes then go through ``sqlite3`` in transactions (all or nothing), with the few SQL functions GDAL's R-tree
triggers call registered on the connection.
"""

from __future__ import annotations

import sqlite3
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from geo.alerts import ALERT_COLUMNS, REVIEW_COLUMNS
from geo.errors import ConfigError, InvalidInputError, NotFoundError
from geo.store.base import SCENE_COLUMNS, AlertQuery, Store, ZoneQuery
from geo.store.sql import Tx, check_params, migration_files, now_iso, split_statements
from geo.workflow.planning import LAYER_FIELDS, ZONE_COLUMNS

SCHEMA_VERSION = 1
SRS_ID = 4326
# The scenes layer as migration 0001 made it (frozen, like BASELINE_ALERT_COLUMNS); 0005 adds the tile columns.
BASELINE_SCENE_COLUMNS: dict[str, str] = {
    "id": "TEXT", "sensor": "TEXT", "acquired": "TEXT", "source": "TEXT", "path": "TEXT",
    "cloud_pct": "REAL", "valid_fraction": "REAL", "status": "TEXT", "reason": "TEXT",
    "processed": "INTEGER",
}
_DTYPES = {"TEXT": object, "REAL": "float64", "INTEGER": "int64"}
# The alerts layer as migration 0001 made it (frozen: a column added to geo.alerts.ALERT_COLUMNS later comes with
# a migration in both backends' folders, which must find the layer without it).
BASELINE_ALERT_COLUMNS: dict[str, str] = {
    "id": "TEXT", "status": "TEXT", "confidence": "TEXT", "first_detected": "TEXT", "confirmed": "TEXT",
    "last_update": "TEXT", "area_ha": "REAL", "district_id": "TEXT", "district": "TEXT", "mean_drop": "REAL",
    "scene_before": "TEXT", "scene_after": "TEXT", "centroid_lon": "REAL", "centroid_lat": "REAL",
    "vn2000_x": "REAL", "vn2000_y": "REAL", "vn2000_epsg": "INTEGER",
}
_ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}
_create_lock = threading.Lock()


def encode_geometry(geom) -> bytes:
    """GeoPackage geometry blob: 'GP' header with the XY envelope, then little-endian WKB."""
    minx, miny, maxx, maxy = geom.bounds
    header = b"GP" + bytes([0, 0b00000011]) + struct.pack("<i4d", SRS_ID, minx, maxx, miny, maxy)
    return header + shapely.to_wkb(geom, byte_order=1)


def _wkb_offset(blob: bytes) -> int:
    return 8 + _ENVELOPE_BYTES[(blob[3] >> 1) & 0b111]


def decode_geometry(blob: bytes):
    return shapely.from_wkb(blob[_wkb_offset(blob):])


def _envelope(blob: bytes | None) -> tuple[float, float, float, float] | None:
    """(minx, maxx, miny, maxy) from the header, or from the geometry when the header has none."""
    if blob is None or blob[3] & 0b10000:
        return None
    if (blob[3] >> 1) & 0b111:
        endian = "<" if blob[3] & 1 else ">"
        return struct.unpack(endian + "4d", blob[8:40])
    geom = decode_geometry(blob)
    if geom.is_empty:
        return None
    minx, miny, maxx, maxy = geom.bounds
    return minx, maxx, miny, maxy


def _register_functions(con: sqlite3.Connection) -> None:
    """The functions GDAL's R-tree triggers call (GDAL registers them itself; plain sqlite3 must too)."""
    con.create_function("ST_IsEmpty", 1, lambda b: 1 if _envelope(b) is None else 0, deterministic=True)
    for i, name in enumerate(("ST_MinX", "ST_MaxX", "ST_MinY", "ST_MaxY")):
        con.create_function(name, 1, lambda b, i=i: (e := _envelope(b)) and e[i], deterministic=True)


class GeoPackageStore(Store):
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _create_lock:
            if not self._has_alerts_layer():
                self._create()
            if not self._has_alerts_layer("planning_zones"):
                self._create_planning()  # a spatial layer: made through GDAL, like alerts (see migration 0008)
        self.migrate()

    def __repr__(self) -> str:
        return f"GeoPackageStore({str(self.path)!r})"

    @property
    def url(self) -> str:
        return str(self.path)

    # -- schema ---------------------------------------------------------------------------------------------
    def _has_alerts_layer(self, layer: str = "alerts") -> bool:
        """Whether the file is a GeoPackage with that layer (alerts by default), read through a read-write
        connection.

        After a crash mid-write the file has a hot rollback journal: the first read-write connection rolls it
        back (GDAL's read-only open would fail with "attempt to write a readonly database").
        """
        if not self.path.exists():
            return False
        con = sqlite3.connect(self.path, timeout=30)
        try:
            if con.execute("SELECT 1 FROM sqlite_master WHERE name = 'gpkg_contents'").fetchone() is None:
                return False
            return con.execute("SELECT 1 FROM gpkg_contents WHERE table_name = ?", [layer]).fetchone() is not None
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"{self.path} is not a GeoPackage store: {exc}") from exc
        finally:
            con.close()

    def _create(self) -> None:
        tmp = self.path.with_suffix(".creating.gpkg")
        tmp.unlink(missing_ok=True)
        alerts = gpd.GeoDataFrame(
            {name: pd.Series([], dtype=_DTYPES[sql]) for name, sql in BASELINE_ALERT_COLUMNS.items()},
            geometry=gpd.GeoSeries([], crs=SRS_ID),
        )
        pyogrio.write_dataframe(alerts, tmp, layer="alerts", geometry_type="MultiPolygon")
        scenes = pd.DataFrame({name: pd.Series([], dtype=_DTYPES[sql])
                               for name, sql in BASELINE_SCENE_COLUMNS.items()})
        pyogrio.write_dataframe(scenes, tmp, layer="scenes")
        con = sqlite3.connect(tmp)
        with con:
            con.execute("CREATE UNIQUE INDEX alerts_id ON alerts(id)")
            con.execute("CREATE INDEX alerts_first_detected ON alerts(first_detected)")
            con.execute("CREATE UNIQUE INDEX scenes_id ON scenes(id)")
            con.execute("CREATE TABLE forestmon_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)")
            con.executemany("INSERT INTO forestmon_meta VALUES (?, ?)",
                            [("schema_version", SCHEMA_VERSION), ("data_version", 0)])
        con.close()
        tmp.replace(self.path)  # the store appears whole or not at all

    def _create_planning(self) -> None:
        """Add the planning layers' tables (through GDAL, as for alerts) to a store made before they existed."""
        zones = gpd.GeoDataFrame(
            {name: pd.Series([], dtype=_DTYPES[sql]) for name, sql in ZONE_COLUMNS.items()},
            geometry=gpd.GeoSeries([], crs=SRS_ID))
        layers = pd.DataFrame({name: pd.Series([], dtype=_DTYPES[sql]) for name, sql in LAYER_FIELDS.items()})
        pyogrio.write_dataframe(layers, self.path, layer="planning_layers", append=True)
        pyogrio.write_dataframe(zones, self.path, layer="planning_zones", geometry_type="MultiPolygon", append=True)
        con = sqlite3.connect(self.path)
        with con:
            con.execute("CREATE UNIQUE INDEX IF NOT EXISTS planning_layers_id ON planning_layers(id)")
            con.execute("CREATE INDEX IF NOT EXISTS planning_zones_layer ON planning_zones(layer_id, feature_index)")
        con.close()

    @contextmanager
    def _connect(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            _register_functions(con)
            con.row_factory = sqlite3.Row
            if write:
                con.execute("BEGIN IMMEDIATE")
                try:
                    yield con
                    con.execute("UPDATE forestmon_meta SET value = value + 1 WHERE key = 'data_version'")
                    con.execute("COMMIT")
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
            else:
                yield con
        finally:
            con.close()

    def migrate(self) -> list[str]:
        applied = []
        with self._connect() as con:
            con.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                        "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
            done = {r[0] for r in con.execute("SELECT name FROM schema_migrations")}
        for name, script in migration_files("geopackage"):
            if name in done:
                continue  # the common case: no write lock taken when the schema is up to date
            with self._connect() as con:
                con.execute("BEGIN IMMEDIATE")  # one writer migrates; the others wait, then find it applied
                try:
                    if con.execute("SELECT 1 FROM schema_migrations WHERE name = ?", [name]).fetchone() is None:
                        for statement in split_statements(script):
                            con.execute(statement)
                        con.execute("INSERT INTO schema_migrations VALUES (?, ?)", [name, now_iso()])
                        con.execute("UPDATE forestmon_meta SET value = (SELECT count(*) FROM schema_migrations) "
                                    "WHERE key = 'schema_version'")
                        applied.append(name)
                    con.execute("COMMIT")
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
        return applied

    def applied_migrations(self) -> list[str]:
        with self._connect() as con:
            return [r[0] for r in con.execute("SELECT name FROM schema_migrations ORDER BY name")]

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        with self._connect(write=True) as con:
            yield SqliteTx(con)

    @contextmanager
    def reading(self) -> Iterator[Tx]:
        with self._connect() as con:
            yield SqliteTx(con)

    # -- alerts ---------------------------------------------------------------------------------------------
    def sync_alerts(self, alerts: gpd.GeoDataFrame) -> dict[str, int]:
        alerts = alerts.to_crs(SRS_ID) if alerts.crs is not None else alerts
        columns = [c for c in ALERT_COLUMNS if c not in ("id", "status")]
        counts = {"inserted": 0, "updated": 0, "removed": 0}
        with self._connect(write=True) as con:
            known = {r["id"]: r["status"] for r in con.execute("SELECT id, status FROM alerts")}
            current = set()
            for row in alerts.itertuples(index=False):
                values = [_plain(getattr(row, c, None)) for c in columns]
                if row.geometry is None or row.geometry.is_empty:  # rolls the whole sync back
                    raise InvalidInputError(f"alert {row.id!r} has no geometry")
                geom = encode_geometry(row.geometry)
                current.add(row.id)
                if row.id in known:
                    sets = ", ".join(f'"{c}" = ?' for c in columns)
                    con.execute(f'UPDATE alerts SET geom = ?, {sets} WHERE id = ?', [geom, *values, row.id])
                    counts["updated"] += 1
                else:
                    names = ", ".join(f'"{c}"' for c in columns)
                    marks = ", ".join("?" for _ in columns)
                    con.execute(f'INSERT INTO alerts (geom, id, status, {names}) VALUES (?, ?, ?, {marks})',
                                [geom, row.id, "new", *values])
                    counts["inserted"] += 1
            gone = [i for i, status in known.items() if i not in current and status == "new"]
            con.executemany("DELETE FROM alerts WHERE id = ?", [(i,) for i in gone])
            counts["removed"] = len(gone)
            con.execute(
                "UPDATE gpkg_contents SET last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now'), "
                "min_x = (SELECT min(minx) FROM rtree_alerts_geom), max_x = (SELECT max(maxx) FROM rtree_alerts_geom), "
                "min_y = (SELECT min(miny) FROM rtree_alerts_geom), max_y = (SELECT max(maxy) FROM rtree_alerts_geom) "
                "WHERE table_name = 'alerts'")
        return counts

    def _where(self, query: AlertQuery) -> tuple[str, list]:
        clauses, params = [], []
        if query.bbox is not None:
            west, south, east, north = query.bbox
            clauses.append("fid IN (SELECT id FROM rtree_alerts_geom WHERE maxx >= ? AND minx <= ? "
                           "AND maxy >= ? AND miny <= ?)")
            params += [west, east, south, north]
        if query.start is not None:
            clauses.append("first_detected >= ?")
            params.append(query.start.isoformat())
        if query.end is not None:
            clauses.append("first_detected <= ?")
            params.append(query.end.isoformat())
        if query.confidence:
            clauses.append(f"confidence IN ({', '.join('?' for _ in query.confidence)})")
            params += list(query.confidence)
        if query.status:
            clauses.append(f"status IN ({', '.join('?' for _ in query.status)})")
            params += list(query.status)
        if query.assigned_to is not None:
            clauses.append("assigned_to = ?")
            params.append(query.assigned_to)
        if query.district_ids is not None:
            clauses.append(f"district_id IN ({', '.join('?' for _ in query.district_ids) or 'NULL'})")
            params += list(query.district_ids)
        if query.min_area_ha is not None:
            clauses.append("area_ha >= ?")
            params.append(query.min_area_ha)
        if query.max_area_ha is not None:
            clauses.append("area_ha <= ?")
            params.append(query.max_area_ha)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def query_alerts(self, query: AlertQuery | None = None) -> gpd.GeoDataFrame:
        query = query or AlertQuery()
        where, params = self._where(query)
        sql, params = _paged(f"SELECT * FROM alerts{where} ORDER BY first_detected DESC, id", params,
                             query.limit, query.offset)
        with self._connect() as con:
            rows = con.execute(sql, params).fetchall()
        return _frame(rows)

    def count_alerts(self, query: AlertQuery | None = None) -> int:
        query = query or AlertQuery()
        if query.bbox is not None and replace(query, bbox=None, limit=None, offset=0) == AlertQuery():
            # A bbox alone: count in the R-tree (one entry per alert, each has a geometry), not row by row.
            west, south, east, north = query.bbox
            with self._connect() as con:
                return con.execute("SELECT count(*) FROM rtree_alerts_geom WHERE maxx >= ? AND minx <= ? "
                                   "AND maxy >= ? AND miny <= ?", [west, east, south, north]).fetchone()[0]
        where, params = self._where(query)
        with self._connect() as con:
            return con.execute(f"SELECT count(*) FROM alerts{where}", params).fetchone()[0]

    def get_alert(self, alert_id: str) -> gpd.GeoDataFrame:
        with self._connect() as con:
            rows = con.execute("SELECT * FROM alerts WHERE id = ?", [alert_id]).fetchall()
        if not rows:
            raise NotFoundError(f"no alert with id {alert_id!r}")
        return _frame(rows)

    # -- scenes ---------------------------------------------------------------------------------------------
    def upsert_scenes(self, scenes: list[dict]) -> None:
        names = list(SCENE_COLUMNS)
        updates = ", ".join(f'"{c}" = excluded."{c}"' for c in names if c != "id")
        sql = (f'INSERT INTO scenes ({", ".join(names)}) VALUES ({", ".join("?" for _ in names)}) '
               f"ON CONFLICT(id) DO UPDATE SET {updates}")
        with self._connect(write=True) as con:
            con.executemany(sql, [[_plain(s.get(c)) for c in names] for s in scenes])

    def scenes(self, status: str | None = None) -> list[dict]:
        sql = f'SELECT {", ".join(SCENE_COLUMNS)} FROM scenes'
        params = []
        if status:
            sql += " WHERE status = ?"
            params.append(status)
        with self._connect() as con:
            return [dict(r) for r in con.execute(sql + " ORDER BY acquired, id", params)]

    # -- planning layers ------------------------------------------------------------------------------------
    def replace_planning_layer(self, layer: dict, zones: gpd.GeoDataFrame) -> None:
        zones = zones.to_crs(SRS_ID)
        names = list(LAYER_FIELDS)
        with self._connect(write=True) as con:
            con.execute("DELETE FROM planning_zones WHERE layer_id = ?", [layer["id"]])
            con.execute("DELETE FROM planning_layers WHERE id = ?", [layer["id"]])
            con.execute(f'INSERT INTO planning_layers ({", ".join(names)}) VALUES ({", ".join("?" for _ in names)})',
                        [_plain(layer.get(c)) for c in names])
            columns = [c for c in ZONE_COLUMNS if c != "layer_id"]
            sql = (f'INSERT INTO planning_zones (geom, layer_id, {", ".join(columns)}) '
                   f'VALUES (?, ?, {", ".join("?" for _ in columns)})')
            rows = zones.itertuples(index=False)
            con.executemany(sql, ([encode_geometry(r.geometry), layer["id"], *(_plain(getattr(r, c)) for c in columns)]
                                  for r in rows))
            con.execute(
                "UPDATE gpkg_contents SET last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now'), "
                "min_x = (SELECT min(minx) FROM rtree_planning_zones_geom), "
                "max_x = (SELECT max(maxx) FROM rtree_planning_zones_geom), "
                "min_y = (SELECT min(miny) FROM rtree_planning_zones_geom), "
                "max_y = (SELECT max(maxy) FROM rtree_planning_zones_geom) WHERE table_name = 'planning_zones'")

    def planning_layers(self) -> list[dict]:
        with self._connect() as con:
            rows = [dict(r) for r in con.execute(
                f'SELECT {", ".join(LAYER_FIELDS)} FROM planning_layers ORDER BY name, valid_from')]
            extents = {r[0]: r[1:] for r in con.execute(
                "SELECT z.layer_id, min(t.minx), min(t.miny), max(t.maxx), max(t.maxy) FROM planning_zones z "
                "JOIN rtree_planning_zones_geom t ON t.id = z.fid GROUP BY z.layer_id")}
        for i, row in enumerate(rows):
            nxt = rows[i + 1] if i + 1 < len(rows) and rows[i + 1]["name"] == row["name"] else None
            day_before = pd.Timestamp(nxt["valid_from"]) - pd.Timedelta(days=1) if nxt else None
            row["valid_to"] = day_before.date().isoformat() if nxt else None
            row["bbox"] = extents.get(row["id"])
        return rows

    def _zone_where(self, layer_id: str, query: ZoneQuery) -> tuple[str, list]:
        clauses, params = ["layer_id = ?"], [layer_id]
        if query.bbox is not None:
            west, south, east, north = query.bbox
            clauses.append("fid IN (SELECT id FROM rtree_planning_zones_geom WHERE maxx >= ? AND minx <= ? "
                           "AND maxy >= ? AND miny <= ?)")
            params += [west, east, south, north]
        for column, values in (("zone_type", query.zone_type), ("zone_class", query.zone_class)):
            if values:
                clauses.append(f"{column} IN ({', '.join('?' for _ in values)})")
                params += list(values)
        if query.feature_index is not None:
            clauses.append("feature_index = ?")
            params.append(query.feature_index)
        return " WHERE " + " AND ".join(clauses), params

    def query_zones(self, layer_id: str, query: ZoneQuery | None = None) -> gpd.GeoDataFrame:
        query = query or ZoneQuery()
        where, params = self._zone_where(layer_id, query)
        sql, params = _paged(f"SELECT * FROM planning_zones{where} ORDER BY feature_index", params,
                             query.limit, query.offset)
        with self._connect() as con:
            rows = con.execute(sql, params).fetchall()
        columns = list(ZONE_COLUMNS)
        return gpd.GeoDataFrame([{c: r[c] for c in columns} for r in rows], columns=columns,
                                geometry=gpd.GeoSeries([decode_geometry(r["geom"]) for r in rows], crs=SRS_ID))

    def count_zones(self, layer_id: str, query: ZoneQuery | None = None) -> int:
        where, params = self._zone_where(layer_id, query or ZoneQuery())
        with self._connect() as con:
            return con.execute(f"SELECT count(*) FROM planning_zones{where}", params).fetchone()[0]

    def data_version(self) -> int:
        with self._connect() as con:
            return con.execute("SELECT value FROM forestmon_meta WHERE key = 'data_version'").fetchone()[0]


def _paged(sql: str, params: list, limit: int | None, offset: int) -> tuple[str, list]:
    """The query with SQLite's LIMIT/OFFSET (LIMIT -1 means no limit)."""
    if limit is None and not offset:
        return sql, params
    return f"{sql} LIMIT ? OFFSET ?", [*params, -1 if limit is None else limit, offset]


def _plain(value):
    """Python scalars for sqlite: numpy numbers unwrapped, NaN and NaT as NULL."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


class SqliteTx(Tx):
    """Portable SQL on an open sqlite3 connection (placeholders are already ``?``; geometry is WKB as stored)."""

    def __init__(self, con: sqlite3.Connection):
        self.con = con

    def execute(self, sql: str, params=()) -> int:
        return self.con.execute(sql, [_plain(p) for p in check_params(params)]).rowcount

    def fetch(self, sql: str, params=()) -> list[dict]:
        return [dict(r) for r in self.con.execute(sql, [_plain(p) for p in check_params(params)])]


def _frame(rows: list[sqlite3.Row]) -> gpd.GeoDataFrame:
    columns = list(ALERT_COLUMNS) + list(REVIEW_COLUMNS)
    records = [{c: r[c] for c in columns} for r in rows]
    geoms = [decode_geometry(r["geom"]) if r["geom"] is not None else None for r in rows]
    return gpd.GeoDataFrame(records, columns=columns, geometry=gpd.GeoSeries(geoms, crs=SRS_ID))
