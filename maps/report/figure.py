"""The weekly report's map as a PNG (matplotlib): the province with the week's alerts as markers, and the
monitored area zoomed in with their polygons, over district boundaries and names, with legend and scale bars."""

from __future__ import annotations

import io
import math
import re
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from matplotlib import patheffects, rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.path import Path as MplPath

from geo.alerts import CONFIDENCE_LEVELS
from maps.styles import (
    CONFIDENCE_COLOURS,
    DEMO_AREA_COLOUR,
    DISTRICT_COLOUR,
    OLDER_ALERT_COLOUR,
    PROVINCE_COLOUR,
    UNLEVELLED_ALERT_COLOUR,
)

Bounds = tuple[float, float, float, float]  # west, south, east, north (lon/lat)

FONT = "DejaVu Sans"  # bundled with matplotlib, covers Vietnamese diacritics


def _polygon_path(geoms: Any) -> list[MplPath]:
    """Matplotlib paths of (multi)polygons, holes included (exteriors counter-clockwise, holes clockwise)."""
    paths = []
    for poly in shapely.get_parts(shapely.orient_polygons(np.asarray(geoms, dtype=object))):
        if poly is None or poly.is_empty or poly.geom_type != "Polygon":
            continue
        rings = [poly.exterior, *poly.interiors]
        paths.append(MplPath.make_compound_path(*[MplPath(np.asarray(r.coords)[:, :2], closed=True)
                                                  for r in rings]))
    return paths


def _boundary_lines(geoms: Any) -> LineCollection:
    lines = [np.asarray(ring.coords)[:, :2] for ring in shapely.get_parts(shapely.boundary(np.asarray(
        geoms, dtype=object))) if ring is not None and not ring.is_empty]
    return LineCollection(lines, colors=DISTRICT_COLOUR, linewidths=0.6, zorder=2)


def _short(name: str) -> str:
    """District label for the map: without 'Huyện', with 'TP.' for cities."""
    return re.sub(r"^Thành phố ", "TP. ", re.sub(r"^Huyện ", "", name))


def _scale_bar(ax: Any, bounds: Bounds, lat: float) -> None:
    """A round-length scale bar in the lower-left corner of a lon/lat panel."""
    west, south, east, north = bounds
    km_per_deg = 111.32 * math.cos(math.radians(lat))
    width_km = (east - west) * km_per_deg
    length = max((x for x in (0.5, 1, 2, 5, 10, 20, 50, 100) if x <= width_km / 4), default=0.5)
    x0, y0 = west + 0.04 * (east - west), south + 0.03 * (north - south)
    x1 = x0 + length / km_per_deg
    ax.plot([x0, x1], [y0, y0], color="#111", linewidth=2, solid_capstyle="butt", zorder=6)
    ax.text(x1 + 0.01 * (east - west), y0, f"{length:g} km", ha="left", va="center", fontsize=7, zorder=6,
            path_effects=[patheffects.withStroke(linewidth=2.5, foreground="white")])


