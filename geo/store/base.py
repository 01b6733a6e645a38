"""The store interface: what the pipeline, the API and the reports need from any backend."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import date

import geopandas as gpd

SCENE_STATUSES = ("ok", "failed", "empty")  # empty: the acquisition saw nothing of that tile


@dataclass
class AlertQuery:
    """Filters for listing alerts; every field optional. ``bbox`` is (west, south, east, north) in WGS 84."""

    bbox: tuple[float, float, float, float] | None = None
    start: date | None = None          # first detected on or after
    end: date | None = None            # first detected on or before
    confidence: tuple[str, ...] | None = None
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
    def record_run(self, run: dict, coverage: list[dict]) -> int:
        """Record a detection run (first/last scene date, scene count, mode) and, per admin unit, the monitored
        forest and the part of it seen cloud-free (``unit_id``, ``unit``, ``forest_ha``, ``observed_ha``,
        ``observed_share``); returns the run's id."""

    @abstractmethod
    def runs(self) -> list[dict]:
        """Detection runs, newest first, each with its ``coverage`` list."""

    @abstractmethod
    def data_version(self) -> int:
        """A number that grows with every write: for caches and ETags."""
