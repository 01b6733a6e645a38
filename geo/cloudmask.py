"""Which pixels of an acquisition are clear land: cloud, cirrus, shadow and no-data removed from the SCL band."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

# Sentinel-2 L2A scene classification (SCL) codes.
SCL_NO_DATA, SCL_SATURATED, SCL_DARK, SCL_CLOUD_SHADOW = 0, 1, 2, 3
SCL_VEGETATION, SCL_NOT_VEGETATED, SCL_WATER, SCL_UNCLASSIFIED = 4, 5, 6, 7
SCL_CLOUD_MEDIUM, SCL_CLOUD_HIGH, SCL_THIN_CIRRUS, SCL_SNOW = 8, 9, 10, 11

SCL_CLOUDY = (SCL_CLOUD_SHADOW, SCL_CLOUD_MEDIUM, SCL_CLOUD_HIGH, SCL_THIN_CIRRUS)
SCL_UNUSABLE = (SCL_NO_DATA, SCL_SATURATED, SCL_SNOW)

# Real SCL masks miss cloud and shadow edges; widen them by this many pixels (30-40 m) before use.
DEFAULT_BUFFER_PX = 4


def scl_clear_mask(scl: np.ndarray, buffer_px: int = DEFAULT_BUFFER_PX) -> np.ndarray:
    """True where the pixel is observed and free of cloud, cirrus and shadow (with a safety buffer)."""
    cloudy = np.isin(scl, SCL_CLOUDY)
    if buffer_px > 0 and cloudy.any():
        cloudy = ndimage.binary_dilation(cloudy, iterations=buffer_px)
    return ~cloudy & ~np.isin(scl, SCL_UNUSABLE)


def cloud_fraction(scl: np.ndarray) -> float:
    """Share of observed pixels marked cloud, cirrus or shadow (0-1); 1.0 when nothing is observed."""
    observed = scl != SCL_NO_DATA
    n = int(observed.sum())
    return float(np.isin(scl[observed], SCL_CLOUDY).sum() / n) if n else 1.0
