"""The rangers' web map: province, districts, demo area, imagery and alerts on one offline Leaflet page."""

from __future__ import annotations

import math
import re
from datetime import date
from html import escape
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import shapely
from branca.element import Element, Figure
from jinja2 import Template

from geo.alerts import CONFIDENCE_LEVELS
from geo.region import Region
from maps.assets import localize
from maps.strings import page_strings
from maps.styles import (
    CONFIDENCE_COLOURS,
    DEMO_AREA_COLOUR,
    DISTRICT_STYLE,
    OTHER_COLOUR,
    PROVINCE_STYLE,
    alert_style,
    zone_style,
)

Bounds = tuple[float, float, float, float]  # west, south, east, north (lon/lat)

# CSS class of every alert's SVG path: lets tests and scripts count the alerts drawn.
ALERT_CLASS = "forestmon-alert"

STRINGS = page_strings("map")
_FOLIUM_SWITCHES = re.compile(r"<script>(\s*L_NO_TOUCH = )")

_POPUP_FIELDS = ("date", "area", "confidence", "district", "status", "id")

_CSS = """
<style>
  body { font-family: "DejaVu Sans", "Noto Sans", Arial, sans-serif; }
  body .leaflet-container { background: #f3f4ef; font-family: inherit; }
  body .leaflet-top { top: 44px; }  /* controls below the title bar; body: outrank leaflet.css */
  .forestmon-titlebar { position: absolute; top: 0; left: 0; right: 0; height: 44px; z-index: 1001;
    display: flex; align-items: center; gap: 12px; padding: 0 14px; box-sizing: border-box;
    background: #14532d; color: #fff; font-size: 17px; box-shadow: 0 1px 4px rgba(0,0,0,.3); }
  .forestmon-titlebar .count { margin-left: auto; font-size: 14px; opacity: .9; }
  .forestmon-synthetic { background: #f97316; color: #000; font-weight: bold; font-size: 14px;
    padding: 3px 10px; border-radius: 4px; }
  .forestmon-legend { position: absolute; right: 10px; bottom: 24px; z-index: 1001; background: #fff;
    padding: 8px 10px; border-radius: 4px; box-shadow: 0 1px 5px rgba(0,0,0,.4); font-size: 13px; }
  .forestmon-legend b { display: block; margin-bottom: 4px; }
  .forestmon-legend i { display: inline-block; width: 14px; height: 14px; margin-right: 6px;
    vertical-align: -2px; opacity: .8; }
  .foliumpopup th { text-align: left; padding-right: 8px; white-space: nowrap; }
</style>
"""


class _Page(Figure):
    """A branca Figure that writes ``<html lang>`` and ``<meta charset>`` (branca's own writes neither)."""

    _template = Template(
        "<!DOCTYPE html>\n"
        '<html lang="{{ this.lang }}">\n'
        "<head>\n"
        '<meta charset="utf-8">\n'
        "<title>{{ this.title }}</title>\n"
        '<link rel="icon" href="data:,">\n'  # no favicon request
        "{{ this.header.render(**kwargs) }}\n"
        "</head>\n<body>\n{{ this.html.render(**kwargs) }}\n</body>\n"
        '<script{% if this.nonce %} nonce="{{ this.nonce }}"{% endif %}>\n'
        "{{ this.script.render(**kwargs) }}\n</script>\n"
        "</html>\n"
    )

    def __init__(self, lang: str, title: str, nonce: str | None = None):
        super().__init__(title=escape(title))
        self.lang, self.nonce = lang, nonce
        del self.header._children["meta_http"]  # replaced by <meta charset>


class _UrlImageOverlay(folium.raster_layers.ImageOverlay):
    """ImageOverlay that takes its URL as given (folium would read a relative URL as a local file)."""

    def __init__(self, url: str, bounds: list[list[float]], **kwargs: Any):
        super().__init__("data:,", bounds, **kwargs)
        self.url = url


def _rounded(geoms: Any, decimals: int) -> Any:
    """Geometries with coordinates rounded, so the page carries no 17-digit floats."""
    return shapely.transform(geoms, lambda xy: np.round(xy, decimals))


def _light(gdf: gpd.GeoDataFrame, tolerance: float = 0.0005) -> dict:
    """Boundaries simplified (~50 m) and rounded (~1 m) as GeoJSON: light enough for a phone in the field."""
    geoms = gdf.geometry.simplify(tolerance, preserve_topology=True).values
    out = gpd.GeoDataFrame({"name": gdf["name"].map(lambda s: escape(str(s)))},
                           geometry=_rounded(geoms, 5), crs=4326)
    return out.__geo_interface__


