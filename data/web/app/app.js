// The rangers' app: log in, my queue or filtered alerts, the alert panel and its review actions.
// State the user may share lives in the URL hash (#alert=ID&status=...), so a link reopens the same view.
import { ApiError, api, authHeaders, login, setToken, token } from "./api.js";
import { currentLang, savedLang, setLang, t } from "./i18n.js";
import { bbox, createMap, layerControl, legend, refreshAlerts, select } from "./map.js";
import { initPlanner } from "./planner.js";
import { offlineSection, registerWorker } from "./offline.js";
import { dropMine, flush, items as outboxItems, keepMine, queuePhoto, queueTrack, queueTransition,
         withPending } from "./outbox.js";
import { follow } from "./position.js";
import { clear as clearTrack, lengthM, points as trackPoints, recording, resumeRecording, start as startTrack,
         stop as stopTrack } from "./track.js";

const $ = (id) => document.getElementById(id);
const STATUSES = ["new", "assigned", "in_field", "confirmed", "dismissed"];
const CONFIDENCES = ["low", "high", "highest"];
const CAUSES = ["illegal_clearing", "illegal_logging", "farming_encroachment", "permitted_harvest", "fire", "natural", "other"];
const REASONS = ["cloud_shadow", "seasonal_crop", "permitted_plantation_harvest", "cleared_before_monitoring",
                 "misregistration", "other"];
const VIOLATIONS = ["illegal_clearing", "illegal_logging", "farming_encroachment", "fire", "other"];
const FOREST_CATEGORIES = ["special_use", "protection", "production", "forest"];
const FILTERS = ["status", "confidence", "district_id", "forest_category", "zone_type", "start", "end", "min_area_ha"];

let me = null;       // GET /me
let map = null;
let current = null;  // the alert in the panel (GeoJSON feature)
let units = [];      // admin units of every boundary version: [{id, name, version}]
let config = { public_reads: false, basemap: null };  // GET /app/config.json
let collections = [];  // GET /ogc/collections: the layers the map offers

// --- the URL hash -------------------------------------------------------------------------------------------
function hashState() { return Object.fromEntries(new URLSearchParams(location.hash.slice(1))); }
function setHash(state) {
  const view = hashState().map;  // the map's own position (MapLibre keeps it up to date)
  const clean = Object.fromEntries(Object.entries({ ...state, map: view }).filter(([, v]) => v));
  history.replaceState(null, "", `#${new URLSearchParams(clean)}`);
}

// --- messages -----------------------------------------------------------------------------------------------
function showError(err) {
  const box = $("error");
  box.textContent = err instanceof ApiError ? err.message_() : t("error.other");
  box.hidden = false;
  box.scrollIntoView({ block: "nearest" });
  if (!(err instanceof ApiError)) console.warn(err);
}
function clearError() { $("error").hidden = true; $("error").textContent = ""; }

function fillOptions(select, values, prefix) {
  const keep = select.value;
  const first = select.querySelector('option[value=""]');
  select.replaceChildren(...(first ? [first] : []));
  for (const value of values) {
    const option = document.createElement("option");
    option.value = typeof value === "string" ? value : value.id;
    option.textContent = typeof value === "string" ? t(`${prefix}.${value}`) : value.name;
    select.append(option);
  }
  if (keep || first) select.value = keep;  // a select without an empty choice keeps its first option
}

function relabelOptions() {
  const f = $("filters");
  fillOptions(f.status, STATUSES, "status");
  fillOptions(f.confidence, CONFIDENCES, "confidence");
  fillUnits(f.district_id);
  fillOptions(f.forest_category, FOREST_CATEGORIES, "forest");
  fillOptions(f.zone_type, zoneTypes().map((z) => ({ id: z.code, name: `${z[currentLang()]} (${z.code})` })), "");
  fillOptions($("confirm-form").cause, CAUSES, "cause");
  fillOptions($("dismiss-form").reason, REASONS, "reason");
  fillOptions($("case-form").violation_type, VIOLATIONS, "violation");
  $("lang").setAttribute("aria-label", t("switch_lang_label"));
  legend($("legend-body"));
  if (map) layerControl($("layers-body"), map);
}

/** The zone types the planning layers' legends name (the zone-type table), for the zone filter. */
function zoneTypes() {
  const seen = new Map();
  for (const c of collections.filter((c) => c["forestmon:kind"] === "planning")) {
    for (const z of c.style?.legend || []) seen.set(z.code, z);
  }
  return [...seen.values()];
}

/** The unit filter: the units of each boundary version in a group of its own (2024 districts, 2025 communes). */
function fillUnits(select) {
  const keep = select.value;
  select.replaceChildren(select.querySelector('option[value=""]'));
  for (const version of [...new Set(units.map((u) => u.version))]) {
    const group = document.createElement("optgroup");
    group.label = version;
    for (const unit of units.filter((u) => u.version === version)) {
      const option = document.createElement("option");
      option.value = unit.id;
      option.textContent = unit.name;
      group.append(option);
    }
    select.append(group);
  }
  select.value = keep;
}

