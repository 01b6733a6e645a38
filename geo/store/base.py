"""The store interface: what the pipeline, the API and the reports need from any backend."""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date

import geopandas as gpd

from geo.errors import ConfigError
from geo.store.sql import Tx, now_iso

SCENE_STATUSES = ("ok", "failed", "empty")  # empty: the acquisition saw nothing of that tile
# Catalogue columns (0001, then 0005: one record per acquisition per grid tile).
SCENE_COLUMNS = ("id", "sensor", "acquired", "source", "path", "cloud_pct", "valid_fraction", "status", "reason",
                 "processed", "acquisition", "tile", "acquired_time", "source_path", "forest_valid_fraction")
# Detection runs and the forest each saw per admin unit (migration 0006).
RUN_COLUMNS = ("id", "finished", "first_scene", "last_scene", "scenes", "mode")
COVERAGE_COLUMNS = ("unit_id", "unit", "forest_ha", "observed_ha", "observed_share")


@dataclass
class AlertQuery:
    """Filters for listing alerts; every field optional. ``bbox`` is (west, south, east, north) in WGS 84."""

    bbox: tuple[float, float, float, float] | None = None
    start: date | None = None          # first detected on or after
    end: date | None = None            # first detected on or before
    confidence: tuple[str, ...] | None = None
    limit: int | None = None
    offset: int = 0
    status: tuple[str, ...] | None = None      # review statuses
    assigned_to: str | None = None             # username
    district_ids: tuple[str, ...] | None = None  # admin unit ids holding the centroid
    min_area_ha: float | None = None
    max_area_ha: float | None = None


@dataclass
class ZoneQuery:
    """Filters for listing the zones of one planning layer; ``bbox`` is (west, south, east, north) in WGS 84."""

    bbox: tuple[float, float, float, float] | None = None
    zone_type: tuple[str, ...] | None = None
    zone_class: tuple[str, ...] | None = None
    feature_index: int | None = None
    limit: int | None = None
    offset: int = 0


