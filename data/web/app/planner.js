// The planners' workspace (planner and admin roles): the plan in force on a date (a slider over the versions'
// dates), its legend and zone popups, two versions compared (map layer + table), the overlay of alerts on the
// plan (CSV and GeoPackage exports), and the upload of a new plan version with its import report.
// It builds its own section of the sheet. The plan in force is shown with the map's own planning layers (the
// layers box ticks them); the diff and the lots are its own map layers (ids "plan-…"), under the alerts.
import * as maplibregl from "/static/vendor/maplibre-gl/maplibre-gl.mjs";
import { ApiError, api, authHeaders } from "./api.js";
import { currentLang, t } from "./i18n.js";
import { shownPlanLayers } from "./map.js";

const DAY = 86400000;
const KINDS = ["zoning", "landuse_plan", "forest_category", "protected_area"];
const CHANGE_COLOURS = { changed: "#ff6f00", added: "#00c853", removed: "#6d4c41" };
const LOT_COLOURS = { established: "#1b5e20", establishing: "#8bc34a", not_yet_visible: "#fdd835", failed: "#d84315",
                      cleared: "#6a1b9a", no_data: "#9e9e9e" };
const ZONE_KEYS = new Set(["feature_index", "zone_name", "zone_type", "zone_class", "area_ha", "colour", "layer",
                           "valid_from"]);

let map = null;
let versions = [];   // GET /planning/layers → layers (every version of every plan)
let styles = [];     // zone types: code, vi, en, class, colour
let shown = [];      // the versions drawn now (one per plan name: the one in force on the chosen day)
let lastDiff = null; // the last diff answer, redrawn on a language switch
let lastOverlay = null;
let lastLots = null;  // GET /planting-lots/growth

const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "i18n") node.dataset.i18n = v, node.textContent = t(v);
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
};
const labelled = (key, control) => el("label", {}, el("span", { i18n: key }), control);
const $p = (id) => document.getElementById(id);
const lang = () => currentLang();
const fmtHa = (v) => Number(v).toLocaleString(lang() === "vi" ? "vi-VN" : "en-GB", { maximumFractionDigits: 2 });
const typeName = (code) => {
  const s = styles.find((x) => x.code === code);
  return s ? s[lang()] : (code || "–");
};

function say(err) {
  const box = $p("plan-error");
  box.textContent = err instanceof ApiError ? err.message_() : t("error.other");
  box.hidden = false;
  if (!(err instanceof ApiError)) console.warn(err);
}
function quiet() { $p("plan-error").hidden = true; }

// --- the section ----------------------------------------------------------------------------------------------
function build(openByDefault) {
  const kind = el("select", { name: "kind" });
  for (const k of KINDS) kind.append(el("option", { value: k, "data-i18n": `plan.kind.${k}` }, t(`plan.kind.${k}`)));
  const section = el("details", { id: "planner", class: "card planner" },
    el("summary", { i18n: "plan.title" }),
    el("p", { id: "plan-error", class: "error", role: "alert", hidden: "" }),
    el("div", { class: "plan-when" },
      labelled("plan.in_force", el("input", { id: "plan-date", type: "date" })),
      el("input", { id: "plan-slider", type: "range", min: "0", max: "0", step: "1",
                    "aria-label": t("plan.slider"), "data-i18n-label": "plan.slider" }),
      el("output", { id: "plan-shown", class: "plan-shown" })),
    el("h3", { i18n: "plan.legend" }), el("div", { id: "plan-legend", class: "plan-legend" }),
    el("h3", { i18n: "plan.compare" }),
    el("form", { id: "plan-diff-form", class: "plan-form" },
      labelled("plan.from", el("select", { name: "from" })), labelled("plan.to", el("select", { name: "to" })),
      el("button", { type: "submit", i18n: "plan.compare_go" })),
    el("div", { id: "plan-diff", class: "plan-table" }),
    el("h3", { i18n: "plan.overlay" }),
    el("form", { id: "plan-overlay-form", class: "plan-form" },
      el("label", { class: "inline" }, el("input", { type: "checkbox", name: "dismissed" }),
         el("span", { i18n: "plan.show_dismissed" })),
      el("button", { type: "submit", i18n: "plan.overlay_go" })),
    el("div", { id: "plan-overlay", class: "plan-table" }),
    el("p", { class: "downloads" }, el("span", { i18n: "download" }), ": ",
       el("a", { id: "plan-csv", href: "#", i18n: "plan.csv" }), " ",
       el("a", { id: "plan-gpkg", href: "#", i18n: "plan.gpkg" })),
    el("h3", { i18n: "plan.lots" }),
    el("button", { id: "plan-lots-go", type: "button", i18n: "plan.lots_go" }),
    el("div", { id: "plan-lots", class: "plan-table" }),
    el("div", { id: "plan-candidates", class: "plan-table" }),
    el("h3", { i18n: "plan.upload" }),
    el("form", { id: "plan-upload", class: "plan-form" },
      labelled("plan.file", el("input", { type: "file", name: "file", required: "",
                                          accept: ".geojson,.json,.zip,.gpkg,.kml" })),
      labelled("plan.name", el("input", { name: "name", required: "", list: "plan-names" })),
      el("datalist", { id: "plan-names" }),
      labelled("plan.kind", kind),
      labelled("plan.valid_from", el("input", { name: "valid_from", type: "date", required: "" })),
      labelled("plan.name_field", el("input", { name: "name_field" })),
      el("button", { type: "submit", i18n: "plan.upload_go" })),
    el("div", { id: "plan-report", class: "plan-report", "aria-live": "polite" }));
  section.open = openByDefault;
  const sheet = document.getElementById("sheet");
  sheet.insertBefore(section, document.getElementById("error").nextSibling);
  return section;
}

