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
                  x0: float = 859995.0, y0: float = 1340005.0, spacecraft: str = "LANDSAT_9",
                  crs: str = UTM48) -> Path:
    """A Landsat C2 L2 scene folder: SR_B2..SR_B7 and QA_PIXEL at 30 m (GeoTIFF), and the MTL text file."""
    product = f"LC09_L2SP_124052_{day:%Y%m%d}_{day:%Y%m%d}_02_T1"
    folder = root / product
    folder.mkdir(parents=True)
    shape = qa.shape
    for band in range(2, 8):
        value = dn[band]
        data = value if isinstance(value, np.ndarray) else np.full(shape, value, np.uint16)
        write_band(folder / f"{product}_SR_B{band}.TIF", data.astype(np.uint16), x0, y0, 30, crs, nodata=0)
    write_band(folder / f"{product}_QA_PIXEL.TIF", qa.astype(np.uint16), x0, y0, 30, crs, nodata=1)
    (folder / f"{product}_MTL.txt").write_text(landsat_c2_l2_mtl(product, day, spacecraft, x0, y0, shape))
    return folder


# Landsat C2 L2 MTL laid out as USGS ships it: the Level-2 groups, then the Level-1 groups of the product it
# was made from, which repeat PROCESSING_LEVEL (L1TP) and REFLECTANCE_MULT/ADD_BAND_n with Level-1 values.
_L1_RADIANCE_MULT = (1.2180e-02, 1.2472e-02, 1.1493e-02, 9.6912e-03, 5.9306e-03, 1.4749e-03, 4.9711e-04,
                     1.0969e-02, 2.3180e-03)
_L1_RADIANCE_ADD = (-60.89994, -62.36172, -57.46716, -48.45584, -29.65298, -7.37458, -2.48556, -54.84523,
                    -11.59008)


