// The page's strings: Vietnamese by default, English one click away; the strings live in i18n/<lang>.json.
const LANGS = ["vi", "en"];
let strings = {};
let lang = "vi";

export function currentLang() { return lang; }

/** Load a language's strings (kept in sessionStorage as the choice) and relabel the page. */
export async function setLang(next) {
  lang = LANGS.includes(next) ? next : "vi";
  const r = await fetch(`/static/app/i18n/${lang}.json`);
  strings = await r.json();
  sessionStorage.setItem("forestmon.lang", lang);
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-label]")) el.setAttribute("aria-label", t(el.dataset.i18nLabel));
}

export function savedLang() { return sessionStorage.getItem("forestmon.lang") || "vi"; }

/** The string for ``key`` with ``{name}`` slots filled; the key itself when missing (visible, never blank). */
export function t(key, values = {}) {
  const text = strings[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}