// --- logging in and out -------------------------------------------------------------------------------------
let navigation = 0;  // counts list and alert openings: start-up never overrides one the user made meanwhile
let starts = 0;  // a log-in or log-out restarts the app: only the latest start opens the first list
async function start(before = navigation) {
  const generation = ++starts;
  clearError();
  me = null;
  if (token()) {
    try {
      me = await api("/me");
    } catch (err) {
      if (err.status !== 401) return showError(err);  // offline with nothing cached: keep the login for later
      setToken(null);
      return start(before);
    }
  }
  const anonymous = !me;
  $("login").hidden = !anonymous || config.public_reads;  // with public reads the map comes first
  $("login-open").hidden = !(anonymous && config.public_reads);
  $("logout").hidden = anonymous;
  $("who").textContent = me ? `${me.username} (${me.role})` : "";
  if (anonymous && !config.public_reads) {  // nothing but the log-in form: no alert, image or report
    $("list").hidden = $("panel").hidden = true;
    return;
  }
  if (!map) {
    try {
      collections = (await api("/ogc/collections")).collections;
    } catch (err) {
      showError(err);
    }
    map = await createMap($("map"), { collections, basemap: config.basemap }, openAt);
    $("map").append($("layers"), $("legend"));  // over the map, never over the list
    const wide = window.matchMedia("(min-width: 701px)").matches;  // folded on a phone: the map comes first
    $("layers").hidden = $("legend").hidden = false;
    $("legend").open = wide;
    layerControl($("layers-body"), map);
  }
  initPlanner(map, me);  // the planners' workspace (planner and admin roles only)
  startOffline();
  await Promise.all([loadUnits(), loadRangers(), loadReports()]);
  const state = hashState();
  for (const name of FILTERS) $("filters")[name].value = state[name] || "";
  $("show-queue").hidden = !(me && ["ranger", "admin"].includes(me.role));
  $("read-only").hidden = !anonymous;
  const view = me && me.role === "ranger" ? "queue" : "all";  // a ranger starts at their queue
  const first = state.view === "queue" && !$("show-queue").hidden ? "queue" : state.view === "all" ? "all" : view;
  if (generation !== starts) return;
  if (navigation !== before) {  // the user already opened a list or an alert while this loaded: keep it
    mode = first;
    if (current) await openAlert(current.properties.id);  // drawn again with what this user may do
    return;
  }
  await showList(first);
  if (state.alert) await openAlert(state.alert);
}

$("login-open").addEventListener("click", () => {
  $("login").hidden = false;
  $("login").username.focus();
});

$("login").addEventListener("submit", async (e) => {
  e.preventDefault();
  clearError();
  const form = e.target;
  const before = navigation;
  try {
    await login(form.username.value, form.password.value);
    form.password.value = "";
    setHash({ alert: hashState().alert });  // the user's own start view (a ranger's queue), still on the alert
    await start(before);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      $("error").textContent = t("error.login");
      $("error").hidden = false;
    } else showError(err);
  }
});

$("logout").addEventListener("click", () => {
  setToken(null);
  navigator.serviceWorker?.controller?.postMessage("logout");
  me = current = null;
  setHash({});
  location.reload();  // nothing of the last user stays in the page
});

$("lang").addEventListener("click", async () => {
  await setLang(currentLang() === "vi" ? "en" : "vi");
  relabelOptions();
  if (current) renderAlert(current);
});

// --- the list: my queue, or alerts with filters ---------------------------------------------------------------
async function loadUnits() {
  if (units.length) return;
  try {
    for (const c of collections.filter((c) => c["forestmon:kind"] === "admin")) {
      const from = (c.extent?.temporal?.interval?.[0]?.[0] || "").slice(0, 4);
      const found = await api(`/ogc/collections/${encodeURIComponent(c.id)}/items?limit=1000&skipGeometry=true`);
      units.push(...found.features.map((f) => ({ id: f.properties.id, name: f.properties.name, version: from }))
        .sort((a, b) => a.name.localeCompare(b.name, "vi")));
    }
  } catch (err) {
    showError(err);
  }
  relabelOptions();
}

/** The province's weekly reports, newest first, in the page's language where there is one: each week's HTML
 * report and its PDF open in a new tab (fetched with the token, like the downloads). */
