// Reviews made without signal: each write (a review step, a photo, a recorded walk) is kept in IndexedDB with the alert version it
// was made on and an idempotency key, shown as waiting, and sent in order when the network is back. A stale
// version is a conflict: the item stays, the server keeps the other change, and the ranger decides.
import { ApiError, api } from "./api.js";

const DB = "forestmon";
const STORE = "outbox";

function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: "seq", autoIncrement: true });
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

/** Every queued item, oldest first. */
export const items = () => run("readonly", (s) => s.getAll());
const put = (item) => run("readwrite", (s) => s.put(item));
const remove = (seq) => run("readwrite", (s) => s.delete(seq));

/** Queue a review step (``body`` as POST /alerts/{id}/transitions takes it, with its ``version``). */
export function queueTransition(alertId, body) {
  return put({ kind: "transition", alertId, body, key: crypto.randomUUID(), state: "waiting", at: new Date().toISOString() });
}

/** Queue a photo (the File itself is kept in IndexedDB). */
export function queuePhoto(alertId, file) {
  return put({ kind: "photo", alertId, file, name: file.name || "photo.jpg", key: crypto.randomUUID(), state: "waiting",
               at: new Date().toISOString() });
}

/** Queue a recorded walk (``points`` as POST /alerts/{id}/tracks takes them). */
export function queueTrack(alertId, points) {
  return put({ kind: "track", alertId, points, key: crypto.randomUUID(), state: "waiting", at: new Date().toISOString() });
}

/** Send one item with its idempotency key (a retry after a dropped answer changes nothing twice). */
export async function send(item) {
  const headers = { "Idempotency-Key": item.key };
  const path = `/alerts/${encodeURIComponent(item.alertId)}`;
  if (item.kind === "transition") return api(`${path}/transitions`, { method: "POST", json: item.body, headers });
  if (item.kind === "track") return api(`${path}/tracks`, { method: "POST", json: { points: item.points }, headers });
  const body = new FormData();
  body.append("file", item.file, item.name);
  return api(`${path}/photos`, { method: "POST", body, headers });
}

let flushing = null;
/** Send what waits, in order. Stops at a network failure; a 409 marks the item (and holds back the rest of that
 * alert's items) as a conflict with the server's current state. Returns the items left. */
export function flush() {
  flushing ??= (async () => {
    try {
      const blocked = new Set();
      for (const item of await items()) {
        if (item.state === "conflict" || blocked.has(item.alertId)) { blocked.add(item.alertId); continue; }
        try {
          await send(item);
          await remove(item.seq);
        } catch (err) {
          if (!(err instanceof ApiError) || err.status === 0 || err.status === 503) break;  // still offline
          if (err.status === 409) {
            let server = null;
            try { server = (await api(`/alerts/${encodeURIComponent(item.alertId)}`)).properties; } catch { /* keep */ }
            await put({ ...item, state: "conflict", code: err.code, server });
          } else {
            await put({ ...item, state: "failed", code: err.code, status: err.status });
          }
          blocked.add(item.alertId);
        }
      }
      return await items();
    } finally {
      flushing = null;
    }
  })();
  return flushing;
}

/** The ranger keeps their decision: send it again on the server's current version. */
export async function keepMine(seq, version) {
  const item = (await items()).find((i) => i.seq === seq);
  await put({ ...item, state: "waiting", body: { ...item.body, version }, key: crypto.randomUUID(), server: null });
}

/** The ranger accepts the server's state: drop this item and the alert's later review steps. */
export async function dropMine(seq) {
  const all = await items();
  const item = all.find((i) => i.seq === seq);
  for (const other of all) if (other.alertId === item.alertId && other.seq >= seq) await remove(other.seq);
}

/** An alert as the ranger left it: the stored feature with the waiting review steps applied. */
export async function withPending(feature) {
  const p = { ...feature.properties };
  const mine = (await items()).filter((i) => i.alertId === p.id && i.kind === "transition" && i.state === "waiting");
  for (const item of mine) {
    p.status = item.body.to;
    p.version = item.body.version + 1;
    if (item.body.cause) p.cause = item.body.cause;
    if (item.body.reason) p.dismiss_reason = item.body.reason;
  }
  return { ...feature, properties: p, pending: mine.length };
}
