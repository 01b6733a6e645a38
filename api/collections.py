"""The feature collections the map API serves (OGC API Features, vector tiles): one small contract and a registry.

A ``FeatureSource`` lists features with bbox, date range, property filters and paging, and finds one by id.
The registry builds the sources from providers: functions of a ``CollectionContext`` (store, region, the
caller's role) that yield sources. Alerts, admin units (one collection per boundary version) and planning
layers (one collection per layer version) are built in; other modules add theirs with ``register_provider``
(e.g. planting lots, or cases only for roles that may see them).
"""

from __future__ import annotations

import json
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

import geopandas as gpd
import pandas as pd

from geo.alerts import CONFIDENCE_LEVELS, PRIVATE_COLUMNS, STATUSES
from geo.errors import ConfigError, InvalidInputError, NotFoundError
from geo.region import AdminVersion, Region
from geo.store.base import AlertQuery, Store, ZoneQuery
from geo.workflow.planning import ZONE_CLASSES
from maps.styles import legend, zone_colour, zone_colours

Bbox = tuple[float, float, float, float]


@dataclass(frozen=True)
class Queryable:
    """A property a collection can be filtered on: ``name=a,b`` for text, ``min_name``/``max_name`` for numbers."""

    name: str
    type: str  # "string" or "number"
    description: str
    enum: tuple[str, ...] | None = None


@dataclass
class FeatureQuery:
    """What a client asked for; ``filters`` holds text filters as tuples and number bounds under min_/max_ names."""

    bbox: Bbox | None = None
    start: date | None = None
    end: date | None = None
    filters: dict[str, object] = field(default_factory=dict)
    limit: int | None = None
    offset: int = 0


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
    queryables: tuple[Queryable, ...] = ()
    temporal_property: str | None = None  # the date property ``datetime`` filters on, if any
    style: dict | None = None             # how maps draw it (colours per class, legend)

    @abstractmethod
    def items(self, query: FeatureQuery) -> tuple[gpd.GeoDataFrame, int]:
        """A page of features and the number matched by the query without paging."""

    @abstractmethod
    def item(self, fid: str) -> gpd.GeoDataFrame:
        """The feature with this id as a one-row frame; raises NotFoundError."""

    def features_json(self, query: FeatureQuery) -> tuple[str, int, int] | None:
        """A page as a JSON array of GeoJSON features with the numbers returned and matched, when the backend
        writes GeoJSON itself (PostGIS); None lets the API serialise ``items()``."""
        return None

    def mvt(self, z: int, x: int, y: int, query: FeatureQuery) -> bytes | None:
        """The encoded vector tile when the backend makes it itself (PostGIS ``ST_AsMVT``); None lets the API
        encode ``items()`` over the tile's bbox with ``maps.vectortiles``."""
        return None

    def extent(self) -> tuple[Bbox | None, tuple[str | None, str | None] | None]:
        """Spatial extent (WGS 84) and temporal interval (ISO dates, open ends as None)."""
        return None, None

    def check(self, query: FeatureQuery) -> None:
        """Refuse filters this collection does not have, naming them and the ones it has."""
        names = {q.name for q in self.queryables}
        allowed = {n for q in self.queryables for n in ((f"min_{q.name}", f"max_{q.name}") if q.type == "number"
                                                         else (q.name,))}
        unknown = [k for k in query.filters if k not in allowed]
        if unknown:
            raise InvalidInputError(f"{', '.join(unknown)}: collection {self.id!r} cannot be filtered on that; "
                                    f"it has {', '.join(sorted(names)) or 'no property filters'}")
        for q in self.queryables:
            value = query.filters.get(q.name)
            if q.enum and value:
                bad = [v for v in value if v not in q.enum]
                if bad:
                    raise InvalidInputError(f"{q.name}: unknown value {', '.join(bad)}; expected {', '.join(q.enum)}")


class AlertSource(FeatureSource):
    id = "alerts"
    title = "Forest-loss alerts"
    description = "Forest-loss alert polygons detected from Sentinel-2, with confidence, area (ha) and review status"
    queryables = (
        Queryable("status", "string", "review status", STATUSES),
        Queryable("confidence", "string", "detection confidence", CONFIDENCE_LEVELS),
        Queryable("district_id", "string", "admin unit id holding the centroid"),
        Queryable("area_ha", "number", "area in hectares"),
    )
    temporal_property = "first_detected"

    def __init__(self, store: Store, region: Region, public: bool = True):
        self.store, self.region = store, region
        self.hidden = PRIVATE_COLUMNS if public else ()  # anonymous readers do not see who reviews

    def _query(self, q: FeatureQuery) -> AlertQuery:
        f = q.filters
        return AlertQuery(bbox=q.bbox, start=q.start, end=q.end, confidence=f.get("confidence"),
                          status=f.get("status"), district_ids=f.get("district_id"), min_area_ha=f.get("min_area_ha"),
                          max_area_ha=f.get("max_area_ha"), limit=q.limit, offset=q.offset)

    def items(self, query):
        aq = self._query(query)
        alerts = self.store.query_alerts(aq).drop(columns=list(self.hidden), errors="ignore")
        return alerts.assign(fid=alerts["id"]), self.store.count_alerts(aq)

    def features_json(self, query):
        return self.store.alerts_geojson(self._query(query), exclude=self.hidden)

    def mvt(self, z, x, y, query):
        return self.store.alerts_mvt(self._query(query), z, x, y, self.id, exclude=self.hidden)

    def item(self, fid):
        alert = self.store.get_alert(fid).drop(columns=list(self.hidden), errors="ignore")
        return alert.assign(fid=alert["id"])

    def extent(self):
        return tuple(float(v) for v in self.region.province().total_bounds), (None, None)