async function loadReports() {
  const list = $("reports-list");
  list.replaceChildren();
  try {
    const found = (await api("/reports/")).reports.filter((r) => !r.unit_id);
    const weeks = new Map();
    for (const r of found) {  // one a week: the page's language first
      const key = r.week || r.file;
      if (!weeks.has(key) || r.lang === currentLang()) weeks.set(key, r);
    }
    if (!weeks.size) list.append(Object.assign(document.createElement("li"), { textContent: t("reports_none") }));
    for (const report of weeks.values()) {
      const item = document.createElement("li");
      const link = (url, text) => {
        const a = document.createElement("a");
        a.href = new URL(url).pathname;
        a.target = "_blank";
        a.textContent = text;
        a.addEventListener("click", openReport);
        return a;
      };
      item.append(link(report.url, report.week ? `${report.week} (${report.start} – ${report.end})` : report.file));
      if (report.pdf) item.append(" · ", link(report.pdf, "PDF"));
      list.append(item);
    }
    $("reports").hidden = false;
  } catch {
    $("reports").hidden = true;
  }
}

async function openReport(e) {
  e.preventDefault();
  const tab = window.open("", "_blank");  // opened within the click, so no pop-up blocker stops it
  try {
    const r = await fetch(e.currentTarget.href, { headers: authHeaders() });
    if (!r.ok) throw new ApiError(r.status, null, null);
    const type = r.headers.get("Content-Type") || "text/html";
    const url = URL.createObjectURL(new Blob([await r.blob()], { type }));
    if (tab) tab.location = url; else location.assign(url);
  } catch (err) {
    if (tab) tab.close();
    showError(err instanceof ApiError ? err : new ApiError(0, "network", null));
  }
}

let mode = "queue";  // "queue" (GET /me/queue) or "all" (GET /alerts with the filters)
let listRequest = 0;  // only the latest list request draws the list
async function showList(next) {
  const request = ++listRequest;
  navigation += 1;
  mode = next;
  clearError();
  $("list").hidden = false;
  $("panel").hidden = true;
  $("filters").hidden = mode === "queue";
  $("show-queue").setAttribute("aria-pressed", String(mode === "queue"));
  $("show-all").setAttribute("aria-pressed", String(mode === "all"));
  const params = filterParams();
  setHash({ view: mode, ...(mode === "all" ? Object.fromEntries(params) : {}) });
  $("alerts").setAttribute("aria-busy", "true");  // being drawn again: assistive technology waits for it
  try {
    const data = mode === "queue" ? await api("/me/queue") : await api(`/alerts?${params}&limit=500`);
    if (request !== listRequest) return;  // a newer request (another filter, another view) is drawing it
    renderList(data.features, data.numberMatched);
    $("alerts").removeAttribute("aria-busy");
    await loadTargets(data.features);
  } catch (err) {
    if (request === listRequest) $("alerts").removeAttribute("aria-busy");
    showError(err);
  }
  const exportParams = mode === "all" ? params : new URLSearchParams({ status: "assigned,in_field" });
  for (const format of ["gpx", "kml", "gpkg"]) $(format).href = `/exports/alerts?format=${format}&${exportParams}`;
}

/** The year's targets (``GET /targets/{year}``): violations, and afforestation checked from space, for the year of
 * the newest alert in the list. */
async function loadTargets(features) {
  const newest = features.map((f) => f.properties.first_detected || "").sort().pop();
  const year = newest ? newest.slice(0, 4) : String(new Date().getFullYear());
  const body = $("targets-body");
  body.replaceChildren();
  $("targets-year").textContent = year;
  try {
    const targets = await api(`/targets/${year}`);
    for (const [key, figure] of Object.entries(targets.violations)) {
      const row = document.createElement("tr");
      row.dataset.target = key;
      for (const value of [t(`target.${key}`), figure.current, figure.baseline, figure.target]) {
        const cell = document.createElement(row.children.length ? "td" : "th");
        cell.textContent = typeof value === "number" ? String(Math.round(value * 100) / 100) : value;
        row.append(cell);
      }
      body.append(row);
    }
    // Afforestation: registered beside confirmed from imagery against the hectares target, area by lot status,
    // trees by programme (plantation lots vs scattered trees).
    const space = targets.afforestation_status;
    if (space) {
      const rows = [["registered_ha", space.registered_ha, space.target_ha], ["confirmed_ha", space.confirmed_ha, space.target_ha],
        ...Object.entries(space.area_by_status).map(([k, v]) => [`lot.${k}`, v, null]),
        ...Object.entries(space.trees_by_programme).map(([k, v]) => [`trees.${k}`, v, null])];
      for (const [key, current, target] of rows) {
        const row = document.createElement("tr");
        row.dataset.target = key;
        for (const value of [t(`target.${key}`), current, null, target]) {
          const cell = document.createElement(row.children.length ? "td" : "th");
          cell.textContent = value === null ? "" : typeof value === "number" ? String(Math.round(value * 100) / 100) : value;
          row.append(cell);
        }
        body.append(row);
      }
    }
    $("targets").hidden = false;
  } catch {
    $("targets").hidden = true;  // no targets for that year: nothing to show
  }
}

