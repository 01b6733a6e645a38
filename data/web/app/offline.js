// Offline areas: the alerts of the list or of a rectangle drawn on the map, with their history, photos'
// thumbnails, vector tiles, imagery tiles and GPX/KML/GeoPackage exports, downloaded into the Cache Storage the
// service worker answers from. The size is announced (POST /offline/package) before anything is downloaded; an
// area is listed with what it holds, its exports can be saved (offline too), it can be deleted, and a dropped
// download resumes ("Tải tiếp") from the list of its files kept in localStorage: only the files not yet in the
// cache are fetched.
import { ApiError, api, authHeaders, keepToken } from "./api.js";
import { t } from "./i18n.js";
import { drawRectangle, rectangleKm2, showDrawn } from "./map.js";

const DATA = "forestmon-data";  // the service worker's data cache (sw.js)
const AREAS = "forestmon.areas";
// What the app reads on opening (who is logged in, the queue, the district list), kept with every area so the app
// opens offline even if the service worker was not yet in control when they were first read.
const APP_READS = ["/me", "/me/queue", "/ogc/collections/admin_2024/items?limit=100"];

/** Register the service worker (scope "/"); the app works without it, online. */
export async function registerWorker() {
  if (!("serviceWorker" in navigator)) return null;
  try {
    await navigator.serviceWorker.register("/sw.js", { scope: "/" });
    return await navigator.serviceWorker.ready;
  } catch (err) {
    console.warn("service worker", err);
    return null;
  }
}

export function areas() { return JSON.parse(localStorage.getItem(AREAS) || "[]"); }
function saveAreas(list) { localStorage.setItem(AREAS, JSON.stringify(list)); }

/** What a package holds and weighs, for ``{ ids }`` (alerts) or ``{ bbox }`` (a drawn rectangle); the server refuses
 * one above the cap, or a rectangle too large, empty or holding too many alerts. */
export function plan(selection, capMb) {
  return api("/offline/package", { method: "POST", json: { ...selection, ...(capMb ? { cap_mb: capMb } : {}) } });
}

const EXPORTS = [["gpx", "GPX"], ["kml", "KML"], ["gpkg", "GeoPackage"]];
const exportFormat = (url) => new URLSearchParams(url.split("?")[1] || "").get("format");

/** Download a planned package; ``progress(done, total)`` after each file. Resumable: call it again (or ``resume``):
 * the area and the list of its files are kept in localStorage first, and files already cached are not fetched. */
export async function download(pkg, progress = () => {}) {
  const cache = await caches.open(DATA);
  const id = pkg.alerts.join(",");
  const keep = (fields) => {  // the area's record, updated in localStorage
    const list = areas();
    let area = list.find((a) => a.id === id);
    if (!area) {
      area = { id, alerts: pkg.alerts, bbox: pkg.bbox || null, announced: pkg.bytes, stored: 0,
               files: pkg.resources.length, urls: pkg.resources.map((r) => r.url),
               created: new Date().toISOString(), complete: false };
      list.push(area);
    }
    Object.assign(area, fields);
    saveAreas(list);
    return area;
  };
  keep({});
  keepToken();  // the area is read offline after the tab closes: the login stays on this device
  let done = 0;
  let stored = 0;
  try {
    for (const { url } of [...pkg.resources, ...APP_READS.map((u) => ({ url: u }))]) {
      const have = APP_READS.includes(url) ? null : await cache.match(url, { ignoreVary: true });
      if (have) {  // already here (an earlier, dropped download): not fetched again
        stored += (await have.clone().blob()).size;
      } else {
        let r;
        try {
          r = await fetch(url, { headers: authHeaders(), cache: "no-store" });
        } catch {
          throw new ApiError(0, "network", null);  // dropped: the next call resumes here
        }
        if (!r.ok) throw new ApiError(r.status, null, url);
        const body = await r.blob();
        if (!APP_READS.includes(url)) stored += body.size;  // the package's own files, as announced
        const headers = { "Content-Type": r.headers.get("Content-Type") || "" };
        const named = r.headers.get("Content-Disposition");  // an export keeps its file name
        if (named) headers["Content-Disposition"] = named;
        await cache.put(url, new Response(body, { headers }));
      }
      done += 1;
      progress(Math.min(done, pkg.resources.length), pkg.resources.length);
    }
  } catch (err) {
    keep({ stored, complete: false });  // listed with what it holds so far, to resume
    throw err;
  }
  return keep({ stored, complete: true });
}

/** Delete a stored area: its files, except those another stored area still needs. */
export async function remove(id) {
  const list = areas();
  const gone = list.find((a) => a.id === id);
  const rest = list.filter((a) => a.id !== id);
  const kept = new Set(rest.flatMap((a) => a.urls));
  const cache = await caches.open(DATA);
  for (const url of gone ? gone.urls : []) if (!kept.has(url)) await cache.delete(url, { ignoreVary: true });
  saveAreas(rest);
}

export function megabytes(bytes) { return (bytes / 2 ** 20).toFixed(1); }

/** Resume a dropped download of a stored area: its files are listed in localStorage, the cached ones are kept. */
export function resume(area, progress) {
  return download({ alerts: area.alerts, bbox: area.bbox, bytes: area.announced,
                    resources: area.urls.map((url) => ({ url })) }, progress);
}

