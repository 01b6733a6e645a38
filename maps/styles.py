"""Colours and styles of everything drawn on the web map, the planning layers' tiles and the report's figure:
alerts by confidence, boundaries, the monitored area, planning zones by zone type, and the zone-type legend."""

from __future__ import annotations

from collections.abc import Iterable

from geo.workflow.planning import find_zone_type, zone_class, zone_types

# Alerts, by confidence level (geo.alerts.CONFIDENCE_LEVELS).
CONFIDENCE_COLOURS = {"low": "#f59e0b", "high": "#dc2626", "highest": "#6b21a8"}
UNKNOWN_CONFIDENCE_COLOUR = "#6b7280"  # web map: an alert whose confidence is none of the levels
OLDER_ALERT_COLOUR = "#9ca3af"         # report: alerts of earlier weeks, and the swatch of an unknown level
UNLEVELLED_ALERT_COLOUR = "#111827"    # report figure: the week's alerts whose confidence is none of the levels

# Boundaries and the monitored (demo) area.
PROVINCE_COLOUR = "#14532d"
DISTRICT_COLOUR = "#4b5563"
DEMO_AREA_COLOUR = "#2563eb"
PROVINCE_STYLE = {"color": PROVINCE_COLOUR, "weight": 2.5, "fill": False}
DISTRICT_STYLE = {"color": DISTRICT_COLOUR, "weight": 1, "dashArray": "4 3", "fillOpacity": 0}

# Planning zones whose type is not in the zone-type table, by the class they get (geo.workflow.planning).
FOREST_COLOUR = "#388e3c"  # keep_forest: zones of a forest layer kind
OTHER_COLOUR = "#bdbdbd"


def alert_style(confidence: str | None) -> dict:
    """Leaflet style of an alert polygon of this confidence level."""
    colour = CONFIDENCE_COLOURS.get(confidence, UNKNOWN_CONFIDENCE_COLOUR)
    return {"color": colour, "fillColor": colour, "weight": 1.5, "fillOpacity": 0.6}


def zone_colour(zone_type: str | None, kind: str) -> str:
    """Map colour of a zone type within a planning layer of ``kind``: the zone-type table's, else its class's."""
    known = find_zone_type(zone_type)
    if known is not None:
        return known.colour
    return FOREST_COLOUR if zone_class(zone_type, kind) == "keep_forest" else OTHER_COLOUR


def zone_colours(types: Iterable[str | None], kind: str) -> dict[str, str]:
    """Colour per zone type of a layer of ``kind``, keyed by the type as written ("" for zones without one)."""
    return {t or "": zone_colour(t, kind) for t in [*types, None]}


def zone_style(colour: str) -> dict:
    """Leaflet/MapLibre style of a planning zone drawn in ``colour``: fill and outline."""
    return {"color": colour, "fillColor": colour, "weight": 1, "fillOpacity": 0.35}


def legend() -> list[dict]:
    """The zone types with their class and colour, for map legends and collection metadata."""
    return [{"code": t.code, "vi": t.vi, "en": t.en, "class": t.zone_class, "colour": t.colour}
            for t in zone_types().values()]
