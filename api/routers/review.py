"""The review workflow: move an alert through its statuses, its history, photos, a ranger's queue, assignment."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Path, Request, Response, UploadFile
from pydantic import BaseModel, Field

from api.auth import Admin, CurrentUser, Reader, Reviewer
from api.caching import cached
from api.collections import feature_list
from api.deps import SettingsDep, StoreDep
from api.routers.ogc import GEOJSON
from api.uploads import read_upload
from geo.errors import InvalidInputError
from geo.workflow import idempotency, photos, privacy, review, tracks

router = APIRouter(tags=["review"])
AlertId = Annotated[str, Path(min_length=1, max_length=100)]
IdempotencyKey = Annotated[str | None, Header(max_length=100, description=(
    "a key the client makes for this write (a UUID): a retry with the same key gets the first answer and "
    "changes nothing again"))]


class Transition(BaseModel):
    """Move an alert to a new status; ``version`` is the one you saw (or send it as ``If-Match``)."""

    to: Literal["assigned", "in_field", "confirmed", "dismissed"]
    version: int | None = Field(default=None, ge=1, le=2**31 - 1,
                                description="the alert's version you saw; required unless If-Match is sent")
    cause: Literal[review.CAUSES] | None = Field(default=None, description="required to confirm")  # type: ignore
    reason: Literal[review.DISMISS_REASONS] | None = Field(  # type: ignore[valid-type]
        default=None, description="required to dismiss")
    note: str | None = Field(default=None, max_length=2000, description="required when cause/reason is 'other'")
    assignee: str | None = Field(default=None, max_length=64, description="the ranger, to assign")


class ReviewState(BaseModel):
    id: str
    status: str
    version: int
    assigned_to: str | None


class HistoryEntry(BaseModel):
    at: str
    username: str | None = Field(description="who; hidden from anonymous readers")
    action: str
    from_status: str | None
    to_status: str
    reason: str | None
    note: str | None
    assignee: str | None
    version: int


class Photo(BaseModel):
    id: int
    alert_id: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    lon: float | None
    lat: float | None
    taken_at: str | None
    uploaded_by: str | None
    uploaded_at: str


def _version(body_version: int | None, if_match: str | None) -> int:
    if if_match is not None:
        text = if_match.strip().removeprefix("W/").strip('"')
        if not text.isdigit() or not (0 < int(text) < 2**31):
            raise InvalidInputError(f"If-Match: {if_match!r} is not an alert version such as \"3\"")
        if body_version is not None and body_version != int(text):
            raise InvalidInputError("version: differs from the If-Match header")
        return int(text)
    if body_version is None:
        raise InvalidInputError("version: send the alert version you saw (field 'version' or an If-Match header)")
    return body_version


@router.post("/alerts/{alert_id}/transitions", response_model=ReviewState,
             summary="Assign, start a field check, confirm (with a cause) or dismiss (with a reason) an alert",
             responses={401: {"description": "not logged in"}, 403: {"description": "role or unit not allowed"},
                        404: {"description": "unknown alert"},
                        409: {"description": "not allowed from the current status, or a stale version"}})
def transition(alert_id: AlertId, body: Transition, user: Reviewer, store: StoreDep, response: Response,
               if_match: Annotated[str | None, Header(max_length=40)] = None,
               idempotency_key: IdempotencyKey = None) -> dict:
    version = _version(body.version, if_match)
    request = {"alert": alert_id, **body.model_dump(), "version": version}
    state = idempotency.once(store, user.username, idempotency_key, request, lambda tx: review.apply_transition(
        tx, alert_id, body.to, actor=user, version=version, cause=body.cause, reason=body.reason, note=body.note,
        assignee=body.assignee))
    response.headers["ETag"] = f'"{state["version"]}"'
    return state


@router.get("/alerts/{alert_id}/history", response_model=list[HistoryEntry],
            summary="Every review step of an alert, oldest first")
def alert_history(alert_id: AlertId, user: Reader, store: StoreDep) -> list[dict]:
    return privacy.shown(review.history(store, alert_id), "alert_history", public=user is None)


@router.get("/me/queue", summary="My open alerts (assigned or in the field), highest priority first",
            response_class=Response, responses={200: {"content": {GEOJSON: {}}}})
def my_queue(user: CurrentUser, store: StoreDep) -> Response:
    alerts = review.queue(store, user.username)
    features = feature_list(alerts.assign(fid=alerts["id"]))
    body = {"type": "FeatureCollection", "features": features, "numberMatched": len(features),
            "numberReturned": len(features)}
    return Response(json.dumps(body, ensure_ascii=False), media_type=GEOJSON)


@router.post("/assignments/run", summary="Assign new alerts to the rangers of their units (admin)")
def run_assignment(_: Admin, store: StoreDep) -> dict:
    assigned = review.auto_assign(store)
    return {"assigned": sum(assigned.values()), "by_ranger": assigned}


@router.post("/alerts/{alert_id}/photos", response_model=Photo, status_code=201,
             summary="Attach a field photo (JPEG or PNG; EXIF GPS read when present)",
             responses={413: {"description": "larger than the limit"}, 422: {"description": "not a JPEG or PNG"}})
async def upload_photo(alert_id: AlertId, file: UploadFile, user: Reviewer, store: StoreDep,
                       settings: SettingsDep, idempotency_key: IdempotencyKey = None) -> dict:
    data = await read_upload(file, settings.max_photo_mb)
    request = {"alert": alert_id, "photo": hashlib.sha256(data).hexdigest()}
    return idempotency.once(store, user.username, idempotency_key, request,
                            lambda tx: photos.insert_photo(tx, alert_id, file.filename or "photo", data, user))


class StatusQuery(BaseModel):
    ids: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(min_length=1, max_length=1000)


class AlertStatus(BaseModel):
    id: str
    status: str
    version: int
    assigned_to: str | None
    last_change: str | None = Field(description="when its review last changed (UTC), null if never reviewed")


@router.post("/alerts/status", response_model=list[AlertStatus],
             summary="The review status and version of many alerts at once (what a phone checks before syncing)",
             responses={404: {"description": "an id that is not an alert"}})
def alerts_status(body: StatusQuery, _: CurrentUser, store: StoreDep) -> list[dict]:
    # a logged-in user's: the answer names each alert's assignee, which anonymous readers never see
    return review.statuses(store, body.ids)


@router.get("/alerts/{alert_id}/photos", response_model=list[Photo], summary="The photos of an alert (logged in)",
            responses={401: {"description": "not logged in"}})
def alert_photos(alert_id: AlertId, user: Reader, store: StoreDep) -> list[dict]:
    privacy.check_photos(public=user is None)
    return photos.list_photos(store, alert_id)


@router.get("/photos/{photo_id}", summary="A photo's image (logged in)", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}, 401: {"description": "not logged in"},
                       404: {"description": "unknown id"}})
def photo(photo_id: Annotated[int, Path(ge=1, le=2**31 - 1)], user: Reader, store: StoreDep) -> Response:
    privacy.check_photos(public=user is None)
    data, content_type = photos.photo_bytes(store, photo_id)
    return Response(data, media_type=content_type)


@router.get("/photos/{photo_id}/thumbnail", summary="A small copy of a photo (logged in)", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}, 304: {"description": "not changed"},
                       401: {"description": "not logged in"}, 404: {"description": "unknown id"}})
def photo_thumbnail(photo_id: Annotated[int, Path(ge=1, le=2**31 - 1)], request: Request, user: Reader,
                    store: StoreDep) -> Response:
    """At most 320 px on the long side, upright, without EXIF (no GPS): what lists and offline packages show.

    A photo never changes once stored, so its digest makes the ETag; the same login as the photo is needed."""
    privacy.check_photos(public=user is None)
    digest = photos.photo_sha256(store, photo_id)

    def build() -> Response:
        data, _ = photos.photo_bytes(store, photo_id)
        body, media_type = photos.thumbnail(data)
        return Response(body, media_type=media_type)

    return cached(request, f"thumbnail-{photos.THUMBNAIL_PX}-{digest}", build, max_age=86400)


class TrackPoint(BaseModel):
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    t: str = Field(min_length=10, max_length=40, description="when (ISO 8601; UTC unless an offset is given)")
    accuracy_m: float | None = Field(default=None, ge=0, le=100000, description="the fix's accuracy, metres")


class TrackIn(BaseModel):
    """A recorded walk: the phone's positions in time order."""

    points: list[TrackPoint] = Field(min_length=2, max_length=tracks.MAX_POINTS)


