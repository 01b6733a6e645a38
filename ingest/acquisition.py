"""What every imagery source hands to the tile writer: one acquisition, where each band is and how to scale it.

Sources differ (a multi-band GeoTIFF, one file per band, a Sentinel-2 SAFE folder, a Landsat scene, Sentinel Hub
downloads); once described as an :class:`Acquisition` they are all written onto the grid by the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

# The analysis-ready bands, Sentinel-2 names; reflectance x 10000 in the output, SCL codes for the mask.
ARD_BANDS = ("B02", "B03", "B04", "B08", "B8A", "B11", "B12")
REQUIRED_REFLECTANCE = ("B04", "B08", "B12")
SPECTRAL_SCREEN_BANDS = ("B02", "B03", "B04", "B08", "B11")
MASK_KINDS = ("scl", "qa_pixel", "spectral")
# s2cloudless's layers: cloud probability (0-1, or 0-255 in integers) and cloud mask (1 = cloud, 255 = no data)
CLOUD_BANDS = ("CLP", "CLM")


@dataclass(frozen=True)
class BandSource:
    """One band: the file(s) holding it (mosaicked first-wins), its band index, and DN -> reflectance.

    reflectance = DN * scale + offset; DN equal to ``nodata`` means no data.
    """

    paths: tuple[str, ...]
    index: int = 1
    scale: float = 1e-4
    offset: float = 0.0
    nodata: float | None = 0


@dataclass(frozen=True)
class Acquisition:
    """One acquisition of one sensor, ready to be cut into grid tiles."""

    id: str
    sensor: str
    acquired: datetime
    source: str                         # local, sentinelhub, cdse
    source_path: str                    # what the user gave or what was downloaded (for the catalogue)
    bands: dict[str, BandSource]        # reflectance bands by Sentinel-2 name
    mask: BandSource | None = None      # SCL or QA_PIXEL; None -> spectral screen
    mask_kind: str = "spectral"
    # Cloud layers beside the mask, folded into it as cloud where the mask saw clear land: a cloud probability
    # (0-1 after scaling: s2cloudless, as Sentinel Hub's CLP) and a cloud mask (1 = cloud: Sentinel Hub's CLM)
    cloud_probability: BandSource | None = None
    cloud_flag: BandSource | None = None
    bounds: tuple[float, float, float, float] | None = None   # footprint in the grid CRS
    cloud_pct: float | None = None      # as reported by the provider, when there is one
    extra: dict[str, str] = field(default_factory=dict)       # tags worth keeping (baseline, product id)

    @property
    def mask_source(self) -> str:
        """What the mask is made of, as the tiles' MASK_SOURCE tag says it ("scl", "scl+clp+clm"...)."""
        return "+".join([self.mask_kind] + (["clp"] if self.cloud_probability else [])
                        + (["clm"] if self.cloud_flag else []))

    def missing_bands(self) -> list[str]:
        """Required bands this acquisition lacks (including what the spectral screen needs when no mask)."""
        need = list(REQUIRED_REFLECTANCE)
        if self.mask is None:
            need += [b for b in SPECTRAL_SCREEN_BANDS if b not in need]
        return [b for b in need if b not in self.bands]