function filterParams() {
  const params = new URLSearchParams();
  const form = $("filters");
  for (const name of FILTERS) if (form[name].value) params.set(name, form[name].value);
  return params;
}

function renderList(features, total) {
  const list = $("alerts");
  // A keyboard user keeps their place when the list is redrawn under them.
  const focused = list.contains(document.activeElement) ? document.activeElement.dataset.alertId : null;
  list.replaceChildren();
  if (mode === "queue") {
    const n = (s) => features.filter((f) => f.properties.status === s).length;
    $("count").textContent = t("queue_count", { n: features.length, assigned: n("assigned"), in_field: n("in_field") });
  } else {
    $("count").textContent = t("count", { n: total ?? features.length });
  }
  for (const f of features) {
    const p = f.properties;
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = `alert-item status-${p.status}`;
    button.dataset.alertId = p.id;
    button.textContent = `${p.id} · ${Number(p.area_ha).toFixed(2)} ha · ${t(`confidence.${p.confidence}`)} · `
      + `${t(`status.${p.status}`)}${p.district ? ` · ${p.district}` : ""}`;
    button.addEventListener("click", () => openAlert(p.id));
    item.append(button);
    list.append(item);
    if (p.id === focused) button.focus();
  }
}

/** Downloads go through fetch so they carry the token (a plain link cannot, and reads may need a login). */
async function download(e) {
  e.preventDefault();
  clearError();
  const link = e.currentTarget;
  try {
    const r = await fetch(link.href, { headers: authHeaders() });
    if (!r.ok) throw new ApiError(r.status, null, null);
    const name = /filename="([^"]+)"/.exec(r.headers.get("Content-Disposition") || "")?.[1] || `alerts.${link.id}`;
    const save = document.createElement("a");
    save.href = URL.createObjectURL(await r.blob());
    save.download = name;
    save.click();
    setTimeout(() => URL.revokeObjectURL(save.href), 10000);
  } catch (err) {
    showError(err instanceof ApiError ? err : new ApiError(0, "network", null));
  }
}
for (const format of ["gpx", "kml", "gpkg"]) $(format).addEventListener("click", download);

$("show-queue").addEventListener("click", () => showList("queue"));
$("show-all").addEventListener("click", () => showList("all"));
$("filters").addEventListener("change", () => showList("all"));
$("back").addEventListener("click", () => { current = null; select(map, null); showList(mode); });

// --- the alert panel ------------------------------------------------------------------------------------------
async function openAt(lngLat) {
  const d = 0.0005;
  const found = await api(`/alerts?bbox=${lngLat.lng - d},${lngLat.lat - d},${lngLat.lng + d},${lngLat.lat + d}&limit=1`);
  if (found.features.length) await openAlert(found.features[0].properties.id);
}

async function openAlert(id) {
  navigation += 1;
  clearError();
  try {
    current = await withPending(await api(`/alerts/${encodeURIComponent(id)}`));
  } catch (err) {
    return showError(err);
  }
  $("list").hidden = true;
  $("panel").hidden = false;
  $("sheet").scrollTop = 0;  // the alert's title first, wherever the list was scrolled to
  setHash({ ...hashState(), alert: id });
  renderAlert(current);
  select(map, current);
  $("photos-box").hidden = !me;  // field photos are evidence: never shown to anonymous readers
  await Promise.all([loadHistory(id), me ? loadPhotos(id) : null, me ? loadTracks(id) : null, loadImagery(current)]);
}

function centroid(feature) {
  const p = feature.properties;
  if (p.centroid_lat != null && p.centroid_lon != null) return [p.centroid_lat, p.centroid_lon];
  const [[minx, miny], [maxx, maxy]] = bbox(feature.geometry);
  return [(miny + maxy) / 2, (minx + maxx) / 2];
}

function fact(list, label, value) {
  const dt = document.createElement("dt");
  dt.textContent = label;
  const dd = document.createElement("dd");
  if (value instanceof Node) dd.append(value); else dd.textContent = value ?? "–";
  list.append(dt, dd);
}