class Store(ABC):
    """Alerts (polygons in EPSG:4326 with the columns of ``geo.alerts.ALERT_COLUMNS``) and the scene catalogue."""

    @abstractmethod
    def sync_alerts(self, alerts: gpd.GeoDataFrame) -> dict[str, int]:
        """Make the detector's current alerts the stored ones, in one transaction.

        Alerts are matched by id: new ids are inserted, known ids updated (their review status kept), and
        unreviewed alerts the detector no longer reports (expired low-confidence flags) removed.
        Returns counts: inserted, updated, removed.
        """

    @abstractmethod
    def query_alerts(self, query: AlertQuery | None = None) -> gpd.GeoDataFrame:
        """Alerts matching the query, newest first detection first, then by id."""

    @abstractmethod
    def count_alerts(self, query: AlertQuery | None = None) -> int:
        """How many alerts match the query, ignoring limit and offset."""

    @abstractmethod
    def get_alert(self, alert_id: str) -> gpd.GeoDataFrame:
        """The alert with this id as a one-row frame; raises NotFoundError."""

    @abstractmethod
    def upsert_scenes(self, scenes: list[dict]) -> None:
        """Add or update scene catalogue records (keyed by ``id``)."""

    @abstractmethod
    def scenes(self, status: str | None = None) -> list[dict]:
        """Scene catalogue records, oldest acquisition first."""

    def record_run(self, run: dict, coverage: list[dict]) -> int:
        """Record a detection run (first/last scene date, scene count, mode) and, per admin unit, the monitored
        forest and the part of it seen cloud-free (``unit_id``, ``unit``, ``forest_ha``, ``observed_ha``,
        ``observed_share``); returns the run's id."""
        with self.transaction() as tx:
            run_id = tx.scalar("SELECT coalesce(max(id), 0) + 1 AS next FROM runs")
            values = [run_id, now_iso(), *(run.get(k) for k in ("first_scene", "last_scene", "scenes", "mode"))]
            tx.execute("INSERT INTO runs (id, finished, first_scene, last_scene, scenes, mode) "
                       "VALUES (?, ?, ?, ?, ?, ?)", values)
            for c in coverage:
                tx.execute(f"INSERT INTO run_coverage (run_id, {', '.join(COVERAGE_COLUMNS)}) "
                           "VALUES (?, ?, ?, ?, ?, ?)", [run_id, *(c.get(k) for k in COVERAGE_COLUMNS)])
        return int(run_id)

    def runs(self) -> list[dict]:
        """Detection runs, newest first, each with its ``coverage`` list."""
        with self.reading() as tx:
            runs = tx.fetch(f"SELECT {', '.join(RUN_COLUMNS)} FROM runs ORDER BY id DESC")
            for run in runs:
                run["coverage"] = tx.fetch(f"SELECT {', '.join(COVERAGE_COLUMNS)} FROM run_coverage "
                                           "WHERE run_id = ? ORDER BY unit", [run["id"]])
        return runs

    @abstractmethod
    def data_version(self) -> int:
        """A number that grows with every write: for caches and ETags."""

    # -- transactions and migrations (review, users, cases and planting lots are written through these) --------
    @abstractmethod
    def transaction(self) -> AbstractContextManager[Tx]:
        """One all-or-nothing unit of work (committed on exit, rolled back on error); bumps ``data_version``."""

    @abstractmethod
    def reading(self) -> AbstractContextManager[Tx]:
        """A read-only session for portable SQL queries."""

    @abstractmethod
    def migrate(self) -> list[str]:
        """Apply the pending schema migrations in order, each in its own transaction; returns their names."""

    @abstractmethod
    def applied_migrations(self) -> list[str]:
        """Names of the migrations applied to this store, in order."""

    @property
    @abstractmethod
    def url(self) -> str:
        """The URL this store was opened with (for ``open_store``)."""

    def close(self) -> None:  # noqa: B027 - optional hook: a file store holds no connections
        """Release connections (nothing to do for a file)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- planning layers (issue 6) ------------------------------------------------------------------------
    # Zoning, land-use plan, forest-category and protected-area layers, versioned by validity date. A layer
    # record is a dict with the keys of ``geo.planning.LAYER_FIELDS``; its zones are polygons in EPSG:4326
    # with the columns of ``geo.planning.ZONE_COLUMNS`` (``properties`` is the source attributes as JSON text).
    # Backends that do not hold planning layers yet raise ConfigError, naming themselves.

    def replace_planning_layer(self, layer: dict, zones: gpd.GeoDataFrame) -> None:
        """Store a layer version and its zones in one transaction, replacing the version with the same id."""
        raise ConfigError(f"{self!r} does not hold planning layers")

    def planning_layers(self) -> list[dict]:
        """Layer version records, by name then validity date (``valid_to`` filled from the next version)."""
        raise ConfigError(f"{self!r} does not hold planning layers")

    def query_zones(self, layer_id: str, query: ZoneQuery | None = None) -> gpd.GeoDataFrame:
        """Zones of one layer version matching the query, by feature index."""
        raise ConfigError(f"{self!r} does not hold planning layers")

    def count_zones(self, layer_id: str, query: ZoneQuery | None = None) -> int:
        """How many zones of the layer match the query, ignoring limit and offset."""
        raise ConfigError(f"{self!r} does not hold planning layers")

    # -- vector tiles made by the backend (issue 6) ---------------------------------------------------------
    # A backend that encodes Mapbox Vector Tiles itself (PostGIS ``ST_AsMVT``) returns the tile's bytes; None
    # (the default) lets the API encode the features with ``maps.vectortiles``.

    def alerts_mvt(self, query: AlertQuery, z: int, x: int, y: int, layer: str,
                   exclude: tuple[str, ...] = ()) -> bytes | None:
        """One MVT layer named ``layer`` with the alerts matching ``query`` (its limit caps the features),
        without the ``exclude`` properties."""
        return None

    def zones_mvt(self, layer_id: str, query: ZoneQuery, z: int, x: int, y: int, layer: str,
                  colours: dict[str, str], constants: dict[str, str]) -> bytes | None:
        """One MVT layer of a planning layer's zones: their source attributes, columns, ``colour`` (from
        ``colours``: zone type → colour, "" for zones without a type) and the ``constants`` (layer name,
        validity) as properties."""
        return None

    def alerts_geojson(self, query: AlertQuery, exclude: tuple[str, ...] = ()) -> tuple[str, int, int] | None:
        """A page of alerts as a JSON array of GeoJSON features (id = alert id, every column but ``exclude`` a
        property), with the number returned and matched, when the backend writes GeoJSON itself; None lets the
        API do it."""
        return None