// --- versions and the day ---------------------------------------------------------------------------------------
const today = () => new Date().toISOString().slice(0, 10);
const dayOf = (iso) => Date.parse(`${iso}T00:00:00Z`);
const isoOf = (ms) => new Date(ms).toISOString().slice(0, 10);
function inForce(day) {
  const byName = new Map();
  for (const v of [...versions].sort((a, b) => a.valid_from.localeCompare(b.valid_from))) {
    if (v.valid_from <= day) byName.set(v.name, v);
  }
  return [...byName.values()];
}
const versionLabel = (v) => `${v.name} (${v.valid_from}${v.valid_to ? ` – ${v.valid_to}` : ""})`;

async function loadVersions() {
  const [body, listed] = await Promise.all([api("/planning/layers"), api("/ogc/collections")]);
  map.forestmon.setPlans(listed.collections.filter((c) => c["forestmon:kind"] === "planning"));
  versions = body.layers;
  styles = body.styles;
  const first = versions.length ? versions.map((v) => v.valid_from).sort()[0] : today();
  const slider = $p("plan-slider");
  slider.min = "0";
  slider.max = String(Math.max(0, Math.round((dayOf(today()) - dayOf(first)) / DAY)));
  slider.dataset.first = first;
  for (const name of ["from", "to"]) {
    const select = $p("plan-diff-form")[name];
    select.replaceChildren(...versions.map((v) => el("option", { value: v.id, text: versionLabel(v) })));
  }
  const form = $p("plan-diff-form");
  if (versions.length > 1) {  // the two newest versions of the first plan with several
    form.from.value = versions[versions.length - 2].id;
    form.to.value = versions[versions.length - 1].id;
  }
  $p("plan-names").replaceChildren(...[...new Set(versions.map((v) => v.name))].map((n) => el("option", { value: n })));
}

function setDay(day, { fromSlider = false } = {}) {
  $p("plan-date").value = day;
  if (!fromSlider) {
    const offset = Math.round((dayOf(day) - dayOf($p("plan-slider").dataset.first || day)) / DAY);
    $p("plan-slider").value = String(Math.max(0, offset));
  }
  draw(inForce(day));
  $p("plan-shown").textContent = shown.length
    ? t("plan.shown", { day, layers: shown.map(versionLabel).join("; ") }) : t("plan.none", { day });
}

// --- the map --------------------------------------------------------------------------------------------------
const beforeAlerts = () => (map.getLayer("alerts-fill") ? "alerts-fill" : undefined);

function draw(next) {
  shown = next;
  map.forestmon.showPlans(shown.map((v) => `plan-${v.id}`));
  legend();
}

function legend() {
  const box = $p("plan-legend");
  box.replaceChildren();
  if (!shown.length) { box.textContent = t("plan.no_layers"); return; }
  for (const s of styles) {
    box.append(el("div", { class: "plan-legend-row" }, el("span", { class: "swatch", style: `background:${s.colour}` }),
                  el("span", { text: `${s[lang()]} (${s.code})` }),
                  el("span", { class: "plan-class", text: t(`plan.class.${s.class}`) })));
  }
}

