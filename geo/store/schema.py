"""Every table of the store, declared once for both backends, and the migrations that build them.

A column names a portable type (``TYPES``: each backend's dialect renders it) and the migration that added it
(``since``); a table, index or initial row names its migration too. Migration ``NNNN_what`` is everything whose
``since`` is its name: the tables it creates, the columns it adds to older tables, its indexes and rows. Each
is applied once, in name order, in one transaction, and recorded by name in ``schema_migrations``.

To change the schema: add a name to ``MIGRATIONS`` and give the new tables, columns or indexes that ``since``
(alert columns are declared in ``geo.alerts``); a data step goes in ``STEPS``. Never change what a released
migration made.
"""

from __future__ import annotations

from dataclasses import dataclass

from geo.alerts import ALERT_COLUMNS, REVIEW_COLUMNS

MIGRATIONS = ("0001_initial", "0002_users", "0003_review", "0004_cases_planting", "0005_catalogue_tiles",
              "0006_runs", "0007_alert_forest_category", "0008_planning", "0009_login_attempts",
              "0010_run_watched_share", "0011_idempotency", "0012_planning_columns",
              "0013_weekly_job", "0014_planning_typed_attributes", "0015_planting_lots_layer",
              "0016_tracks")

# Data steps (``geo.store.steps``) a migration runs after its DDL, in its transaction: what SQL declarations
# cannot say (moving JSON attributes into typed columns, rebuilding a table as a GIS layer).
STEPS = {"0014_planning_typed_attributes": ("zone_attributes",), "0015_planting_lots_layer": ("lots_layer",)}

# Portable column types: their PostGIS and GeoPackage (SQLite) spellings are in each dialect.
TYPES = ("text", "date", "timestamp", "real", "integer", "bigint", "blob", "serial", "bigserial", "geometry")


@dataclass(frozen=True)
class Column:
    """A column: portable type, the SQL that follows the type (constraints, portable), the migration adding it."""

    name: str
    type: str
    since: str
    constraint: str = ""


@dataclass(frozen=True)
class Index:
    name: str
    columns: str
    since: str
    unique: bool = False
    only: str | None = None        # a dialect name: an index that backend alone needs


@dataclass(frozen=True)
class Table:
    """A table. ``layer``: a feature layer QGIS lists, with a geometry column ``geom`` (MultiPolygon, EPSG:4326);
    ``listed``: an attribute table QGIS lists; ``append_only``: rows may never be updated or deleted."""

    name: str
    since: str
    columns: tuple[Column, ...]
    constraints: tuple[str, ...] = ()
    indexes: tuple[Index, ...] = ()
    rows: tuple[tuple, ...] = ()
    layer: bool = False
    listed: bool = False
    append_only: bool = False

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def columns_since(self, since: str) -> list[Column]:
        return [c for c in self.columns if c.since == since]


def _columns(declared: dict[str, tuple[str, str, str]], constraints: dict[str, str]) -> tuple[Column, ...]:
    return tuple(Column(name, kind, since, constraints.get(name, "")) for name, (kind, _, since) in declared.items())


def _c(name: str, kind: str, constraint: str = "", since: str = "") -> Column:
    return Column(name, kind, since, constraint)


def _table(name: str, since: str, *columns: Column, **options) -> Table:
    return Table(name, since, tuple(Column(c.name, c.type, c.since or since, c.constraint) for c in columns),
                 **options)


ALERTS = Table(
    "alerts", "0001_initial",
    _columns({**ALERT_COLUMNS, **REVIEW_COLUMNS},
             {"id": "PRIMARY KEY", "status": "NOT NULL DEFAULT 'new'", "version": "NOT NULL DEFAULT 1"}),
    indexes=(Index("alerts_id", "id", "0001_initial", unique=True, only="geopackage"),
             Index("alerts_first_detected", "first_detected", "0001_initial"),
             Index("alerts_status", "status", "0003_review"),
             Index("alerts_assigned_to", "assigned_to", "0003_review")),
    layer=True)

SCENES = _table(
    "scenes", "0001_initial",
    _c("id", "text", "PRIMARY KEY"), _c("sensor", "text"), _c("acquired", "text"), _c("source", "text"),
    _c("path", "text"), _c("cloud_pct", "real"), _c("valid_fraction", "real"), _c("status", "text"),
    _c("reason", "text"), _c("processed", "integer"),
    _c("acquisition", "text", since="0005_catalogue_tiles"), _c("tile", "text", since="0005_catalogue_tiles"),
    _c("acquired_time", "text", since="0005_catalogue_tiles"),
    _c("source_path", "text", since="0005_catalogue_tiles"),
    _c("forest_valid_fraction", "real", since="0005_catalogue_tiles"),
    listed=True)

