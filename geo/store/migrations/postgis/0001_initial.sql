-- Alerts (polygons in EPSG:4326, the columns of geo.alerts.ALERT_COLUMNS), the scene catalogue, and meta values.
CREATE TABLE alerts (
    id text PRIMARY KEY,
    status text NOT NULL DEFAULT 'new',
    confidence text,
    first_detected date,
    confirmed date,
    last_update date,
    area_ha double precision,
    district_id text,
    district text,
    mean_drop double precision,
    scene_before text,
    scene_after text,
    centroid_lon double precision,
    centroid_lat double precision,
    vn2000_x double precision,
    vn2000_y double precision,
    vn2000_epsg integer,
    geom geometry(MultiPolygon, 4326)
);
CREATE INDEX alerts_geom ON alerts USING gist (geom);
CREATE INDEX alerts_first_detected ON alerts (first_detected);

CREATE TABLE scenes (
    id text PRIMARY KEY,
    sensor text,
    acquired text,
    source text,
    path text,
    cloud_pct double precision,
    valid_fraction double precision,
    status text,
    reason text,
    processed integer
);

CREATE TABLE forestmon_meta (key text PRIMARY KEY, value bigint NOT NULL);
INSERT INTO forestmon_meta VALUES ('schema_version', 1), ('data_version', 0);
