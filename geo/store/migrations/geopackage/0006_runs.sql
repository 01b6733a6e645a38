-- Detection runs, and per admin unit the monitored forest and the part of it seen cloud-free (issue 4), so
-- "0 alerts" can be told apart from "not observed". Registered as GeoPackage attribute tables for QGIS.
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    finished TEXT NOT NULL,
    first_scene TEXT,
    last_scene TEXT,
    scenes INTEGER,
    mode TEXT
);
CREATE TABLE run_coverage (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    unit_id TEXT NOT NULL,
    unit TEXT,
    forest_ha REAL,
    observed_ha REAL,
    observed_share REAL,
    PRIMARY KEY (run_id, unit_id)
);
INSERT INTO gpkg_contents (table_name, data_type, identifier) VALUES ('runs', 'attributes', 'runs');
INSERT INTO gpkg_contents (table_name, data_type, identifier) VALUES ('run_coverage', 'attributes', 'run_coverage');