async function zonePopup(e) {
  const layers = shownPlanLayers(map);
  const hit = layers.length ? map.queryRenderedFeatures(e.point, { layers }) : [];
  if (!hit.length) return;
  const collection = hit[0].layer.id.replace(/^plan:/, "");
  const index = hit[0].properties.feature_index;
  try {
    const zone = await api(`/ogc/collections/${encodeURIComponent(collection)}/items/${index}`);
    const p = zone.properties;
    const facts = el("dl", { class: "facts" });
    const row = (k, v) => facts.append(el("dt", { text: k }), el("dd", { text: v ?? "–" }));
    row(t("plan.zone_type"), `${typeName(p.zone_type)} (${p.zone_type ?? "–"})`);
    row(t("plan.zone_class"), t(`plan.class.${p.zone_class}`));
    row(t("area_ha"), fmtHa(p.area_ha));
    row(t("plan.version"), `${p.layer} (${p.valid_from})`);
    for (const [k, v] of Object.entries(p)) if (!ZONE_KEYS.has(k)) row(k, v === null ? "–" : String(v));
    const body = el("div", { class: "plan-popup" }, el("strong", { class: "plan-zone-name", text: p.zone_name || t("plan.unnamed") }), facts);
    new maplibregl.Popup({ maxWidth: "320px" }).setLngLat(e.lngLat).setDOMContent(body).addTo(map);
  } catch (err) {
    say(err);
  }
}

// --- compare two versions -------------------------------------------------------------------------------------
function table(columns, rows) {
  const head = el("tr", {}, ...columns.map(([label]) => el("th", { text: label })));
  const body = rows.map((r) => el("tr", {}, ...columns.map(([, get, num]) => el("td", num ? { class: "num" } : {}, String(get(r) ?? "–")))));
  return el("table", {}, el("thead", {}, head), el("tbody", {}, ...body));
}

function showDiff(body) {
  const box = $p("plan-diff");
  box.replaceChildren(el("p", { class: "plan-caption", text: t("plan.diff_caption", {
    from: versionLabel(body.from), to: versionLabel(body.to) }) }));
  if (!body.table.length) { box.append(el("p", { text: t("plan.no_change") })); return; }
  box.append(table([
    [t("plan.change"), (r) => r.change_name], [t("plan.from_type"), (r) => (r.from_type ? typeName(r.from_type) : "–")],
    [t("plan.to_type"), (r) => (r.to_type ? typeName(r.to_type) : "–")], [t("area_ha"), (r) => fmtHa(r.ha), true],
  ], body.table));
}

async function compare(e) {
  e.preventDefault();
  quiet();
  const form = e.target;
  try {
    const q = new URLSearchParams({ from: form.from.value, to: form.to.value });
    lastDiff = await api(`/planning/diff?${q}`);
    showDiff(lastDiff);
    const data = { type: "FeatureCollection", features: lastDiff.features };
    if (map.getSource("plan-diff")) map.getSource("plan-diff").setData(data);
    else {
      map.addSource("plan-diff", { type: "geojson", data });
      const colour = ["match", ["get", "change"], ...Object.entries(CHANGE_COLOURS).flat(), "#000"];
      map.addLayer({ id: "plan-diff-fill", type: "fill", source: "plan-diff",
                     paint: { "fill-color": colour, "fill-opacity": 0.35 } }, beforeAlerts());
      map.addLayer({ id: "plan-diff-line", type: "line", source: "plan-diff",
                     paint: { "line-color": colour, "line-width": 3, "line-dasharray": [2, 1] } }, beforeAlerts());
    }
  } catch (err) {
    say(err);
  }
}

// --- the overlay ----------------------------------------------------------------------------------------------
function overlayQuery(f) {
  const q = new URLSearchParams({ on: $p("plan-date").value || today() });
  if ($p("plan-overlay-form").dismissed.checked) q.set("dismissed", "true");
  if (f) q.set("f", f);
  return `/planning/overlay?${q}`;
}

