"""Landsat C2 L2 metadata read by its groups: the Level-1 groups a real MTL carries never override Level-2 values."""

from datetime import date

import numpy as np
import pytest
from imagery_builders import landsat_c2_l2_mtl, write_landsat

from geo.errors import InvalidInputError
from ingest.landsat import read_landsat, read_mtl

DAY = date(2024, 3, 2)
PRODUCT = f"LC09_L2SP_124052_{DAY:%Y%m%d}_{DAY:%Y%m%d}_02_T1"


def _scene(tmp_path):
    qa = np.full((8, 8), 1 << 6, np.uint16)
    return write_landsat(tmp_path, DAY, {b: 10000 for b in range(2, 8)}, qa)


def test_real_layout_mtl_is_read_by_group(tmp_path):
    groups = read_mtl(next(_scene(tmp_path).glob("*_MTL.txt")))
    assert groups["PRODUCT_CONTENTS"]["PROCESSING_LEVEL"] == "L2SP"
    assert groups["LEVEL1_PROCESSING_RECORD"]["PROCESSING_LEVEL"] == "L1TP"
    assert groups["LEVEL2_SURFACE_REFLECTANCE_PARAMETERS"]["REFLECTANCE_MULT_BAND_4"] == "2.75E-05"
    assert groups["LEVEL1_RADIOMETRIC_RESCALING"]["REFLECTANCE_MULT_BAND_4"] == "2.0000E-05"


def test_real_layout_scene_gets_the_level2_surface_reflectance_scaling(tmp_path):
    acq = read_landsat(_scene(tmp_path))
    assert acq.sensor == "Landsat-9" and acq.extra["PRODUCT_ID"] == PRODUCT
    for name in ("B02", "B03", "B04", "B08", "B8A", "B11", "B12"):
        assert (acq.bands[name].scale, acq.bands[name].offset) == (2.75e-5, -0.2)
    # DN 12345 -> 12345 * 2.75e-5 - 0.2 = 0.1394875 (Level-1's 2e-5 / -0.1 would give 0.1469)
    band = acq.bands["B04"]
    assert 12345 * band.scale + band.offset == pytest.approx(0.1394875, abs=1e-12)


def test_the_xml_form_is_read_by_group_too(tmp_path):
    text = landsat_c2_l2_mtl(PRODUCT, DAY, "LANDSAT_8", 859995.0, 1340005.0, (8, 8))
    xml = ["<LANDSAT_METADATA_FILE>"]
    for line in text.splitlines()[1:-2]:
        key, _, value = (part.strip() for part in line.partition("="))
        if key == "GROUP":
            xml.append(f"<{value}>")
        elif key == "END_GROUP":
            xml.append(f"</{value}>")
        else:
            xml.append(f"<{key}>{value.strip(chr(34))}</{key}>")
    xml.append("</LANDSAT_METADATA_FILE>")
    folder = _scene(tmp_path)
    next(folder.glob("*_MTL.txt")).unlink()
    (folder / f"{PRODUCT}_MTL.xml").write_text("\n".join(xml))
    acq = read_landsat(folder)
    assert acq.sensor == "Landsat-8"
    assert (acq.bands["B11"].scale, acq.bands["B11"].offset) == (2.75e-5, -0.2)


def test_a_level1_product_is_refused_naming_its_level(tmp_path):
    folder = _scene(tmp_path)
    mtl = next(folder.glob("*_MTL.txt"))
    mtl.write_text(mtl.read_text().replace('PROCESSING_LEVEL = "L2SP"', 'PROCESSING_LEVEL = "L1TP"'))
    with pytest.raises(InvalidInputError, match="processing level L1TP"):
        read_landsat(folder)
