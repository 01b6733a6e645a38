// The map: our imagery mosaic as basemap, admin boundaries and alerts as our own vector tiles (MapLibre GL JS).
import * as maplibregl from "/static/vendor/maplibre-gl/maplibre-gl.mjs";
import { authHeaders } from "./api.js";
import { t } from "./i18n.js";

export const STATUS_COLOURS = {
  new: "#e31a1c", assigned: "#ff7f00", in_field: "#6a3d9a", confirmed: "#8b0000", dismissed: "#9e9e9e",
};
const CONFIDENCE_OPACITY = ["match", ["get", "confidence"], "highest", 0.85, "high", 0.65, 0.4];
const ALERT_TILES = "/ogc/collections/alerts/tiles/WebMercatorQuad";
const ADMIN_TILES = "/ogc/collections/admin_2024/tiles/WebMercatorQuad";
const IMAGERY_TILES = "/imagery/latest/truecolor/tiles/WebMercatorQuad";
const IMAGERY_TILEJSON = "/imagery/latest/truecolor/tilejson.json";

async function tilejson(url) {
  try {
    const r = await fetch(url, { headers: authHeaders() });
    return r.ok ? await r.json() : null;
  } catch {
    return null;
  }
}

function absolute(path) { return location.origin + path; }  // keeps the {z}/{x}/{y} slots unescaped

/** Build the map in ``container``; ``onClick(lngLat)`` is called when the map is clicked on an alert. */
export async function createMap(container, onClick) {
  const [alerts, imagery] = await Promise.all([tilejson(`${ALERT_TILES}/tilejson.json`),
                                               tilejson(IMAGERY_TILEJSON)]);
  const style = { version: 8, sources: {}, layers: [{ id: "bg", type: "background", paint: { "background-color": "#dfe7dc" } }] };
  if (imagery) {  // only when a scene has been ingested: otherwise every basemap tile would be a 404
    style.sources.imagery = { type: "raster", tiles: [absolute(`${IMAGERY_TILES}/{z}/{x}/{y}.png`)], tileSize: 256,
                              minzoom: imagery.minzoom ?? 0, maxzoom: imagery.maxzoom ?? 16,
                              ...(imagery.bounds ? { bounds: imagery.bounds } : {}) };  // no requests outside it
    style.layers.push({ id: "imagery", type: "raster", source: "imagery" });
  }
  style.sources.admin = { type: "vector", tiles: [absolute(`${ADMIN_TILES}/{z}/{x}/{y}`)], maxzoom: 14 };
  style.layers.push({ id: "admin-line", type: "line", source: "admin", "source-layer": "admin_2024",
                      paint: { "line-color": "#1f4e79", "line-width": 1.2, "line-dasharray": [3, 2] } });
  style.sources.alerts = { type: "vector", tiles: [absolute(`${ALERT_TILES}/{z}/{x}/{y}`)], maxzoom: 16 };
  const colour = ["match", ["get", "status"], ...Object.entries(STATUS_COLOURS).flat(), "#e31a1c"];
  style.layers.push({ id: "alerts-fill", type: "fill", source: "alerts", "source-layer": "alerts",
                      paint: { "fill-color": colour, "fill-opacity": CONFIDENCE_OPACITY } });
  style.layers.push({ id: "alerts-line", type: "line", source: "alerts", "source-layer": "alerts",
                      paint: { "line-color": colour, "line-width": 1.5 } });
  style.sources.selected = { type: "geojson", data: { type: "FeatureCollection", features: [] } };
  style.layers.push({ id: "selected", type: "line", source: "selected",
                      paint: { "line-color": "#00e5ff", "line-width": 4 } });

  const bounds = alerts && alerts.bounds;
  const map = new maplibregl.Map({
    container, style, attributionControl: false,
    bounds: bounds ? [[bounds[0], bounds[1]], [bounds[2], bounds[3]]] : undefined,
    center: bounds ? undefined : [108.0, 11.8], zoom: bounds ? undefined : 8,
    hash: "map",  // the view in the link (#map=zoom/lat/lon&…): a shared link opens the same place
    // Tiles need the token too when public reads are off: add it to our own requests only.
    transformRequest: (url) => (new URL(url).origin === location.origin ? { url, headers: authHeaders() } : { url }),
  });
  window.forestmonMap = map;  // for the browser console and the scale benchmark
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
  map.on("click", (e) => {
    const hit = map.queryRenderedFeatures(e.point, { layers: ["alerts-fill"] });
    if (hit.length) onClick(e.lngLat);
  });
  map.on("mouseenter", "alerts-fill", () => { map.getCanvas().style.cursor = "pointer"; });
  map.on("mouseleave", "alerts-fill", () => { map.getCanvas().style.cursor = ""; });
  return map;
}

/** Highlight one alert (a GeoJSON feature, or null to clear) and bring it into view. */
export function select(map, feature) {
  const data = { type: "FeatureCollection", features: feature ? [feature] : [] };
  const apply = () => map.getSource("selected").setData(data);
  map.isStyleLoaded() ? apply() : map.once("load", apply);
  if (feature) map.fitBounds(bbox(feature.geometry), { padding: 60, maxZoom: 15, duration: 0 });
}

/** Re-read the alert tiles (after a review step changed a status). */
export function refreshAlerts(map) {
  const source = map.getSource("alerts");
  if (source) source.setTiles([absolute(`${ALERT_TILES}/{z}/{x}/{y}`)]);  // drops cached tiles and fetches again
}

export function bbox(geometry) {
  let minx = 180, miny = 90, maxx = -180, maxy = -90;
  const walk = (c) => {
    if (typeof c[0] === "number") {
      minx = Math.min(minx, c[0]); maxx = Math.max(maxx, c[0]); miny = Math.min(miny, c[1]); maxy = Math.max(maxy, c[1]);
    } else c.forEach(walk);
  };
  walk(geometry.coordinates);
  return [[minx, miny], [maxx, maxy]];
}

/** The legend's body: status colours, confidence as opacity (a <details>, folded on a phone). */
export function legend(element) {
  element.replaceChildren();
  for (const [status, colour] of Object.entries(STATUS_COLOURS)) {
    const row = document.createElement("div");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = colour;
    row.append(swatch, document.createTextNode(t(`status.${status}`)));
    element.append(row);
  }
  const note = document.createElement("div");
  note.className = "legend-note";
  note.textContent = `${t("confidence")}: ${t("confidence.low")} → ${t("confidence.highest")} = ▢ → ■`;
  element.append(note);
}
