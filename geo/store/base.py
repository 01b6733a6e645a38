"""The store interface: what the pipeline, the API and the reports need from any backend."""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date

import geopandas as gpd

from geo.store.sql import Tx

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
    assigned_to: str | None = None             # username
    district_ids: tuple[str, ...] | None = None


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