function renderAlert(feature) {
  const p = feature.properties;
  $("alert-title").textContent = `${t(`status.${p.status}`)} · ${p.id}`;
  const facts = $("facts");
  facts.replaceChildren();
  const [lat, lon] = centroid(feature);
  const coords = `${lat.toFixed(6)}, ${lon.toFixed(6)}`;
  const copy = document.createElement("span");
  const text = document.createElement("output");
  text.id = "coords";
  text.textContent = coords;
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = t("copy");
  button.setAttribute("aria-label", `${t("copy")} ${t("coordinates")}`);
  button.addEventListener("click", async () => {
    try { await navigator.clipboard.writeText(coords); button.textContent = t("copied"); } catch { /* no clipboard */ }
  });
  copy.append(text, " ", button);
  fact(facts, t("area_ha"), Number(p.area_ha).toFixed(2));
  fact(facts, t("confidence"), t(`confidence.${p.confidence}`));
  fact(facts, t("first_detected"), p.first_detected);
  fact(facts, t("last_update"), p.last_update);
  const units = feature.places?.units || [];
  fact(facts, t("district"), units.length
    ? units.map((u) => `${u.name} (${u.valid_from.slice(0, 4)}${u.valid_to ? `–${u.valid_to.slice(0, 4)}` : ""})`).join(" · ")
    : p.district);
  fact(facts, t("coordinates"), copy);
  // The centroid in the region's official projected CRS, named after it: vn2000_x/_y/_epsg for VN-2000 (Lâm
  // Đồng's TM-3 zones), epsg<code>_x/_y/_epsg (or official_*) for another region (geo.region.coordinate_prefix).
  const prefix = Object.keys(p).filter((k) => k.endsWith("_epsg")).map((k) => k.slice(0, -5))
    .find((k) => p[`${k}_x`] != null && p[`${k}_y`] != null);
  if (prefix) {
    const label = prefix === "vn2000" ? t("vn2000") : t("projected");
    fact(facts, label,
      `X ${Number(p[`${prefix}_x`]).toFixed(1)}, Y ${Number(p[`${prefix}_y`]).toFixed(1)} (EPSG:${p[`${prefix}_epsg`]})`);
  }
  if (p.forest_category) fact(facts, t("forest_category"), t(`forest.${p.forest_category}`));
  const zones = feature.places?.zones || [];
  if (zones.length) {
    fact(facts, t("zones"), zones.map((z) => `${z[currentLang()] || z.zone_type} (${z.zone_type}) · ${z.layer} `
      + `${z.valid_from} · ${Math.round(z.share * 100)}%`).join("; "));
  }
  if (p.assigned_to) fact(facts, t("assigned_to"), p.assigned_to);
  if (p.cause) fact(facts, t("cause"), t(`cause.${p.cause}`));
  if (p.dismiss_reason) fact(facts, t("reason"), t(`reason.${p.dismiss_reason}`));
  if (p.case_id) {
    const text = document.createElement("span");
    text.id = "case-fact";
    text.textContent = String(p.case_id);
    fact(facts, t("case"), text);
    api(`/cases/${p.case_id}`).then((c) => {  // its number, date, violation and damage, as on the file
      text.textContent = [c.number, c.opened, t(`violation.${c.violation_type}`),
        c.area_ha != null ? `${Number(c.area_ha).toFixed(2)} ha` : null,
        c.timber_m3 != null ? `${c.timber_m3} m³` : null].filter(Boolean).join(" · ");
    }).catch(() => { /* the id stays */ });
  }
  if (p.review_note) fact(facts, t("note"), p.review_note);
  $("navigate").href = `geo:${lat.toFixed(6)},${lon.toFixed(6)}`;
  $("pending").textContent = feature.pending ? t("outbox.pending", { n: feature.pending }) : "";
  showPosition?.();
  renderActions(p);
}

/** The actions the user's role has from this status (the API's review steps: new → assigned → in the field →
 * confirmed or dismissed; an admin assigns and reopens). Units are left to the API's rule: a ranger outside them
 * gets its 403, shown in the page's language, so the page never disagrees with the server. */
function renderActions(p) {
  const reviewer = me && (me.role === "ranger" || me.role === "admin");
  $("actions").hidden = !reviewer;
  $("act-field").hidden = !(reviewer && p.status === "assigned");
  $("confirm-form").hidden = !(reviewer && p.status === "in_field");
  $("dismiss-form").hidden = !(reviewer && ["assigned", "in_field"].includes(p.status));
  $("assign-form").hidden = !(me && me.role === "admin" && p.status !== "in_field");
  $("case-form").hidden = !(reviewer && p.status === "confirmed" && !p.case_id);
  $("add-case-form").hidden = $("case-form").hidden;
  if (!$("add-case-form").hidden) loadCases(p);
  $("photo-form").hidden = !reviewer;
  $("track-box").hidden = !(reviewer && (p.status === "in_field" || recording() === p.id));
  renderTrack(p.id);
}

/** The recorded walk of the alert in the panel: on or off, its points and length so far. */
async function renderTrack(id) {
  const on = recording() === id;
  $("track-toggle").textContent = t(on ? "track.stop" : "track.start");
  $("track-toggle").setAttribute("aria-pressed", String(on));
  const walk = await trackPoints(id);
  const status = $("track-status");
  status.dataset.points = String(walk.length);
  status.textContent = walk.length || on ? t("track.status", { n: walk.length, m: lengthM(walk).toFixed(0) }) : "";
}

