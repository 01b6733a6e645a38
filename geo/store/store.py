"""The store: alerts, the scene catalogue, detection runs, planning layers and the workflow's tables, on either
backend (an embedded GeoPackage or PostGIS), each query written once in portable SQL.

Feature layers (``geo.query.Layer``: alerts, planning zones) are read with one query builder: bbox through the
backend's spatial index, the layer's date range, its declared filters, paging. Where the backends differ —
connections, geometry encoding, the spatial index, GeoJSON and vector tiles written by the database — the
dialect (``geo.store.geopackage``, ``geo.store.postgis``) does it. Every write is one transaction and bumps
the data version that caches and ETags follow.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, timedelta

import geopandas as gpd
import pandas as pd
from pyproj import CRS

from geo.alerts import ALERT_COLUMNS, ALERTS
from geo.errors import InvalidInputError, NotFoundError
from geo.query import FeatureRows, Layer, Query
from geo.store.attributes import fixed_names
from geo.store.attributes import plan as attributes_plan
from geo.store.attributes import rows as attribute_rows
from geo.store.schema import PLANNING_LAYERS, PLANNING_ZONES, RUN_COVERAGE, RUNS, SCENES, SCHEMA_MIGRATIONS, migrations
from geo.store.sql import Dialect, Tx, now_iso
from geo.store.steps import run_step

WGS84 = CRS.from_epsg(4326)  # parsed once: building it per frame cost ~8% of a page of features
SCENE_STATUSES = ("ok", "failed", "empty")  # empty: the acquisition saw nothing of that tile
SCENE_COLUMNS = tuple(c.name for c in SCENES.columns)
RUN_COLUMNS = tuple(c.name for c in RUNS.columns)
COVERAGE_COLUMNS = tuple(c.name for c in RUN_COVERAGE.columns if c.name != "run_id")
LAYER_FIELDS = tuple(c.name for c in PLANNING_LAYERS.columns)
ZONE_COLUMNS = tuple(c.name for c in PLANNING_ZONES.columns)
ZONE_FIXED = fixed_names(PLANNING_ZONES)  # a source attribute of one of these names is stored as src_<name>


def _names(columns) -> str:
    return ", ".join(f'"{c}"' for c in columns)


class Store:
    """One store on one backend (see the module's docstring); pending migrations are applied on opening."""

    def __init__(self, dialect: Dialect):
        self.dialect = dialect
        self.migrate()

    def __repr__(self) -> str:
        return repr(self.dialect)

    @property
    def url(self) -> str:
        """The URL this store was opened with (for ``open_store``)."""
        return self.dialect.url

    def close(self) -> None:
        self.dialect.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- transactions, schema, data version ---------------------------------------------------------------
    @contextmanager
    def transaction(self, *, shown: bool = True) -> Iterator[Tx]:
        """One all-or-nothing unit of work (committed on exit, rolled back on error); bumps ``data_version``
        unless ``shown`` is False: a write no response shows (a login attempt counted, a token issued) must not
        make every cached tile and page of every caller stale."""
        with self.dialect.transaction() as tx:
            yield tx
            if shown:
                tx.execute("UPDATE forestmon_meta SET value = value + 1 WHERE key = 'data_version'")

    def reading(self):
        """A read-only session for portable SQL queries."""
        return self.dialect.reading()

    def data_version(self) -> int:
        """A number that grows with every write: for caches and ETags."""
        with self.reading() as tx:
            return int(tx.scalar("SELECT value FROM forestmon_meta WHERE key = 'data_version'"))

    def applied_migrations(self) -> list[str]:
        """Names of the migrations applied to this store, in order."""
        with self.reading() as tx:
            if not self.dialect.table_exists(tx, SCHEMA_MIGRATIONS.name):
                return []
            return [r["name"] for r in tx.fetch("SELECT name FROM schema_migrations ORDER BY name")]

    def migrate(self) -> list[str]:
        """Apply the pending schema migrations (``geo.store.schema``) in order, each in its own transaction;
        returns their names. Several processes starting at once migrate exactly once."""
        with self.reading() as tx:
            recorded = self.dialect.table_exists(tx, SCHEMA_MIGRATIONS.name)
            done = [r["name"] for r in tx.fetch("SELECT name FROM schema_migrations")] if recorded \
                else self.dialect.unrecorded(tx)
        applied = []
        for migration in [m for m in migrations() if m.name not in done]:
            self.dialect.before(migration)
            with self.dialect.migrating() as tx:
                if not self.dialect.table_exists(tx, SCHEMA_MIGRATIONS.name):
                    for statement in self.dialect.create_table(SCHEMA_MIGRATIONS, list(SCHEMA_MIGRATIONS.columns)):
                        tx.execute(statement)
                    tx.executemany("INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)",
                                   [[name, now_iso()] for name in done])
                if tx.fetchone("SELECT name FROM schema_migrations WHERE name = ?", [migration.name]):
                    continue  # another process applied it meanwhile
                for statement in self.dialect.statements(migration):
                    tx.execute(statement)
                for step in migration.steps:
                    run_step(step, self.dialect, tx)
                tx.execute("INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)",
                           [migration.name, now_iso()])
                tx.execute("UPDATE forestmon_meta SET value = (SELECT count(*) FROM schema_migrations) "
                           "WHERE key = 'schema_version'")
                applied.append(migration.name)
        return applied

    # -- feature layers -----------------------------------------------------------------------------------
    def _where(self, tx: Tx, layer: Layer, query: Query) -> tuple[str, list]:
        clauses, params = [], []
        if query.bbox is not None:
            clause, values = tx.bbox_where(layer.table, query.bbox)
            clauses.append(clause)
            params += values
        for bound, op in ((query.start, ">="), (query.end, "<=")):
            if bound is not None:
                if layer.temporal is None:
                    raise InvalidInputError(f"{layer.table} has no date to filter on")
                clauses.append(f"{layer.temporal} {op} ?")
                params.append(bound.isoformat())
        for key, value in query.filters.items():
            spec = layer.filter(key)
            if spec is None:
                raise InvalidInputError(f"{key}: {layer.table} cannot be filtered on that; it has "
                                        f"{', '.join(k for f in layer.filters for k in f.keys)}")
            if spec.kind == "number":
                clauses.append(f"{spec.sql_column} {'>=' if key.startswith('min_') else '<='} ?")
                params.append(value)
            elif value:
                clauses.append(f"{spec.sql_column} IN ({', '.join('?' for _ in value)})")
                params += list(value)
            else:
                clauses.append("1 = 0")  # none of no values
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def _frame(self, tx: Tx, layer: Layer, rows: list[dict], columns: tuple[str, ...]) -> gpd.GeoDataFrame:
        geoms = [tx.geom_value(layer.table, r["geom"]) for r in rows]
        frame = gpd.GeoDataFrame([{c: r[c] for c in columns} for r in rows], columns=list(columns),
                                 geometry=gpd.GeoSeries(geoms, crs=WGS84))
        return frame.rename(columns=dict(layer.names)) if layer.names else frame

    def features(self, layer: Layer, query: Query | None = None) -> gpd.GeoDataFrame:
        """The layer's features matching the query, in the layer's order, as polygons in EPSG:4326."""
        query = query or Query()
        with self.reading() as tx:
            where, params = self._where(tx, layer, query)
            page, paging = tx.page(query.limit, query.offset)
            rows = tx.fetch(f"SELECT {_names(layer.columns)}, {tx.geom_select(layer.table)} AS geom "
                            f"FROM {layer.table}{where} ORDER BY {layer.order}{page}", params + paging)
            return self._frame(tx, layer, rows, layer.columns)

    def rows(self, layer: Layer, query: Query, exclude: tuple[str, ...] = ()) -> FeatureRows:
        """The features matching the query, in the layer's order, as plain rows: the columns but ``exclude``,
        then ``fid`` (the key as text); geometries in EPSG:4326. What vector tiles read: no GeoDataFrame."""
        columns = [c for c in layer.columns if c not in exclude]
        with self.reading() as tx:
            where, params = self._where(tx, layer, query)
            page, paging = tx.page(query.limit, query.offset)
            rows = tx.tuples(f"SELECT {_names(columns)}, \"{layer.key}\", {tx.geom_select(layer.table)} AS geom "
                             f"FROM {layer.table}{where} ORDER BY {layer.order}{page}", params + paging)
            geometry = tx.geom_values(layer.table, [r[-1] for r in rows])
        return FeatureRows((*(layer.shown(c) for c in columns), "fid"), [(*r[:-2], str(r[-2])) for r in rows],
                           geometry)

    def count(self, layer: Layer, query: Query | None = None) -> int:
        """How many features match the query, ignoring its limit and offset."""
        query = query or Query()
        with self.reading() as tx:
            if query.bbox is not None and replace(query, bbox=None, limit=None, offset=0) == Query():
                counted = tx.count_in_bbox(layer.table, query.bbox)  # a bbox alone: the spatial index counts
                if counted is not None:
                    return counted
            where, params = self._where(tx, layer, query)
            return int(tx.scalar(f"SELECT count(*) AS n FROM {layer.table}{where}", params))

    def feature(self, layer: Layer, key: str) -> gpd.GeoDataFrame:
        """The feature with this key as a one-row frame; raises NotFoundError."""
        with self.reading() as tx:
            rows = tx.fetch(f"SELECT {_names(layer.columns)}, {tx.geom_select(layer.table)} AS geom "
                            f'FROM {layer.table} WHERE "{layer.key}" = ?', [key])
            if not rows:
                raise NotFoundError(f"no {layer.table.rstrip('s').replace('_', ' ')} with id {key!r}")
            return self._frame(tx, layer, rows, layer.columns)

    def values(self, layer: Layer, column: str, query: Query | None = None) -> list:
        """The distinct values of a column among the features matching the query."""
        with self.reading() as tx:
            where, params = self._where(tx, layer, query or Query())
            return [r["v"] for r in tx.fetch(f'SELECT DISTINCT "{column}" AS v FROM {layer.table}{where}', params)]

    def features_json(self, layer: Layer, query: Query,
                      exclude: tuple[str, ...] = ()) -> tuple[str, int, int] | None:
        """A page as a JSON array of GeoJSON features (id = the key, every column but ``exclude`` a property),
        with the numbers returned and matched, when the backend writes GeoJSON itself; None otherwise."""
        with self.reading() as tx:
            where, params = self._where(tx, layer, query)
            columns = [c for c in layer.columns if c not in exclude]
            return tx.features_json(layer, columns, where, params, query.limit, query.offset)

    def mvt(self, layer: Layer, query: Query, tile: tuple[int, int, int], name: str, exclude: tuple[str, ...] = (),
            constants: dict[str, str] | None = None,
            by_value: dict[str, tuple[str, dict[str, str]]] | None = None) -> bytes | None:
        """One Mapbox Vector Tile layer ``name`` of the features matching ``query`` (its limit caps them) when
        the backend encodes tiles itself; None otherwise. Properties: the columns but ``exclude``, the layer's
        JSON attributes beneath them, ``constants``, and per ``by_value`` entry ``prop: (column, table)`` the
        value ``table[column value]`` (``table[""]`` for none); ``fid`` the key."""
        with self.reading() as tx:
            where, params = self._where(tx, layer, query)
            columns = [c for c in layer.columns if c not in exclude and c != layer.json_column]
            return tx.mvt(layer, columns, where, params, query.limit, tile, name, constants or {}, by_value or {})

    # -- alerts -------------------------------------------------------------------------------------------
    def sync_alerts(self, alerts: gpd.GeoDataFrame) -> dict[str, int]:
        """Make the detector's current alerts the stored ones, in one transaction.

        Alerts are matched by id: new ids are inserted, known ids updated (their review status kept), and
        unreviewed alerts the detector no longer reports (expired low-confidence flags) removed.
        Returns counts: inserted, updated, removed.
        """
        alerts = alerts.to_crs(4326) if alerts.crs is not None else alerts
        columns = [c for c in ALERT_COLUMNS if c not in ("id", "status")]
        with self.transaction() as tx:
            known = {r["id"]: r["status"] for r in tx.fetch("SELECT id, status FROM alerts")}
            rows = []
            for row in alerts.itertuples(index=False):
                if row.geometry is None or row.geometry.is_empty:  # rolls the whole sync back
                    raise InvalidInputError(f"alert {row.id!r} has no geometry")
                rows.append([row.id, tx.geom_param("alerts", row.geometry), *(getattr(row, c, None) for c in columns)])
            sets = ", ".join(f'"{c}" = excluded."{c}"' for c in columns)
            tx.executemany(f"INSERT INTO alerts (id, status, geom, {_names(columns)}) "
                           f"VALUES (?, 'new', {tx.geom_sql('alerts')}, {', '.join('?' for _ in columns)}) "
                           f"ON CONFLICT (id) DO UPDATE SET geom = excluded.geom, {sets}", rows)
            current = {r[0] for r in rows}
            gone = [i for i, status in known.items() if i not in current and status == "new"]
            tx.executemany("DELETE FROM alerts WHERE id = ?", [[i] for i in gone])
            tx.layer_changed("alerts")
        inserted = sum(1 for i in current if i not in known)
        return {"inserted": inserted, "updated": len(current) - inserted, "removed": len(gone)}

    def query_alerts(self, query: Query | None = None) -> gpd.GeoDataFrame:
        """Alerts matching the query, newest first detection first, then by id."""
        return self.features(ALERTS, query)

    def count_alerts(self, query: Query | None = None) -> int:
        return self.count(ALERTS, query)

    def get_alert(self, alert_id: str) -> gpd.GeoDataFrame:
        """The alert with this id as a one-row frame; raises NotFoundError."""
        return self.feature(ALERTS, alert_id)

    # -- the scene catalogue and detection runs -------------------------------------------------------------
    def upsert_scenes(self, scenes: list[dict]) -> None:
        """Add or update scene catalogue records (keyed by ``id``)."""
        with self.transaction() as tx:
            self._upsert_scenes(tx, scenes)

    @staticmethod
    def _upsert_scenes(tx: Tx, scenes: list[dict]) -> None:
        if not scenes:
            return
        updates = ", ".join(f'"{c}" = excluded."{c}"' for c in SCENE_COLUMNS if c != "id")
        tx.executemany(f"INSERT INTO scenes ({_names(SCENE_COLUMNS)}) "
                       f"VALUES ({', '.join('?' for _ in SCENE_COLUMNS)}) ON CONFLICT (id) DO UPDATE SET {updates}",
                       [[s.get(c) for c in SCENE_COLUMNS] for s in scenes])

    def scenes(self, status: str | None = None) -> list[dict]:
        """Scene catalogue records, oldest acquisition first."""
        where, params = (" WHERE status = ?", [status]) if status else ("", [])
        with self.reading() as tx:
            return tx.fetch(f"SELECT {_names(SCENE_COLUMNS)} FROM scenes{where} ORDER BY acquired, id", params)

    def record_run(self, run: dict, coverage: list[dict], scenes: list[dict] | None = None) -> int:
        """Record a detection run (first/last scene date, scene count, mode) and, per admin unit, the monitored
        forest and the part of it seen cloud-free (``unit_id``, ``unit``, ``forest_ha``, ``observed_ha``,
        ``observed_share``), the unit's area on the grid and the share of it watched (``area_ha``,
        ``watched_share``); returns the run's id.

        The catalogue records of the ``scenes`` the run folded are marked processed in the same transaction, so
        a run killed before this commit leaves them to do again (re-feeding a scene changes no state), and the
        run and its coverage are never lost behind scenes already marked done."""
        with self.transaction() as tx:
            self._upsert_scenes(tx, [{**s, "processed": 1} for s in scenes or []])
            run_id = tx.scalar("SELECT coalesce(max(id), 0) + 1 AS next FROM runs")
            tx.execute(f"INSERT INTO runs ({_names(RUN_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?)",
                       [run_id, now_iso(), *(run.get(k) for k in ("first_scene", "last_scene", "scenes", "mode"))])
            tx.executemany(f"INSERT INTO run_coverage (run_id, {_names(COVERAGE_COLUMNS)}) "
                           f"VALUES ({', '.join('?' * (len(COVERAGE_COLUMNS) + 1))})",
                           [[run_id, *(c.get(k) for k in COVERAGE_COLUMNS)] for c in coverage])
        return int(run_id)

    def runs(self) -> list[dict]:
        """Detection runs, newest first, each with its ``coverage`` list."""
        with self.reading() as tx:
            runs = tx.fetch(f"SELECT {_names(RUN_COLUMNS)} FROM runs ORDER BY id DESC")
            for run in runs:
                run["coverage"] = tx.fetch(f"SELECT {_names(COVERAGE_COLUMNS)} FROM run_coverage "
                                           "WHERE run_id = ? ORDER BY unit", [run["id"]])
        return runs

    # -- planning layers -------------------------------------------------------------------------------------
    # Zoning, land-use plan, forest-category and protected-area layers, versioned by validity date: a record per
    # version (``LAYER_FIELDS``) and its zones (``ZONE_COLUMNS``, ``properties`` the source attributes as JSON).
    def replace_planning_layer(self, layer: dict, zones: gpd.GeoDataFrame,
                               attributes: pd.DataFrame | None = None) -> dict[str, str]:
        """Store a layer version and its zones in one transaction, replacing the version with the same id.

        ``attributes`` (the source attributes, a row per zone in the same order) are also stored as typed columns
        of ``planning_zones`` (``geo.store.attributes``), added as needed; returns source name → column name."""
        zones = zones.to_crs(4326)
        columns = [c for c in ZONE_COLUMNS if c != "layer_id"]
        with self.transaction() as tx:
            typed = attributes_plan(tx, self.dialect, "planning_zones", ZONE_FIXED, attributes) \
                if attributes is not None else {}
            tx.execute("DELETE FROM planning_zones WHERE layer_id = ?", [layer["id"]])
            tx.execute("DELETE FROM planning_layers WHERE id = ?", [layer["id"]])
            tx.execute(f"INSERT INTO planning_layers ({_names(LAYER_FIELDS)}) "
                       f"VALUES ({', '.join('?' for _ in LAYER_FIELDS)})", [layer.get(c) for c in LAYER_FIELDS])
            rows = [[tx.geom_param("planning_zones", r.geometry), layer["id"], *(getattr(r, c) for c in columns)]
                    for r in zones.itertuples(index=False)]
            if typed:
                rows = [[*r, *v] for r, v in zip(rows, attribute_rows(attributes, typed), strict=True)]
            names = [*columns, *(c for c, _ in typed.values())]
            tx.executemany(f"INSERT INTO planning_zones (geom, layer_id, {_names(names)}) "
                           f"VALUES ({tx.geom_sql('planning_zones')}, ?, {', '.join('?' for _ in names)})", rows)
            tx.layer_changed("planning_zones")
        return {source: column for source, (column, _) in typed.items()}

    def planning_layers(self) -> list[dict]:
        """Layer version records, by name then validity date, with ``valid_to`` (the day before the next version
        of the same name takes effect; None for the newest) and ``bbox`` (the zones' extent)."""
        with self.reading() as tx:
            rows = tx.fetch(f"SELECT {_names(LAYER_FIELDS)} FROM planning_layers ORDER BY name, valid_from")
            extents = tx.extents("planning_zones", "layer_id")
        for i, row in enumerate(rows):
            following = rows[i + 1] if i + 1 < len(rows) and rows[i + 1]["name"] == row["name"] else None
            row["valid_to"] = (date.fromisoformat(following["valid_from"]) - timedelta(days=1)).isoformat() \
                if following else None
            row["bbox"] = extents.get(row["id"])
        return rows