def _panel(ax: Any, bounds: Bounds, title: str, units: gpd.GeoDataFrame, province: gpd.GeoDataFrame,
           week: gpd.GeoDataFrame, older: gpd.GeoDataFrame, demo_bounds: Bounds | None, polygons: bool,
           decimal: str) -> None:
    """One map panel: boundaries and names, monitored area, older alerts in grey, the week's by confidence."""
    west, south, east, north = bounds
    lat = (south + north) / 2
    frame = shapely.box(*bounds)
    ax.set_facecolor("#f8faf5")
    ax.add_collection(_boundary_lines(units.geometry.values))
    prov = _boundary_lines(province.geometry.values)
    prov.set(color=PROVINCE_COLOUR, linewidth=1.4)
    ax.add_collection(prov)
    halo = [patheffects.withStroke(linewidth=2.5, foreground="white")]
    for name, geom in zip(units["name"], units.geometry, strict=True):
        part = geom.intersection(frame)
        if part.is_empty or part.area < 0.003 * frame.area:
            continue
        pt = part.representative_point()
        ax.text(pt.x, pt.y, _short(name), ha="center", va="center", fontsize=7, color="#1f2937", zorder=5,
                path_effects=halo, clip_on=True)
    if demo_bounds is not None:
        w, s, e, n = demo_bounds
        ax.add_patch(Rectangle((w, s), e - w, n - s, fill=False, edgecolor=DEMO_AREA_COLOUR, linewidth=1.5,
                               linestyle="--", zorder=3))
    layers = [(older, OLDER_ALERT_COLOUR, 3)] + [
        (week[week["confidence"] == level], CONFIDENCE_COLOURS[level], 4 + i)
        for i, level in enumerate(CONFIDENCE_LEVELS)]
    layers.append((week[~week["confidence"].isin(CONFIDENCE_LEVELS)], UNLEVELLED_ALERT_COLOUR, 4))
    for gdf, colour, z in layers:
        if gdf.empty:
            continue
        if polygons:
            coll = PathCollection(_polygon_path(gdf.geometry.values), facecolor=colour, edgecolor=colour,
                                  linewidths=1.0, alpha=0.75, zorder=z)
            ax.add_collection(coll)
        else:  # alerts of a few hectares vanish at province scale: a marker each
            pts = gdf.geometry.representative_point()
            ax.scatter(pts.x, pts.y, s=18, color=colour, edgecolors="white", linewidths=0.4, zorder=z)
    ax.set_xlim(west, east)
    ax.set_ylim(south, north)
    ax.set_aspect(1 / math.cos(math.radians(lat)))
    ax.set_title(title, fontsize=9)
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:.2f}°E".replace(".", decimal))
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.2f}°N".replace(".", decimal))
    ax.tick_params(labelsize=6)
    ax.locator_params(nbins=4)
    _scale_bar(ax, bounds, lat)


def figure_png(units: gpd.GeoDataFrame, province: gpd.GeoDataFrame, week: gpd.GeoDataFrame,
               older: gpd.GeoDataFrame, demo_bounds: Bounds | None, synthetic: bool, t: dict) -> bytes:
    """The report's map as PNG: the province, and the monitored area zoomed in when given.

    ``week``: the week's alerts, drawn by confidence; ``older``: earlier alerts, in grey; ``t``: the texts.
    """
    units = units.assign(geometry=units.geometry.simplify(0.0005, preserve_topology=True))
    province = province.assign(geometry=province.geometry.simplify(0.0005, preserve_topology=True))
    west, south, east, north = province.total_bounds
    pad = 0.02 * max(east - west, north - south)
    province_bounds = (west - pad, south - pad, east + pad, north + pad)

    with rc_context({"font.family": FONT, "svg.fonttype": "none"}):
        fig = Figure(figsize=(10, 5.4) if demo_bounds else (7, 6), layout="constrained")
        FigureCanvasAgg(fig)
        if demo_bounds is not None:
            ax1, ax2 = fig.subplots(1, 2, width_ratios=[1.35, 1])
            w, s, e, n = demo_bounds
            pad = 0.06 * max(e - w, n - s)
            _panel(ax2, (w - pad, s - pad, e + pad, n + pad), t["demo_area"], units, province, week, older,
                   demo_bounds, True, t["decimal"])
        else:
            ax1 = fig.subplots()
        _panel(ax1, province_bounds, t["panel_province"], units, province, week, older, demo_bounds, False,
               t["decimal"])

        handles = [Line2D([], [], marker="s", linestyle="", markersize=8, color=CONFIDENCE_COLOURS[level],
                          label=t["legend_level"].format(level=t["levels"][level]))
                   for level in CONFIDENCE_LEVELS]
        handles.append(Line2D([], [], marker="s", linestyle="", markersize=8, color=OLDER_ALERT_COLOUR,
                              label=t["older"]))
        handles.append(Line2D([], [], color=DISTRICT_COLOUR, linewidth=0.8, label=t["districts"]))
        if demo_bounds is not None:
            handles.append(Patch(fill=False, edgecolor=DEMO_AREA_COLOUR, linestyle="--", label=t["demo_area"]))
        fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=7.5,
                   frameon=False)
        if synthetic:
            fig.suptitle(t["synthetic_short"], color="#c2410c", fontsize=10, fontweight="bold")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=150, metadata={"Software": None})  # no URL in the PNG either
    return buf.getvalue()
