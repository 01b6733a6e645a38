"""Exports of alerts, cases and planting lots as GeoPackage, GeoJSON, CSV, KML and GPX (rangers' GPS units),
in WGS 84 or in the official VN-2000 TM-3 zones (EPSG:5899, 9218) through the 7-parameter EPSG:6960 operation.
"""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely
from pyproj.transformer import TransformerGroup

from geo.errors import ConfigError, InvalidInputError
from geo.query import Query
from geo.store import Store
from geo.workflow import cases as case_register
from geo.workflow.places import select_alerts
from geo.workflow.replanting import lots_with_state

FORMATS = {  # name -> (GDAL driver, media type, file suffix)
    "gpkg": ("GPKG", "application/geopackage+sqlite3", ".gpkg"),
    "geojson": ("GeoJSON", "application/geo+json", ".geojson"),
    "csv": ("CSV", "text/csv", ".csv"),
    "kml": ("KML", "application/vnd.google-earth.kml+xml", ".kml"),
    "gpx": ("GPX", "application/gpx+xml", ".gpx"),
}
LAYERS = ("alerts", "cases", "planting_lots")
VN2000_EPSG = (5899, 9218)
VN2000_OPERATION = "VN-2000 to WGS 84 (2)"  # EPSG:6960, the official 7-parameter transformation


def to_vn2000(frame: gpd.GeoDataFrame, epsg: int) -> gpd.GeoDataFrame:
    """Reproject WGS 84 geometries to a VN-2000 TM-3 zone with EPSG:6960, never a ballpark."""
    if epsg not in VN2000_EPSG:
        raise InvalidInputError(f"crs: {epsg} is not an official VN-2000 zone ({', '.join(map(str, VN2000_EPSG))})")
    group = TransformerGroup(4326, epsg, always_xy=True)
    chosen = [t for t in group.transformers if VN2000_OPERATION in t.description]
    if not chosen:
        raise ConfigError(f"PROJ has no '{VN2000_OPERATION}' (EPSG:6960) operation to EPSG:{epsg}")
    transformer = chosen[0]
    out = frame.copy()
    out.geometry = [None if g is None else shapely.transform(g, lambda xy: _apply(transformer, xy))
                    for g in frame.geometry]
    return out.set_crs(epsg, allow_override=True)


def _apply(transformer, xy):
    import numpy as np

    x, y = transformer.transform(xy[:, 0], xy[:, 1], errcheck=True)
    return np.column_stack([x, y])


def layer(store: Store, name: str, year: int | None = None, selection: Query | None = None,
          names: dict[str, str] | None = None) -> gpd.GeoDataFrame:
    """One exportable layer in EPSG:4326: alerts (those ``selection`` picks, all by default; columns shown under
    ``names``, the region's ``coordinate_names``), cases (geometry: the union of their alerts) or planting lots."""
    if name == "alerts":
        return select_alerts(store, selection or Query())[0].rename(columns=names or {})
    if selection is not None and selection != Query():
        raise InvalidInputError(f"layer: {name} takes no alert filters (bbox, datetime, status...); only year")
    if name == "planting_lots":  # with each lot's status, green share and loss alerts today
        return lots_with_state(store, date.today(), year)
    if name == "cases":
        rows = case_register.list_cases(store, year)
        alerts = store.query_alerts()
        geoms = []
        for row in rows:
            mine = alerts[alerts["case_id"] == row["id"]]
            geoms.append(shapely.unary_union(list(mine.geometry)) if len(mine) else None)
        # The columns are named even when there are no cases, so every format writes an empty but typed layer.
        return gpd.GeoDataFrame(pd.DataFrame(rows, columns=list(case_register.FIELDS)),
                                geometry=gpd.GeoSeries(geoms, crs=4326))
    raise InvalidInputError(f"layer: {name!r} is not one of {', '.join(LAYERS)}")


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _spreadsheet_text(value):
    """A text cell a spreadsheet would read as a formula (starting with = + - @, tab or CR) behind a single quote
    (OWASP's CSV injection advice); plain numbers such as ``-3.5`` and non-text values stay as they are."""
    if not isinstance(value, str) or not value.startswith(FORMULA_START):
        return value
    try:
        float(value)
        return value
    except ValueError:
        return "'" + value


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with every text cell neutralised by ``_spreadsheet_text``: what every CSV we write goes through."""
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_object_dtype(out[column]) or pd.api.types.is_string_dtype(out[column]):  # text
            out[column] = out[column].map(_spreadsheet_text)
    return out


def _gpx_points(frame: gpd.GeoDataFrame, name_col: str) -> gpd.GeoDataFrame:
    """GPS units take waypoints: one per feature, at a point inside it, named by id with a short description."""
    described = [
        "; ".join(f"{k}={v}" for k, v in row.items() if k in ("area_ha", "confidence", "status", "district",
                                                             "first_detected", "planted", "species", "opened",
                                                             "violation_type") and v is not None and v == v)
        for row in frame.drop(columns="geometry").to_dict("records")]
    points = [None if g is None or g.is_empty else g.representative_point() for g in frame.geometry]
    out = gpd.GeoDataFrame({"name": frame[name_col].astype(str), "desc": described},
                           geometry=gpd.GeoSeries(points, crs=4326))
    return out[out.geometry.notna()]


def export(frame: gpd.GeoDataFrame, fmt: str, layer_name: str, epsg: int = 4326) -> bytes:
    """The layer written in ``fmt`` (see FORMATS) in EPSG ``epsg``; KML and GPX are WGS 84 by definition."""
    if fmt not in FORMATS:
        raise InvalidInputError(f"format: {fmt!r} is not one of {', '.join(FORMATS)}")
    if fmt in ("kml", "gpx") and epsg != 4326:
        raise InvalidInputError(f"crs: {fmt.upper()} is always WGS 84 (4326); VN-2000 goes to gpkg, geojson or csv")
    driver, _, suffix = FORMATS[fmt]
    frame = frame.copy()
    name_col = {"alerts": "id", "cases": "number", "planting_lots": "lot_id"}[layer_name]
    options: dict = {}
    if fmt == "gpx":
        frame = _gpx_points(frame, name_col)
        layer_options = {"layer": "waypoints"}
    else:
        if epsg != 4326:
            frame = to_vn2000(frame, epsg)
        if fmt == "kml":
            frame = frame.rename(columns={name_col: "Name"})
        if fmt == "csv":
            frame = spreadsheet_safe(frame)
            options["GEOMETRY"] = "AS_WKT"
        layer_options = {"layer": layer_name}
    if fmt == "gpkg" and layer_name != "cases":
        options["promote_to_multi"] = True
    if not len(frame) or frame.geometry.isna().all():
        options["geometry_type"] = "Point" if fmt == "gpx" else "Unknown"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{layer_name}{suffix}"
        pyogrio.write_dataframe(frame, path, driver=driver, **layer_options, **options)
        return path.read_bytes()
