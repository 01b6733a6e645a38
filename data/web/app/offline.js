// Offline areas: the alerts of the list, with their history, photos, vector tiles and imagery tiles, downloaded
// into the Cache Storage the service worker answers from. The size is announced (POST /offline/package) before
// anything is downloaded; an area is listed with what it holds, can be deleted, and a dropped download resumes
// where it stopped (what is already cached is not fetched again).
import { ApiError, api, authHeaders, keepToken } from "./api.js";
import { t } from "./i18n.js";

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

/** What a package for these alerts holds and weighs (the server refuses one above the cap). */
export function plan(ids, capMb) {
  return api("/offline/package", { method: "POST", json: { ids, ...(capMb ? { cap_mb: capMb } : {}) } });
}

/** Download a planned package; ``progress(done, total)`` after each file. Resumable: call it again. */
export async function download(pkg, progress = () => {}) {
  const cache = await caches.open(DATA);
  const id = pkg.alerts.join(",");
  let list = areas();
  let area = list.find((a) => a.id === id);
  if (!area) {
    area = { id, alerts: pkg.alerts, announced: pkg.bytes, stored: 0, files: pkg.resources.length,
             urls: pkg.resources.map((r) => r.url), created: new Date().toISOString(), complete: false };
    list.push(area);
    saveAreas(list);
  }
  keepToken();  // the area is read offline after the tab closes: the login stays on this device
  let done = 0;
  let stored = 0;
  for (const { url } of [...pkg.resources, ...APP_READS.map((u) => ({ url: u }))]) {
    const have = APP_READS.includes(url) ? null : await cache.match(url, { ignoreVary: true });
    if (have) {
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
      await cache.put(url, new Response(body, { headers: { "Content-Type": r.headers.get("Content-Type") || "" } }));
    }
    done += 1;
    progress(Math.min(done, pkg.resources.length), pkg.resources.length);
  }
  list = areas();
  area = list.find((a) => a.id === id);
  Object.assign(area, { stored, complete: true });
  saveAreas(list);
  return area;
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

/** The "Ngoại tuyến / Offline" section: plan, download, list and delete areas for the ``ids()`` of the list. */
export function offlineSection(ids, showError) {
  const $ = (id) => document.getElementById(id);
  let pkg = null;
  const render = () => {
    const box = $("areas");
    box.replaceChildren();
    for (const area of areas()) {
      const li = document.createElement("li");
      li.className = "area";
      li.dataset.area = area.id;
      li.append(t(area.complete ? "offline.area" : "offline.area_partial",
                  { n: area.alerts.length, mb: megabytes(area.stored), date: area.created.slice(0, 10) }), " ");
      const del = document.createElement("button");
      del.type = "button";
      del.textContent = t("offline.delete");
      del.setAttribute("aria-label", `${t("offline.delete")} ${area.alerts.length}`);
      del.addEventListener("click", async () => { await remove(area.id); render(); });
      li.append(del);
      box.append(li);
    }
  };
  $("offline-plan").addEventListener("click", async () => {
    $("offline-size").textContent = t("offline.measuring");
    $("offline-download").hidden = true;
    try {
      pkg = await plan(ids(), Number($("offline-cap").value) || null);
      $("offline-size").textContent = t("offline.size", { n: pkg.alerts.length, mb: megabytes(pkg.bytes),
                                                         files: pkg.resources.length });
      $("offline-size").dataset.bytes = String(pkg.bytes);
      $("offline-download").hidden = false;
    } catch (err) {
      $("offline-size").textContent = err instanceof ApiError ? err.message_() : t("error.other");
    }
  });
  $("offline-download").addEventListener("click", async () => {
    const status = $("offline-progress");
    try {
      const area = await download(pkg, (done, total) => { status.textContent = t("offline.progress", { done, total }); });
      status.textContent = t("offline.done", { mb: megabytes(area.stored) });
      status.dataset.bytes = String(area.stored);
    } catch (err) {
      status.textContent = t("offline.dropped");
      showError(err);
    }
    render();
  });
  render();
  return render;
}
