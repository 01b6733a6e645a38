"""Landsat 8/9 Collection 2 Level-2 scenes: SR_B* bands scaled by the MTL, QA_PIXEL as the cloud mask.

Surface reflectance = DN * REFLECTANCE_MULT_BAND_n + REFLECTANCE_ADD_BAND_n (2.75e-5 and -0.2 for C2);
OLI bands are named after their Sentinel-2 counterparts (SR_B5, NIR, serves as B08 and B8A).
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


def mtl_file(folder: Path) -> Path | None:
    for pattern in ("*_MTL.txt", "*_MTL.xml"):
        found = sorted(folder.glob(pattern))
        if found:
            return found[0]
    return None


def is_landsat(folder: Path) -> bool:
    return folder.is_dir() and mtl_file(folder) is not None


def read_mtl(path: Path) -> dict[str, str]:
    """Every KEY = VALUE of an MTL text file (or every leaf element of an MTL XML file)."""
    try:
        if path.suffix.lower() == ".xml":
            return {el.tag: (el.text or "").strip() for el in ET.parse(path).getroot().iter() if len(el) == 0}
        out = {}
        for line in path.read_text(errors="replace").splitlines():
            m = _LINE.match(line)
            if m:
                out[m[1]] = m[2].strip()
        return out
    except (ET.ParseError, OSError) as exc:
        raise InvalidInputError(f"{path}: unreadable Landsat metadata ({exc})") from exc


def read_landsat(folder: Path) -> Acquisition:
    """The acquisition of a Landsat C2 L2 scene folder."""
    folder = Path(folder)
    mtl_path = mtl_file(folder)
    mtl = read_mtl(mtl_path)
    level = mtl.get("PROCESSING_LEVEL", "")
    if not level.startswith("L2"):
        raise InvalidInputError(
            f"{mtl_path}: processing level {level or 'unknown'}; need Collection 2 Level-2 (L2SP/L2SR)")
    spacecraft = mtl.get("SPACECRAFT_ID", "")
    if spacecraft not in ("LANDSAT_8", "LANDSAT_9"):
        raise InvalidInputError(
            f"{mtl_path}: spacecraft {spacecraft or 'unknown'}; only Landsat 8 and 9 are supported")
    if "DATE_ACQUIRED" not in mtl:
        raise InvalidInputError(f"{mtl_path}: no DATE_ACQUIRED")
    clock = mtl.get("SCENE_CENTER_TIME", "00:00:00").rstrip("Z")[:15]
    acquired = datetime.fromisoformat(f"{mtl['DATE_ACQUIRED']}T{clock}").replace(tzinfo=UTC)
    product = mtl.get("LANDSAT_PRODUCT_ID", mtl_path.name.removesuffix("_MTL.txt").removesuffix("_MTL.xml"))
    bands: dict[str, BandSource] = {}
    for number, names in OLI_BANDS.items():
        files = sorted(folder.glob(f"*_SR_B{number}.TIF")) or sorted(folder.glob(f"*_SR_B{number}.tif"))
        if not files:
            continue
        scale = float(mtl.get(f"REFLECTANCE_MULT_BAND_{number}", 2.75e-5))
        offset = float(mtl.get(f"REFLECTANCE_ADD_BAND_{number}", -0.2))
        for name in names:
            bands[name] = BandSource((str(files[0]),), scale=scale, offset=offset, nodata=0)
    qa = sorted(folder.glob("*_QA_PIXEL.TIF")) or sorted(folder.glob("*_QA_PIXEL.tif"))
    mask = BandSource((str(qa[0]),), scale=1.0, nodata=1) if qa else None   # QA_PIXEL fill value is 1
    return Acquisition(id="", sensor=spacecraft.replace("LANDSAT_", "Landsat-"), acquired=acquired, source="local",
                       source_path=str(folder.resolve()), bands=bands, mask=mask,
                       mask_kind="qa_pixel" if mask else "spectral", extra={"PRODUCT_ID": product})