/** The walk recorded for this alert, sent with its review (kept in the outbox when offline); recording stops. */
async function sendTrack(id) {
  if (recording() === id) stopTrack();
  const walk = await trackPoints(id);
  if (walk.length >= 2) {
    await write((key) => api(`/alerts/${encodeURIComponent(id)}/tracks`,
                             { method: "POST", json: { points: walk }, headers: { "Idempotency-Key": key } }),
                () => queueTrack(id, walk));
  }
  await clearTrack(id);
}

/** The walks kept with an alert, each with its GPX (fetched with the token). */
async function loadTracks(id) {
  const list = $("tracks");
  list.replaceChildren();
  try {
    for (const tr of await api(`/alerts/${encodeURIComponent(id)}/tracks`)) {
      const li = document.createElement("li");
      li.className = "track";
      li.append(t("track.kept", { n: tr.point_count, m: tr.length_m.toFixed(0), who: tr.uploaded_by || "",
                                  date: (tr.started_at || "").slice(0, 16).replace("T", " ") }), " ");
      const gpx = document.createElement("a");
      gpx.href = `/tracks/${tr.id}.gpx`;
      gpx.textContent = "GPX";
      gpx.addEventListener("click", download);
      li.append(gpx);
      list.append(li);
    }
  } catch (err) {
    if (![0, 401, 503].includes(err.status)) showError(err);
  }
}

/** One history step in words: the status reached and its cause or reason, or the case the alert went into. */
function describe(h) {
  if (h.action === "open_case" || h.action === "add_to_case") {
    return `${t(h.action)}: ${(h.reason || "").replace(/^case /, "")}`;
  }
  const coded = h.to_status === "confirmed" ? "cause" : "reason";
  return `${t(`status.${h.to_status}`)}${h.reason ? ` · ${t(`${coded}.${h.reason}`)}` : ""}`;
}

async function loadHistory(id) {
  const list = $("history");
  list.replaceChildren();
  try {
    for (const h of await api(`/alerts/${encodeURIComponent(id)}/history`)) {
      const item = document.createElement("li");
      item.textContent = `${h.at.slice(0, 16).replace("T", " ")} · ${h.username ?? ""} · ${describe(h)}`
        + `${h.note ? ` · ${h.note}` : ""}`;
      item.className = `history-${h.to_status}`;
      list.append(item);
    }
  } catch (err) {
    if (!(err.status === 401 && !me)) showError(err);  // an anonymous reader sees no review history
  }
}

const IMAGERY_ZOOM = 15;  // about 5 m a pixel: a clearing of a few hectares spans tens of pixels
// true colour, false colour (NIR-SWIR-red: bare soil shows) and NDVI of each scene; the NDVI drop after
const IMAGERY_LAYERS = { before: ["truecolor", "falsecolor", "ndvi"], after: ["truecolor", "falsecolor", "ndvi", "change"] };

/** The alert's own before and after scenes (true colour and NDVI), one tile each around the alert's centre, with
 * a mark where the alert is; fetched with the token like photos (an <img> cannot send it). */
async function loadImagery(feature) {
  const box = $("imagery");
  box.replaceChildren();
  const scenes = feature.imagery || {};
  if (!scenes.before && !scenes.after) { box.textContent = t("no_imagery"); return; }
  const [lat, lon] = centroid(feature);
  const pairs = ["truecolor", "falsecolor", "ndvi", "change"].flatMap((layer) => ["before", "after"]
    .filter((when) => scenes[when] && IMAGERY_LAYERS[when].includes(layer)).map((when) => [when, layer]));
  await Promise.all(pairs.map(async ([when, layer]) => {  // before beside after, layer by layer, fetched at once
    const scene = scenes[when];
    {
      const figure = document.createElement("figure");
      figure.className = `scene scene-${when}`;
      const caption = document.createElement("figcaption");
      caption.textContent = `${t(`imagery.${when}`)} ${scene.acquired} · ${t(`imagery.${layer}`)}`;
      figure.append(caption);
      box.append(figure);  // in order, filled as each tile arrives
      try {
        const range = await api(new URL(scene.tilejson[layer]).pathname);
        const z = Math.max(range.minzoom, Math.min(IMAGERY_ZOOM, range.maxzoom));
        const n = 2 ** z;
        const fx = (lon + 180) / 360 * n;
        const fy = (1 - Math.asinh(Math.tan(lat * Math.PI / 180)) / Math.PI) / 2 * n;
        const url = new URL(scene.tiles[layer].replace("{z}", z).replace("{x}", Math.floor(fx))
          .replace("{y}", Math.floor(fy)));
        const r = await fetch(url.pathname, { headers: authHeaders() });
        if (!r.ok) throw new ApiError(r.status, null, null);
        const img = document.createElement("img");
        img.alt = caption.textContent;
        img.src = URL.createObjectURL(await r.blob());
        const mark = document.createElement("span");
        mark.className = "scene-mark";
        mark.style.left = `${(fx % 1) * 100}%`;
        mark.style.top = `${(fy % 1) * 100}%`;
        const tile = document.createElement("div");
        tile.className = "scene-tile";
        tile.append(img, mark);
        figure.prepend(tile);
      } catch (err) {
        figure.prepend(err instanceof ApiError ? err.message_() : t("error.other"));
      }
    }
  }));
}

