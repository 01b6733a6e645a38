"""Imagery in: sources (local files and folders, Sentinel-2 SAFE, Landsat, Sentinel Hub, the synthetic demo),
analysis-ready tiles on the region's grid, the scene catalogue they are recorded in, and where the work runs
(this machine or a Dask cluster)."""
