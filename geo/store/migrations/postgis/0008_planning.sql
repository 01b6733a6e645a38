-- Planning layers (issue 6): zoning, land-use plan, forest-category and protected-area layers, one record per
-- version (by validity date), and their zones as polygons in EPSG:4326 with the source attributes as JSON text.
CREATE TABLE planning_layers (
    id text PRIMARY KEY,
    name text NOT NULL,
    kind text NOT NULL,
    valid_from text NOT NULL,
    source text,
    source_crs text,
    zone_field text,
    feature_count integer,
    repairs text,
    imported text
);
CREATE TABLE planning_zones (
    layer_id text NOT NULL REFERENCES planning_layers(id) ON DELETE CASCADE,
    feature_index integer NOT NULL,
    zone_type text,
    zone_class text,
    area_ha double precision,
    properties text,
    geom geometry(MultiPolygon, 4326),
    PRIMARY KEY (layer_id, feature_index)
);
CREATE INDEX planning_zones_geom ON planning_zones USING gist (geom);
