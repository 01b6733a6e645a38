"""The analysis-ready COG writer: values, layout and overviews as written; blocks outside the swath left out."""

from __future__ import annotations

import numpy as np
import rasterio
from affine import Affine
from pyproj import CRS

from geo.grid import Grid
from ingest.ard import OUTPUT_BANDS, write_cog


def test_cog_keeps_every_value_and_leaves_blocks_of_no_data_out(tmp_path):
    grid = Grid(CRS.from_epsg(32648), Affine(10, 0, 860000, 0, -10, 1340000), 1200, 1100)
    rng = np.random.default_rng(3)
    layers = [rng.integers(1, 10000, (1100, 1200), dtype=np.uint16) for _ in OUTPUT_BANDS]
    for layer in layers:
        layer[:, 600:] = 0                 # the east half is outside the swath
    path = tmp_path / "tile.tif"
    write_cog(path, layers, grid, {"TILE": "E043N066"})
    with rasterio.open(path) as src:
        assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG" and src.overviews(1) == [2, 4]
        assert list(src.descriptions) == list(OUTPUT_BANDS) and src.tags()["TILE"] == "E043N066"
        assert src.transform == grid.transform and src.nodata == 0
        assert all((src.read(i + 1) == layer).all() for i, layer in enumerate(layers))
        # pixel interleaved: one block holds all bands; GDAL names blocks by column, then row
        assert int(src.get_tag_item("BLOCK_SIZE_0_0", "TIFF", bidx=1)) > 0
        assert src.get_tag_item("BLOCK_OFFSET_2_0", "TIFF", bidx=1) is None   # columns 1024-1199: not in the file