function showOverlay(body) {
  const box = $p("plan-overlay");
  box.replaceChildren();
  const versionName = (id) => versionLabel(versions.find((v) => v.id === id) || { name: id, valid_from: "" });
  const ids = [...new Set(body.summary.map((r) => r.layer_id))];
  const many = ids.length > 1;  // one plan: named once above the table, not on every row
  box.append(el("h4", { i18n: "plan.by_class" }));
  if (!many && ids.length) box.append(el("p", { class: "plan-caption", text: versionName(ids[0]) }));
  box.append(table([
    ...(many ? [[t("plan.version"), (r) => versionName(r.layer_id)]] : []),
    [t("plan.zone_class"), (r) => t(`plan.class.${r.zone_class}`)],
    [t("plan.alerts"), (r) => r.alerts, true], [t("plan.confirmed"), (r) => r.confirmed, true],
    [t("plan.unreviewed"), (r) => r.unreviewed, true], [t("area_ha"), (r) => fmtHa(r.ha), true],
  ], body.summary));
  box.append(el("h4", { i18n: "plan.by_zone" }), body.zones.length ? table([
    [t("plan.zone"), (r) => r.zone_name || `#${r.feature_index}`], [t("plan.zone_type"), (r) => typeName(r.zone_type)],
    [t("plan.month"), (r) => r.month], [t("plan.alerts"), (r) => r.alerts, true], [t("area_ha"), (r) => fmtHa(r.ha), true],
  ], body.zones) : el("p", { text: t("plan.no_loss") }));
  if ($p("plan-overlay-form").dismissed.checked) {
    box.append(el("h4", { i18n: "plan.dismissed" }), body.dismissed.length ? table([
      [t("plan.alert"), (r) => r.alert_id], [t("plan.zone"), (r) => r.zone_name || `#${r.feature_index}`],
      [t("area_ha"), (r) => fmtHa(r.overlap_ha), true],
    ], body.dismissed) : el("p", { text: "–" }));
  }
}

async function overlay(e) {
  e.preventDefault();
  quiet();
  try {
    lastOverlay = await api(overlayQuery());
    showOverlay(lastOverlay);
  } catch (err) {
    say(err);
  }
}

/** Exports go through fetch so they carry the token. */
async function download(e, f) {
  e.preventDefault();
  quiet();
  try {
    const r = await fetch(overlayQuery(f), { headers: { ...authHeaders(), "Accept-Language": lang() } });
    if (!r.ok) throw new ApiError(r.status, null, null);
    const name = /filename="([^"]+)"/.exec(r.headers.get("Content-Disposition") || "")?.[1] || `overlay.${f}`;
    const save = document.createElement("a");
    save.href = URL.createObjectURL(await r.blob());
    save.download = name;
    save.click();
    setTimeout(() => URL.revokeObjectURL(save.href), 10000);
  } catch (err) {
    say(err instanceof ApiError ? err : new ApiError(0, "network", null));
  }
}

// --- planting lots checked from the imagery --------------------------------------------------------------------
function showLots(body) {
  const box = $p("plan-lots");
  box.replaceChildren(el("p", { class: "plan-caption", text: t("plan.lots_summary", {
    registered: fmtHa(body.registered_ha), confirmed: fmtHa(body.confirmed_ha), day: body.as_of }) }));
  box.append(body.lots.length ? table([
    [t("plan.lot"), (r) => r.lot_id], [t("plan.planted"), (r) => r.planted],
    [t("plan.lot_status"), (r) => t(`plan.lot.${r.status}`)], [t("area_ha"), (r) => fmtHa(r.area_ha), true],
    [t("plan.green_share"), (r) => `${Math.round(r.green_share * 100)}%`, true],
    [t("plan.loss_alerts"), (r) => (r.loss_alerts || []).join(", ") || "0"],
  ], body.lots) : el("p", { text: t("plan.no_lots") }));
}

/** Confirmed-loss alerts as candidate replanting sites (``GET /planting-lots/replanting-candidates``). */
function showCandidates(body) {
  const box = $p("plan-candidates");
  box.replaceChildren(el("p", { class: "plan-caption", text: t("plan.candidates", {
    n: body.count, area: fmtHa(body.area_ha) }) }));
  box.append(body.candidates.length ? table([
    [t("plan.alert"), (r) => r.alert_id], [t("area_ha"), (r) => fmtHa(r.area_ha), true],
    [t("plan.commune"), (r) => (r.commune ? r.commune.name : "–")],
    [t("plan.centroid"), (r) => `${r.centroid[1].toFixed(5)}, ${r.centroid[0].toFixed(5)}`],
    [t("plan.replanted_by"), (r) => r.replanted_by.join(", ") || "–"],
  ], body.candidates) : el("p", { text: t("plan.no_candidates") }));
}

