// A recorded walk ("in the field"): the phone's positions (geolocation watchPosition) kept in IndexedDB, not in
// memory, so a closed tab or a restarted browser loses nothing; the alert being recorded is kept in localStorage
// and the recording goes on when the app opens again. The walk is sent with the review (the outbox when offline).
const DB = "forestmon-track";
const STORE = "points";
const ACTIVE = "forestmon.track";

function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => {
      const store = req.result.createObjectStore(STORE, { keyPath: "seq", autoIncrement: true });
      store.createIndex("alert", "alertId");
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function run(mode, work) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const result = work(tx.objectStore(STORE));
    tx.oncomplete = () => { db.close(); resolve(result && "result" in result ? result.result : undefined); };
    tx.onerror = () => { db.close(); reject(tx.error); };
  });
}

/** The alert whose walk is being recorded, or null. */
export function recording() { return localStorage.getItem(ACTIVE); }

/** The recorded positions of an alert, oldest first: [{lon, lat, t, accuracy_m}]. */
export async function points(alertId) {
  const rows = await run("readonly", (s) => s.index("alert").getAll(alertId));
  return rows.sort((a, b) => a.seq - b.seq).map(({ lon, lat, t, accuracy_m }) => ({ lon, lat, t, accuracy_m }));
}

/** Forget an alert's recorded positions (once sent or queued). */
export async function clear(alertId) {
  const rows = await run("readonly", (s) => s.index("alert").getAllKeys(alertId));
  await run("readwrite", (s) => { for (const key of rows) s.delete(key); });
}

/** The walk's length (m) along great circles. */
export function lengthM(walk) {
  const R = 6371008.8, rad = Math.PI / 180;
  let sum = 0;
  for (let i = 1; i < walk.length; i += 1) {
    const [a, b] = [walk[i - 1], walk[i]];
    const h = Math.sin((b.lat - a.lat) * rad / 2) ** 2
      + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin((b.lon - a.lon) * rad / 2) ** 2;
    sum += 2 * R * Math.asin(Math.sqrt(h));
  }
  return sum;
}

let watchId = null;
let last = null;
let listener = () => {};

function watch() {
  if (watchId != null || !("geolocation" in navigator)) return;
  watchId = navigator.geolocation.watchPosition(async (p) => {
    const alertId = recording();
    if (!alertId) return;
    const point = { alertId, lon: p.coords.longitude, lat: p.coords.latitude,
                    t: new Date(p.timestamp || Date.now()).toISOString(),
                    accuracy_m: Number.isFinite(p.coords.accuracy) ? p.coords.accuracy : null };
    if (last && last.lon === point.lon && last.lat === point.lat) return;  // standing still: one point
    last = point;
    await run("readwrite", (s) => s.add(point));
    listener(alertId);
  }, () => {}, { enableHighAccuracy: true, maximumAge: 0 });
}

/** Record the walk to ``alertId`` (stops any other recording); ``onPoint(alertId)`` after each stored point. */
export function start(alertId) {
  localStorage.setItem(ACTIVE, alertId);
  last = null;
  watch();
}

/** Stop recording (the positions stay until sent). */
export function stop() {
  localStorage.removeItem(ACTIVE);
  if (watchId != null) navigator.geolocation.clearWatch(watchId);
  watchId = null;
}

/** On opening the app: go on recording if a walk was being recorded; ``onPoint`` is told of each new point. */
export function resumeRecording(onPoint) {
  listener = onPoint;
  if (recording()) watch();
}
