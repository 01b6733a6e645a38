"""Builders for imagery laid out as the real products are: Sentinel-2 L2A SAFE folders and Landsat C2 L2 scenes.

Values are chosen so the expected analysis-ready numbers can be worked out by hand in the tests.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

UTM48 = "EPSG:32648"
# Lossless JPEG 2000, as the real products are (GDAL's default is lossy).
JP2_LOSSLESS = {"driver": "JP2OpenJPEG", "QUALITY": "100", "REVERSIBLE": "YES"}

MTD_TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<n1:Level-2A_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-2A.xsd">
  <n1:General_Info>
    <Product_Info>
      <PRODUCT_START_TIME>{start}</PRODUCT_START_TIME>
      <PRODUCT_URI>{name}.SAFE</PRODUCT_URI>
      <PROCESSING_BASELINE>{baseline}</PROCESSING_BASELINE>
      <Datatake><SPACECRAFT_NAME>Sentinel-2B</SPACECRAFT_NAME></Datatake>
    </Product_Info>
    <Product_Image_Characteristics>
      <QUANTIFICATION_VALUES_LIST>
        <BOA_QUANTIFICATION_VALUE unit="none">10000</BOA_QUANTIFICATION_VALUE>
      </QUANTIFICATION_VALUES_LIST>
      {offsets}
    </Product_Image_Characteristics>
  </n1:General_Info>
</n1:Level-2A_User_Product>
"""


def write_band(path: Path, data: np.ndarray, x0: float, y0: float, res: float, crs: str = UTM48,
               nodata: float | None = None, **options) -> Path:
    """One single-band raster (GeoTIFF unless options say otherwise), upper-left corner at (x0, y0)."""
    profile = {"driver": "GTiff", "width": data.shape[1], "height": data.shape[0], "count": 1,
               "dtype": str(data.dtype), "crs": crs, "transform": from_origin(x0, y0, res, res), **options}
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
    return path


def write_safe(root: Path, day: date, dn: dict[str, int], scl: np.ndarray, *, baseline: str = "05.10",
               x0: float = 860000.0, y0: float = 1340000.0, size_10m: int = 64) -> Path:
    """A SAFE-like folder: B02/B03/B04/B08 at 10 m, B8A/B11/B12/SCL at 20 m (JP2), MTD_MSIL2A.xml.

    ``dn`` gives each band's constant digital number; ``scl`` is the 20 m SCL array. From baseline 04.00 the
    metadata lists BOA_ADD_OFFSET = -1000 for every band.
    """
    name = f"S2B_MSIL2A_{day:%Y%m%d}T032109_N{baseline.replace('.', '')}_R118_T48PZU_{day:%Y%m%d}T060613"
    safe = root / f"{name}.SAFE"
    img = safe / "GRANULE" / f"L2A_T48PZU_A035678_{day:%Y%m%d}T033256" / "IMG_DATA"
    (img / "R10m").mkdir(parents=True)
    (img / "R20m").mkdir(parents=True)
    stem = f"T48PZU_{day:%Y%m%d}T032109"
    for band in ("B02", "B03", "B04", "B08"):
        write_band(img / "R10m" / f"{stem}_{band}_10m.jp2", np.full((size_10m, size_10m), dn[band], np.uint16),
                   x0, y0, 10, **JP2_LOSSLESS)
    for band in ("B8A", "B11", "B12"):
        write_band(img / "R20m" / f"{stem}_{band}_20m.jp2",
                   np.full((size_10m // 2, size_10m // 2), dn[band], np.uint16), x0, y0, 20, **JP2_LOSSLESS)
    write_band(img / "R20m" / f"{stem}_SCL_20m.jp2", scl.astype(np.uint8), x0, y0, 20, **JP2_LOSSLESS)
    offsets = ""
    if baseline >= "04.00":
        items = "".join(f'<BOA_ADD_OFFSET band_id="{i}">-1000</BOA_ADD_OFFSET>' for i in range(13))
        offsets = f"<BOA_ADD_OFFSET_VALUES_LIST>{items}</BOA_ADD_OFFSET_VALUES_LIST>"
    (safe / "MTD_MSIL2A.xml").write_text(MTD_TEMPLATE.format(
        start=f"{day.isoformat()}T03:21:09.024Z", name=name, baseline=baseline, offsets=offsets))
    return safe


def write_landsat(root: Path, day: date, dn: dict[int, np.ndarray | int], qa: np.ndarray, *,
                  x0: float = 859995.0, y0: float = 1340005.0, spacecraft: str = "LANDSAT_9") -> Path:
    """A Landsat C2 L2 scene folder: SR_B2..SR_B7 and QA_PIXEL at 30 m (GeoTIFF), and the MTL text file."""
    product = f"LC09_L2SP_124052_{day:%Y%m%d}_{day:%Y%m%d}_02_T1"
    folder = root / product
    folder.mkdir(parents=True)
    shape = qa.shape
    for band in range(2, 8):
        value = dn[band]
        data = value if isinstance(value, np.ndarray) else np.full(shape, value, np.uint16)
        write_band(folder / f"{product}_SR_B{band}.TIF", data.astype(np.uint16), x0, y0, 30, nodata=0)
    write_band(folder / f"{product}_QA_PIXEL.TIF", qa.astype(np.uint16), x0, y0, 30, nodata=1)
    lines = ["GROUP = LANDSAT_METADATA_FILE", "  GROUP = PRODUCT_CONTENTS",
             f'    LANDSAT_PRODUCT_ID = "{product}"', '    PROCESSING_LEVEL = "L2SP"', "  END_GROUP = PRODUCT_CONTENTS",
             "  GROUP = IMAGE_ATTRIBUTES", f'    SPACECRAFT_ID = "{spacecraft}"', f"    DATE_ACQUIRED = {day}",
             '    SCENE_CENTER_TIME = "03:12:45.1234560Z"', "  END_GROUP = IMAGE_ATTRIBUTES",
             "  GROUP = LEVEL2_SURFACE_REFLECTANCE_PARAMETERS"]
    lines += [f"    REFLECTANCE_MULT_BAND_{b} = 2.75E-05" for b in range(1, 8)]
    lines += [f"    REFLECTANCE_ADD_BAND_{b} = -0.200000" for b in range(1, 8)]
    lines += ["  END_GROUP = LEVEL2_SURFACE_REFLECTANCE_PARAMETERS", "END_GROUP = LANDSAT_METADATA_FILE", "END"]
    (folder / f"{product}_MTL.txt").write_text("\n".join(lines) + "\n")
    return folder
