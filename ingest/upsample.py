"""Integer-factor upsampling of a coarser band onto the 10 m grid, in numpy, as GDAL's warper would do it.

Sentinel-2's 20 m bands (and any source whose pixels are a whole multiple of the grid's, with edges on the
grid) need no general warp: each 20 m pixel covers exactly 2 x 2 grid pixels. Nearest is then a repeat;
bilinear puts each grid pixel centre at a fixed offset from the source centres (-1/4 and +1/4 of a source pixel
for a factor 2), so it is a separable 2-tap kernel, with the weights of no-data neighbours left out and the rest
renormalised, rounded half up for integer bands, and no data wherever the nearest source pixel is no data: the
same values as GDAL's bilinear warp (checked against a WarpedVRT in the tests). Doing it here instead of a
WarpedVRT per tile makes the 20 m bands about as cheap to read as the 10 m ones.
"""

from __future__ import annotations

import math

import numpy as np
from rasterio.windows import Window


def source_window(col: int, row: int, width: int, height: int, factor: int, margin: int) -> Window:
    """The source pixels (with ``margin`` around) needed for grid pixels [col, col+width) x [row, row+height),
    where grid pixel 0 starts on source pixel 0's edge; may reach outside the source (read it boundless)."""
    c0, r0 = col // factor - margin, row // factor - margin
    c1, r1 = math.ceil((col + width) / factor) + margin, math.ceil((row + height) / factor) + margin
    return Window(c0, r0, c1 - c0, r1 - r0)


def upsample(data: np.ndarray, factor: int, col: int, row: int, width: int, height: int, *, bilinear: bool,
             nodata: float) -> np.ndarray:
    """``data`` (bands, rows, cols) read over :func:`source_window` (margin 1 if ``bilinear`` else 0), upsampled
    by ``factor`` and cut to the grid window; same dtype, ``nodata`` where no valid source pixel contributes.
    Bilinear is for factor 2 and integer bands of at most 16 bits (exact integer arithmetic)."""
    margin = 1 if bilinear else 0
    win = source_window(col, row, width, height, factor, margin)
    dc, dr = col - (win.col_off + margin) * factor, row - (win.row_off + margin) * factor   # phase in the block
    if not bilinear:
        out = np.repeat(np.repeat(data, factor, axis=1), factor, axis=2)
        return np.ascontiguousarray(out[:, dr:dr + height, dc:dc + width])
    if factor != 2 or not np.issubdtype(data.dtype, np.integer) or data.dtype.itemsize > 2:
        raise ValueError(f"bilinear upsampling here is for factor 2 and 8/16-bit integers, not {factor}, {data.dtype}")
    out = np.empty((data.shape[0], height, width), dtype=data.dtype)
    rows, cols = slice(dr, dr + height), slice(dc, dc + width)
    for i, band in enumerate(data):
        valid = band != nodata
        if valid.all():   # the usual case: weights 9, 3, 3, 1 (/16), rounded half up, all in integers
            total = _double_rows(_double_cols(band)[:, cols])[rows]
            total += 8
            np.right_shift(total, 4, out=out[i], casting="unsafe")
            continue
        value = np.where(valid, band, 0).astype(np.uint16 if band.dtype.kind == "u" else np.int16)
        num = _double_rows(_double_cols(value)[:, cols])[rows]
        den = _double_rows(_double_cols(valid.astype(np.uint8))[:, cols])[rows]
        res = (2 * num + den) // np.maximum(2 * den, 1)      # floor(num / den + 1/2)
        # GDAL's rule: a grid pixel whose nearest source pixel is no data is no data.
        centre = np.repeat(np.repeat(valid[1:-1, 1:-1], 2, axis=0), 2, axis=1)[rows, cols]
        out[i] = np.where(centre, res, nodata).astype(data.dtype)
    return out


def _double_cols(a: np.ndarray) -> np.ndarray:
    """Factor-2 linear upsampling of columns (int32 weights x4: 3 on the nearest source column, 1 on the next
    one), dropping the one-column margin. Done first, on the small source block (its writes are strided)."""
    centre3 = np.multiply(a[:, 1:-1], 3, dtype=np.int32)
    out = np.empty((a.shape[0], 2 * centre3.shape[1]), dtype=np.int32)
    np.add(centre3, a[:, :-2], out=out[:, 0::2])
    np.add(centre3, a[:, 2:], out=out[:, 1::2])
    return out


def _double_rows(a: np.ndarray) -> np.ndarray:
    """The same along rows (weights x16 in all), dropping the one-row margin."""
    centre3 = a[1:-1] * 3
    out = np.empty((2 * centre3.shape[0], a.shape[1]), dtype=np.int32)
    np.add(centre3, a[:-2], out=out[0::2])
    np.add(centre3, a[2:], out=out[1::2])
    return out
