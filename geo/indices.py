"""Spectral indices from surface reflectance: NDVI (greenness), NBR (burn/clearing), NDMI (moisture)."""

from __future__ import annotations

import numpy as np


def normalized_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(a - b) / (a + b) as float32, NaN where the sum is not positive (no data)."""
    a = a.astype(np.float32, copy=False)
    b = b.astype(np.float32, copy=False)
    total = a + b
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (a - b) / total
    out[~(total > 0)] = np.nan
    return out


def ndvi(red: np.ndarray, nir: np.ndarray) -> np.ndarray:
    return normalized_difference(nir, red)


def nbr(nir: np.ndarray, swir2: np.ndarray) -> np.ndarray:
    return normalized_difference(nir, swir2)


def ndmi(nir: np.ndarray, swir1: np.ndarray) -> np.ndarray:
    return normalized_difference(nir, swir1)
