// The app's service worker: the shell is cached at install, so the app opens with no network; every GET of our
// own origin goes to the network first and, when that fails, is answered from the caches (the shell, what the
// app read online, and the offline packages the ranger downloaded, which offline.js writes into DATA).
const SHELL = "forestmon-shell-v3";  // a new name when SHELL_FILES change: the old cache is dropped
const DATA = "forestmon-data";
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

async function networkFirst(request) {
  try {
    const response = await fetch(request);
    if (response.ok && response.status === 200) {
      const url = new URL(request.url);
      const copy = response.clone();
      const name = SHELL_FILES.includes(url.pathname) ? SHELL : DATA;
      caches.open(name).then((cache) => cache.put(url.pathname + url.search, copy)).catch(() => {});
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
  event.respondWith(networkFirst(request));
});

self.addEventListener("message", (event) => {
  if (event.data === "logout") event.waitUntil(caches.delete(DATA));  // nothing of the last user stays
});