META = _table(
    "forestmon_meta", "0001_initial",
    _c("key", "text", "PRIMARY KEY"), _c("value", "bigint", "NOT NULL"),
    rows=(("schema_version", 1), ("data_version", 0)))

USERS = _table(
    "users", "0002_users",
    _c("username", "text", "PRIMARY KEY"), _c("display_name", "text"),
    _c("role", "text", "NOT NULL CHECK (role IN ('admin', 'ranger', 'planner', 'viewer'))"),
    _c("units", "text", "NOT NULL DEFAULT ''"), _c("password_hash", "text", "NOT NULL"),
    _c("disabled", "integer", "NOT NULL DEFAULT 0"), _c("created_at", "timestamp", "NOT NULL"))

CREDENTIALS = _table(
    "credentials", "0002_users",
    _c("secret_hash", "text", "PRIMARY KEY"), _c("username", "text", "NOT NULL REFERENCES users(username)"),
    _c("kind", "text", "NOT NULL CHECK (kind IN ('token', 'api_key'))"), _c("name", "text"),
    _c("created_at", "timestamp", "NOT NULL"), _c("expires_at", "timestamp"),
    indexes=(Index("credentials_username", "username", "0002_users"),))

ALERT_HISTORY = _table(
    "alert_history", "0003_review",
    _c("id", "bigserial"), _c("alert_id", "text", "NOT NULL"), _c("at", "timestamp", "NOT NULL"),
    _c("username", "text", "NOT NULL"), _c("action", "text", "NOT NULL"), _c("from_status", "text"),
    _c("to_status", "text", "NOT NULL"), _c("reason", "text"), _c("note", "text"), _c("assignee", "text"),
    _c("version", "integer", "NOT NULL"),
    indexes=(Index("alert_history_alert", "alert_id", "0003_review"),),
    append_only=True)

CASES = _table(
    "cases", "0004_cases_planting",
    _c("id", "serial"), _c("number", "text", "NOT NULL UNIQUE"), _c("opened", "date", "NOT NULL"),
    _c("violation_type", "text", "NOT NULL"), _c("area_ha", "real"), _c("timber_m3", "real"),
    _c("outcome", "text", "NOT NULL DEFAULT 'pending'"), _c("fine_amount", "real"), _c("district_id", "text"),
    _c("note", "text"), _c("source", "text", "NOT NULL DEFAULT 'review'"), _c("created_by", "text"),
    _c("created_at", "timestamp", "NOT NULL"), _c("version", "integer", "NOT NULL DEFAULT 1"),
    indexes=(Index("cases_opened", "opened", "0004_cases_planting"),))

PLANTING_LOTS = _table(
    "planting_lots", "0004_cases_planting",
    _c("id", "serial"), _c("lot_id", "text", "NOT NULL UNIQUE"), _c("planted", "date", "NOT NULL"),
    _c("species", "text"), _c("trees", "bigint"), _c("programme", "text"), _c("area_ha", "real", "NOT NULL"),
    _c("district_id", "text"), _c("geom", "geometry"), _c("imported_at", "timestamp", "NOT NULL"),
    indexes=(Index("planting_lots_planted", "planted", "0004_cases_planting"),))
# From 0015 the lots are a feature layer GIS lists (``geo.store.steps.lots_layer``): on the GeoPackage, a table with
# typed declared types (DATE, INTEGER, REAL), GeoPackage geometry blobs, registered in gpkg_contents.

PHOTOS = _table(
    "photos", "0004_cases_planting",
    _c("id", "serial"), _c("alert_id", "text", "NOT NULL"), _c("filename", "text", "NOT NULL"),
    _c("content_type", "text", "NOT NULL"), _c("size_bytes", "integer", "NOT NULL"), _c("sha256", "text", "NOT NULL"),
    _c("lon", "real"), _c("lat", "real"), _c("taken_at", "text"), _c("uploaded_by", "text", "NOT NULL"),
    _c("uploaded_at", "timestamp", "NOT NULL"), _c("data", "blob", "NOT NULL"),
    indexes=(Index("photos_alert", "alert_id", "0004_cases_planting"),))