class AdminSource(FeatureSource):
    """The admin units of one boundary version of the region profile."""

    queryables = (Queryable("id", "string", "admin unit id"),)

    def __init__(self, region: Region, version: AdminVersion):
        self.region, self.version = region, version
        self.id = version.file.stem
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
            units = units.iloc[units.sindex.query(_box(query.bbox), predicate="intersects")].sort_index()
        if query.filters.get("id"):
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


class PlanningSource(FeatureSource):
    """The zones of one planning layer version; properties are the source attributes plus type, class, area."""

    queryables = (
        Queryable("zone_type", "string", "zone type as in the source file"),
        Queryable("zone_class", "string", "keep_forest, conversion or other", ZONE_CLASSES),
    )

    def __init__(self, store: Store, layer: dict):
        self.store, self.layer = store, layer
        self.id = f"plan-{layer['id']}"
        until = layer.get("valid_to") or "…"
        self.title = f"{layer['name']} ({layer['kind']}), {layer['valid_from']} – {until}"
        self.description = (f"Planning layer {layer['name']!r} of kind {layer['kind']}, valid {layer['valid_from']}"
                            f" – {until}; from {layer.get('source')} in {layer.get('source_crs')}")
        self.style = {"kind": layer["kind"], "legend": legend()}

    def _frame(self, zones: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        attrs = pd.DataFrame([json.loads(p) if p else {} for p in zones["properties"]], index=zones.index)
        ours = zones[["feature_index", "zone_type", "zone_class", "area_ha"]].assign(
            colour=[zone_colour(t, self.layer["kind"]) for t in zones["zone_type"]],
            layer=self.layer["name"], valid_from=self.layer["valid_from"])
        attrs = attrs.drop(columns=[c for c in ours.columns if c in attrs.columns])
        return gpd.GeoDataFrame(pd.concat([attrs, ours], axis=1), geometry=zones.geometry, crs=zones.crs).assign(
            fid=zones["feature_index"].astype(str))

    def items(self, query):
        if not _valid_during(self.layer["valid_from"], self.layer.get("valid_to"), query):
            return self._frame(self.store.query_zones(self.layer["id"], ZoneQuery(limit=0))), 0
        zq = ZoneQuery(bbox=query.bbox, zone_type=query.filters.get("zone_type"),
                       zone_class=query.filters.get("zone_class"), limit=query.limit, offset=query.offset)
        return self._frame(self.store.query_zones(self.layer["id"], zq)), self.store.count_zones(self.layer["id"], zq)

    def mvt(self, z, x, y, query):
        if not _valid_during(self.layer["valid_from"], self.layer.get("valid_to"), query):
            return None
        zq = ZoneQuery(bbox=query.bbox, zone_type=query.filters.get("zone_type"),
                       zone_class=query.filters.get("zone_class"), limit=query.limit)
        return self.store.zones_mvt(self.layer["id"], zq, z, x, y, self.id, _layer_colours(self.store, self.layer),
                                    {"layer": self.layer["name"], "valid_from": self.layer["valid_from"]})

    def item(self, fid):
        try:
            index = int(fid)
        except ValueError:
            index = -1
        zones = self.store.query_zones(self.layer["id"], ZoneQuery(feature_index=index))
        if zones.empty:
            raise NotFoundError(f"no zone {fid!r} in collection {self.id!r}")
        return self._frame(zones)

    def extent(self):
        return self.layer.get("bbox"), (self.layer["valid_from"], self.layer.get("valid_to"))


# Per store: the data version read at, and per planning layer id the colour of each zone type it holds.
_LAYER_COLOURS: weakref.WeakKeyDictionary[Store, tuple[int, dict[str, dict[str, str]]]] = weakref.WeakKeyDictionary()


def _layer_colours(store: Store, layer: dict) -> dict[str, str]:
    """Colour per zone type of a planning layer's zones ("" for zones without a type), for tiles the store
    makes itself; the layer's zone types are read once per data version of the store, not once per tile."""
    version = store.data_version()
    read_at, layers = _LAYER_COLOURS.get(store, (None, {}))
    if read_at != version:
        layers = {}
        _LAYER_COLOURS[store] = (version, layers)
    if layer["id"] not in layers:
        types = store.query_zones(layer["id"])["zone_type"].unique()
        layers[layer["id"]] = zone_colours(types, layer["kind"])
    return layers[layer["id"]]


def _valid_during(valid_from: str, valid_to: str | None, query: FeatureQuery) -> bool:
    """Whether a version valid from ``valid_from`` to ``valid_to`` (ISO, None = still valid) meets the query's
    date range: versioned collections answer ``datetime`` with all their features or none."""
    if query.end is not None and valid_from > query.end.isoformat():
        return False
    return not (query.start is not None and valid_to is not None and valid_to < query.start.isoformat())


def _box(bbox: Bbox):
    from shapely.geometry import box

    return box(*bbox)


Provider = Callable[[CollectionContext], Iterable[FeatureSource]]


def _builtin(ctx: CollectionContext) -> Iterable[FeatureSource]:
    yield AlertSource(ctx.store, ctx.region, public=ctx.role is None)
    for version in sorted(ctx.region.admin_versions, key=lambda v: v.valid_from):
        yield AdminSource(ctx.region, version)
    try:
        layers = ctx.store.planning_layers()
    except ConfigError:  # a backend without planning layers serves the rest
        layers = []
    for layer in layers:
        yield PlanningSource(ctx.store, layer)


PROVIDERS: list[Provider] = [_builtin]


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
