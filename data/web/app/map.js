// The map: our imagery mosaic as basemap, admin boundaries and alerts as our own vector tiles (MapLibre GL JS).
import * as maplibregl from "/static/vendor/maplibre-gl/maplibre-gl.mjs";
import { authHeaders } from "./api.js";
import { currentLang, t } from "./i18n.js";

export const STATUS_COLOURS = {
  new: "#e31a1c", assigned: "#ff7f00", in_field: "#6a3d9a", confirmed: "#8b0000", dismissed: "#9e9e9e",
};
const CONFIDENCE_OPACITY = ["match", ["get", "confidence"], "highest", 0.85, "high", 0.65, 0.4];
const ALERT_TILES = "/ogc/collections/alerts/tiles/WebMercatorQuad";
export const IMAGERY_LAYERS = ["truecolor", "falsecolor", "ndvi", "change"];
const imageryTiles = (layer) => absolute(`/imagery/latest/${layer}/tiles/WebMercatorQuad/{z}/{x}/{y}.png`);
const vectorTiles = (id) => absolute(`/ogc/collections/${encodeURIComponent(id)}/tiles/WebMercatorQuad/{z}/{x}/{y}`);

/** The one map layer of a planning collection (id "plan:<collection id>"): its zones filled in their type's colour,
 * outlined, under the alerts. The layers box and the planners' workspace both switch it. */
const planSource = (c) => ({ type: "vector", tiles: [vectorTiles(c.id)], maxzoom: 16 });
const planLayer = (c, visible) => ({
  id: `plan:${c.id}`, type: "fill", source: `plan:${c.id}`, "source-layer": c.id,
  layout: { visibility: visible ? "visible" : "none" },
  paint: { "fill-color": ["coalesce", ["get", "colour"], "#bdbdbd"], "fill-opacity": 0.45,
           "fill-outline-color": "#263238" } });

async function tilejson(url) {
  try {
    const r = await fetch(url, { headers: authHeaders() });
    return r.ok ? await r.json() : null;
  } catch {
    return null;
  }
}

function absolute(path) { return location.origin + path; }  // keeps the {z}/{x}/{y} slots unescaped

/** The admin version in force today (else the newest), from the collections' temporal extents. */
export function adminInForce(admins, day = new Date().toISOString().slice(0, 10)) {
  const span = (c) => c.extent?.temporal?.interval?.[0] || [null, null];
  const now = admins.find((c) => { const [a, b] = span(c); return (!a || a <= day) && (!b || day <= b); });
  return now || admins.slice().sort((a, b) => String(span(b)[0]).localeCompare(String(span(a)[0])))[0] || null;
}

/** Build the map in ``container``: our latest imagery (or the external basemap when the settings name one), the
 * admin boundaries of each version, the newest planning zones and the alerts, all from our own tiles.
 * ``collections``: the /ogc collections the user may read; ``onClick(lngLat)`` is called on a click on an alert. */