async function loadPhotos(id) {
  const box = $("photos");
  box.replaceChildren();
  try {
    const photos = await api(`/alerts/${encodeURIComponent(id)}/photos`);
    if (!photos.length) box.textContent = t("no_photos");
    for (const photo of photos) {  // an <img> cannot send the token: fetch the bytes and show a blob
      // The thumbnail (320 px, kept in offline areas); a tap opens the original when the network is there.
      const r = await fetch(`/photos/${photo.id}/thumbnail`, { headers: authHeaders() });
      const img = document.createElement("img");
      img.alt = photo.filename || `${t("photo")} ${photo.id}`;
      img.className = "photo-thumb";
      img.dataset.photoId = String(photo.id);
      img.title = t("photo.open");
      img.src = URL.createObjectURL(await r.blob());
      img.addEventListener("click", () => openPhoto(photo.id));
      box.append(img);
    }
  } catch (err) {
    if (err.status !== 401) showError(err);
  }
}

/** The original photo in a new tab (fetched with the token); offline it is not on the phone: say so. */
async function openPhoto(id) {
  const tab = window.open("", "_blank");
  try {
    const r = await fetch(`/photos/${id}`, { headers: authHeaders() });
    if (!r.ok) throw new ApiError(r.status, r.status === 503 ? "offline" : null, null);
    if (tab) tab.location = URL.createObjectURL(await r.blob());
  } catch (err) {
    if (tab) tab.close();
    showError(err instanceof ApiError ? err : new ApiError(0, "network", null));
  }
}

/** POST a review step with the version the panel shows; a 409 leaves the forms as typed. */
async function transition(to, extra = {}) {
  const p = current.properties;
  const body = { to, version: p.version, ...extra };
  return write((key) => api(`/alerts/${encodeURIComponent(p.id)}/transitions`,
                            { method: "POST", json: body, headers: { "Idempotency-Key": key } }),
               () => queueTransition(p.id, body));
}

function uploadPhoto(file) {
  const id = current.properties.id;
  const body = new FormData();
  body.append("file", file);
  return write((key) => api(`/alerts/${encodeURIComponent(id)}/photos`,
                            { method: "POST", body, headers: { "Idempotency-Key": key } }),
               () => queuePhoto(id, file));
}

// --- offline: the service worker, offline areas, the outbox and the position (offline.js, outbox.js, position.js)
registerWorker();
let showPosition = null;

/** A write sent now when the network answers, else kept in the outbox (IndexedDB) to be sent on reconnection. */
async function write(online, queue) {
  if (navigator.onLine && !(await outboxItems()).length) {  // behind queued items it waits its turn
    try {
      return await online(crypto.randomUUID());
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 0) throw err;
    }
  }
  await queue();
  await renderOutbox();
  return null;
}

function netState() { $("net").textContent = t(navigator.onLine ? "offline.online" : "offline.offline"); }

async function renderOutbox() {
  const list = $("outbox");
  list.replaceChildren();
  for (const item of await outboxItems()) {
    const li = document.createElement("li");
    li.className = `outbox-item outbox-${item.state}`;
    li.dataset.alertId = item.alertId;
    const what = item.kind === "transition" ? t(`status.${item.body.to}`) : t(item.kind);
    li.append(t(`outbox.${item.state}`, { id: item.alertId, what }));
    if (item.state === "conflict" && item.server) {
      const s = item.server;
      const theirs = document.createElement("p");
      theirs.className = "conflict-server";
      theirs.textContent = t("outbox.theirs", { status: t(`status.${s.status}`), who: s.reviewed_by || "", version: s.version });
      const mine = document.createElement("p");
      mine.className = "conflict-mine";
      mine.textContent = t("outbox.mine", { status: what, version: item.body.version });
      const keep = document.createElement("button");
      keep.type = "button";
      keep.textContent = t("outbox.keep_mine");
      keep.addEventListener("click", async () => { await keepMine(item.seq, s.version); await sync(); });
      const drop = document.createElement("button");
      drop.type = "button";
      drop.textContent = t("outbox.take_theirs");
      drop.addEventListener("click", async () => { await dropMine(item.seq); await sync(); });
      li.append(theirs, mine, keep, " ", drop);
    }
    list.append(li);
  }
}

