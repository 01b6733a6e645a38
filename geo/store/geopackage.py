"""The embedded backend: one GeoPackage file that GDAL and QGIS open directly.

The feature layers (alerts, planning zones) are created through GDAL (pyogrio), so the file is a standard
GeoPackage with R-tree indexes; everything else is plain SQL through ``sqlite3``, in transactions (all or
nothing), with the few SQL functions GDAL's R-tree triggers call registered on each connection. Geometries of
the layers are GeoPackage blobs (header + WKB); other geometry columns are WKB. A bounding box reads the R-tree.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from geo.errors import ConfigError, ConflictError
from geo.query import Bbox
from geo.store.schema import TABLES, Column, Migration, Table
from geo.store.sql import Dialect, Tx, check_params

SRS_ID = 4326
TYPES = {"text": "TEXT", "date": "TEXT", "timestamp": "TEXT", "real": "REAL", "integer": "INTEGER",
         "bigint": "INTEGER", "blob": "BLOB", "serial": "INTEGER PRIMARY KEY", "bigserial": "INTEGER PRIMARY KEY",
         "geometry": "BLOB"}
_FRAME_DTYPES = {"real": "float64", "integer": "int64", "bigint": "int64"}  # the rest: text (object)
_ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}
# Declared types GDAL reads as typed fields (a GeoPackage DATE is an OGR Date, DATETIME a DateTime).
_ATTRIBUTE_TYPES = {"bigint": "INTEGER", "real": "REAL", "text": "TEXT", "date": "DATE", "timestamp": "DATETIME"}
_KIND_OF = {"INTEGER": "bigint", "REAL": "real", "DATE": "date", "DATETIME": "timestamp"}
LAYERS = {name for name, table in TABLES.items() if table.layer}
# Tables whose geometries are GeoPackage blobs: the layers GDAL made, and the planting lots (a feature layer since
# migration 0015, ``geo.store.steps.lots_layer``).
GPKG_GEOMETRY = LAYERS | {"planting_lots"}


def encode_geometry(geom) -> bytes:
    """GeoPackage geometry blob: 'GP' header with the XY envelope, then little-endian WKB."""
    minx, miny, maxx, maxy = geom.bounds
    header = b"GP" + bytes([0, 0b00000011]) + struct.pack("<i4d", SRS_ID, minx, maxx, miny, maxy)
    return header + shapely.to_wkb(geom, byte_order=1)


def decode_geometry(blob: bytes):
    return shapely.from_wkb(blob[8 + _ENVELOPE_BYTES[(blob[3] >> 1) & 0b111]:])


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


class SqliteTx(Tx):
    """Portable SQL on an open sqlite3 connection (placeholders are already ``?``)."""

    def __init__(self, con: sqlite3.Connection):
        self.con = con

    def execute(self, sql: str, params=()) -> int:
        return self.con.execute(sql, check_params(params)).rowcount

    def executemany(self, sql: str, rows) -> None:
        self.con.executemany(sql, (check_params(r) for r in rows))

    def fetch(self, sql: str, params=()) -> list[dict]:
        return [dict(r) for r in self.con.execute(sql, check_params(params))]

    def geom_sql(self, table: str) -> str:
        return "?"

    def geom_param(self, table: str, geom) -> bytes:
        return encode_geometry(geom) if table in GPKG_GEOMETRY else shapely.to_wkb(geom)

    def geom_select(self, table: str) -> str:
        return "geom"

    def geom_value(self, table: str, value):
        if value is None:
            return None
        return decode_geometry(value) if table in GPKG_GEOMETRY else shapely.from_wkb(bytes(value))

    def tuples(self, sql: str, params=()) -> list[tuple]:
        cursor = self.con.cursor()
        cursor.row_factory = None
        return cursor.execute(sql, check_params(params)).fetchall()

    def geom_values(self, table: str, values) -> np.ndarray:
        if table not in LAYERS:
            return super().geom_values(table, values)
        # GeoPackage blobs: skip each header (8 bytes and the envelope its flags announce), then WKB at once
        wkb = [None if b is None else b[8 + _ENVELOPE_BYTES[(b[3] >> 1) & 0b111]:] for b in values]
        return shapely.from_wkb(np.asarray(wkb, dtype=object))

    def bbox_where(self, table: str, bbox: Bbox) -> tuple[str, list]:
        west, south, east, north = bbox
        return (f"fid IN (SELECT id FROM rtree_{table}_geom WHERE maxx >= ? AND minx <= ? AND maxy >= ? "
                "AND miny <= ?)", [west, east, south, north])

    def count_in_bbox(self, table: str, bbox: Bbox) -> int:
        west, south, east, north = bbox  # one R-tree entry per feature: every feature has a geometry
        return self.scalar(f"SELECT count(*) AS n FROM rtree_{table}_geom WHERE maxx >= ? AND minx <= ? "
                           "AND maxy >= ? AND miny <= ?", [west, east, south, north])

    def page(self, limit: int | None, offset: int) -> tuple[str, list]:
        if limit is None and not offset:
            return "", []
        return " LIMIT ? OFFSET ?", [-1 if limit is None else limit, offset]  # LIMIT -1: no limit

    def extents(self, table: str, column: str) -> dict[object, Bbox]:
        rows = self.fetch(f"SELECT z.{column} AS k, min(t.minx) AS w, min(t.miny) AS s, max(t.maxx) AS e, "
                          f"max(t.maxy) AS n FROM {table} z JOIN rtree_{table}_geom t ON t.id = z.fid "
                          f"GROUP BY z.{column}")
        return {r["k"]: (r["w"], r["s"], r["e"], r["n"]) for r in rows}

    def layer_changed(self, table: str) -> None:
        self.execute(
            f"UPDATE gpkg_contents SET last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now'), "
            f"min_x = (SELECT min(minx) FROM rtree_{table}_geom), max_x = (SELECT max(maxx) FROM rtree_{table}_geom), "
            f"min_y = (SELECT min(miny) FROM rtree_{table}_geom), max_y = (SELECT max(maxy) FROM rtree_{table}_geom) "
            "WHERE table_name = ?", [table])


class GeoPackageDialect(Dialect):
    name = "geopackage"

    def __init__(self, path: Path):
        self.path = Path(path)
        self._local = threading.local()  # each thread's read connection
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists() or self.path.stat().st_size == 0:  # missing, or an empty file a client left
            self._create_file()
        self._check()

    def __repr__(self) -> str:
        return f"GeoPackageStore({str(self.path)!r})"

    @property
    def url(self) -> str:
        return str(self.path)

    def _create_file(self) -> None:
        """An empty GeoPackage, made by GDAL, appearing whole or not at all. Processes starting together (the
        server's workers) each make their own and the first to publish it wins: a hard link never replaces a
        store another process has already begun to fill."""
        tmp = self.path.with_name(f".{self.path.stem}.creating-{os.getpid()}-{threading.get_ident()}.gpkg")
        tmp.unlink(missing_ok=True)
        try:
            pyogrio.write_dataframe(pd.DataFrame({"x": pd.Series([], dtype="int64")}), tmp, layer="forestmon_new")
            con = sqlite3.connect(tmp)
            with con:
                con.execute("DROP TABLE forestmon_new")
                for meta in ("gpkg_contents", "gpkg_ogr_contents"):
                    con.execute(f"DELETE FROM {meta} WHERE table_name = 'forestmon_new'")
            con.close()
            try:
                os.link(tmp, self.path)
            except FileExistsError:
                # another process published its store first: that one is the store; an empty file (what a
                # SQLite client leaves when it opens a missing path) holds nothing and is replaced
                if self.path.stat().st_size == 0:
                    tmp.replace(self.path)
            except OSError:  # a file system without hard links
                if not self.path.exists() or self.path.stat().st_size == 0:
                    tmp.replace(self.path)
        finally:
            tmp.unlink(missing_ok=True)

    def _check(self) -> None:
        """Refuse a file that is not a GeoPackage, with its name. A read-write connection also rolls back a hot
        journal left by a crash (GDAL's read-only open would fail on it)."""
        con = sqlite3.connect(self.path, timeout=30)
        try:
            if con.execute("SELECT 1 FROM sqlite_master WHERE name = 'gpkg_contents'").fetchone() is None:
                raise ConfigError(f"{self.path} is not a GeoPackage store (no gpkg_contents table)")
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"{self.path} is not a GeoPackage store: {exc}") from exc
        finally:
            con.close()

    def _reader(self) -> sqlite3.Connection:
        """This thread's read connection to the file, kept between reads: a new connection parses the
        GeoPackage's schema (dozens of tables and triggers) on its first query, ~0.5 ms, several times per
        request. Autocommit, every result read whole: between reads it holds no lock and no snapshot, so each
        read sees the latest commit. Made afresh in a new process (after a fork) or when the file was replaced."""
        key = (os.getpid(), os.stat(self.path).st_ino)
        found = getattr(self._local, "reader", None)
        if found is not None and found[0] == key:
            return found[1]
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        _register_functions(con)
        con.row_factory = sqlite3.Row
        self._local.reader = (key, con)
        if found is not None:
            found[1].close()
        return con

    @contextmanager
    def _connect(self, write: bool) -> Iterator[SqliteTx]:
        if not write:
            yield SqliteTx(self._reader())
            return
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            _register_functions(con)
            con.row_factory = sqlite3.Row
            con.execute("BEGIN IMMEDIATE")  # one writer at a time; the others wait (timeout above)
            try:
                yield SqliteTx(con)
                con.execute("COMMIT")
            except BaseException as exc:
                con.execute("ROLLBACK")
                if isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in str(exc):
                    raise ConflictError("conflicts with a stored record: "
                                        f"{str(exc).removeprefix('UNIQUE constraint failed: ')} already exists",
                                        code="duplicate") from None
                raise
        finally:
            con.close()

    def close(self) -> None:
        """Close this thread's read connection (the other threads' close with their threads)."""
        found = getattr(self._local, "reader", None)
        if found is not None:
            self._local.reader = None
            found[1].close()

    def transaction(self):
        return self._connect(write=True)

    def reading(self):
        return self._connect(write=False)

    def table_exists(self, tx: Tx, table: str) -> bool:
        return tx.fetchone("SELECT 1 AS x FROM sqlite_master WHERE type = 'table' AND name = ?", [table]) is not None

    @contextmanager
    def migrating(self) -> Iterator[Tx]:
        # GDAL creates layers outside our transactions (``before``): a lock on the file keeps two processes from
        # migrating at once, from the creation of the layers to the record of the migration.
        with open(self.path, "rb") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            with self.transaction() as tx:
                yield tx

    def unrecorded(self, tx: Tx) -> list[str]:
        """The first stores had their alerts and scenes layers and ``forestmon_meta``, and no record of migrations:
        that is 0001. The alerts layer alone is a new store whose 0001 is under way in another process (or was
        cut short): GDAL makes the layer before 0001's transaction, which makes ``forestmon_meta`` and the record."""
        legacy = self.table_exists(tx, "alerts") and self.table_exists(tx, "forestmon_meta")
        return ["0001_initial"] if legacy else []

    def before(self, migration: Migration) -> None:
        """Create the migration's layers through GDAL (a standard GeoPackage layer with its R-tree), unless an
        interrupted run already did."""
        with open(self.path, "rb") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            for table in migration.tables:
                if table.layer and not self._listed(table.name):
                    columns = table.columns_since(migration.name)
                    frame = gpd.GeoDataFrame(
                        {c.name: pd.Series([], dtype=_FRAME_DTYPES.get(c.type, object)) for c in columns},
                        geometry=gpd.GeoSeries([], crs=SRS_ID))
                    pyogrio.write_dataframe(frame, self.path, layer=table.name, geometry_type="MultiPolygon",
                                            append=True)

    def _listed(self, table: str) -> bool:
        with self.reading() as tx:
            return tx.fetchone("SELECT 1 AS x FROM gpkg_contents WHERE table_name = ?", [table]) is not None

    def table_columns(self, tx: Tx, table: str) -> dict[str, str]:
        return {r["name"]: _KIND_OF.get(str(r["type"]).upper(), "text")
                for r in tx.fetch(f"PRAGMA table_info({table})")}

    def attribute_type(self, kind: str) -> str:
        return _ATTRIBUTE_TYPES[kind]

    def column(self, column: Column) -> str:
        return f"{column.name} {TYPES[column.type]} {column.constraint}".rstrip()

    def create_table(self, table: Table, columns: list[Column]) -> list[str]:
        if table.layer:
            return []  # made through GDAL (before)
        body = ", ".join([*(self.column(c) for c in columns), *table.constraints])
        out = [f"CREATE TABLE {table.name} ({body})"]
        if table.listed:  # an attribute table QGIS lists
            out.append(f"INSERT INTO gpkg_contents (table_name, data_type, identifier) "
                       f"VALUES ('{table.name}', 'attributes', '{table.name}')")
        if table.append_only:
            out += [f"CREATE TRIGGER {table.name}_no_{verb.lower()} BEFORE {verb} ON {table.name} "
                    f"BEGIN SELECT RAISE(ABORT, '{table.name} is append-only'); END" for verb in ("UPDATE", "DELETE")]
        return out
