"""What anonymous readers (public reads) may see of the review: one rule for every read of reviewers, notes,
photos and cases; logged-in users see everything.

Anonymous readers see alerts' status and cause, the steps of their review, cases' figures and outcomes, but no
user names and no notes. Field photos are not public at all: they are evidence that may show people, vehicles
and houses, and their files carry the GPS position and time of the ranger who took them; a re-encoded copy
without EXIF would still show what the picture shows.
"""

from __future__ import annotations

import geopandas as gpd

from geo.alerts import PRIVATE_COLUMNS
from geo.errors import AuthenticationError

# Per kind of record, the fields only logged-in users see.
PRIVATE: dict[str, tuple[str, ...]] = {
    "alerts": PRIVATE_COLUMNS,
    "alert_history": ("username", "note", "assignee"),
    "cases": ("created_by", "note"),
    "photos": ("uploaded_by",),
    "tracks": ("uploaded_by",),
}


def shown(rows: list[dict], kind: str, public: bool) -> list[dict]:
    """The records as this reader may see them: private fields emptied for the public."""
    if not public:
        return rows
    return [{k: (None if k in PRIVATE.get(kind, ()) else v) for k, v in row.items()} for row in rows]


def shown_frame(frame: gpd.GeoDataFrame, kind: str, public: bool) -> gpd.GeoDataFrame:
    """A layer (exports) as this reader may see it: private columns left out for the public."""
    return frame.drop(columns=list(PRIVATE.get(kind, ())), errors="ignore") if public else frame


def check_photos(public: bool) -> None:
    """Field photos, their list and their files, are for logged-in users only (see the module's docstring)."""
    if public:
        raise AuthenticationError("field photos need a login: send a bearer token or an X-API-Key")


def check_tracks(public: bool) -> None:
    """A ranger's recorded walk shows where a person went and when: for logged-in users only, like photos."""
    if public:
        raise AuthenticationError("field tracks need a login: send a bearer token or an X-API-Key")