async function sync() {
  netState();
  if (navigator.onLine) await flush();
  await renderOutbox();
  if (current && navigator.onLine) await afterChange().catch(() => {});
}

let offlineStarted = false;
function startOffline() {
  const reviewer = me && (me.role === "ranger" || me.role === "admin");
  $("offline").hidden = !reviewer;
  if (!reviewer || offlineStarted) return;
  offlineStarted = true;
  offlineSection(() => [...document.querySelectorAll("#alerts .alert-item")].map((b) => b.dataset.alertId), showError,
                 () => map);
  $("outbox-send").addEventListener("click", sync);
  window.addEventListener("online", sync);
  window.addEventListener("offline", netState);
  setInterval(async () => { if (navigator.onLine && (await outboxItems()).some((i) => i.state === "waiting")) sync(); }, 5000);
  showPosition = follow(() => (current ? centroid(current) : null), $("position"));
  resumeRecording((id) => { if (current && current.properties.id === id) renderTrack(id); });
  sync();
}

async function afterChange() {
  const id = current.properties.id;
  current = await withPending(await api(`/alerts/${encodeURIComponent(id)}`));
  renderAlert(current);
  await Promise.all([loadHistory(id), me ? loadPhotos(id) : null, me ? loadTracks(id) : null]);
  refreshAlerts(map);
}

async function act(work, form) {
  clearError();
  try {
    await work();
    if (form) form.reset();
    await afterChange();
  } catch (err) {
    showError(err);  // the forms keep what was typed
    if (err.status === 409) await afterChange();  // show the other person's change; a resend uses its version
  }
}

$("act-field").addEventListener("click", () => act(async () => {
  const id = current.properties.id;
  await transition("in_field");
  startTrack(id);  // the walk is recorded while in the field (the ranger may stop it)
}));

$("track-toggle").addEventListener("click", () => {
  const id = current.properties.id;
  if (recording() === id) stopTrack();
  else startTrack(id);
  renderTrack(id);
});

$("confirm-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const form = e.target;
  act(async () => {
    const id = current.properties.id;
    await transition("confirmed", { cause: form.cause.value, note: form.note.value || null });
    const file = form.photo.files[0];
    if (file) await uploadPhoto(file);
    await sendTrack(id);
  }, form);
});

$("photo-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const form = e.target;
  act(() => uploadPhoto(form.photo.files[0]), form);
});

$("assign-form").addEventListener("submit", (e) => {
  e.preventDefault();
  act(() => transition("assigned", { assignee: e.target.assignee.value }));
});

/** The rangers an admin may assign to (``GET /users`` is an admin's). */
async function loadRangers() {
  if (!me || me.role !== "admin") return;
  try {
    const rangers = (await api("/users")).filter((u) => u.role === "ranger" && !u.disabled);
    fillOptions($("assign-form").assignee, rangers.map((u) => ({ id: u.username, name: u.display_name || u.username })), "");
  } catch (err) {
    showError(err);
  }
}

$("dismiss-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const form = e.target;
  act(async () => {
    const id = current.properties.id;
    await transition("dismissed", { reason: form.reason.value, note: form.note.value || null });
    await sendTrack(id);
  }, form);
});

/** The cases of the alert's unit this year and last, for "add to an existing case". */
let cases = [];
async function loadCases(p) {
  const select = $("add-case-form").case_id;
  const year = Number((p.first_detected || "").slice(0, 4)) || new Date().getFullYear();
  try {
    const found = [...await api(`/cases?year=${year}`), ...await api(`/cases?year=${year - 1}`)];
    cases = found.filter((c) => !p.district_id || !c.district_id || c.district_id === p.district_id);
    fillOptions(select, cases.map((c) => ({ id: String(c.id),
      name: `${c.number} · ${c.opened} · ${t(`violation.${c.violation_type}`)}` })), "");
  } catch (err) {
    showError(err);
  }
  $("add-case-form").hidden = !cases.length;  // nothing to add to: only "open a case"
}

$("add-case-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const form = e.target;
  const chosen = cases.find((c) => String(c.id) === form.case_id.value);
  if (!chosen) return;
  act(() => api(`/cases/${chosen.id}/alerts`, { method: "POST", json: {
    alert_ids: [current.properties.id], version: chosen.version, note: form.note.value || null,
  } }), form);
});

$("case-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const form = e.target;
  const timber = form.timber_m3.value;
  act(() => api("/cases", { method: "POST", json: {
    number: form.number.value, opened: form.opened.value, violation_type: form.violation_type.value,
    alert_ids: [current.properties.id], timber_m3: timber === "" ? null : Number(timber),
  } }), form);
});

try {
  config = await (await fetch("/app/config.json")).json();
} catch { /* no server: the log-in form says so when used */ }
await setLang(sessionStorage.getItem("forestmon.lang") || config.lang || savedLang());
relabelOptions();
await start();
