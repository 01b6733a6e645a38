// "You are here": the phone's position (browser geolocation), and the distance and bearing to the selected alert.
import { t } from "./i18n.js";

const EARTH_M = 6371008.8;  // mean Earth radius (IUGG)
const rad = (d) => d * Math.PI / 180;

/** Great-circle distance (m) and initial bearing (degrees from north) from ``a`` to ``b`` ([lat, lon]). */
export function distanceBearing([lat1, lon1], [lat2, lon2]) {
  const p1 = rad(lat1), p2 = rad(lat2), dl = rad(lon2 - lon1);
  const h = Math.sin((p2 - p1) / 2) ** 2 + Math.cos(p1) * Math.cos(p2) * Math.sin(dl / 2) ** 2;
  const distance = 2 * EARTH_M * Math.asin(Math.sqrt(h));
  const bearing = (Math.atan2(Math.sin(dl) * Math.cos(p2),
                              Math.cos(p1) * Math.sin(p2) - Math.sin(p1) * Math.cos(p2) * Math.cos(dl)) * 180 / Math.PI + 360) % 360;
  return { distance, bearing };
}

let here = null;
let watching = null;
let fix = null;           // the last GeolocationPosition
const listeners = [];     // told of every new fix (the recorded walk, track.js)

/** The last position the phone gave (a GeolocationPosition), or null. */
export function lastFix() { return fix; }

/** Call ``listener(position)`` on every new fix from the one watch this app keeps. */
export function onFix(listener) { listeners.push(listener); }

/** Follow the position; ``target()`` gives the selected alert's [lat, lon] (or null); ``out`` shows the result. */
export function follow(target, out) {
  const show = () => {
    const to = target();
    if (!here) { out.textContent = t("position.waiting"); return; }
    if (!to) { out.textContent = t("position.here", { lat: here[0].toFixed(6), lon: here[1].toFixed(6) }); return; }
    const { distance, bearing } = distanceBearing(here, to);
    out.dataset.distance = distance.toFixed(0);
    out.dataset.bearing = bearing.toFixed(0);
    out.textContent = t("position.to_alert", { m: distance.toFixed(0), deg: bearing.toFixed(0) });
  };
  if (watching == null && "geolocation" in navigator) {
    watching = navigator.geolocation.watchPosition(
      (p) => {
        fix = p;
        here = [p.coords.latitude, p.coords.longitude];
        show();
        for (const listener of listeners) listener(p);
      },
      () => { out.textContent = t("position.unavailable"); },
      { enableHighAccuracy: true, maximumAge: 10000 });
  }
  show();
  return show;
}