def _number(value: Any, decimal: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{float(value):.2f}".replace(".", decimal)


def _day(value: Any, lang: str) -> str:
    """ISO date shown as dd/mm/yyyy in Vietnamese (the local convention), ISO in English."""
    text = "" if value is None else str(value)[:10]
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return escape(text)
    return day.strftime("%d/%m/%Y") if lang == "vi" else day.isoformat()


def _alert_features(alerts: gpd.GeoDataFrame | None, lang: str) -> dict:
    """Alerts as GeoJSON whose properties are the popup's ready-made, HTML-escaped strings."""
    features: list[dict] = []
    if alerts is None or alerts.empty:
        return {"type": "FeatureCollection", "features": features}
    if alerts.crs is not None and alerts.crs.to_epsg() != 4326:
        alerts = alerts.to_crs(4326)
    t = STRINGS[lang]
    geoms = _rounded(alerts.geometry.values, 6)
    for (_, row), geom in zip(alerts.iterrows(), geoms, strict=True):
        confidence = str(row.get("confidence", ""))
        status = str(row.get("status", "") or "")
        props = {
            "confidence_code": confidence,
            "id": escape(str(row.get("id", ""))),
            "date": _day(row.get("first_detected"), lang),
            "area": _number(row.get("area_ha"), t["decimal"]),
            "confidence": escape(t["levels"].get(confidence, confidence)),
            "district": escape(str(row.get("district", "") or "")),
            "status": escape(t["statuses"].get(status, status)),
        }
        features.append({"type": "Feature", "properties": props, "geometry": shapely.geometry.mapping(geom)})
    return {"type": "FeatureCollection", "features": features}


def _alert_style(feature: dict) -> dict:
    return {**alert_style(feature.get("properties", {}).get("confidence_code")), "className": ALERT_CLASS}


ZONES_PER_VIEW = 2000  # planning zones fetched for one view of the map: the page never embeds zones

_ZONES_JS = Template("""
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = L.geoJSON(null, {
  style: function (f) {
    var style = Object.assign({}, {{ this.style|tojson }});
    style.color = style.fillColor = (f.properties && f.properties.colour) || style.color;
    return style;
  },
  onEachFeature: function (f, layer) {  // text, never HTML: zone types come from uploaded files
    var label = document.createElement("span");
    label.textContent = (f.properties && f.properties.zone_type) || "";
    layer.bindTooltip(label, {sticky: true});
  }
});
(function (layer, url, limit) {
  var map = null, pending = null;
  function load() {
    if (!map) return;
    var b = map.getBounds();
    var bbox = [Math.max(b.getWest(), -180), Math.max(b.getSouth(), -90), Math.min(b.getEast(), 180),
                Math.min(b.getNorth(), 90)].map(function (v) { return v.toFixed(5); }).join(",");
    if (pending) pending.abort();
    pending = new AbortController();
    fetch(url + "?f=json&limit=" + limit + "&bbox=" + bbox,
          {signal: pending.signal, headers: {Accept: "application/geo+json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data && map) { layer.clearLayers(); layer.addData(data); } })
      .catch(function () {});
  }
  layer.on("add", function () { map = layer._map; map.on("moveend", load); load(); });
  layer.on("remove", function () { if (map) map.off("moveend", load); map = null; });
})({{ this.get_name() }}, {{ this.url|tojson }}, {{ this.limit }});
{% endmacro %}
""")


class _ZonesByView(folium.map.Layer):
    """A planning layer whose zones the browser fetches from our OGC items URL for the current view (bbox, at
    most ``ZONES_PER_VIEW``), so the page's size does not grow with the number of zones."""

    _template = _ZONES_JS

    def __init__(self, url: str, name: str, show: bool = False):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "ZonesByView"
        self.url, self.limit, self.style = url, ZONES_PER_VIEW, zone_style(OTHER_COLOUR)


def _overlays_html(t: dict, region_title: str, n_alerts: int, synthetic: bool) -> str:
    """Title bar (with the synthetic-data badge) and the confidence legend."""
    badge = f'<span class="forestmon-synthetic">{escape(t["synthetic"])}</span>' if synthetic else ""
    rows = "".join(
        f'<div><i style="background:{CONFIDENCE_COLOURS[c]}"></i>{escape(t["levels"][c])}</div>'
        for c in CONFIDENCE_LEVELS
    )
    return (
        f'<div class="forestmon-titlebar"><span>{escape(t["title"])} · {escape(region_title)}</span>{badge}'
        f'<span class="count">{escape(t["n_alerts"][n_alerts != 1].format(n=n_alerts))}</span></div>\n'
        f'<div class="forestmon-legend"><b>{escape(t["confidence"])}</b>{rows}</div>\n'
    )


def build_map(
    region: Region,
    alerts: gpd.GeoDataFrame | None,
    *,
    demo_bounds: Bounds | None = None,
    image: tuple[str, Bounds] | None = None,
    lang: str = "vi",
    static_url: str = "/static",
    synthetic: bool = False,
    planning: list[tuple[str, str]] | None = None,
    imagery_tiles: dict[str, str] | None = None,
    nonce: str | None = None,
    imagery_zooms: tuple[int, int] = (0, 16),
) -> str:
    """The full HTML page of the rangers' map; every script and style it loads is under ``static_url``.

    ``planning``: (title, OGC items URL) per planning layer, whose features carry ``zone_type`` and ``colour``;
    fetched per view, drawn under the alerts, styled per zone type, off until switched on in the layer control.
    ``imagery_tiles``: layer name (``truecolor``, ``falsecolor``, ``ndvi``, ``change``) → XYZ URL template, also
    off until switched on, requested only within ``imagery_zooms`` (the zooms the server renders).
    ``nonce``: the content security policy's script nonce, carried by the page's two inline scripts.
    """
    if lang not in STRINGS:
        raise ValueError(f"unknown language {lang!r}; choose from {', '.join(STRINGS)}")
    t = STRINGS[lang]
    west, south, east, north = demo_bounds if demo_bounds else region.province().total_bounds

    m = folium.Map(location=[(south + north) / 2, (west + east) / 2], zoom_start=10, tiles=None,
                   control_scale=True)
    # Panes keep the drawing order fixed whatever layers are toggled: image < boundaries < alerts.
    folium.map.CustomPane("imagery", z_index=350).add_to(m)
    folium.map.CustomPane("alerts", z_index=450, pointer_events=True).add_to(m)

    if image is not None:
        url, (iw, i_s, ie, i_n) = image
        _UrlImageOverlay(url, [[i_s, iw], [i_n, ie]], name=t["image"], pane="imagery",
                         pixelated=False).add_to(m)

    for layer, url in (imagery_tiles or {}).items():
        folium.TileLayer(url, attr="Sentinel-2 / forestmon", name=t["tiles"][layer], overlay=True, show=False,
                         pane="imagery", min_zoom=imagery_zooms[0], max_native_zoom=imagery_zooms[1],
                         max_zoom=19).add_to(m)

    folium.GeoJson(
        _light(region.province()), name=t["province"], interactive=False,
        style_function=lambda _: PROVINCE_STYLE,
    ).add_to(m)
    folium.GeoJson(
        _light(region.units()), name=t["districts"],
        style_function=lambda _: DISTRICT_STYLE,
        tooltip=folium.GeoJsonTooltip(fields=["name"], labels=False, sticky=True),
    ).add_to(m)

    if demo_bounds is not None:
        group = folium.FeatureGroup(name=t["demo_area"]).add_to(m)
        folium.Rectangle([[south, west], [north, east]], color=DEMO_AREA_COLOUR, weight=2, dash_array="6 4",
                         fill=False, tooltip=t["demo_area"]).add_to(group)

    for title, url in planning or []:
        _ZonesByView(url, name=escape(title)).add_to(m)

    data = _alert_features(alerts, lang)
    n = len(data["features"])
    popup = None
    if n:  # folium's popup reads its field names from the first feature
        popup = folium.GeoJsonPopup(fields=list(_POPUP_FIELDS), aliases=[t[f] for f in _POPUP_FIELDS],
                                    localize=False)
    folium.GeoJson(data, name=f"{t['alerts']} ({n})", pane="alerts", style_function=_alert_style,
                   popup=popup).add_to(m)

    folium.LayerControl(collapsed=False).add_to(m)
    m.fit_bounds([[south, west], [north, east]], padding_top_left=(10, 54), padding_bottom_right=(10, 10))

    page = _Page(lang, f"{t['title']} · {region.title}", nonce)
    page.add_child(m)
    page.header.add_child(Element(_CSS), name="forestmon_css")
    page.html.add_child(Element(_overlays_html(t, region.title, n, synthetic)), name="forestmon_overlays")
    localize(m, static_url)
    html = page.render()
    if nonce:  # folium's own inline script in <head>, before any data: the global switches Leaflet reads
        html = _FOLIUM_SWITCHES.sub(f'<script nonce="{nonce}">\\1', html, count=1)
    return html