export async function createMap(container, { collections, basemap }, onClick) {
  const [alerts, imagery] = await Promise.all([tilejson(`${ALERT_TILES}/tilejson.json`),
                                               tilejson("/imagery/latest/truecolor/tilejson.json")]);
  const style = { version: 8, sources: {}, layers: [{ id: "bg", type: "background", paint: { "background-color": "#dfe7dc" } }] };
  if (basemap) {  // an office's outside basemap, under our imagery; hidden until chosen
    style.sources.external = { type: "raster", tiles: basemap.tiles, tileSize: 256, attribution: basemap.attribution };
    style.layers.push({ id: "external", type: "raster", source: "external", layout: { visibility: "none" } });
  }
  if (imagery) {  // only when a scene has been ingested: otherwise every basemap tile would be a 404
    style.sources.imagery = { type: "raster", tiles: [imageryTiles("truecolor")], tileSize: 256,
                              minzoom: imagery.minzoom ?? 0, maxzoom: imagery.maxzoom ?? 16,
                              ...(imagery.bounds ? { bounds: imagery.bounds } : {}) };  // no requests outside it
    style.layers.push({ id: "imagery", type: "raster", source: "imagery" });
  }
  const admins = collections.filter((c) => c["forestmon:kind"] === "admin");
  const current = adminInForce(admins);
  for (const c of admins) {
    style.sources[`admin:${c.id}`] = { type: "vector", tiles: [vectorTiles(c.id)], maxzoom: 14 };
    style.layers.push({ id: `admin:${c.id}`, type: "line", source: `admin:${c.id}`, "source-layer": c.id,
                        layout: { visibility: c === current ? "visible" : "none" },
                        paint: { "line-color": "#1f4e79", "line-width": 1.2, "line-dasharray": [3, 2] } });
  }
  const plans = collections.filter((c) => c["forestmon:kind"] === "planning");
  for (const c of plans) {
    style.sources[`plan:${c.id}`] = planSource(c);
    style.layers.push(planLayer(c, false));
  }
  style.sources.alerts = { type: "vector", tiles: [absolute(`${ALERT_TILES}/{z}/{x}/{y}`)], maxzoom: 16 };
  const colour = ["match", ["get", "status"], ...Object.entries(STATUS_COLOURS).flat(), "#e31a1c"];
  style.layers.push({ id: "alerts-fill", type: "fill", source: "alerts", "source-layer": "alerts",
                      paint: { "fill-color": colour, "fill-opacity": CONFIDENCE_OPACITY } });
  style.layers.push({ id: "alerts-line", type: "line", source: "alerts", "source-layer": "alerts",
                      paint: { "line-color": colour, "line-width": 1.5 } });
  style.sources.drawn = { type: "geojson", data: { type: "FeatureCollection", features: [] } };
  style.layers.push({ id: "drawn-fill", type: "fill", source: "drawn", paint: { "fill-color": "#00e5ff", "fill-opacity": 0.15 } });
  style.layers.push({ id: "drawn-line", type: "line", source: "drawn",
                      paint: { "line-color": "#006064", "line-width": 2, "line-dasharray": [2, 1] } });
  style.sources.selected = { type: "geojson", data: { type: "FeatureCollection", features: [] } };
  style.layers.push({ id: "selected", type: "line", source: "selected",
                      paint: { "line-color": "#00e5ff", "line-width": 4 } });

  const bounds = alerts && alerts.bounds;
  const map = new maplibregl.Map({
    container, style, attributionControl: basemap ? { compact: true } : false,
    bounds: bounds ? [[bounds[0], bounds[1]], [bounds[2], bounds[3]]] : undefined,
    center: bounds ? undefined : [108.0, 11.8], zoom: bounds ? undefined : 8,
    hash: "map",  // the view in the link (#map=zoom/lat/lon&…): a shared link opens the same place
    // Tiles need the token too when public reads are off: add it to our own requests only.
    transformRequest: (url) => (new URL(url).origin === location.origin ? { url, headers: authHeaders() } : { url }),
  });
  window.forestmonMap = map;  // for the browser console and the scale benchmark
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
  map.on("click", (e) => {
    if (map.forestmon?.drawing) return;  // a rectangle being drawn (drawRectangle), not a click on an alert
    const hit = map.queryRenderedFeatures(e.point, { layers: ["alerts-fill"] });
    if (hit.length) onClick(e.lngLat);
    else if (map.forestmon.zonePopup) map.forestmon.zonePopup(e);  // the planners' own, richer popup
    else zonePopup(map, e);
  });
  map.on("mouseenter", "alerts-fill", () => { map.getCanvas().style.cursor = "pointer"; });
  map.on("mouseleave", "alerts-fill", () => { map.getCanvas().style.cursor = ""; });
  // what each switchable layer shows now (the layers control reads and changes it, before the style has loaded too)
  const visible = Object.fromEntries(style.layers.map((l) => [l.id, l.layout?.visibility !== "none"]));
  let ready = false;  // "load" fires once: later changes apply at once
  map.once("load", () => { ready = true; });
  const whenReady = (apply) => (ready ? apply() : map.once("load", apply));
  const info = { imagery: Boolean(imagery), basemap: Boolean(basemap), admins, current, plans, visible, whenReady };
  /** Show or hide one switchable layer (the layers box and the planners' workspace call it). */
  info.show = (id, on) => {
    if (!(id in visible)) return;
    visible[id] = on;
    whenReady(() => { if (map.getLayer(id)) map.setLayoutProperty(id, "visibility", on ? "visible" : "none"); });
  };
  /** The planning collections as the server lists them now (a version uploaded since the map was built gets its
   * layer; a superseded one its new title); the layers box is redrawn. */
  info.setPlans = (next) => {
    for (const c of next) {
      if (`plan:${c.id}` in visible) continue;
      visible[`plan:${c.id}`] = false;
      whenReady(() => {
        if (map.getLayer(`plan:${c.id}`)) return;
        map.addSource(`plan:${c.id}`, planSource(c));
        map.addLayer(planLayer(c, visible[`plan:${c.id}`]), "alerts-fill");
      });
    }
    info.plans = next;
    info.changed?.();
  };
  /** Show exactly these planning collections (the plan in force on the planners' chosen day); the layers box
   * ticks them. */
  info.showPlans = (ids) => {
    for (const c of info.plans) info.show(`plan:${c.id}`, ids.includes(c.id));
    info.changed?.();
  };
  map.forestmon = info;
  return map;
}

