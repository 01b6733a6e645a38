"""What a read of a feature layer asks for: the layer (table, columns, order, date column, filterable properties)
and the query (bbox, dates, property filters, paging). The store runs it on either backend; the API builds it
from request parameters; the queryables it advertises are the layer's filters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date

import numpy as np

from geo.errors import InvalidInputError

Bbox = tuple[float, float, float, float]  # west, south, east, north in WGS 84 degrees
ID_PATTERN = r"[A-Za-z0-9._:-]{1,100}"  # what a feature id filter takes (alert ids, admin unit ids)
MAX_IDS = 500                          # ids one request may name (an offline package's alerts at most)


@dataclass(frozen=True)
class Filter:
    """A property a layer can be filtered on: ``name=a,b`` (one of these values) for text, ``min_name`` /
    ``max_name`` (bounds, inclusive) for numbers. ``public``: offered to API clients."""

    name: str
    kind: str                      # "text" or "number"
    description: str
    column: str = ""               # the table column; default: the name
    enum: tuple[str, ...] | None = None
    public: bool = True
    max_values: int | None = None  # the most values one request may name (an id list)
    pattern: str | None = None     # a regular expression each value must match in full

    def check_values(self, values: tuple[str, ...]) -> None:
        """Refuse a list longer than ``max_values`` or a value not matching ``pattern`` (InvalidInputError with a
        stable code naming the filter)."""
        if self.max_values is not None and len(values) > self.max_values:
            raise InvalidInputError(f"{self.name}: {len(values)} values given, at most {self.max_values} allowed",
                                    code="id_list_too_long", name=self.name, count=len(values), max=self.max_values)
        if self.pattern is not None:
            bad = next((v for v in values if not re.fullmatch(self.pattern, v)), None)
            if bad is not None:
                shown = bad[:40] + ("…" if len(bad) > 40 else "")
                raise InvalidInputError(f"{self.name}: {shown!r} is not an id (letters, digits and . _ : -, at most "
                                        "100 characters)", code="id_list_invalid", name=self.name, value=shown)

    @property
    def sql_column(self) -> str:
        return self.column or self.name

    @property
    def keys(self) -> tuple[str, ...]:
        """The keys of ``Query.filters`` this filter answers to."""
        return (f"min_{self.name}", f"max_{self.name}") if self.kind == "number" else (self.name,)


@dataclass(frozen=True)
class Layer:
    """A stored table of features in EPSG:4326 (geometry column ``geom``) as the store reads it."""

    table: str
    columns: tuple[str, ...]       # the columns read back, besides the geometry
    order: str                     # ORDER BY of every listing (stable: ends with the key)
    key: str = "id"                # the column that identifies a feature
    temporal: str | None = None    # the date column ``Query.start``/``end`` apply to
    filters: tuple[Filter, ...] = ()
    json_column: str | None = None  # a column of source attributes as JSON text (planning zones)
    names: tuple[tuple[str, str], ...] = ()  # (column, name shown) where a listing names a column otherwise

    def shown(self, column: str) -> str:
        """The name a listing gives ``column`` (its own unless ``names`` says otherwise)."""
        return dict(self.names).get(column, column)

    def named(self, names: dict[str, str]) -> Layer:
        """This layer with its columns shown under these names (e.g. the region's coordinate names)."""
        return replace(self, names=tuple((k, v) for k, v in names.items() if k != v))

    def filter(self, key: str) -> Filter | None:
        """The filter answering to a ``Query.filters`` key (``status``, ``min_area_ha``, ...), if any."""
        return next((f for f in self.filters if key in f.keys), None)


@dataclass
class Query:
    """Which features to read: all by default. ``filters`` holds text filters as tuples of values (an empty
    tuple matches nothing) and number bounds under ``min_``/``max_`` names."""

    bbox: Bbox | None = None
    start: date | None = None          # the layer's date on or after
    end: date | None = None            # ... on or before
    filters: dict[str, object] = field(default_factory=dict)
    limit: int | None = None
    offset: int = 0


@dataclass(frozen=True)
class FeatureRows:
    """Features as plain rows, for paths where a GeoDataFrame costs more than the work (vector tiles):
    ``values`` one tuple per feature in the order of ``columns``, ``geometry`` the shapely geometries (EPSG:4326)
    in the same order."""

    columns: tuple[str, ...]
    values: list[tuple]
    geometry: np.ndarray