# A ranger's recorded walk to an alert (the phone's GPS while "in the field"), sent with the review: its points as
# JSON ``[[lon, lat, time, accuracy_m], ...]`` (WGS 84 degrees, ISO 8601 UTC, metres or null), served as GPX.
TRACKS = _table(
    "tracks", "0016_tracks",
    _c("id", "serial"), _c("alert_id", "text", "NOT NULL"), _c("started_at", "text"), _c("ended_at", "text"),
    _c("point_count", "integer", "NOT NULL"), _c("length_m", "real", "NOT NULL"), _c("points", "text", "NOT NULL"),
    _c("uploaded_by", "text", "NOT NULL"), _c("uploaded_at", "timestamp", "NOT NULL"),
    indexes=(Index("tracks_alert", "alert_id", "0016_tracks"),))

RUNS = _table(
    "runs", "0006_runs",
    _c("id", "integer", "PRIMARY KEY"), _c("finished", "text", "NOT NULL"), _c("first_scene", "text"),
    _c("last_scene", "text"), _c("scenes", "integer"), _c("mode", "text"),
    listed=True)

RUN_COVERAGE = _table(
    "run_coverage", "0006_runs",
    _c("run_id", "integer", "NOT NULL REFERENCES runs(id)"), _c("unit_id", "text", "NOT NULL"), _c("unit", "text"),
    _c("forest_ha", "real"), _c("observed_ha", "real"), _c("observed_share", "real"),
    _c("area_ha", "real", since="0010_run_watched_share"), _c("watched_share", "real", since="0010_run_watched_share"),
    constraints=("PRIMARY KEY (run_id, unit_id)",),
    listed=True)

PLANNING_LAYERS = _table(
    "planning_layers", "0008_planning",
    _c("id", "text", "PRIMARY KEY"), _c("name", "text", "NOT NULL"), _c("kind", "text", "NOT NULL"),
    _c("valid_from", "text", "NOT NULL"), _c("source", "text"), _c("source_crs", "text"), _c("zone_field", "text"),
    _c("feature_count", "integer"), _c("repairs", "text"), _c("imported", "text"),
    _c("name_field", "text", since="0012_planning_columns"),
    listed=True)

PLANNING_ZONES = _table(
    "planning_zones", "0008_planning",
    _c("layer_id", "text", "NOT NULL REFERENCES planning_layers(id) ON DELETE CASCADE"),
    _c("feature_index", "integer", "NOT NULL"), _c("zone_type", "text"), _c("zone_class", "text"),
    _c("area_ha", "real"), _c("properties", "text"), _c("zone_name", "text", since="0012_planning_columns"),
    constraints=("PRIMARY KEY (layer_id, feature_index)",),
    indexes=(Index("planning_zones_layer", "layer_id, feature_index", "0008_planning", only="geopackage"),),
    layer=True)

# Failed logins per account ("user:<name>") and per client address ("addr:<ip>") in the current window: the
# throttle of /auth/token, shared by every worker process.
LOGIN_ATTEMPTS = _table(
    "login_attempts", "0009_login_attempts",
    _c("key", "text", "PRIMARY KEY"), _c("failures", "integer", "NOT NULL"),
    _c("window_start", "real", "NOT NULL"))

# A write sent with an ``Idempotency-Key`` (a review step, a photo) and its first answer: the primary key makes the
# store refuse a second write under the same key, so a retried request is answered again and never applied twice.
IDEMPOTENCY_KEYS = _table(
    "idempotency_keys", "0011_idempotency",
    _c("username", "text", "NOT NULL"), _c("key", "text", "NOT NULL"), _c("request", "text", "NOT NULL"),
    _c("response", "text", "NOT NULL"), _c("created_at", "timestamp", "NOT NULL"),
    constraints=("PRIMARY KEY (username, key)",))

# The weekly job (``api.weekly``): one row per run of the job and per step of it, with timings and counts; the
# lock that keeps it to one run at a time (the primary key decides between racing processes; ``holder`` and
# ``heartbeat`` tell a crashed holder's stale lock); report subscriptions and the delivery outbox (one row per
# subscription and week, written before sending, so nothing is sent twice).
JOB_RUNS = _table(
    "job_runs", "0013_weekly_job",
    _c("id", "serial"), _c("job", "text", "NOT NULL"), _c("week", "text", "NOT NULL"),
    _c("started", "timestamp", "NOT NULL"), _c("finished", "timestamp"),
    _c("status", "text", "NOT NULL CHECK (status IN ('running', 'ok', 'failed', 'partial'))"),
    _c("trigger", "text"), _c("holder", "text"), _c("error", "text"),
    indexes=(Index("job_runs_week", "job, week", "0013_weekly_job"),),
    listed=True)

