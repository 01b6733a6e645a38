-- The catalogue holds one record per acquisition per grid tile (issue 3): which acquisition and tile, the exact
-- time, the source file, and the valid share over forest.
ALTER TABLE scenes ADD COLUMN acquisition TEXT;
ALTER TABLE scenes ADD COLUMN tile TEXT;
ALTER TABLE scenes ADD COLUMN acquired_time TEXT;
ALTER TABLE scenes ADD COLUMN source_path TEXT;
ALTER TABLE scenes ADD COLUMN forest_valid_fraction REAL;
