"""What changed between two versions of a plan: the land whose zone type changed, zones added (land the older
version did not zone) and removed (land the newer version no longer zones), as polygons and as a table of
hectares per change of type. Areas from a projected CRS (UTM 48N); names in Vietnamese or English.
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd

from geo.workflow.planning import label, query_zones, zone_type_name

DIFF_COLUMNS = ["change", "change_name", "from_type", "from_type_name", "from_name", "to_type", "to_type_name",
                "to_name", "ha"]
TABLE_COLUMNS = ["change", "change_name", "from_type", "from_type_name", "to_type", "to_type_name", "pieces", "ha"]
MIN_HA = 1e-4  # pieces under a square metre are slivers of re-drawn shared edges, not changes


def _side(store, layer_id: str) -> gpd.GeoDataFrame:
    zones = query_zones(store, layer_id)
    return gpd.GeoDataFrame({"index": zones["feature_index"].astype("int64"), "type": zones["zone_type"],
                             "name": zones["zone_name"]}, geometry=zones.geometry.values, crs=zones.crs)


def diff_versions(store, before: dict, after: dict, *, area_crs: str = "EPSG:32648",
                  lang: str = "vi") -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """The changes from layer version ``before`` to ``after`` (records of ``store.planning_layers()``): one polygon
    per changed piece (EPSG:4326) and the hectares per (change, from type, to type), largest first."""
    # Cut in the stored CRS (EPSG:4326), where both versions' shared edges coincide exactly; measured in area_crs.
    a, b = _side(store, before["id"]), _side(store, after["id"])
    pieces = gpd.overlay(a, b, how="union", keep_geom_type=True)
    ha = pieces.geometry.to_crs(area_crs).area / 10000.0
    old, new = pieces["index_1"].notna(), pieces["index_2"].notna()
    same = old & new & (pieces["type_1"].fillna("") == pieces["type_2"].fillna(""))
    change = pd.Series("changed", index=pieces.index).where(old & new, None)
    change = change.where(old, "added").where(new, "removed")
    keep = ~same & (ha > MIN_HA)
    pieces, change, ha = pieces[keep], change[keep], ha[keep]
    def names(types, present):
        return [zone_type_name(t, lang) if p else None for t, p in zip(types, present, strict=True)]

    out = gpd.GeoDataFrame({
        "change": change.values, "change_name": [label(c, lang) for c in change],
        "from_type": pieces["type_1"].values, "from_type_name": names(pieces["type_1"], old[keep]),
        "from_name": pieces["name_1"].values,
        "to_type": pieces["type_2"].values, "to_type_name": names(pieces["type_2"], new[keep]),
        "to_name": pieces["name_2"].values, "ha": ha.values,
    }, geometry=pieces.geometry.values, crs=pieces.crs)
    out = out.astype({c: object for c in ("from_type", "from_name", "to_type", "to_name")})
    out = out.where(out.notna(), None).set_geometry("geometry")
    table = (pd.DataFrame(out.drop(columns="geometry")).fillna({"from_type": "", "to_type": ""})
             .groupby(["change", "from_type", "to_type"], as_index=False, dropna=False)
             .agg(change_name=("change_name", "first"), from_type_name=("from_type_name", "first"),
                  to_type_name=("to_type_name", "first"), pieces=("ha", "size"), ha=("ha", "sum")))
    table = table.sort_values("ha", ascending=False).reset_index(drop=True)[TABLE_COLUMNS]
    return out[[*DIFF_COLUMNS, "geometry"]].reset_index(drop=True), table
