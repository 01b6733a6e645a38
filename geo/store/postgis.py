"""The province's store: PostgreSQL with PostGIS (psycopg 3 and a connection pool), geometry in EPSG:4326.

Same contract as the GeoPackage store; spatial filters use the GiST index through ``&&``. Each write is one
transaction; the schema comes from the ordered migrations in ``migrations/postgis/``, applied under an advisory
lock so that several workers starting at once migrate exactly once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta

import geopandas as gpd
import psycopg
import psycopg.sql
import shapely
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from geo.alerts import ALERT_COLUMNS, REVIEW_COLUMNS
from geo.errors import ConfigError, InvalidInputError, NotFoundError
from geo.store.base import SCENE_COLUMNS, AlertQuery, Store, ZoneQuery
from geo.store.sql import Tx, check_params, migration_files, now_iso, plain_value
from geo.workflow.planning import LAYER_FIELDS, ZONE_COLUMNS

SRS_ID = 4326
MIGRATION_LOCK = 0x466F7265  # any constant shared by every forestmon process ("Fore")
_SELECT = ", ".join([*(f'"{c}"' for c in [*ALERT_COLUMNS, *REVIEW_COLUMNS]), "ST_AsBinary(geom) AS geom_wkb"])
# Alert properties in vector tiles, as the API's GeoJSON has them: dates ISO, review time in UTC to the second.
_DAY = "to_char({}, 'YYYY-MM-DD')"
_TEMPORAL = {"first_detected": _DAY, "confirmed": _DAY, "last_update": _DAY,
             "reviewed_at": "to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+00:00\"')"}
def _mvt_props(columns: list[str]) -> str:
    return ", ".join([*(f'{_TEMPORAL.get(c, "{}").format(chr(34) + c + chr(34))} AS "{c}"' for c in columns),
                      "id AS fid"])
# Clip to the tile plus a 64-unit buffer and quantise to 4096 units, as maps.vectortiles does in Python.
_MVT_GEOM = "ST_AsMVTGeom(ST_Transform(geom, 3857), ST_TileEnvelope(%s, %s, %s), 4096, 64, true)"


def _redact(url: str) -> str:
    """The URL without its password, for messages and repr."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


class PgTx(Tx):
    """Portable SQL on a psycopg connection: ``?`` becomes ``%s``; values come back as plain Python values."""

    geom_in = "ST_Multi(ST_GeomFromWKB(?, 4326))"

    def __init__(self, conn: psycopg.Connection):
        self.conn = conn

    def geom_out(self, column: str) -> str:
        return f"ST_AsBinary({column})"

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("%", "%%").replace("?", "%s")

    def execute(self, sql: str, params=()) -> int:
        return self.conn.execute(self._sql(sql), check_params(params)).rowcount

    def fetch(self, sql: str, params=()) -> list[dict]:
        cur = self.conn.cursor(row_factory=dict_row)
        rows = cur.execute(self._sql(sql), check_params(params)).fetchall()
        return [{k: plain_value(v) for k, v in r.items()} for r in rows]


