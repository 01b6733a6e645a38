// The app's service worker: the shell is cached at install, so the app opens with no network; every GET of our
// own origin goes to the network first and, when that fails, is answered from the caches (the shell, the offline
// packages the ranger downloaded, which offline.js writes into DATA, and the last reads made online, in RECENT).
const SHELL = "forestmon-shell-v3";  // a new name when SHELL_FILES change: the old cache is dropped
const DATA = "forestmon-data";
const RECENT = "forestmon-recent";
const RECENT_MAX = 300;  // online reads kept for a reopen without signal (tiles ~10-60 KB); the oldest go first
const SHELL_FILES = [
  "/", "/static/app/app.js", "/static/app/api.js", "/static/app/map.js", "/static/app/i18n.js",
  "/static/app/offline.js", "/static/app/outbox.js", "/static/app/position.js", "/static/app/planner.js",
  "/static/app/track.js",
  "/static/app/app.css", "/app/config.json",
  "/static/app/i18n/vi.json", "/static/app/i18n/en.json", "/static/app/manifest.webmanifest",
  "/static/app/icon.svg", "/static/vendor/maplibre-gl/maplibre-gl.mjs",
  "/static/vendor/maplibre-gl/maplibre-gl-worker.mjs", "/static/vendor/maplibre-gl/maplibre-gl.css",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL).then((cache) => cache.addAll(SHELL_FILES)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) if (name.startsWith("forestmon-shell") && name !== SHELL) await caches.delete(name);
    await self.clients.claim();
  })());
});

async function fromCaches(request) {
  const url = new URL(request.url);
  const key = request.mode === "navigate" ? "/" : url.pathname + url.search;
  // The data a ranger took offline was asked for with their token: any copy of this URL will do.
  return (await caches.match(key, { ignoreVary: true, cacheName: SHELL }))
      || (await caches.match(key, { ignoreVary: true, cacheName: DATA }))
      || (await caches.match(key, { ignoreVary: true }));
}

/** Keep a copy of a read made online: a shell file in SHELL, a file of a stored offline area in DATA (kept fresh
 * there), anything else in RECENT, trimmed to its RECENT_MAX newest entries so browsing never fills the phone. */
async function keepCopy(url, copy) {
  const key = url.pathname + url.search;
  if (SHELL_FILES.includes(key)) return (await caches.open(SHELL)).put(key, copy);
  const data = await caches.open(DATA);
  if (await data.match(key, { ignoreVary: true })) return data.put(key, copy);
  const recent = await caches.open(RECENT);
  await recent.delete(key, { ignoreVary: true });  // re-added last: the order of keys() is the order of use
  await recent.put(key, copy);
  const keys = await recent.keys();
  for (const old of keys.slice(0, Math.max(keys.length - RECENT_MAX, 0))) await recent.delete(old);
}

let keeping = Promise.resolve();  // copies are kept one after another, so trimming RECENT never races itself

async function networkFirst(request, event) {
  try {
    const response = await fetch(request);
    if (response.status === 200 && request.cache !== "no-store") {  // offline.js stores its own downloads
      const url = new URL(request.url), copy = response.clone();
      keeping = keeping.then(() => keepCopy(url, copy)).catch(() => {});
      event.waitUntil(keeping);  // the worker stays up until the copy is kept
    }
    return response;
  } catch (err) {
    const cached = await fromCaches(request);
    if (cached) return cached;
    return new Response(JSON.stringify({ code: "offline", detail: null }),
                        { status: 503, headers: { "Content-Type": "application/json" } });
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET" || new URL(request.url).origin !== self.location.origin) return;
  event.respondWith(networkFirst(request, event));
});

self.addEventListener("message", (event) => {
  if (event.data === "logout") {  // nothing of the last user stays
    event.waitUntil(Promise.all([caches.delete(DATA), caches.delete(RECENT)]));
  }
});
