"""Sentinel-2 L2A SAFE folders: band JP2s at 10 m and 20 m, SCL, and the product's radiometric offset.

From processing baseline 04.00 (25 January 2022) L2A carries ``BOA_ADD_OFFSET`` = -1000 per band:
reflectance = (DN + BOA_ADD_OFFSET) / BOA_QUANTIFICATION_VALUE. Older products have no offset list: offset 0.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

from geo.errors import InvalidInputError
from ingest.acquisition import Acquisition, BandSource

METADATA = "MTD_MSIL2A.xml"
# band_id order of the product metadata (Spectral_Information and BOA_ADD_OFFSET band_id attributes)
BAND_IDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")
# where each analysis band is read from: the finest resolution the product has it at
BAND_FILES = {"B02": "R10m/*_B02_10m.jp2", "B03": "R10m/*_B03_10m.jp2", "B04": "R10m/*_B04_10m.jp2",
              "B08": "R10m/*_B08_10m.jp2", "B8A": "R20m/*_B8A_20m.jp2", "B11": "R20m/*_B11_20m.jp2",
              "B12": "R20m/*_B12_20m.jp2", "SCL": "R20m/*_SCL_20m.jp2"}


def is_safe(folder: Path) -> bool:
    return folder.is_dir() and (folder / METADATA).is_file()


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def read_metadata(folder: Path) -> dict:
    """Start time, spacecraft, baseline, quantification value and per-band offsets from MTD_MSIL2A.xml."""
    try:
        root = ET.parse(folder / METADATA).getroot()
    except (ET.ParseError, OSError) as exc:
        raise InvalidInputError(f"{folder / METADATA}: unreadable product metadata ({exc})") from exc
    meta: dict = {"offsets": {}}
    for el in root.iter():
        tag = _local(el.tag)
        text = (el.text or "").strip()
        if tag in ("PRODUCT_START_TIME", "SPACECRAFT_NAME", "PROCESSING_BASELINE", "PRODUCT_URI"):
            meta.setdefault(tag, text)
        elif tag == "BOA_QUANTIFICATION_VALUE":
            meta["quantification"] = float(text)
        elif tag == "BOA_ADD_OFFSET":
            meta["offsets"][BAND_IDS[int(el.get("band_id"))]] = float(text)
    if "PRODUCT_START_TIME" not in meta:
        raise InvalidInputError(f"{folder / METADATA}: no PRODUCT_START_TIME; not a Sentinel-2 L2A product")
    return meta


def read_safe(folder: Path) -> Acquisition:
    """The acquisition of a SAFE folder (all granules of the product mosaicked)."""
    folder = Path(folder)
    meta = read_metadata(folder)
    quant = meta.get("quantification", 10000.0)
    bands: dict[str, BandSource] = {}
    mask = None
    for name, pattern in BAND_FILES.items():
        files = tuple(str(p) for p in sorted(folder.glob(f"GRANULE/*/IMG_DATA/{pattern}")))
        if not files:
            continue
        if name == "SCL":
            mask = BandSource(files, scale=1.0, nodata=0)
        else:
            bands[name] = BandSource(files, scale=1 / quant, offset=meta["offsets"].get(name, 0.0) / quant, nodata=0)
    start = datetime.fromisoformat(meta["PRODUCT_START_TIME"].replace("Z", "+00:00"))
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    name = folder.name.removesuffix(".SAFE")
    extra = {"PROCESSING_BASELINE": meta.get("PROCESSING_BASELINE", ""), "PRODUCT_ID": name}
    return Acquisition(id="", sensor=meta.get("SPACECRAFT_NAME", "Sentinel-2"), acquired=start, source="local",
                       source_path=str(folder.resolve()), bands=bands, mask=mask,
                       mask_kind="scl" if mask else "spectral", extra=extra)
