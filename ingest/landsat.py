"""Landsat 8/9 Collection 2 Level-2 scenes: SR_B* bands scaled by the MTL, QA_PIXEL as the cloud mask.

The MTL is read by its groups: a C2 Level-2 MTL also carries the Level-1 groups it was made from, which repeat
keys with Level-1 values (``PROCESSING_LEVEL = "L1TP"`` in LEVEL1_PROCESSING_RECORD, TOA scaling 2.0E-05 / -0.1
in LEVEL1_RADIOMETRIC_RESCALING). The level comes from PRODUCT_CONTENTS and the scaling from
LEVEL2_SURFACE_REFLECTANCE_PARAMETERS: surface reflectance = DN * REFLECTANCE_MULT_BAND_n + REFLECTANCE_ADD_BAND_n
(2.75e-5 and -0.2 for C2). OLI bands are named after their Sentinel-2 counterparts (SR_B5, NIR, serves as B08
and B8A).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

from geo.errors import InvalidInputError
from ingest.acquisition import Acquisition, BandSource

# OLI band number -> Sentinel-2 name(s)
OLI_BANDS = {2: ("B02",), 3: ("B03",), 4: ("B04",), 5: ("B08", "B8A"), 6: ("B11",), 7: ("B12",)}
_LINE = re.compile(r'^\s*([A-Z0-9_]+)\s*=\s*"?([^"]*)"?\s*$')
PRODUCT = "PRODUCT_CONTENTS"
ATTRIBUTES = "IMAGE_ATTRIBUTES"
L2_REFLECTANCE = "LEVEL2_SURFACE_REFLECTANCE_PARAMETERS"
# Collection 2 surface reflectance scaling, the same for every OLI band (USGS Landsat C2 L2 product guide)
C2_SR_SCALE, C2_SR_OFFSET = 2.75e-5, -0.2


def mtl_file(folder: Path) -> Path | None:
    for pattern in ("*_MTL.txt", "*_MTL.xml"):
        found = sorted(folder.glob(pattern))
        if found:
            return found[0]
    return None


def is_landsat(folder: Path) -> bool:
    return folder.is_dir() and mtl_file(folder) is not None


def read_mtl(path: Path) -> dict[str, dict[str, str]]:
    """The MTL's values by group: ``{group: {KEY: value}}``, each key under the innermost group holding it.

    Reads both forms USGS ships: the ODL text file (``GROUP = NAME`` ... ``END_GROUP = NAME``) and the XML file
    (a root element whose children are the groups). Keys outside any group of the text form go under ``""``.
    """
    try:
        if path.suffix.lower() == ".xml":
            root = ET.parse(path).getroot()
            groups: dict[str, dict[str, str]] = {}
            for parent in root.iter():
                leaves = {el.tag: (el.text or "").strip() for el in parent if len(el) == 0}
                if leaves:
                    groups.setdefault(parent.tag, {}).update(leaves)
            return groups
        groups = {}
        stack = [""]
        for line in path.read_text(errors="replace").splitlines():
            m = _LINE.match(line)
            if not m:
                continue
            key, value = m[1], m[2].strip()
            if key == "GROUP":
                stack.append(value)
            elif key == "END_GROUP":
                if len(stack) > 1:
                    stack.pop()
            else:
                groups.setdefault(stack[-1], {})[key] = value
        return groups
    except (ET.ParseError, OSError) as exc:
        raise InvalidInputError(f"{path}: unreadable Landsat metadata ({exc})") from exc


def read_landsat(folder: Path) -> Acquisition:
    """The acquisition of a Landsat C2 L2 scene folder."""
    folder = Path(folder)
    mtl_path = mtl_file(folder)
    groups = read_mtl(mtl_path)
    product_group, attributes = groups.get(PRODUCT, {}), groups.get(ATTRIBUTES, {})
    level = product_group.get("PROCESSING_LEVEL", "")
    if not level.startswith("L2"):
        raise InvalidInputError(
            f"{mtl_path}: processing level {level or 'unknown'}; need Collection 2 Level-2 (L2SP/L2SR)")
    spacecraft = attributes.get("SPACECRAFT_ID", "")
    if spacecraft not in ("LANDSAT_8", "LANDSAT_9"):
        raise InvalidInputError(
            f"{mtl_path}: spacecraft {spacecraft or 'unknown'}; only Landsat 8 and 9 are supported")
    if "DATE_ACQUIRED" not in attributes:
        raise InvalidInputError(f"{mtl_path}: no DATE_ACQUIRED in {ATTRIBUTES}")
    clock = attributes.get("SCENE_CENTER_TIME", "00:00:00").rstrip("Z")[:15]
    try:
        acquired = datetime.fromisoformat(f"{attributes['DATE_ACQUIRED']}T{clock}").replace(tzinfo=UTC)
    except ValueError as exc:
        raise InvalidInputError(f"{mtl_path}: unreadable DATE_ACQUIRED/SCENE_CENTER_TIME ({exc})") from exc
    product = product_group.get("LANDSAT_PRODUCT_ID",
                                mtl_path.name.removesuffix("_MTL.txt").removesuffix("_MTL.xml"))
    scaling = groups.get(L2_REFLECTANCE, {})
    bands: dict[str, BandSource] = {}
    for number, names in OLI_BANDS.items():
        files = sorted(folder.glob(f"*_SR_B{number}.TIF")) or sorted(folder.glob(f"*_SR_B{number}.tif"))
        if not files:
            continue
        try:
            scale = float(scaling.get(f"REFLECTANCE_MULT_BAND_{number}", C2_SR_SCALE))
            offset = float(scaling.get(f"REFLECTANCE_ADD_BAND_{number}", C2_SR_OFFSET))
        except ValueError as exc:
            raise InvalidInputError(f"{mtl_path}: unreadable {L2_REFLECTANCE} for band {number} ({exc})") from exc
        for name in names:
            bands[name] = BandSource((str(files[0]),), scale=scale, offset=offset, nodata=0)
    qa = sorted(folder.glob("*_QA_PIXEL.TIF")) or sorted(folder.glob("*_QA_PIXEL.tif"))
    mask = BandSource((str(qa[0]),), scale=1.0, nodata=1) if qa else None   # QA_PIXEL fill value is 1
    return Acquisition(id="", sensor=spacecraft.replace("LANDSAT_", "Landsat-"), acquired=acquired, source="local",
                       source_path=str(folder.resolve()), bands=bands, mask=mask,
                       mask_kind="qa_pixel" if mask else "spectral", extra={"PRODUCT_ID": product})