/** The planning layers shown now, by map layer id. */
export function shownPlanLayers(map) {
  return map.forestmon.plans.map((c) => `plan:${c.id}`).filter((id) => map.forestmon.visible[id] && map.getLayer(id));
}

/** A click on a planning zone shown on the map: its own name, type and area in a popup (text only). */
function zonePopup(map, e) {
  const layers = shownPlanLayers(map);
  const hit = layers.length ? map.queryRenderedFeatures(e.point, { layers }) : [];
  if (!hit.length) return;
  const p = hit[0].properties;
  const plan = map.forestmon.plans.find((c) => `plan:${c.id}` === hit[0].layer.id);
  const known = (plan?.style?.legend || []).find((z) => z.code === p.zone_type);
  const box = document.createElement("div");
  box.className = "zone-popup";
  const title = document.createElement("strong");
  title.textContent = p.layer || "";
  box.append(title);
  for (const [label, value] of [[t("zone_type"), known ? `${known[currentLang()]} (${p.zone_type})` : p.zone_type], [t("zone_class"), p.zone_class ? t(`zone_class.${p.zone_class}`) : null],
                                [t("area_ha"), p.area_ha != null ? Number(p.area_ha).toFixed(2) : null]]) {
    if (value == null) continue;
    const row = document.createElement("div");
    row.textContent = `${label}: ${value}`;
    box.append(row);
  }
  new maplibregl.Popup({ maxWidth: "260px" }).setLngLat(e.lngLat).setDOMContent(box).addTo(map);
}

/** The layers box: which imagery (or the outside basemap, or none) lies under the data, which admin version,
 * which planning layers and whether the alerts are shown. */
export function layerControl(element, map) {
  element.replaceChildren();
  const info = map.forestmon;
  const group = (legend) => {
    const fieldset = document.createElement("fieldset");
    const caption = document.createElement("legend");
    caption.textContent = legend;
    fieldset.append(caption);
    element.append(fieldset);
    return fieldset;
  };
  const choice = (parent, type, name, label, checked, onChange) => {
    const row = document.createElement("label");
    const input = document.createElement("input");
    input.type = type;
    input.name = name;
    input.checked = checked;
    input.addEventListener("change", () => onChange(input.checked));
    row.append(input, " ", label);
    parent.append(row);
    return input;
  };
  const show = info.show;
  info.changed = () => layerControl(element, map);  // the workspace switched plans, or a version was uploaded

  const base = group(t("layers.base"));
  const bases = [...(info.imagery ? IMAGERY_LAYERS.map((layer) => [layer, t(`imagery.${layer}`)]) : []),
                 ...(info.basemap ? [["external", t("layers.external")]] : []), ["none", t("layers.none")]];
  const active = element.dataset.base || (info.imagery ? "truecolor" : "none");
  for (const [key, label] of bases) {
    choice(base, "radio", "base", label, key === active, (on) => {
      if (!on) return;
      element.dataset.base = key;
      show("external", key === "external");
      show("imagery", IMAGERY_LAYERS.includes(key));
      if (IMAGERY_LAYERS.includes(key)) {
        info.whenReady(() => map.getSource("imagery").setTiles([imageryTiles(key)]));
      }
    });
  }
  const data = group(t("layers.data"));
  choice(data, "checkbox", "alerts", t("layers.alerts"), info.visible["alerts-fill"],
         (on) => { show("alerts-fill", on); show("alerts-line", on); });
  for (const c of info.admins) {
    const [from, to] = c.extent?.temporal?.interval?.[0] || [];
    const units = t(`units.${c["forestmon:units"]}`);
    choice(data, "checkbox", c.id, t("layers.admin", { units, from: from || "…", to: to || "…" }),
           info.visible[`admin:${c.id}`], (on) => show(`admin:${c.id}`, on));
  }
  for (const c of info.plans) {
    const [from, to] = c.extent?.temporal?.interval?.[0] || [];
    const label = c["forestmon:name"] ? t("layers.plan", { name: c["forestmon:name"], kind: t(`plan.kind.${c.style?.kind}`),
                                                           from: from || "…", to: to || "…" }) : c.title;
    choice(data, "checkbox", c.id, label, info.visible[`plan:${c.id}`], (on) => show(`plan:${c.id}`, on));
  }
}

