"""Map colours of planning zones: the zone-type table's, else their class's."""

from __future__ import annotations

from maps.styles import FOREST_COLOUR, OTHER_COLOUR, zone_colour, zone_colours, zone_style


def test_zone_colour_from_the_table_else_from_the_class() -> None:
    assert zone_colour("Rừng phòng hộ", "zoning") == zone_colour("RPH", "landuse_plan") == "#2e7d32"
    assert zone_colour("unknown", "forest_category") == zone_colour(None, "protected_area") == FOREST_COLOUR
    assert zone_colour("unknown", "zoning") == zone_colour(None, "landuse_plan") == OTHER_COLOUR
    assert zone_colours(["ODT", None, "x"], "zoning") == {"ODT": "#c62828", "": OTHER_COLOUR, "x": OTHER_COLOUR}
    assert zone_style("#123456") == {"color": "#123456", "fillColor": "#123456", "weight": 1, "fillOpacity": 0.35}
