"""The feature collections the map API serves (``/ogc``, ``/alerts``, vector tiles): one small contract, one
GeoJSON writer, and a registry.

A ``FeatureSource`` lists features with bbox, date range, property filters (its ``filters``, which are its OGC
queryables) and paging, and finds one by id. The registry builds the sources from providers: functions of a
``CollectionContext`` (store, region, the caller's role) that yield sources. Alerts, admin units (one
collection per boundary version) and planning layers (one collection per layer version) are built in; other
modules add theirs with ``register_provider``. Which alert columns a caller sees is decided here, once:
anonymous readers do not see who reviews (``geo.workflow.privacy``).
"""

from __future__ import annotations

import json
from abc import ABC
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import geopandas as gpd
import pandas as pd
from shapely.geometry import box

from geo.alerts import ALERTS
from geo.errors import ForestmonError, InvalidInputError, NotFoundError
from geo.query import ID_PATTERN, MAX_IDS, Bbox, FeatureRows, Filter, Layer, Query
from geo.region import AdminVersion, Region
from geo.store import Store
from geo.workflow.places import ZONE_TYPE_FILTER, select_alerts
from geo.workflow.planning import ZONES
from geo.workflow.privacy import PRIVATE
from maps.styles import legend, zone_colour, zone_colours

ADMIN_FILTERS = (Filter("id", "text", f"feature ids: alerts, admin units (at most {MAX_IDS})", max_values=MAX_IDS,
                        pattern=ID_PATTERN),)


class UnknownFilter(ForestmonError):
    """A query names a filter the collection does not have (400, as OGC API Features asks)."""


def feature_list(frame: gpd.GeoDataFrame) -> list[dict]:
    """GeoJSON features of a frame with a ``fid`` column (the feature id); dates and missing values as JSON
    has them."""
    if not len(frame):
        return []
    # Python values straight from geopandas (encoded once, by the response), the feature id from ``fid``.
    return frame.set_index("fid").to_geo_dict(na="null", show_bbox=False)["features"]


@dataclass
class CollectionContext:
    """What providers may look at to decide which collections exist and who sees them."""

    store: Store
    region: Region
    role: str | None = None


class FeatureSource(ABC):
    """One collection: metadata, and features as a GeoDataFrame in EPSG:4326 with a ``fid`` column."""

    id: str
    title: str
    description: str
    filters: tuple[Filter, ...] = ()      # the public properties its items can be filtered on
    temporal_property: str | None = None  # the date property ``datetime`` filters on, if any
    style: dict | None = None             # how maps draw it (colours per class, legend)
    kind: str = "features"                # what it holds, for clients choosing layers: alerts, admin or planning
    units: str | None = None              # admin collections: the kind of unit (district, commune)
    name: str | None = None               # planning collections: the plan's name, which its versions share

    def items(self, query: Query) -> tuple[gpd.GeoDataFrame, int]:
        """A page of features and the number matched by the query without paging."""
        raise NotImplementedError

    def item(self, fid: str) -> gpd.GeoDataFrame:
        """The feature with this id as a one-row frame; raises NotFoundError."""
        raise NotImplementedError

    def features_json(self, query: Query) -> tuple[str, int, int] | None:
        """A page as a JSON array of GeoJSON features with the numbers returned and matched, when the backend
        writes GeoJSON itself (PostGIS); None lets the API write ``items()``."""
        return None

    def mvt(self, z: int, x: int, y: int, query: Query) -> bytes | None:
        """The encoded vector tile when the backend makes it itself (PostGIS ``ST_AsMVT``); None lets the API
        encode ``tile_features()`` over the tile's bbox with ``maps.vectortiles``."""
        return None

    def tile_features(self, query: Query) -> gpd.GeoDataFrame | FeatureRows:
        """The features a vector tile encodes (with a ``fid`` column): the page of ``items()`` unless the source
        reads them more cheaply."""
        return self.items(query)[0]

    def extent(self) -> tuple[Bbox | None, tuple[str | None, str | None] | None]:
        """Spatial extent (WGS 84) and temporal interval (ISO dates, open ends as None)."""
        return None, None

    def check(self, query: Query) -> None:
        """Refuse filters this collection does not have (``UnknownFilter``, naming them and the ones it has) and
        values a filter does not take (InvalidInputError)."""
        allowed = {key for f in self.filters for key in f.keys}
        unknown = [k for k in query.filters if k not in allowed]
        if unknown:
            raise UnknownFilter(f"{', '.join(unknown)}: collection {self.id!r} cannot be filtered on that; it has "
                                f"{', '.join(sorted(f.name for f in self.filters)) or 'no property filters'}")
        for f in self.filters:
            value = query.filters.get(f.name)
            if f.kind == "text" and value:
                f.check_values(value)
            if f.enum and value:
                bad = [v for v in value if v not in f.enum]
                if bad:
                    raise InvalidInputError(f"{f.name}: unknown value {', '.join(bad)}; expected {', '.join(f.enum)}")