/** Highlight one alert (a GeoJSON feature, or null to clear) and bring it into view. */
export function select(map, feature) {
  const data = { type: "FeatureCollection", features: feature ? [feature] : [] };
  map.forestmon.whenReady(() => map.getSource("selected").setData(data));
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

/** Let the user draw a rectangle on the map by dragging (mouse, pen or finger: pointer events); resolves to its
 * [west, south, east, north] in WGS 84 degrees, or null when ``signal`` aborts first. The map does not pan or zoom
 * while drawing; the rectangle stays shown (``showDrawn``) until cleared. */
export function drawRectangle(map, signal) {
  return new Promise((resolve) => {
    const box = map.getCanvasContainer();
    const handlers = [map.dragPan, map.dragRotate, map.boxZoom, map.touchZoomRotate, map.doubleClickZoom];
    const wasOn = handlers.map((h) => h.isEnabled());
    handlers.forEach((h) => h.disable());
    const touchAction = box.style.touchAction;
    box.style.touchAction = "none";  // a finger draws instead of scrolling the page
    box.classList.add("drawing");
    map.forestmon.drawing = true;
    let start = null;
    const at = (e) => { const r = box.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };
    const corners = (a, b) => {
      const [p, q] = [map.unproject(a), map.unproject(b)];
      return [Math.min(p.lng, q.lng), Math.min(p.lat, q.lat), Math.max(p.lng, q.lng), Math.max(p.lat, q.lat)];
    };
    const down = (e) => {
      if (e.button > 0) return;
      start = at(e);
      box.setPointerCapture?.(e.pointerId);
      e.preventDefault();
      e.stopPropagation();
    };
    const move = (e) => { if (start) { showDrawn(map, corners(start, at(e))); e.preventDefault(); } };
    const done = (result) => {
      box.removeEventListener("pointerdown", down, true);
      box.removeEventListener("pointermove", move, true);
      box.removeEventListener("pointerup", up, true);
      box.removeEventListener("pointercancel", cancel, true);
      handlers.forEach((h, i) => { if (wasOn[i]) h.enable(); });
      box.style.touchAction = touchAction;
      box.classList.remove("drawing");
      setTimeout(() => { map.forestmon.drawing = false; }, 0);  // the click that ends a drag is not an alert's
      resolve(result);
    };
    const up = (e) => {
      if (!start) return;
      const end = at(e);
      const moved = Math.abs(end[0] - start[0]) > 4 && Math.abs(end[1] - start[1]) > 4;
      const drawn = corners(start, end);
      start = null;
      if (!moved) return;  // a tap: keep waiting for a drag
      showDrawn(map, drawn);
      done(drawn);
    };
    const cancel = () => { start = null; showDrawn(map, null); };
    box.addEventListener("pointerdown", down, true);
    box.addEventListener("pointermove", move, true);
    box.addEventListener("pointerup", up, true);
    box.addEventListener("pointercancel", cancel, true);
    signal?.addEventListener("abort", () => { showDrawn(map, null); done(null); }, { once: true });
  });
}

/** Show (or, with null, clear) a drawn rectangle [west, south, east, north]. */
export function showDrawn(map, rect) {
  const features = rect ? [{ type: "Feature", properties: {}, geometry: { type: "Polygon", coordinates: [[
    [rect[0], rect[1]], [rect[2], rect[1]], [rect[2], rect[3]], [rect[0], rect[3]], [rect[0], rect[1]]]] } }] : [];
  map.forestmon.whenReady(() => map.getSource("drawn").setData({ type: "FeatureCollection", features }));
}

/** The area of a rectangle [west, south, east, north] on the WGS 84 ellipsoid's authalic sphere, km². */
export function rectangleKm2([west, south, east, north]) {
  const R = 6371.0072;  // km, the authalic radius
  const rad = Math.PI / 180;
  return R * R * (east - west) * rad * Math.abs(Math.sin(north * rad) - Math.sin(south * rad));
}
