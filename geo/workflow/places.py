"""Where an alert lies: its admin unit in every boundary version of the region (the 2024 district and the 2025
commune, say) and the planning zones it touches in each plan in force on a day."""

from __future__ import annotations

from datetime import date

import geopandas as gpd
import shapely
from shapely.geometry.base import BaseGeometry

from geo.alerts import ALERTS
from geo.errors import InvalidInputError
from geo.query import Filter, Query
from geo.region import Region
from geo.store import Store
from geo.workflow.planning import ZONES, find_zone_type, layers_valid_on


def admin_units(region: Region, geometry: BaseGeometry) -> list[dict]:
    """The unit holding the alert's inner point in each boundary version, oldest version first: unit id and name,
    unit kind and the version's dates."""
    point = shapely.point_on_surface(geometry)
    out = []
    for version in sorted(region.admin_versions, key=lambda v: v.valid_from):
        units = region.units(version.valid_from)
        hits = units.sindex.query(point, predicate="intersects")
        if len(hits):
            unit = units.iloc[int(hits[0])]
            out.append({"id": str(unit["id"]), "name": unit["name"], "kind": version.unit_kind,
                        "valid_from": version.valid_from.isoformat(),
                        "valid_to": version.valid_to.isoformat() if version.valid_to else None})
    return out


def zones_touched(store: Store, geometry: BaseGeometry, day: date | None = None) -> list[dict]:
    """The zones of each planning layer version in force on ``day`` (default: the newest of each) that the alert
    overlaps: layer, version date, zone type with its Vietnamese and English names and class, and the share of
    the alert's area inside the zone (a ratio of areas over a few hundred metres: the same in degrees as in
    metres)."""
    out = []
    for layer in layers_valid_on(store.planning_layers(), day):
        zones = store.features(ZONES, Query(bbox=tuple(geometry.bounds), filters={"layer_id": (layer["id"],)}))
        for _, zone in zones.iterrows():
            if not zone.geometry.intersects(geometry):
                continue
            share = shapely.area(zone.geometry.intersection(geometry)) / max(shapely.area(geometry), 1e-18)
            known = find_zone_type(zone["zone_type"])
            out.append({"layer": layer["name"], "layer_id": layer["id"], "kind": layer["kind"],
                        "valid_from": layer["valid_from"], "zone": str(zone["feature_index"]),
                        "zone_type": zone["zone_type"], "zone_class": zone["zone_class"],
                        "vi": known.vi if known else None, "en": known.en if known else None,
                        "share": round(float(share), 4)})
    return out


# The alerts' filter on planning zones: not a column of the alerts but where they lie, so the store's SQL cannot
# apply it; ``select_alerts`` does.
ZONE_TYPE_FILTER = Filter("zone_type", "text", "code of a planning zone type (data/planning/zone_types.toml) of a "
                          "zone in force that the alert overlaps, e.g. RPH")


def zone_area(store: Store, codes: tuple[str, ...], day: date | None = None) -> BaseGeometry | None:
    """The union of the zones in force on ``day`` whose type is one of ``codes`` (the zone-type table's codes, or
    the type as the file wrote it); None when there is none."""
    if any("\x00" in c for c in codes):
        raise InvalidInputError("zone_type: a zone type holds no NUL character")
    wanted = {c.upper() for c in codes}
    parts = []
    for layer in layers_valid_on(store.planning_layers(), day):
        zones = store.features(ZONES, Query(filters={"layer_id": (layer["id"],)}))
        for zone_type, geometry in zip(zones["zone_type"], zones.geometry, strict=True):
            known = find_zone_type(zone_type)
            if (known.code if known else str(zone_type)).upper() in wanted or str(zone_type).upper() in wanted:
                parts.append(geometry)
    return shapely.union_all(parts) if parts else None


def select_alerts(store: Store, query: Query) -> tuple[gpd.GeoDataFrame, int]:
    """The page of alerts ``query`` asks for, with its ``zone_type`` filter applied by geometry (the rest by the
    store), and the number matched."""
    codes = query.filters.get(ZONE_TYPE_FILTER.name)
    if codes is None:
        return store.query_alerts(query), store.count(ALERTS, query)
    area = zone_area(store, tuple(codes))
    rest = {k: v for k, v in query.filters.items() if k != ZONE_TYPE_FILTER.name}
    if area is None:
        return store.query_alerts(Query(filters={"status": ()})), 0
    bbox = area.bounds if query.bbox is None else (
        max(area.bounds[0], query.bbox[0]), max(area.bounds[1], query.bbox[1]),
        min(area.bounds[2], query.bbox[2]), min(area.bounds[3], query.bbox[3]))
    if bbox[0] > bbox[2] or bbox[1] > bbox[3]:
        return store.query_alerts(Query(filters={"status": ()})), 0
    candidates = store.query_alerts(Query(bbox, query.start, query.end, rest))
    inside = candidates[candidates.intersects(area)]
    end = None if query.limit is None else query.offset + query.limit
    return inside.iloc[query.offset:end], len(inside)
