// A recorded walk ("in the field"): the phone's positions (position.js's one watchPosition) kept in IndexedDB, not in
// memory, so a closed tab or a restarted browser loses nothing; the alert being recorded is kept in localStorage
// and the recording goes on when the app opens again. The walk is sent with the review (the outbox when offline).
import { lastFix, onFix } from "./position.js";

const DB = "forestmon-track";
const FRESH_MS = 120000;  // the last fix starts a walk when it is at most this old
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

let last = null;
let listener = () => {};
let subscribed = false;

async function record(p) {
  const alertId = recording();
  if (!alertId || !p) return;
  const point = { alertId, lon: p.coords.longitude, lat: p.coords.latitude,
                  t: new Date(p.timestamp || Date.now()).toISOString(),
                  accuracy_m: Number.isFinite(p.coords.accuracy) ? p.coords.accuracy : null };
  if (!last || last.alertId !== alertId) {  // after reopening the app: the walk's last stored point
    const kept = await points(alertId);
    last = kept.length ? { alertId, ...kept[kept.length - 1] } : null;
  }
  if (last && last.lon === point.lon && last.lat === point.lat) return;  // standing still: one point
  last = point;
  await run("readwrite", (s) => s.add(point));
  listener(alertId);
}

function subscribe() {
  if (subscribed) return;
  subscribed = true;
  onFix((p) => { record(p).catch((err) => console.warn("track", err)); });  // the position's one watch
}

/** Record the walk to ``alertId`` (stops any other recording), from the phone's last position if it is fresh. */
export function start(alertId) {
  localStorage.setItem(ACTIVE, alertId);
  last = null;
  subscribe();
  const fix = lastFix();
  if (fix && Date.now() - fix.timestamp < FRESH_MS) record(fix).catch((err) => console.warn("track", err));
}

/** Stop recording (the positions stay until sent). */
export function stop() { localStorage.removeItem(ACTIVE); }

/** On opening the app: go on recording if a walk was being recorded; ``onPoint(alertId)`` after each new point.
 * Call after the position is followed (position.js ``follow``). */
export function resumeRecording(onPoint) {
  listener = onPoint;
  subscribe();
}