def landsat_c2_l2_mtl(product: str, day: date, spacecraft: str, x0: float, y0: float,
                      shape: tuple[int, int]) -> str:
    """The text of a Collection 2 Level-2 (L2SP) MTL with every group a real one has, with realistic values."""
    l1_product = product.replace("_L2SP_", "_L1TP_")
    x1, y1 = x0 + 30 * shape[1], y0 - 30 * shape[0]
    sensor = "OLI_TIRS"
    g = []

    def group(name: str, items: list[str]) -> None:
        g.append(f"  GROUP = {name}")
        g.extend(f"    {item}" for item in items)
        g.append(f"  END_GROUP = {name}")

    sr_files = [f'FILE_NAME_BAND_{b} = "{product}_SR_B{b}.TIF"' for b in range(1, 8)]
    group("PRODUCT_CONTENTS", [
        'ORIGIN = "Image courtesy of the U.S. Geological Survey"',
        'DIGITAL_OBJECT_IDENTIFIER = "https://doi.org/10.5066/P9OGBGM6"',
        f'LANDSAT_PRODUCT_ID = "{product}"', 'PROCESSING_LEVEL = "L2SP"', "COLLECTION_NUMBER = 02",
        'COLLECTION_CATEGORY = "T1"', 'OUTPUT_FORMAT = "GEOTIFF"', *sr_files,
        f'FILE_NAME_BAND_ST_B10 = "{product}_ST_B10.TIF"',
        f'FILE_NAME_QUALITY_L2_AEROSOL = "{product}_SR_QA_AEROSOL.TIF"',
        f'FILE_NAME_QUALITY_L1_PIXEL = "{product}_QA_PIXEL.TIF"',
        f'FILE_NAME_QUALITY_L1_RADIOMETRIC_SATURATION = "{product}_QA_RADSAT.TIF"',
        f'FILE_NAME_METADATA_ODL = "{product}_MTL.txt"', f'FILE_NAME_METADATA_XML = "{product}_MTL.xml"',
        *[f'DATA_TYPE_BAND_{b} = "UINT16"' for b in range(1, 8)], 'DATA_TYPE_BAND_ST_B10 = "UINT16"',
        'DATA_TYPE_QUALITY_L1_PIXEL = "UINT16"'])
    group("IMAGE_ATTRIBUTES", [
        f'SPACECRAFT_ID = "{spacecraft}"', f'SENSOR_ID = "{sensor}"', "WRS_TYPE = 2", "WRS_PATH = 124",
        "WRS_ROW = 52", 'NADIR_OFFNADIR = "NADIR"', "TARGET_WRS_PATH = 124", "TARGET_WRS_ROW = 52",
        f"DATE_ACQUIRED = {day}", 'SCENE_CENTER_TIME = "03:12:45.1234560Z"', 'STATION_ID = "LGN"',
        "CLOUD_COVER = 23.41", "CLOUD_COVER_LAND = 23.45", "IMAGE_QUALITY_OLI = 9", "IMAGE_QUALITY_TIRS = 9",
        *[f'SATURATION_BAND_{b} = "{"Y" if b in (1, 2, 3, 4, 5, 6, 7, 9) else "N"}"' for b in range(1, 10)],
        "ROLL_ANGLE = -0.001", "SUN_AZIMUTH = 129.86234512", "SUN_ELEVATION = 58.93014127",
        "EARTH_SUN_DISTANCE = 0.9915372", 'TRUNCATION_OLI = "UPPER"', 'TIRS_SSM_MODEL = "N/A"',
        'TIRS_SSM_POSITION_STATUS = "NOMINAL"'])
    group("PROJECTION_ATTRIBUTES", [
        'MAP_PROJECTION = "UTM"', 'DATUM = "WGS84"', 'ELLIPSOID = "WGS84"', "UTM_ZONE = 48",
        "GRID_CELL_SIZE_REFLECTIVE = 30.00", "GRID_CELL_SIZE_THERMAL = 30.00", f"REFLECTIVE_LINES = {shape[0]}",
        f"REFLECTIVE_SAMPLES = {shape[1]}", f"THERMAL_LINES = {shape[0]}", f"THERMAL_SAMPLES = {shape[1]}",
        'ORIENTATION = "NORTH_UP"', f"CORNER_UL_PROJECTION_X_PRODUCT = {x0:.3f}",
        f"CORNER_UL_PROJECTION_Y_PRODUCT = {y0:.3f}", f"CORNER_LR_PROJECTION_X_PRODUCT = {x1:.3f}",
        f"CORNER_LR_PROJECTION_Y_PRODUCT = {y1:.3f}"])
    group("LEVEL2_PROCESSING_RECORD", [
        'ORIGIN = "Image courtesy of the U.S. Geological Survey"',
        'DIGITAL_OBJECT_IDENTIFIER = "https://doi.org/10.5066/P9OGBGM6"', 'REQUEST_ID = "1768120_00012"',
        f'LANDSAT_PRODUCT_ID = "{product}"', 'PROCESSING_LEVEL = "L2SP"', 'OUTPUT_FORMAT = "GEOTIFF"',
        f"DATE_PRODUCT_GENERATED = {day}T10:41:31Z", 'PROCESSING_SOFTWARE_VERSION = "LPGS_16.3.1"',
        'ALGORITHM_SOURCE_SURFACE_REFLECTANCE = "LaSRC_1.6.0"', 'DATA_SOURCE_OZONE = "MODIS"',
        'DATA_SOURCE_ELEVATION = "GLS2000"', 'ALGORITHM_SOURCE_SURFACE_TEMPERATURE = "st_1.5.0"'])
    sr_max = (1.602213, 1.602213, 1.602213, 1.602213, 1.602213, 1.602213, 1.602213)
    group("LEVEL2_SURFACE_REFLECTANCE_PARAMETERS", [
        *[f"REFLECTANCE_MAXIMUM_BAND_{b} = {sr_max[b - 1]:.6f}" for b in range(1, 8)],
        *[f"REFLECTANCE_MINIMUM_BAND_{b} = -0.199972" for b in range(1, 8)],
        *[f"QUANTIZE_CAL_MAX_BAND_{b} = 65535" for b in range(1, 8)],
        *[f"QUANTIZE_CAL_MIN_BAND_{b} = 1" for b in range(1, 8)],
        *[f"REFLECTANCE_MULT_BAND_{b} = 2.75E-05" for b in range(1, 8)],
        *[f"REFLECTANCE_ADD_BAND_{b} = -0.200000" for b in range(1, 8)]])
    group("LEVEL2_SURFACE_TEMPERATURE_PARAMETERS", [
        "TEMPERATURE_MAXIMUM_BAND_ST_B10 = 372.999941", "TEMPERATURE_MINIMUM_BAND_ST_B10 = 149.003418",
        "QUANTIZE_CAL_MAXIMUM_BAND_ST_B10 = 65535", "QUANTIZE_CAL_MINIMUM_BAND_ST_B10 = 1",
        "TEMPERATURE_MULT_BAND_ST_B10 = 0.00341802", "TEMPERATURE_ADD_BAND_ST_B10 = 149.000000"])
    group("LEVEL1_PROCESSING_RECORD", [
        'ORIGIN = "Image courtesy of the U.S. Geological Survey"',
        'DIGITAL_OBJECT_IDENTIFIER = "https://doi.org/10.5066/P975CC9B"', 'REQUEST_ID = "1768120_00012"',
        f'LANDSAT_SCENE_ID = "LC91240522{day:%y}{day.timetuple().tm_yday:03d}LGN00"',
        f'LANDSAT_PRODUCT_ID = "{l1_product}"', 'PROCESSING_LEVEL = "L1TP"', 'COLLECTION_CATEGORY = "T1"',
        'OUTPUT_FORMAT = "GEOTIFF"', f"DATE_PRODUCT_GENERATED = {day}T07:52:10Z",
        'PROCESSING_SOFTWARE_VERSION = "LPGS_16.3.1"',
        *[f'FILE_NAME_BAND_{b} = "{l1_product}_B{b}.TIF"' for b in range(1, 12)],
        f'FILE_NAME_QUALITY_L1_PIXEL = "{l1_product}_QA_PIXEL.TIF"',
        'DATA_SOURCE_ELEVATION = "GLS2000"', "GROUND_CONTROL_POINTS_VERSION = 5", "GROUND_CONTROL_POINTS_MODEL = 612",
        "GEOMETRIC_RMSE_MODEL = 6.741", "GEOMETRIC_RMSE_MODEL_Y = 4.946", "GEOMETRIC_RMSE_MODEL_X = 4.580"])
    group("LEVEL1_MIN_MAX_RADIANCE", [
        *[f"RADIANCE_MAXIMUM_BAND_{b} = {65535 * m + a:.5f}" for b, (m, a) in
          enumerate(zip(_L1_RADIANCE_MULT, _L1_RADIANCE_ADD, strict=True), 1)],
        *[f"RADIANCE_MINIMUM_BAND_{b} = {m + a:.5f}" for b, (m, a) in
          enumerate(zip(_L1_RADIANCE_MULT, _L1_RADIANCE_ADD, strict=True), 1)]])
    group("LEVEL1_MIN_MAX_REFLECTANCE", [
        *[f"REFLECTANCE_MAXIMUM_BAND_{b} = 1.210700" for b in range(1, 10)],
        *[f"REFLECTANCE_MINIMUM_BAND_{b} = -0.099980" for b in range(1, 10)]])
    group("LEVEL1_MIN_MAX_PIXEL_VALUE", [
        *[f"QUANTIZE_CAL_MAX_BAND_{b} = 65535" for b in range(1, 12)],
        *[f"QUANTIZE_CAL_MIN_BAND_{b} = 1" for b in range(1, 12)]])
    group("LEVEL1_RADIOMETRIC_RESCALING", [
        *[f"RADIANCE_MULT_BAND_{b} = {m:.4E}" for b, m in enumerate(_L1_RADIANCE_MULT, 1)],
        "RADIANCE_MULT_BAND_10 = 3.8000E-04", "RADIANCE_MULT_BAND_11 = 3.4900E-04",
        *[f"RADIANCE_ADD_BAND_{b} = {a:.5f}" for b, a in enumerate(_L1_RADIANCE_ADD, 1)],
        "RADIANCE_ADD_BAND_10 = 0.10000", "RADIANCE_ADD_BAND_11 = 0.10000",
        *[f"REFLECTANCE_MULT_BAND_{b} = 2.0000E-05" for b in range(1, 10)],
        *[f"REFLECTANCE_ADD_BAND_{b} = -0.100000" for b in range(1, 10)]])
    group("LEVEL1_THERMAL_CONSTANTS", [
        "K1_CONSTANT_BAND_10 = 799.0284", "K2_CONSTANT_BAND_10 = 1329.2405",
        "K1_CONSTANT_BAND_11 = 475.6581", "K2_CONSTANT_BAND_11 = 1198.3494"])
    group("LEVEL1_PROJECTION_PARAMETERS", [
        'MAP_PROJECTION = "UTM"', 'DATUM = "WGS84"', 'ELLIPSOID = "WGS84"', "UTM_ZONE = 48",
        "GRID_CELL_SIZE_PANCHROMATIC = 15.00", "GRID_CELL_SIZE_REFLECTIVE = 30.00", "GRID_CELL_SIZE_THERMAL = 30.00",
        'ORIENTATION = "NORTH_UP"', 'RESAMPLING_OPTION = "CUBIC_CONVOLUTION"'])
    return "\n".join(["GROUP = LANDSAT_METADATA_FILE", *g, "END_GROUP = LANDSAT_METADATA_FILE", "END"]) + "\n"