async function checkLots() {
  quiet();
  $p("plan-lots").replaceChildren(el("p", { text: t("plan.lots_reading") }));
  try {
    const [growth, lots, sites] = await Promise.all([api("/planting-lots/growth"), api("/planting-lots"),
      api("/planting-lots/replanting-candidates")]);
    lastLots = growth;
    showLots(growth);
    showCandidates(sites);
    const data = { type: "FeatureCollection", features: lots.features.map((f) => (  // each lot with its status
      { ...f, properties: { ...f.properties, status: f.properties.status || "no_data" } })) };
    if (map.getSource("plan-lots")) map.getSource("plan-lots").setData(data);
    else {
      map.addSource("plan-lots", { type: "geojson", data });
      const colour = ["match", ["get", "status"], ...Object.entries(LOT_COLOURS).flat(), "#9e9e9e"];
      map.addLayer({ id: "plan-lots-fill", type: "fill", source: "plan-lots",
                     paint: { "fill-color": colour, "fill-opacity": 0.5 } }, beforeAlerts());
      map.addLayer({ id: "plan-lots-line", type: "line", source: "plan-lots",
                     paint: { "line-color": colour, "line-width": 2 } }, beforeAlerts());
    }
  } catch (err) {
    $p("plan-lots").replaceChildren();
    $p("plan-candidates").replaceChildren();
    say(err);
  }
}

// --- upload a version -----------------------------------------------------------------------------------------
async function upload(e) {
  e.preventDefault();
  quiet();
  const form = e.target;
  const data = new FormData(form);
  if (!data.get("name_field")) data.delete("name_field");
  const report = $p("plan-report");
  report.replaceChildren(el("p", { text: t("plan.uploading") }));
  try {
    const rec = await api("/planning/layers", { method: "POST", body: data });
    const facts = el("dl", { class: "facts" });
    const row = (k, v) => facts.append(el("dt", { text: t(k) }), el("dd", { text: v ?? "–" }));
    row("plan.version", versionLabel(rec));
    row("plan.features", String(rec.feature_count));
    row("plan.crs_read", rec.source_crs);
    row("plan.zone_field", rec.zone_field);
    row("plan.name_field", rec.name_field);
    const repairs = rec.repairs.length
      ? el("ul", {}, ...rec.repairs.map((r) => el("li", { text: r }))) : el("p", { text: t("plan.no_repairs") });
    report.replaceChildren(el("h4", { text: t("plan.imported", { id: rec.id }) }), facts,
                           el("h4", { i18n: "plan.repairs" }), repairs);
    await loadVersions();
    setDay(rec.valid_from);
  } catch (err) {
    report.replaceChildren();
    say(err);
  }
}

/** Open the workspace for ``me`` (planner or admin) on ``theMap``; other roles get nothing. */
export async function initPlanner(theMap, me) {
  if (!me || !["planner", "admin"].includes(me.role) || document.getElementById("planner")) return;
  map = theMap;
  build(me.role === "planner");
  $p("plan-date").addEventListener("change", (e) => e.target.value && setDay(e.target.value));
  $p("plan-slider").addEventListener("input", (e) => {
    setDay(isoOf(dayOf(e.target.dataset.first) + Number(e.target.value) * DAY), { fromSlider: true });
  });
  $p("plan-diff-form").addEventListener("submit", compare);
  $p("plan-overlay-form").addEventListener("submit", overlay);
  $p("plan-csv").addEventListener("click", (e) => download(e, "csv"));
  $p("plan-gpkg").addEventListener("click", (e) => download(e, "gpkg"));
  $p("plan-upload").addEventListener("submit", upload);
  $p("plan-lots-go").addEventListener("click", checkLots);
  map.forestmon.zonePopup = zonePopup;  // a click on a zone (not on an alert) opens the planners' popup
  // The language switch relabels [data-i18n]; tables and the legend are redrawn here.
  new MutationObserver(() => {
    legend();
    if (lastDiff) showDiff(lastDiff);
    if (lastOverlay) showOverlay(lastOverlay);
    if (lastLots) showLots(lastLots);
    $p("plan-slider").setAttribute("aria-label", t("plan.slider"));
  }).observe(document.documentElement, { attributes: true, attributeFilter: ["lang"] });
  try {
    await loadVersions();
    setDay(today());
  } catch (err) {
    say(err);
  }
}
