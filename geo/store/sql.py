"""What both backends share below the store: a transaction handle for portable SQL, and the dialect contract.

The store and the domain modules (review, users, cases, planting lots) write plain SQL with ``?`` placeholders
and run it through a ``Tx``; each backend's ``Tx`` adapts placeholders, reads rows back as dicts of plain
Python values (dates and timestamps as ISO strings), and does the few things the backends really do
differently: how a geometry is written and read, how a bounding box uses the spatial index, paging, extents,
and the backend's own GeoJSON and vector tiles where it makes them (PostGIS). A ``Dialect`` opens the
connections and writes the schema's DDL in the backend's own words.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime

import numpy as np

from geo.errors import InvalidInputError
from geo.query import Bbox, Layer
from geo.store.schema import Column, Index, Migration, Table

# A URL's userinfo password (up to the last '@' before the host, so an unencoded '@' in it is covered too), and a
# ``password=`` in a query string or a key=value conninfo (quoted or not).
_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/?#@\s]*):[^/?#\s]*@", re.IGNORECASE)
_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^&\s]+)", re.IGNORECASE)


def redact(text: str, *secrets: str | None) -> str:
    """``text`` (a store URL, a conninfo, a connection error) without passwords in any form, nor ``secrets``: what
    messages, logs, reprs and responses show."""
    text = _PASSWORD.sub(r"\1***", _USERINFO.sub(r"\1:***@", str(text)))
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def now_iso() -> str:
    """The current time in UTC as an ISO string to the second: how every timestamp is written."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def plain_value(value):
    """Dates and timestamps as ISO strings (UTC, to the second), numpy numbers unwrapped, NaN as None,
    everything else unchanged."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    item = getattr(value, "item", None)  # a numpy scalar
    if item is not None and not isinstance(value, bytes | memoryview):
        value = item()
    if isinstance(value, float) and value != value:
        return None
    return value


def check_params(params: Sequence) -> list:
    """Parameters as plain values, refusing text with NUL characters (PostgreSQL cannot store them; neither do
    we)."""
    out = [plain_value(v) for v in params]
    for value in out:
        if isinstance(value, str) and "\x00" in value:
            raise InvalidInputError(f"text may not contain NUL characters: {value[:40]!r}")
    return out


class Tx(ABC):
    """One open transaction (or a read-only session): portable SQL with ``?`` placeholders."""

    # Appended to a SELECT whose rows the transaction then writes: locks them until it ends (PostGIS; a
    # GeoPackage write transaction already holds the whole file).
    for_update: str = ""

    @abstractmethod
    def execute(self, sql: str, params: Sequence = ()) -> int:
        """Run one statement; returns the number of rows it changed."""

    @abstractmethod
    def executemany(self, sql: str, rows: Sequence[Sequence]) -> None:
        """Run one statement for each row of parameters."""

    @abstractmethod
    def fetch(self, sql: str, params: Sequence = ()) -> list[dict]:
        """Run one query; rows as dicts of plain values."""

    def tuples(self, sql: str, params: Sequence = ()) -> list[tuple]:
        """Run one query; rows as tuples in the SELECT's order (cheaper than dicts for many rows)."""
        return [tuple(r.values()) for r in self.fetch(sql, params)]

    def fetchone(self, sql: str, params: Sequence = ()) -> dict | None:
        rows = self.fetch(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Sequence = ()):
        row = self.fetchone(sql, params)
        return None if row is None else next(iter(row.values()))

    # -- geometry: every geometry column is ``geom``, a MultiPolygon in EPSG:4326 ---------------------------
    @abstractmethod
    def geom_sql(self, table: str) -> str:
        """The SQL expression that stores one geometry parameter (``geom_param``) into ``table``'s column."""

    @abstractmethod
    def geom_param(self, table: str, geom) -> object:
        """A shapely geometry as the parameter ``geom_sql`` takes."""

    @abstractmethod
    def geom_select(self, table: str) -> str:
        """The SQL expression reading ``table``'s geometry for ``geom_value``."""

    @abstractmethod
    def geom_value(self, table: str, value):
        """The shapely geometry of a value read with ``geom_select`` (None for NULL)."""

    def geom_values(self, table: str, values: Sequence) -> np.ndarray:
        """``geom_value`` of many values at once, as an array of shapely geometries."""
        out = np.empty(len(values), dtype=object)
        out[:] = [self.geom_value(table, v) for v in values]
        return out

    # -- reading layers --------------------------------------------------------------------------------------
    @abstractmethod
    def bbox_where(self, table: str, bbox: Bbox) -> tuple[str, list]:
        """A WHERE clause keeping the features whose envelope meets ``bbox``, through the spatial index."""

    def count_in_bbox(self, table: str, bbox: Bbox) -> int | None:
        """How many features' envelopes meet ``bbox``, from the spatial index alone, when the backend can."""
        return None

    @abstractmethod
    def page(self, limit: int | None, offset: int) -> tuple[str, list]:
        """The LIMIT/OFFSET clause of a page (none for no limit and no offset)."""

    @abstractmethod
    def extents(self, table: str, column: str) -> dict[object, Bbox]:
        """Per value of ``column``, the extent (west, south, east, north) of its features."""

    def layer_changed(self, table: str) -> None:  # noqa: B027 - a hook most backends need not fill
        """Called after a write to a layer's features (the GeoPackage keeps its extent in gpkg_contents)."""

    def features_json(self, layer: Layer, columns: list[str], where: str, params: list, limit: int | None,
                      offset: int) -> tuple[str, int, int] | None:
        """A page as a JSON array of GeoJSON features (id = the key, ``columns`` as properties), with the numbers
        returned and matched, when the backend writes GeoJSON itself; None lets the caller do it."""
        return None

    def mvt(self, layer: Layer, columns: list[str], where: str, params: list, limit: int, tile: tuple[int, int, int],
            name: str, constants: dict[str, str], by_value: dict[str, tuple[str, dict[str, str]]]) -> bytes | None:
        """One Mapbox Vector Tile layer of the features, when the backend encodes tiles itself; None lets the
        caller do it. See ``Store.mvt``."""
        return None