class Track(BaseModel):
    id: int
    alert_id: str
    started_at: str | None
    ended_at: str | None
    point_count: int
    length_m: float
    uploaded_by: str | None
    uploaded_at: str


@router.post("/alerts/{alert_id}/tracks", response_model=Track, status_code=201,
             summary="Keep a recorded walk (the phone's GPS positions) with an alert",
             responses={401: {"description": "not logged in"}, 403: {"description": "role or unit not allowed"},
                        404: {"description": "unknown alert"}})
def add_track(alert_id: AlertId, body: TrackIn, user: Reviewer, store: StoreDep,
              idempotency_key: IdempotencyKey = None) -> dict:
    points = [p.model_dump() for p in body.points]
    request = {"alert": alert_id, "track": hashlib.sha256(json.dumps(points).encode()).hexdigest()}
    return idempotency.once(store, user.username, idempotency_key, request,
                            lambda tx: tracks.insert_track(tx, alert_id, points, user))


@router.get("/alerts/{alert_id}/tracks", response_model=list[Track], summary="The recorded walks of an alert "
            "(logged in)", responses={401: {"description": "not logged in"}})
def alert_tracks(alert_id: AlertId, user: Reader, store: StoreDep) -> list[dict]:
    privacy.check_tracks(public=user is None)
    return tracks.list_tracks(store, alert_id)


@router.get("/tracks/{track_id}.gpx", summary="A recorded walk as GPX 1.1 (logged in)", response_class=Response,
            responses={200: {"content": {"application/gpx+xml": {}}}, 401: {"description": "not logged in"},
                       404: {"description": "unknown id"}})
def track_gpx(track_id: Annotated[int, Path(ge=1, le=2**31 - 1)], user: Reader, store: StoreDep) -> Response:
    privacy.check_tracks(public=user is None)
    record, points = tracks.track(store, track_id)
    return Response(tracks.gpx(record, points), media_type="application/gpx+xml",
                    headers={"Content-Disposition": f'attachment; filename="track-{track_id}.gpx"'})