class PostGISStore(Store):
    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 8):
        self._url = url
        try:  # one direct connection first: a wrong URL fails at once with the server's reason
            psycopg.connect(url, connect_timeout=10).close()
        except psycopg.Error as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise ConfigError(f"cannot connect to the PostGIS store {_redact(url)}: {reason}") from exc
        self.pool = ConnectionPool(url, min_size=min_size, max_size=max_size, open=True, timeout=30,
                                   kwargs={"autocommit": False})
        self.migrate()

    def __repr__(self) -> str:
        return f"PostGISStore({_redact(self._url)!r})"

    @property
    def url(self) -> str:
        return self._url

    def close(self) -> None:
        self.pool.close()

    # -- transactions and migrations ------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        with self.pool.connection() as conn, conn.transaction():
            yield PgTx(conn)
            conn.execute("UPDATE forestmon_meta SET value = value + 1 WHERE key = 'data_version'")

    @contextmanager
    def reading(self) -> Iterator[Tx]:
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION READ ONLY")
            yield PgTx(conn)

    def migrate(self) -> list[str]:
        applied = []
        with self.pool.connection() as conn:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", [MIGRATION_LOCK])
                if conn.execute("SELECT to_regclass('geometry_columns')").fetchone()[0] is None:
                    raise ConfigError("the PostGIS extension is not installed in this database: "
                                      "run CREATE EXTENSION postgis as a superuser")
                first = conn.execute("SELECT (current_schemas(false))[1], current_setting('search_path')").fetchone()
                wanted = first[1].split(",")[0].strip().strip('"')
                if wanted and wanted != "$user" and wanted != first[0]:  # a schema named in the URL: create it
                    create = psycopg.sql.SQL("CREATE SCHEMA IF NOT EXISTS {}")
                    conn.execute(create.format(psycopg.sql.Identifier(wanted)))
                conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                             "(name text PRIMARY KEY, applied_at timestamptz NOT NULL)")
                done = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
            for name, script in migration_files("postgis"):
                if name in done:
                    continue
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", [MIGRATION_LOCK])
                    if conn.execute("SELECT 1 FROM schema_migrations WHERE name = %s", [name]).fetchone():
                        continue
                    conn.execute(script)
                    conn.execute("INSERT INTO schema_migrations VALUES (%s, %s)", [name, now_iso()])
                    conn.execute("UPDATE forestmon_meta SET value = (SELECT count(*) FROM schema_migrations) "
                                 "WHERE key = 'schema_version'")
                    applied.append(name)
        return applied

    def applied_migrations(self) -> list[str]:
        with self.reading() as tx:
            return [r["name"] for r in tx.fetch("SELECT name FROM schema_migrations ORDER BY name")]

    # -- alerts ---------------------------------------------------------------------------------------------
    def sync_alerts(self, alerts: gpd.GeoDataFrame) -> dict[str, int]:
        alerts = alerts.to_crs(SRS_ID) if alerts.crs is not None else alerts
        columns = [c for c in ALERT_COLUMNS if c not in ("id", "status")]
        names = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("%s" for _ in columns)
        sets = ", ".join(f'"{c}" = excluded."{c}"' for c in columns)
        counts = {"inserted": 0, "updated": 0, "removed": 0}
        with self.transaction() as tx:
            conn = tx.conn
            known = {r[0]: r[1] for r in conn.execute("SELECT id, status FROM alerts")}
            rows = []
            for row in alerts.itertuples(index=False):
                if row.geometry is None or row.geometry.is_empty:  # rolls the whole sync back
                    raise InvalidInputError(f"alert {row.id!r} has no geometry")
                wkb = shapely.to_wkb(row.geometry)
                rows.append([row.id, wkb, *[_plain(getattr(row, c, None)) for c in columns]])
                counts["updated" if row.id in known else "inserted"] += 1
            with conn.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO alerts (id, status, geom, {names}) "
                    f"VALUES (%s, 'new', ST_Multi(ST_GeomFromWKB(%s, {SRS_ID})), {marks}) "
                    f"ON CONFLICT (id) DO UPDATE SET geom = excluded.geom, {sets}", rows)
            current = [r[0] for r in rows]
            counts["removed"] = conn.execute(
                "DELETE FROM alerts WHERE status = 'new' AND NOT (id = ANY(%s))", [current]).rowcount
        return counts

    def _where(self, query: AlertQuery) -> tuple[str, list]:
        clauses, params = [], []
        if query.bbox is not None:
            clauses.append(f"geom && ST_MakeEnvelope(%s, %s, %s, %s, {SRS_ID})")
            params += list(query.bbox)
        if query.start is not None:
            clauses.append("first_detected >= %s")
            params.append(query.start)
        if query.end is not None:
            clauses.append("first_detected <= %s")
            params.append(query.end)
        if query.confidence:
            clauses.append("confidence = ANY(%s)")
            params.append(list(query.confidence))
        if query.status:
            clauses.append("status = ANY(%s)")
            params.append(list(query.status))
        if query.assigned_to is not None:
            clauses.append("assigned_to = %s")
            params.append(query.assigned_to)
        if query.district_ids is not None:
            clauses.append("district_id = ANY(%s)")
            params.append(list(query.district_ids))
        if query.min_area_ha is not None:
            clauses.append("area_ha >= %s")
            params.append(query.min_area_ha)
        if query.max_area_ha is not None:
            clauses.append("area_ha <= %s")
            params.append(query.max_area_ha)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def _rows(self, sql: str, params: list, *, serial: bool = False) -> list[dict]:
        """Rows of a read; ``serial`` keeps the planner from a parallel sequential scan: per-row geometry
        functions (ST_Transform, ST_AsMVTGeom) cost so much in its model that it prefers workers over the GiST
        index, five times slower for a tile's thousand features."""
        with self.pool.connection() as conn:
            if serial:
                conn.execute("SET LOCAL max_parallel_workers_per_gather = 0")
            return conn.cursor(row_factory=dict_row).execute(sql, check_params(params)).fetchall()

    def query_alerts(self, query: AlertQuery | None = None) -> gpd.GeoDataFrame:
        query = query or AlertQuery()
        where, params = self._where(query)
        sql = f"SELECT {_SELECT} FROM alerts{where} ORDER BY first_detected DESC, id"
        if query.limit is not None:
            sql += " LIMIT %s"
            params.append(query.limit)
        if query.offset:
            sql += " OFFSET %s"
            params.append(query.offset)
        return _frame(self._rows(sql, params))

    def count_alerts(self, query: AlertQuery | None = None) -> int:
        where, params = self._where(query or AlertQuery())
        return self._rows(f"SELECT count(*) AS n FROM alerts{where}", params)[0]["n"]

    def get_alert(self, alert_id: str) -> gpd.GeoDataFrame:
        rows = self._rows(f"SELECT {_SELECT} FROM alerts WHERE id = %s", [alert_id])
        if not rows:
            raise NotFoundError(f"no alert with id {alert_id!r}")
        return _frame(rows)

    # -- scenes ---------------------------------------------------------------------------------------------
    def upsert_scenes(self, scenes: list[dict]) -> None:
        names = ", ".join(SCENE_COLUMNS)
        marks = ", ".join("%s" for _ in SCENE_COLUMNS)
        updates = ", ".join(f"{c} = excluded.{c}" for c in SCENE_COLUMNS if c != "id")
        with self.transaction() as tx, tx.conn.cursor() as cur:
            cur.executemany(f"INSERT INTO scenes ({names}) VALUES ({marks}) ON CONFLICT (id) DO UPDATE SET {updates}",
                            [[_plain(s.get(c)) for c in SCENE_COLUMNS] for s in scenes])

    def scenes(self, status: str | None = None) -> list[dict]:
        sql = f"SELECT {', '.join(SCENE_COLUMNS)} FROM scenes"
        params = []
        if status:
            sql += " WHERE status = %s"
            params.append(status)
        return [dict(r) for r in self._rows(sql + " ORDER BY acquired, id", params)]

    # -- planning layers ------------------------------------------------------------------------------------
    def replace_planning_layer(self, layer: dict, zones: gpd.GeoDataFrame) -> None:
        zones = zones.to_crs(SRS_ID)
        names = list(LAYER_FIELDS)
        columns = [c for c in ZONE_COLUMNS if c != "layer_id"]
        with self.transaction() as tx, tx.conn.cursor() as cur:
            cur.execute("DELETE FROM planning_zones WHERE layer_id = %s", [layer["id"]])
            cur.execute("DELETE FROM planning_layers WHERE id = %s", [layer["id"]])
            cur.execute(f"INSERT INTO planning_layers ({', '.join(names)}) VALUES ({', '.join('%s' for _ in names)})",
                        check_params([_plain(layer.get(c)) for c in names]))
            cur.executemany(
                f"INSERT INTO planning_zones (geom, layer_id, {', '.join(columns)}) "
                f"VALUES (ST_Multi(ST_GeomFromWKB(%s, {SRS_ID})), %s, {', '.join('%s' for _ in columns)})",
                [[shapely.to_wkb(r.geometry), layer["id"], *check_params([_plain(getattr(r, c)) for c in columns])]
                 for r in zones.itertuples(index=False)])

    def planning_layers(self) -> list[dict]:
        rows = self._rows(f"SELECT {', '.join(LAYER_FIELDS)} FROM planning_layers ORDER BY name, valid_from", [])
        extents = {r["layer_id"]: (r["minx"], r["miny"], r["maxx"], r["maxy"]) for r in self._rows(
            "SELECT layer_id, ST_XMin(e) AS minx, ST_YMin(e) AS miny, ST_XMax(e) AS maxx, ST_YMax(e) AS maxy "
            "FROM (SELECT layer_id, ST_Extent(geom) AS e FROM planning_zones GROUP BY layer_id) x", [])}
        for i, row in enumerate(rows):
            nxt = rows[i + 1] if i + 1 < len(rows) and rows[i + 1]["name"] == row["name"] else None
            row["valid_to"] = (date.fromisoformat(nxt["valid_from"]) - timedelta(days=1)).isoformat() if nxt else None
            row["bbox"] = extents.get(row["id"])
        return rows

    def _zone_where(self, layer_id: str, query: ZoneQuery) -> tuple[str, list]:
        clauses, params = ["layer_id = %s"], [layer_id]
        if query.bbox is not None:
            clauses.append(f"geom && ST_MakeEnvelope(%s, %s, %s, %s, {SRS_ID})")
            params += list(query.bbox)
        for column, values in (("zone_type", query.zone_type), ("zone_class", query.zone_class)):
            if values:
                clauses.append(f"{column} = ANY(%s)")
                params.append(list(values))
        if query.feature_index is not None:
            clauses.append("feature_index = %s")
            params.append(query.feature_index)
        return " WHERE " + " AND ".join(clauses), params

    def query_zones(self, layer_id: str, query: ZoneQuery | None = None) -> gpd.GeoDataFrame:
        query = query or ZoneQuery()
        where, params = self._zone_where(layer_id, query)
        sql = (f"SELECT {', '.join(ZONE_COLUMNS)}, ST_AsBinary(geom) AS geom_wkb FROM planning_zones{where} "
               "ORDER BY feature_index")
        if query.limit is not None:
            sql += " LIMIT %s"
            params.append(query.limit)
        if query.offset:
            sql += " OFFSET %s"
            params.append(query.offset)
        rows = self._rows(sql, params)
        columns = list(ZONE_COLUMNS)
        return gpd.GeoDataFrame([{c: r[c] for c in columns} for r in rows], columns=columns,
                                geometry=gpd.GeoSeries([shapely.from_wkb(bytes(r["geom_wkb"])) for r in rows],
                                                       crs=SRS_ID))

    def count_zones(self, layer_id: str, query: ZoneQuery | None = None) -> int:
        where, params = self._zone_where(layer_id, query or ZoneQuery())
        return self._rows(f"SELECT count(*) AS n FROM planning_zones{where}", params)[0]["n"]

    # -- vector tiles with ST_AsMVT ---------------------------------------------------------------------------
    def alerts_mvt(self, query: AlertQuery, z: int, x: int, y: int, layer: str,
                   exclude: tuple[str, ...] = ()) -> bytes:
        """The alerts of the tile (the query's bbox and filters, newest first, up to its limit) as one MVT layer
        made by PostGIS: the same features and properties as the Python encoder, without the round trip."""
        where, params = self._where(query)
        shown = [c for c in [*ALERT_COLUMNS, *REVIEW_COLUMNS] if c not in exclude]
        columns = ", ".join(f'"{c}"' for c in [*shown, "fid"])
        sql = (f"WITH page AS (SELECT {_mvt_props(shown)}, geom FROM alerts{where} "
               "ORDER BY alerts.first_detected DESC, alerts.id LIMIT %s) "
               f"SELECT ST_AsMVT(t, %s, 4096, 'mvt_geom') AS mvt FROM (SELECT {columns}, {_MVT_GEOM} AS mvt_geom "
               "FROM page) t")  # ST_AsMVT skips features clipped away (NULL geometry)
        return bytes(self._rows(sql, [*params, query.limit, layer, z, x, y], serial=True)[0]["mvt"] or b"")

    def zones_mvt(self, layer_id: str, query: ZoneQuery, z: int, x: int, y: int, layer: str,
                  colours: dict[str, str], constants: dict[str, str]) -> bytes:
        """A planning layer's zones in the tile as one MVT layer made by PostGIS: the source attributes (JSON)
        overlaid by our columns, the colour of the zone type (``colours``, "" for no type) and the constants,
        nulls left out."""
        import json

        where, params = self._zone_where(layer_id, query)
        sql = ("WITH page AS (SELECT feature_index, zone_type, zone_class, area_ha, properties, geom "
               f"FROM planning_zones{where} ORDER BY feature_index LIMIT %s), "
               "tile AS (SELECT jsonb_strip_nulls(COALESCE(properties::jsonb, '{}'::jsonb) || jsonb_build_object("
               "'feature_index', feature_index, 'zone_type', zone_type, 'zone_class', zone_class, "
               "'area_ha', area_ha, 'colour', %s::jsonb ->> COALESCE(zone_type, '')) || %s::jsonb || "
               "jsonb_build_object('fid', feature_index::text)) AS props, "
               f"{_MVT_GEOM} AS mvt_geom FROM page) "
               "SELECT ST_AsMVT(t, %s, 4096, 'mvt_geom') AS mvt FROM (SELECT props, mvt_geom FROM tile) t")
        values = [*params, query.limit, json.dumps(colours), json.dumps(constants), z, x, y, layer]
        return bytes(self._rows(sql, values, serial=True)[0]["mvt"] or b"")

    # -- GeoJSON written by PostGIS ---------------------------------------------------------------------------
    def alerts_geojson(self, query: AlertQuery, exclude: tuple[str, ...] = ()) -> tuple[str, int, int]:
        """A page of alerts as GeoJSON features built in SQL (``ST_AsGeoJSON``, ``json_build_object``), with the
        count matched, in one round trip: no geometry parsing or re-serialising in Python."""
        where, params = self._where(query)
        columns = [c for c in [*ALERT_COLUMNS, *REVIEW_COLUMNS] if c not in exclude]
        props = ", ".join(f"'{c}', {_TEMPORAL.get(c, '{}').format(chr(34) + c + chr(34))}" for c in columns)
        sql = (f"WITH page AS (SELECT {', '.join(chr(34) + c + chr(34) for c in columns)}, geom FROM alerts{where} "
               "ORDER BY alerts.first_detected DESC, alerts.id LIMIT %s OFFSET %s) "
               f"SELECT (SELECT count(*) FROM alerts{where}) AS matched, (SELECT count(*) FROM page) AS returned, "
               "(SELECT COALESCE(json_agg(json_build_object('type', 'Feature', 'properties', "
               f"json_build_object({props}), 'geometry', ST_AsGeoJSON(geom)::json, 'id', id) "
               "ORDER BY first_detected DESC, id), '[]')::text FROM page) AS features")
        row = self._rows(sql, [*params, query.limit, query.offset, *params], serial=True)[0]
        return row["features"], row["returned"], row["matched"]

    def data_version(self) -> int:
        return self._rows("SELECT value FROM forestmon_meta WHERE key = 'data_version'", [])[0]["value"]


def _plain(value):
    """Python scalars for psycopg: numpy numbers unwrapped, NaN as NULL."""
    import numpy as np

    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def _frame(rows: list[dict]) -> gpd.GeoDataFrame:
    columns = list(ALERT_COLUMNS) + list(REVIEW_COLUMNS)
    records = [{c: plain_value(r[c]) for c in columns} for r in rows]
    geoms = [shapely.from_wkb(bytes(r["geom_wkb"])) if r["geom_wkb"] is not None else None for r in rows]
    return gpd.GeoDataFrame(records, columns=columns, geometry=gpd.GeoSeries(geoms, crs=SRS_ID))