/** Save an export of an area (GPX, KML, GeoPackage) as a file: read through the service worker, so offline too. */
async function saveExport(url) {
  const r = await fetch(url, { headers: authHeaders() });
  if (!r.ok) throw new ApiError(r.status, null, url);
  const name = /filename="([^"]+)"/.exec(r.headers.get("Content-Disposition") || "")?.[1]
    || `alerts.${exportFormat(url)}`;
  const save = document.createElement("a");
  save.href = URL.createObjectURL(await r.blob());
  save.download = name.replace(/^alerts/, "offline-alerts");
  document.body.append(save);
  save.click();
  save.remove();
  setTimeout(() => URL.revokeObjectURL(save.href), 10000);
}

/** The "Ngoại tuyến / Offline" section: plan, download, resume, list and delete areas, for the ``ids()`` of the list
 * or for a rectangle drawn on ``getMap()``. */
export function offlineSection(ids, showError, getMap = () => null) {
  const $ = (id) => document.getElementById(id);
  let pkg = null;
  let busy = false;
  let drawing = null;  // an AbortController while a rectangle is being drawn
  const button = (text, className, onClick, label) => {
    const b = document.createElement("button");
    b.type = "button";
    b.className = className;
    b.textContent = text;
    if (label) b.setAttribute("aria-label", label);
    b.addEventListener("click", onClick);
    return b;
  };
  const status = $("offline-progress");
  const fetchArea = async (work) => {  // one download at a time; a dropped one says how to go on
    if (busy) return;
    busy = true;
    try {
      const area = await work((done, total) => { status.textContent = t("offline.progress", { done, total }); });
      status.textContent = t("offline.done", { mb: megabytes(area.stored) });
      status.dataset.bytes = String(area.stored);
    } catch (err) {
      status.textContent = t("offline.dropped");
      if (!(err instanceof ApiError && (err.status === 0 || err.status === 503))) showError(err);
    } finally {
      busy = false;
    }
    render();
  };
  const render = () => {
    const box = $("areas");
    box.replaceChildren();
    for (const area of areas()) {
      const li = document.createElement("li");
      li.className = area.complete ? "area" : "area area-partial";
      li.dataset.area = area.id;
      const n = area.alerts.length;
      li.append(t(area.complete ? "offline.area" : "offline.area_partial",
                  { n, mb: megabytes(area.stored), date: area.created.slice(0, 10) }), " ");
      if (!area.complete) {
        li.append(button(t("offline.resume"), "area-resume", () => fetchArea((p) => resume(area, p)),
                         `${t("offline.resume")} ${n}`), " ");
      }
      const files = document.createElement("span");
      files.className = "area-exports";
      for (const [format, label] of EXPORTS) {
        const url = area.urls.find((u) => u.startsWith("/exports/") && exportFormat(u) === format);
        if (!url) continue;
        files.append(button(label, `area-export area-${format}`, () => saveExport(url).catch(showError),
                            `${label} (${n})`), " ");
      }
      li.append(files);
      li.append(button(t("offline.delete"), "area-delete", async () => { await remove(area.id); render(); },
                       `${t("offline.delete")} ${n}`));
      box.append(li);
    }
  };
  const measure = async (selection, describe) => {
    $("offline-size").textContent = t("offline.measuring");
    $("offline-download").hidden = true;
    try {
      pkg = await plan(selection, Number($("offline-cap").value) || null);
      $("offline-size").textContent = describe(pkg);
      $("offline-size").dataset.bytes = String(pkg.bytes);
      $("offline-download").hidden = false;
    } catch (err) {
      $("offline-size").textContent = err instanceof ApiError ? err.message_() : t("error.other");
    }
  };
  const sizeText = (p) => t("offline.size", { n: p.alerts.length, mb: megabytes(p.bytes), files: p.resources.length });
  $("offline-plan").addEventListener("click", () => measure({ ids: ids() }, sizeText));
  $("offline-draw").addEventListener("click", async () => {
    const map = getMap();
    if (!map) return;
    if (drawing) { drawing.abort(); return; }  // the second press cancels
    drawing = new AbortController();
    $("offline-draw").textContent = t("offline.draw_cancel");
    $("offline-size").textContent = t("offline.draw_hint");
    $("offline-download").hidden = true;
    showDrawn(map, null);
    const rect = await drawRectangle(map, drawing.signal);
    drawing = null;
    $("offline-draw").textContent = t("offline.draw");
    if (!rect) { $("offline-size").textContent = ""; return; }
    const bbox = rect.map((v) => Math.round(v * 1e6) / 1e6);
    const km2 = rectangleKm2(bbox);
    $("offline-size").dataset.km2 = km2.toFixed(3);
    await measure({ bbox }, (p) => t("offline.size_area", { km2: km2 < 10 ? km2.toFixed(2) : km2.toFixed(0),
                                                           n: p.alerts.length, mb: megabytes(p.bytes),
                                                           files: p.resources.length }));
  });
  $("offline-download").addEventListener("click", () => fetchArea((p) => download(pkg, p)));
  render();
  return render;
}
