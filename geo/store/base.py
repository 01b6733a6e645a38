"""The store interface: what the pipeline, the API and the reports need from any backend."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import date

import geopandas as gpd

from geo.errors import ConfigError

SCENE_STATUSES = ("ok", "failed")


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
    district_id: tuple[str, ...] | None = None  # admin unit ids holding the centroid
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

    @abstractmethod
    def data_version(self) -> int:
        """A number that grows with every write: for caches and ETags."""

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