JOB_STEPS = _table(
    "job_steps", "0013_weekly_job",
    _c("run_id", "integer", "NOT NULL REFERENCES job_runs(id) ON DELETE CASCADE"), _c("step", "text", "NOT NULL"),
    _c("position", "integer", "NOT NULL"), _c("started", "timestamp", "NOT NULL"), _c("finished", "timestamp"),
    _c("seconds", "real"), _c("status", "text", "NOT NULL CHECK (status IN ('running', 'ok', 'failed', 'skipped'))"),
    _c("counts", "text"), _c("message", "text"),
    constraints=("PRIMARY KEY (run_id, step)",),
    listed=True)

JOB_LOCKS = _table(
    "job_locks", "0013_weekly_job",
    _c("job", "text", "PRIMARY KEY"), _c("run_id", "integer"), _c("holder", "text", "NOT NULL"),
    _c("host", "text", "NOT NULL"), _c("pid", "integer", "NOT NULL"), _c("acquired", "timestamp", "NOT NULL"),
    _c("heartbeat", "timestamp", "NOT NULL"))

SUBSCRIPTIONS = _table(
    "subscriptions", "0013_weekly_job",
    _c("id", "serial"), _c("email", "text"), _c("webhook_url", "text"), _c("unit_id", "text"),
    _c("lang", "text", "NOT NULL DEFAULT 'vi' CHECK (lang IN ('vi', 'en'))"), _c("secret", "text"),
    _c("active", "integer", "NOT NULL DEFAULT 1"), _c("created_at", "timestamp", "NOT NULL"),
    constraints=("CHECK ((email IS NULL) <> (webhook_url IS NULL))",),
    listed=True)

DELIVERIES = _table(
    "deliveries", "0013_weekly_job",
    _c("id", "serial"), _c("subscription_id", "integer", "NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE"),
    _c("week", "text", "NOT NULL"), _c("run_id", "integer"),
    _c("status", "text", "NOT NULL CHECK (status IN ('sending', 'sent', 'failed'))"),
    _c("attempts", "integer", "NOT NULL DEFAULT 0"), _c("created_at", "timestamp", "NOT NULL"),
    _c("sent_at", "timestamp"), _c("error", "text"),
    constraints=("UNIQUE (subscription_id, week)",),
    listed=True)

TABLES: dict[str, Table] = {t.name: t for t in (
    ALERTS, SCENES, META, USERS, CREDENTIALS, ALERT_HISTORY, CASES, PLANTING_LOTS, PHOTOS, RUNS, RUN_COVERAGE,
    PLANNING_LAYERS, PLANNING_ZONES, LOGIN_ATTEMPTS, IDEMPOTENCY_KEYS, JOB_RUNS, JOB_STEPS, JOB_LOCKS, SUBSCRIPTIONS,
    DELIVERIES, TRACKS)}

# Kept by the migration runner itself, before any migration.
SCHEMA_MIGRATIONS = _table("schema_migrations", "", _c("name", "text", "PRIMARY KEY"),
                           _c("applied_at", "timestamp", "NOT NULL"))


@dataclass(frozen=True)
class Migration:
    """What one migration does, in order: tables to create, columns to add to older tables, indexes, rows."""

    name: str
    tables: tuple[Table, ...]
    columns: tuple[tuple[Table, Column], ...]
    indexes: tuple[tuple[Table, Index], ...]
    steps: tuple[str, ...] = ()


def migrations() -> list[Migration]:
    """Every migration, in order, as the schema's declarations give them."""
    out = []
    for name in MIGRATIONS:
        created = tuple(t for t in TABLES.values() if t.since == name)
        added = tuple((t, c) for t in TABLES.values() if t.since < name for c in t.columns_since(name))
        indexes = tuple((t, i) for t in TABLES.values() for i in t.indexes if i.since == name)
        out.append(Migration(name, created, added, indexes, STEPS.get(name, ())))
    return out


def _check() -> None:
    """Every ``since`` names a migration, and no column predates its table."""
    for t in TABLES.values():
        for since in (t.since, *(c.since for c in t.columns), *(i.since for i in t.indexes)):
            if since not in MIGRATIONS:
                raise ValueError(f"table {t.name}: {since!r} is not a migration of geo.store.schema.MIGRATIONS")
        if any(c.since < t.since for c in t.columns):
            raise ValueError(f"table {t.name}: a column is older than its table")
        if any(c.type not in TYPES for c in t.columns):
            raise ValueError(f"table {t.name}: unknown column type")


_check()
