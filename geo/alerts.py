"""The alert record: what one forest-loss alert holds, how it is reviewed, and how alerts can be listed.

Every column is declared here once, with its type, its meaning and the schema migration that added it
(``geo.store.schema`` builds the table and its migrations from this). The detector writes ``ALERT_COLUMNS``
(``sync_alerts``); the review writes ``REVIEW_COLUMNS``; ``ALERTS`` is the layer every listing reads (store,
API, OGC API, vector tiles), with its filterable properties.

To add a filterable property: add a ``Filter`` to ``ALERTS`` (and, for a new column, the column below with the
name of a new migration as its ``since``; nothing else).
"""

from __future__ import annotations

from geo.forest import CATEGORY_NAMES
from geo.query import ID_PATTERN, MAX_IDS, Filter, Layer

FOREST_CATEGORIES = tuple(CATEGORY_NAMES.values())

CONFIDENCE_LEVELS = ("low", "high", "highest")
# How an alert earns its confidence (GLAD-style), as the detector's kernels decide it (geo.detect.kernels).
CONFIDENCE_RULES = {
    "low": "one clear observation flagged: NDVI below the pixel's seasonal baseline by the absolute, robust (z) "
           "and relative thresholds",
    "high": "2 of the next 4 clear observations after the first flagged too (else the flag expires after 4 "
            "observations or 180 days); near a masked cloud, or in haze or snow, a flag needs a larger drop and "
            "NBR agreeing",
    "highest": "high, and the second index agreed on both flags: NBR, or NDMI where SWIR-1 (B11) was seen with "
               "every learned observation",
}
STATUSES = ("new", "assigned", "in_field", "confirmed", "dismissed")

# Column name -> (type, description, the migration that added it). Types: see geo.store.schema.TYPES.
# Geometry: a MultiPolygon in EPSG:4326, column "geom".
ALERT_COLUMNS: dict[str, tuple[str, str, str]] = {
    "id": ("text", "stable id: first-detection date and grid position of the seed pixel", "0001_initial"),
    "status": ("text", "review status, one of STATUSES", "0001_initial"),
    "confidence": ("text", "; ".join(f"{k} = {v}" for k, v in CONFIDENCE_RULES.items()), "0001_initial"),
    "first_detected": ("date", "date of the first flagged observation (not the clearing date)", "0001_initial"),
    "confirmed": ("date", "date the alert reached high confidence, empty while low", "0001_initial"),
    "last_update": ("date", "date of the newest observation that changed the alert", "0001_initial"),
    "area_ha": ("real", "area in hectares, computed in the analysis grid CRS (UTM 48N)", "0001_initial"),
    "district_id": ("text", "admin unit id (2024 districts) holding the centroid", "0001_initial"),
    "district": ("text", "admin unit name", "0001_initial"),
    "mean_drop": ("real", "mean NDVI drop below the baseline over the alert's pixels", "0001_initial"),
    "scene_before": ("text", "id of the last clear scene learned before the first detection", "0001_initial"),
    "scene_after": ("text", "id of the scene of the first detection", "0001_initial"),
    "centroid_lon": ("real", "centroid longitude, WGS 84", "0001_initial"),
    "centroid_lat": ("real", "centroid latitude, WGS 84", "0001_initial"),
    # The stored names of the projected centroid; listings and exports show them named after the region's CRS
    # (geo.region.coordinate_names: vn2000_* in Lâm Đồng, epsg<code>_* elsewhere).
    "vn2000_x": ("real", "centroid easting in the region's official CRS (VN-2000 in Lâm Đồng)", "0001_initial"),
    "vn2000_y": ("real", "centroid northing in the region's official CRS (VN-2000 in Lâm Đồng)", "0001_initial"),
    "vn2000_epsg": ("integer", "EPSG code of that CRS (Lâm Đồng: 5899 or 9218 by location)", "0001_initial"),
    "forest_category": ("text", "special_use, protection, production or forest, from the user's forest layer",
                        "0007_alert_forest_category"),
}

# Who has the alert, what they decided, and the version optimistic concurrency checks. The detector never
# writes these.
REVIEW_COLUMNS: dict[str, tuple[str, str, str]] = {
    "version": ("integer", "grows by one with every review transition; a write must carry the version it saw",
                "0003_review"),
    "assigned_to": ("text", "username of the ranger the alert is assigned to", "0003_review"),
    "priority": ("real", "review priority: larger and more confident alerts first", "0003_review"),
    "cause": ("text", "cause given when confirmed (see geo.workflow.review.CAUSES)", "0003_review"),
    "dismiss_reason": ("text", "coded reason given when dismissed (see geo.workflow.review.DISMISS_REASONS)",
                       "0003_review"),
    "review_note": ("text", "the reviewer's note", "0003_review"),
    "reviewed_by": ("text", "username of the last reviewer", "0003_review"),
    "reviewed_at": ("timestamp", "time (UTC) of the last review transition", "0003_review"),
    "case_id": ("integer", "violation case this confirmed alert belongs to", "0003_review"),
}

# Who reviews an alert and what they wrote: for logged-in users only; the public sees status and cause.
PRIVATE_COLUMNS = ("assigned_to", "review_note", "reviewed_by")

ALERTS = Layer(
    table="alerts",
    columns=(*ALERT_COLUMNS, *REVIEW_COLUMNS),
    order="first_detected DESC, id",
    temporal="first_detected",
    filters=(
        Filter("id", "text", f"alert ids (at most {MAX_IDS})", max_values=MAX_IDS, pattern=ID_PATTERN),
        Filter("status", "text", "review status", enum=STATUSES),
        Filter("confidence", "text", "detection confidence", enum=CONFIDENCE_LEVELS),
        Filter("district_id", "text", "admin unit id holding the centroid"),
        Filter("forest_category", "text", "forest category of the user's forest layer under the alert",
               enum=FOREST_CATEGORIES),
        Filter("area_ha", "number", "area in hectares"),
        Filter("assigned_to", "text", "username of the ranger the alert is assigned to", public=False),
    ),
)
