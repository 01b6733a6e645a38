-- Detection runs, and per admin unit the monitored forest and the part of it seen cloud-free (issue 4), so
-- "0 alerts" can be told apart from "not observed".
CREATE TABLE runs (
    id integer PRIMARY KEY,
    finished text NOT NULL,
    first_scene text,
    last_scene text,
    scenes integer,
    mode text
);
CREATE TABLE run_coverage (
    run_id integer NOT NULL REFERENCES runs(id),
    unit_id text NOT NULL,
    unit text,
    forest_ha double precision,
    observed_ha double precision,
    observed_share double precision,
    PRIMARY KEY (run_id, unit_id)
);