class Dialect(ABC):
    """A backend: its connections, transactions, and the schema's DDL in its own words."""

    name: str

    @property
    @abstractmethod
    def url(self) -> str:
        """The URL the store was opened with."""

    @abstractmethod
    def transaction(self) -> AbstractContextManager[Tx]:
        """One all-or-nothing unit of work: committed on exit, rolled back on error."""

    @abstractmethod
    def reading(self) -> AbstractContextManager[Tx]:
        """A read-only session."""

    @abstractmethod
    def table_exists(self, tx: Tx, table: str) -> bool:
        """Whether the table exists (in the schema the store uses)."""

    @abstractmethod
    def migrating(self) -> AbstractContextManager[Tx]:
        """One migration's transaction, with the lock that makes concurrent starts migrate once."""

    def unrecorded(self, tx: Tx) -> list[str]:
        """Migrations a store holds without a ``schema_migrations`` table to say so (made before it existed)."""
        return []

    def before(self, migration: Migration) -> None:  # noqa: B027 - most backends do everything in SQL
        """Whatever a migration needs done outside its transaction (idempotent: it may run again)."""

    def statements(self, migration: Migration) -> list[str]:
        """The SQL of a migration, in order: its tables (with their initial rows), the columns it adds to older
        tables, its indexes."""
        out: list[str] = []
        for table in migration.tables:
            out += self.create_table(table, table.columns_since(migration.name))
            out += [f"INSERT INTO {table.name} VALUES ({', '.join(_literal(v) for v in row)})" for row in table.rows]
        out += [f"ALTER TABLE {table.name} ADD COLUMN {self.column(column)}" for table, column in migration.columns]
        out += [self.index(table, index) for table, index in migration.indexes if index.only in (None, self.name)]
        return out

    @abstractmethod
    def column(self, column: Column) -> str:
        """A column's definition: name, type, constraints."""

    @abstractmethod
    def create_table(self, table: Table, columns: list[Column]) -> list[str]:
        """CREATE TABLE (and what goes with it: spatial index, append-only rule, listing) for ``columns``."""

    @abstractmethod
    def table_columns(self, tx: Tx, table: str) -> dict[str, str]:
        """The table's columns as they are now (columns added by imports too), name → portable type."""

    def lock_columns(self, tx: Tx, table: str) -> None:  # noqa: B027 - a GeoPackage write already holds the file
        """Keep other writers from adding columns to ``table`` until ``tx`` ends (read columns, then add)."""

    @abstractmethod
    def attribute_type(self, kind: str) -> str:
        """The SQL type of an attribute column of portable type ``kind`` (as GDAL reads it back typed)."""

    def index(self, table: Table, index: Index) -> str:
        unique = "UNIQUE " if index.unique else ""
        return f"CREATE {unique}INDEX {index.name} ON {table.name} ({index.columns})"

    def close(self) -> None:  # noqa: B027 - a file holds no connections
        """Release connections."""


def _literal(value) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(int(value)) if isinstance(value, bool | int) else repr(float(value))