class _LayerSource(FeatureSource):
    """A collection read from one of the store's layers, with columns hidden from this caller."""

    layer: Layer
    hidden: tuple[str, ...] = ()

    def __init__(self, store: Store):
        self.store = store

    def _store_query(self, query: Query) -> Query:
        return query

    def _frame(self, frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        frame = frame.drop(columns=list(self.hidden), errors="ignore")
        return frame.assign(fid=frame[self.layer.key].astype(str))

    def items(self, query):
        store_query = self._store_query(query)
        return (self._frame(self.store.features(self.layer, store_query)),
                self.store.count(self.layer, store_query))

    def features_json(self, query):
        return self.store.features_json(self.layer, self._store_query(query), exclude=self.hidden)


class AlertSource(_LayerSource):
    id = "alerts"
    kind = "alerts"
    title = "Forest-loss alerts"
    description = "Forest-loss alert polygons detected from Sentinel-2, with confidence, area (ha) and review status"
    layer = ALERTS
    filters = (*(f for f in ALERTS.filters if f.public), ZONE_TYPE_FILTER)
    temporal_property = ALERTS.temporal

    def __init__(self, store: Store, region: Region, public: bool = True):
        super().__init__(store)
        self.region = region
        self.layer = ALERTS.named(region.coordinate_names)  # the projected centroid named by the region's CRS
        self.hidden = PRIVATE["alerts"] if public else ()  # anonymous readers do not see who reviews

    def _frame(self, frame):
        return super()._frame(frame).rename(columns=dict(self.layer.names))

    def items(self, query):
        found, matched = select_alerts(self.store, query)
        return self._frame(found), matched

    def features_json(self, query):  # the zone filter is applied by geometry, in Python
        return None if ZONE_TYPE_FILTER.name in query.filters else super().features_json(query)

    def mvt(self, z, x, y, query):
        if ZONE_TYPE_FILTER.name in query.filters:
            return None
        return self.store.mvt(self.layer, query, (z, x, y), self.id, exclude=self.hidden)

    def tile_features(self, query):
        return self.store.rows(self.layer, query, exclude=self.hidden)

    def item(self, fid):
        return self._frame(self.store.get_alert(fid))

    def extent(self):
        return tuple(float(v) for v in self.region.province().total_bounds), (None, None)


class PlanningSource(_LayerSource):
    """The zones of one planning layer version; properties are the source attributes plus type, class, area."""

    layer = ZONES
    kind = "planning"
    filters = tuple(f for f in ZONES.filters if f.public)
    hidden = ("layer_id", "properties")

    def __init__(self, store: Store, record: dict):
        super().__init__(store)
        self.record = record
        self.id = f"plan-{record['id']}"
        self.name = record["name"]
        until = record.get("valid_to") or "…"
        self.title = f"{record['name']} ({record['kind']}), {record['valid_from']} – {until}"
        self.description = (f"Planning layer {record['name']!r} of kind {record['kind']}, valid "
                            f"{record['valid_from']} – {until}; from {record.get('source')} in "
                            f"{record.get('source_crs')}")
        self.style = {"kind": record["kind"], "legend": legend()}

    def _valid(self, query: Query) -> bool:
        return _valid_during(self.record["valid_from"], self.record.get("valid_to"), query)

    def _store_query(self, query: Query) -> Query:
        """The query on this version's zones; versioned collections answer ``datetime`` with all or none."""
        filters = {**query.filters, "layer_id": (self.record["id"],) if self._valid(query) else ()}
        return Query(query.bbox, None, None, filters, query.limit, query.offset)

    def _frame(self, zones: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        attrs = pd.DataFrame([json.loads(p) if p else {} for p in zones["properties"]], index=zones.index)
        ours = zones[["feature_index", "zone_name", "zone_type", "zone_class", "area_ha"]].assign(
            colour=[zone_colour(t, self.record["kind"]) for t in zones["zone_type"]],
            layer=self.record["name"], valid_from=self.record["valid_from"])
        attrs = attrs.drop(columns=[c for c in ours.columns if c in attrs.columns])
        return gpd.GeoDataFrame(pd.concat([attrs, ours], axis=1), geometry=zones.geometry, crs=zones.crs).assign(
            fid=zones["feature_index"].astype(str))

    def features_json(self, query):
        return None  # the properties merge the source attributes: written by the API

    def mvt(self, z, x, y, query):
        if not self._valid(query):
            return None
        types = self.store.values(self.layer, "zone_type", Query(filters={"layer_id": (self.record["id"],)}))
        colours = zone_colours(types, self.record["kind"])
        return self.store.mvt(self.layer, self._store_query(query), (z, x, y), self.id, exclude=self.hidden,
                              constants={"layer": self.record["name"], "valid_from": self.record["valid_from"]},
                              by_value={"colour": ("zone_type", colours)})

    def item(self, fid):
        try:
            index = int(fid)
        except ValueError:
            index = -1
        zones = self.store.features(self.layer, Query(filters={"layer_id": (self.record["id"],),
                                                               "min_feature_index": index,
                                                               "max_feature_index": index}))
        if zones.empty:
            raise NotFoundError(f"no zone {fid!r} in collection {self.id!r}")
        return self._frame(zones)

    def extent(self):
        return self.record.get("bbox"), (self.record["valid_from"], self.record.get("valid_to"))


class AdminSource(FeatureSource):
    """The admin units of one boundary version of the region profile."""

    filters = ADMIN_FILTERS
    kind = "admin"

    def __init__(self, region: Region, version: AdminVersion):
        self.region, self.version = region, version
        self.id = version.file.stem
        self.units = version.unit_kind
        until = version.valid_to.isoformat() if version.valid_to else "…"
        self.title = f"Admin units ({version.unit_kind}), {version.valid_from.isoformat()} – {until}"
        self.description = f"{version.unit_kind} boundaries valid {version.valid_from} – {until}; {version.source}"

    def _units(self) -> gpd.GeoDataFrame:
        units = self.region.units(self.version.valid_from)
        return units.assign(fid=units["id"].astype(str), kind=self.version.unit_kind,
                            valid_from=self.version.valid_from.isoformat(),
                            valid_to=self.version.valid_to.isoformat() if self.version.valid_to else None)

    def items(self, query):
        units = self._units()
        valid_to = self.version.valid_to.isoformat() if self.version.valid_to else None
        if not _valid_during(self.version.valid_from.isoformat(), valid_to, query):
            return units.iloc[:0], 0
        if query.bbox is not None:
            units = units.iloc[units.sindex.query(box(*query.bbox), predicate="intersects")].sort_index()
        if "id" in query.filters:
            units = units[units["id"].astype(str).isin(query.filters["id"])]
        matched = len(units)
        end = None if query.limit is None else query.offset + query.limit
        return units.iloc[query.offset:end], matched

    def item(self, fid):
        units = self._units()
        hit = units[units["fid"] == fid]
        if hit.empty:
            raise NotFoundError(f"no admin unit {fid!r} in collection {self.id!r}")
        return hit

    def extent(self):
        end = self.version.valid_to.isoformat() if self.version.valid_to else None
        return tuple(float(v) for v in self._units().total_bounds), (self.version.valid_from.isoformat(), end)


def _valid_during(valid_from: str, valid_to: str | None, query: Query) -> bool:
    """Whether a version valid from ``valid_from`` to ``valid_to`` (ISO, None = still valid) meets the query's
    date range: versioned collections answer ``datetime`` with all their features or none."""
    if query.end is not None and valid_from > query.end.isoformat():
        return False
    return not (query.start is not None and valid_to is not None and valid_to < query.start.isoformat())


Provider = Callable[[CollectionContext], Iterable[FeatureSource]]


def _builtin(ctx: CollectionContext) -> Iterable[FeatureSource]:
    yield AlertSource(ctx.store, ctx.region, public=ctx.role is None)
    for version in sorted(ctx.region.admin_versions, key=lambda v: v.valid_from):
        yield AdminSource(ctx.region, version)
    for record in ctx.store.planning_layers():
        yield PlanningSource(ctx.store, record)


PROVIDERS: list[Provider] = [_builtin]
# Every property filter a built-in collection offers: the query parameters of the items routes.
ITEM_FILTERS: tuple[Filter, ...] = (*AlertSource.filters, *PlanningSource.filters, *ADMIN_FILTERS)


def register_provider(provider: Provider) -> Provider:
    """Add a provider of collections (usable as a decorator)."""
    PROVIDERS.append(provider)
    return provider


def collections(ctx: CollectionContext) -> dict[str, FeatureSource]:
    """Every collection the context may see, by id, in provider order."""
    return {s.id: s for provider in PROVIDERS for s in provider(ctx)}


def collection(ctx: CollectionContext, collection_id: str) -> FeatureSource:
    found = collections(ctx)
    if collection_id not in found:
        raise NotFoundError(f"no collection {collection_id!r}; there are: {', '.join(found)}")
    return found[collection_id]


def alerts_source(ctx: CollectionContext) -> FeatureSource:
    """The alerts collection as this caller sees it."""
    return collection(ctx, AlertSource.id)
