"""Map colours of planning zones: the zone-type table's, else their class's; read once per data version for tiles."""

from __future__ import annotations

import geopandas as gpd

from api.collections import _layer_colours
from maps.styles import FOREST_COLOUR, OTHER_COLOUR, zone_colour, zone_colours, zone_style


def test_zone_colour_from_the_table_else_from_the_class() -> None:
    assert zone_colour("Rừng phòng hộ", "zoning") == zone_colour("RPH", "landuse_plan") == "#2e7d32"
    assert zone_colour("unknown", "forest_category") == zone_colour(None, "protected_area") == FOREST_COLOUR
    assert zone_colour("unknown", "zoning") == zone_colour(None, "landuse_plan") == OTHER_COLOUR
    assert zone_colours(["ODT", None, "x"], "zoning") == {"ODT": "#c62828", "": OTHER_COLOUR, "x": OTHER_COLOUR}
    assert zone_style("#123456") == {"color": "#123456", "fillColor": "#123456", "weight": 1, "fillOpacity": 0.35}


class _Store:
    """Just what _layer_colours asks of a store: its data version and a layer's zones."""

    def __init__(self) -> None:
        self.version, self.types, self.reads = 1, ["RPH"], 0

    def data_version(self) -> int:
        return self.version

    def query_zones(self, layer_id: str) -> gpd.GeoDataFrame:
        self.reads += 1
        return gpd.GeoDataFrame({"zone_type": self.types}, geometry=[None] * len(self.types))


def test_layer_colours_are_read_once_per_data_version() -> None:
    store, layer = _Store(), {"id": "plan-20240101", "kind": "zoning"}
    assert _layer_colours(store, layer) == {"RPH": "#2e7d32", "": OTHER_COLOUR}
    assert _layer_colours(store, layer) == {"RPH": "#2e7d32", "": OTHER_COLOUR} and store.reads == 1
    store.version, store.types = 2, ["RPH", "ODT"]  # the layer was imported again
    assert _layer_colours(store, layer) == {"RPH": "#2e7d32", "ODT": "#c62828", "": OTHER_COLOUR}
    assert store.reads == 2
