// Calls to our own API with the session's bearer token; errors become localized messages (ApiError).
import { currentLang, t } from "./i18n.js";

const TOKEN = "forestmon.token";

// The token lives in the tab's session; once the ranger takes an area offline it is kept on the device too
// (localStorage), so the app reopens offline after the tab or the browser was closed. Logging out forgets both.
export function token() { return sessionStorage.getItem(TOKEN) || localStorage.getItem(TOKEN); }
export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN, value);
  else { sessionStorage.removeItem(TOKEN); localStorage.removeItem(TOKEN); }
}
export function keepToken() { if (token()) localStorage.setItem(TOKEN, token()); }
export function authHeaders() { return token() ? { Authorization: `Bearer ${token()}` } : {}; }

/** An API refusal: ``status`` and, when the server gave one, its stable ``code``; ``message()`` is localized. */
export class ApiError extends Error {
  constructor(status, code, detail) {
    super(`HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
  /** The app's own words for this kind of refusal, then the server's specific message (asked for in the page's
   * language) when it says more, e.g. which alert or unit. */
  message_() {
    const byCode = this.code && t(`error.${this.code}`) !== `error.${this.code}` ? t(`error.${this.code}`) : null;
    const key = `error.${this.status}`;
    const general = byCode || (t(key) !== key ? t(key) : t("error.other"));
    return typeof this.detail === "string" && this.detail ? `${general} (${this.detail})` : general;
  }
}

/** fetch ``path`` with the token; JSON in (``json``) and out; raises ApiError on a non-2xx answer. */
export async function api(path, { method = "GET", json, body, headers = {} } = {}) {
  const init = { method, headers: { ...authHeaders(), "Accept-Language": currentLang(), ...headers } };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["Content-Type"] = "application/json";
  } else if (body !== undefined) {
    init.body = body;
  }
  let r;
  try {
    r = await fetch(path, init);
  } catch {
    throw new ApiError(0, "network", null);
  }
  const type = r.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await r.json() : null;
  if (!r.ok) throw new ApiError(r.status, data && data.code, data && data.detail);
  return data;
}

/** Log in with the OAuth2 password form; keeps the token for this browser tab's session only. */
export async function login(username, password) {
  const form = new URLSearchParams({ username, password });
  const data = await api("/auth/token", { method: "POST", body: form });
  setToken(data.access_token);
}
