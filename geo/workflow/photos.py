"""Field photos attached to an alert: JPEG or PNG, with the EXIF GPS position and time read when present.

Photos are kept in the store itself (a BLOB in the GeoPackage, ``bytea`` in PostGIS), so they are written in the
same transaction as their record and backed up with everything else.
"""

from __future__ import annotations

import hashlib
import io
from datetime import datetime

from PIL import Image, ImageOps, UnidentifiedImageError

from geo.errors import InvalidInputError, NotFoundError
from geo.store import Store
from geo.store.sql import Tx, now_iso
from geo.workflow.rights import Actor, alert_to_write

CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png"}
GPS_IFD = 0x8825
EXIF_IFD = 0x8769
DATETIME_ORIGINAL = 0x9003
DATETIME = 0x0132
THUMBNAIL_PX = 320      # the long side of a thumbnail: a list on a phone, stored in offline packages
MAX_PIXELS = 60_000_000  # a 200-megapixel phone mode aside, no field camera writes more; bombs declare far more
_META = "id, alert_id, filename, content_type, size_bytes, sha256, lon, lat, taken_at, uploaded_by, uploaded_at"


def _degrees(dms, ref: str | None) -> float | None:
    try:
        value = float(dms[0]) + float(dms[1]) / 60 + float(dms[2]) / 3600
    except (TypeError, ValueError, IndexError, ZeroDivisionError):
        return None
    return -value if ref in ("S", "W") else value


def _taken_at(value) -> str | None:
    """An EXIF date and time (``YYYY:MM:DD HH:MM:SS``, camera local time) as ISO 8601, or None when it is not one."""
    try:
        return datetime.strptime(str(value).strip(), "%Y:%m:%d %H:%M:%S").isoformat()
    except ValueError:
        return None


def read_photo(data: bytes) -> dict:
    """Check the image and read its EXIF GPS position (WGS 84 degrees) and time; raises naming what is wrong.

    The pixel count the header declares is checked before anything is decoded: a small file may declare a
    30000 x 30000 image (a decompression bomb)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = image.format
            if image.width * image.height > MAX_PIXELS:
                raise InvalidInputError(f"file: the image is {image.width} x {image.height} pixels, more than the "
                                        f"{MAX_PIXELS // 1_000_000} megapixels accepted")
            image.verify()
        with Image.open(io.BytesIO(data)) as image:
            exif = image.getexif()
    except Image.DecompressionBombError:
        raise InvalidInputError(f"file: the image declares more than the {MAX_PIXELS // 1_000_000} megapixels "
                                "accepted") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InvalidInputError(f"file: not a readable JPEG or PNG image ({exc})") from None
    if kind not in CONTENT_TYPES:
        raise InvalidInputError(f"file: {kind} images are not accepted; send JPEG or PNG")
    lon = lat = None
    gps = exif.get_ifd(GPS_IFD) if exif else {}
    if gps and 2 in gps and 4 in gps:
        lat, lon = _degrees(gps[2], gps.get(1)), _degrees(gps[4], gps.get(3))
        if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
            lat = lon = None
    taken = (exif.get_ifd(EXIF_IFD).get(DATETIME_ORIGINAL) if exif else None) or (exif.get(DATETIME) if exif else None)
    return {"content_type": CONTENT_TYPES[kind], "lon": lon, "lat": lat, "taken_at": _taken_at(taken)}


def add_photo(store: Store, alert_id: str, filename: str, data: bytes, actor: Actor) -> dict:
    """Attach a photo to an alert ``actor`` may review; returns its record (without the bytes)."""
    with store.transaction() as tx:
        return insert_photo(tx, alert_id, filename, data, actor)


def insert_photo(tx: Tx, alert_id: str, filename: str, data: bytes, actor: Actor) -> dict:
    """``add_photo`` inside an open transaction."""
    info = read_photo(data)
    alert_to_write(tx, actor, alert_id, "add photos")
    photo_id = tx.scalar(
        "INSERT INTO photos (alert_id, filename, content_type, size_bytes, sha256, lon, lat, taken_at, "
        "uploaded_by, uploaded_at, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        [alert_id, (filename or "photo")[:200], info["content_type"], len(data), hashlib.sha256(data).hexdigest(),
         info["lon"], info["lat"], info["taken_at"], actor.username, now_iso(), data])
    return tx.fetchone(f"SELECT {_META} FROM photos WHERE id = ?", [photo_id])


def list_photos(store: Store, alert_id: str) -> list[dict]:
    """The photos of an alert (records, without the bytes); NotFoundError for an alert that does not exist."""
    with store.reading() as tx:
        if tx.fetchone("SELECT id FROM alerts WHERE id = ?", [alert_id]) is None:
            raise NotFoundError(f"no alert with id {alert_id!r}")
        return tx.fetch(f"SELECT {_META} FROM photos WHERE alert_id = ? ORDER BY id", [alert_id])


def photo_bytes(store: Store, photo_id: int) -> tuple[bytes, str]:
    with store.reading() as tx:
        row = tx.fetchone("SELECT data, content_type FROM photos WHERE id = ?", [photo_id])
    if row is None:
        raise NotFoundError(f"no photo with id {photo_id}")
    return bytes(row["data"]), row["content_type"]


def photo_sha256(store: Store, photo_id: int) -> str:
    """The photo's digest (what its thumbnail's ETag is made of); NotFoundError for an unknown id."""
    with store.reading() as tx:
        row = tx.fetchone("SELECT sha256 FROM photos WHERE id = ?", [photo_id])
    if row is None:
        raise NotFoundError(f"no photo with id {photo_id}")
    return row["sha256"]


def thumbnail(data: bytes, size: int = THUMBNAIL_PX) -> tuple[bytes, str]:
    """A small copy of a photo: at most ``size`` px on its long side, turned upright as the EXIF orientation says,
    with no metadata at all (the EXIF GPS of a field photo stays in the original). JPEG, or PNG for a PNG."""
    with Image.open(io.BytesIO(data)) as image:
        kind = image.format
        upright = ImageOps.exif_transpose(image)
        upright.thumbnail((size, size), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        if kind == "PNG":
            upright.save(out, "PNG", optimize=True)  # written fresh: no text or eXIf chunks are carried over
            return out.getvalue(), "image/png"
        if upright.mode not in ("RGB", "L"):
            upright = upright.convert("RGB")
        upright.save(out, "JPEG", quality=80, optimize=True)  # no exif= argument: nothing of the EXIF is kept
        return out.getvalue(), "image/jpeg"
