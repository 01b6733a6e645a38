"""The alert record: what one forest-loss alert holds, shared by the detector, the store, the API and the maps."""

from __future__ import annotations

CONFIDENCE_LEVELS = ("low", "high", "highest")
STATUSES = ("new", "assigned", "in_field", "confirmed", "dismissed")

# Column name -> (SQL type, description). Geometry is a MultiPolygon in EPSG:4326, column "geometry".
ALERT_COLUMNS: dict[str, tuple[str, str]] = {
    "id": ("TEXT", "stable id: first-detection date and grid position of the seed pixel"),
    "status": ("TEXT", "review status, one of STATUSES"),
    "confidence": ("TEXT", "low = one flagged observation; high = 2 of the next 4 flagged; highest = high + NBR"),
    "first_detected": ("TEXT", "date (ISO) of the first flagged observation (not the clearing date)"),
    "confirmed": ("TEXT", "date (ISO) the alert reached high confidence, empty while low"),
    "last_update": ("TEXT", "date (ISO) of the newest observation that changed the alert"),
    "area_ha": ("REAL", "area in hectares, computed in the analysis grid CRS (UTM 48N)"),
    "district_id": ("TEXT", "admin unit id (2024 districts) holding the centroid"),
    "district": ("TEXT", "admin unit name"),
    "mean_drop": ("REAL", "mean NDVI drop below the baseline over the alert's pixels"),
    "scene_before": ("TEXT", "id of the last clear scene before the first detection"),
    "scene_after": ("TEXT", "id of the scene of the first detection"),
    "centroid_lon": ("REAL", "centroid longitude, WGS 84"),
    "centroid_lat": ("REAL", "centroid latitude, WGS 84"),
    "vn2000_x": ("REAL", "centroid easting in the official VN-2000 CRS"),
    "vn2000_y": ("REAL", "centroid northing in the official VN-2000 CRS"),
    "vn2000_epsg": ("INTEGER", "EPSG code of that VN-2000 CRS (5899 or 9218 by location)"),
    "forest_category": ("TEXT", "special_use, protection, production or forest, from the user's forest layer"),
}

# Review columns (added by migration 0003_review): who has the alert, what they decided, and the version that
# optimistic concurrency checks. The detector never writes these.
# Who reviews an alert and what they wrote: for logged-in users only; the public sees status and cause.
PRIVATE_COLUMNS = ("assigned_to", "review_note", "reviewed_by")

REVIEW_COLUMNS: dict[str, tuple[str, str]] = {
    "version": ("INTEGER", "grows by one with every review transition; a write must carry the version it saw"),
    "assigned_to": ("TEXT", "username of the ranger the alert is assigned to"),
    "priority": ("REAL", "review priority: larger and more confident alerts first"),
    "cause": ("TEXT", "cause given when confirmed (see geo.review.CAUSES)"),
    "dismiss_reason": ("TEXT", "coded reason given when dismissed (see geo.review.DISMISS_REASONS)"),
    "review_note": ("TEXT", "the reviewer's note"),
    "reviewed_by": ("TEXT", "username of the last reviewer"),
    "reviewed_at": ("TEXT", "time (ISO, UTC) of the last review transition"),
    "case_id": ("INTEGER", "violation case this confirmed alert belongs to"),
}
