-- Planning layers (issue 6): `planning_layers` (one record per layer version) and the spatial layer
-- `planning_zones` are created through GDAL by GeoPackageStore._create_planning, so the zones are a standard
-- GeoPackage layer with an R-tree index that QGIS opens; nothing to do here.
SELECT 1;
