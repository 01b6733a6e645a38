"""A ranger's recorded walk to an alert: the phone's GPS positions while in the field, sent with the review (by the
outbox when there was no signal), kept with the alert and given back as GPX 1.1 for GIS and GPS units.

Points are checked (WGS 84 ranges, times in order) and stored as one JSON text; the length is summed on the
WGS 84 ellipsoid.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from xml.sax.saxutils import escape

from pyproj import Geod

from geo.errors import InvalidInputError, NotFoundError
from geo.store import Store
from geo.store.sql import Tx, now_iso
from geo.workflow.rights import Actor, alert_to_write

MAX_POINTS = 20000  # a day's walk at one fix every 3 s
GEOD = Geod(ellps="WGS84")
_META = "id, alert_id, started_at, ended_at, point_count, length_m, uploaded_by, uploaded_at"


def _time(text: str, index: int) -> str:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInputError(f"points[{index}].t: {text[:40]!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def clean_points(points: list[dict]) -> list[list]:
    """``[{lon, lat, t, accuracy_m?}, ...]`` as ``[[lon, lat, t (UTC, Z), accuracy_m | None], ...]``; raises naming
    the first bad point (out of range, a time going backwards, fewer than 2 or more than MAX_POINTS)."""
    if not 2 <= len(points) <= MAX_POINTS:
        raise InvalidInputError(f"points: a track has 2 to {MAX_POINTS} points, got {len(points)}")
    out, last = [], None
    for i, p in enumerate(points):
        lon, lat = float(p["lon"]), float(p["lat"])
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise InvalidInputError(f"points[{i}]: {lon}, {lat} is not a WGS 84 position")
        t = _time(str(p["t"]), i)
        if last is not None and t < last:
            raise InvalidInputError(f"points[{i}].t: {t} is before the point before it ({last})")
        accuracy = p.get("accuracy_m")
        out.append([round(lon, 7), round(lat, 7), t, None if accuracy is None else round(float(accuracy), 1)])
        last = t
    return out


def length_m(points: list[list]) -> float:
    """The walk's length along the ellipsoid, metres."""
    return float(GEOD.line_length([p[0] for p in points], [p[1] for p in points]))


def insert_track(tx: Tx, alert_id: str, points: list[dict], actor: Actor) -> dict:
    """Keep a walk with an alert ``actor`` may review (inside an open transaction); returns its record."""
    clean = clean_points(points)
    alert_to_write(tx, actor, alert_id, "add tracks")
    track_id = tx.scalar(
        "INSERT INTO tracks (alert_id, started_at, ended_at, point_count, length_m, points, uploaded_by, uploaded_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        [alert_id, clean[0][2], clean[-1][2], len(clean), round(length_m(clean), 1),
         json.dumps(clean, separators=(",", ":")), actor.username, now_iso()])
    return tx.fetchone(f"SELECT {_META} FROM tracks WHERE id = ?", [track_id])


def list_tracks(store: Store, alert_id: str) -> list[dict]:
    """The walks kept with an alert (without their points); NotFoundError for an alert that does not exist."""
    with store.reading() as tx:
        if tx.fetchone("SELECT id FROM alerts WHERE id = ?", [alert_id]) is None:
            raise NotFoundError(f"no alert with id {alert_id!r}")
        return tx.fetch(f"SELECT {_META} FROM tracks WHERE alert_id = ? ORDER BY id", [alert_id])


def track(store: Store, track_id: int) -> tuple[dict, list[list]]:
    """A walk's record and its points; NotFoundError for an unknown id."""
    with store.reading() as tx:
        row = tx.fetchone(f"SELECT {_META}, points FROM tracks WHERE id = ?", [track_id])
    if row is None:
        raise NotFoundError(f"no track with id {track_id}")
    points = json.loads(row.pop("points"))
    return row, points


def gpx(record: dict, points: list[list]) -> bytes:
    """The walk as a GPX 1.1 track (one segment), named after its alert."""
    name = escape(f"{record['alert_id']} – {record['uploaded_by']} {record['started_at'] or ''}".strip())
    rows = [f'<trkpt lat="{lat}" lon="{lon}"><time>{escape(t)}</time></trkpt>' for lon, lat, t, _ in points]
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            '<gpx version="1.1" creator="forestmon" xmlns="http://www.topografix.com/GPX/1/1">\n'
            f"<trk><name>{name}</name><desc>{escape(str(record['alert_id']))}</desc><trkseg>\n"
            + "\n".join(rows) + "\n</trkseg></trk>\n</gpx>\n").encode()
