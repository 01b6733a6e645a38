-- The catalogue holds one record per acquisition per grid tile (issue 3): which acquisition and tile, the exact
-- time, the source file, and the valid share over forest.
ALTER TABLE scenes ADD COLUMN acquisition text;
ALTER TABLE scenes ADD COLUMN tile text;
ALTER TABLE scenes ADD COLUMN acquired_time text;
ALTER TABLE scenes ADD COLUMN source_path text;
ALTER TABLE scenes ADD COLUMN forest_valid_fraction double precision;
