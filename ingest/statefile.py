"""The detector's per-pixel state on disk: one flat file of ``STATE_DTYPE`` records over the analysis grid.

A state file (``detector-<run>.state``) holds the records row by row (little-endian, no header); a window
is read and written with one ``pread``/``pwrite`` per row, so the state goes through the page cache and
never sits in the process's memory as a whole. ``detector.vrt`` names the current state file and describes
every field as a band (GDAL raw raster bands), so QGIS or ``gdalinfo`` open the state like any raster.

A run writes a new state file, then points ``detector.vrt`` at it (an atomic replace of a small file), then
deletes the old one: an interrupted run leaves the old state whole, and the next run removes the leftover.
A state written by an earlier version as a float32 GeoTIFF (``detector.tif``) is converted on first use.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import rasterio
from rasterio.windows import Window

from geo import detect
from geo.errors import ConflictError, InvalidInputError
from ingest.grid import Grid

VRT_FILE, LEGACY_FILE = "detector.vrt", "detector.tif"
FORMAT = f"forestmon-state-1-{detect.STATE_DTYPE.itemsize}"
_GDAL_TYPES = {"u1": "Byte", "u2": "UInt16", "i2": "Int16", "f4": "Float32"}
_SOURCE = re.compile(r"<SourceFilename[^>]*>([^<]+)</SourceFilename>")
_FORMAT = re.compile(r'<MDI key="FORMAT">([^<]*)</MDI>')


@contextmanager
def locked(state_dir: Path) -> Iterator[None]:
    """Hold the state folder for one run (an advisory lock, released when the run ends or dies): a second run
    at the same time stops with a clear message instead of overwriting the first one's state."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / "detector.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConflictError(f"{state_dir}: another detection run is using this state; "
                                "run again when it has finished") from None
        yield


def exists(state_dir: Path) -> bool:
    return (state_dir / VRT_FILE).exists() or (state_dir / LEGACY_FILE).exists()


def current_path(state_dir: Path) -> Path | None:
    """The state file ``detector.vrt`` points at; None before the first run."""
    vrt = state_dir / VRT_FILE
    if not vrt.exists():
        return None
    text = vrt.read_text()
    match, version = _SOURCE.search(text), _FORMAT.search(text)
    if match is None or version is None or version.group(1) != FORMAT:
        raise InvalidInputError(f"{vrt}: not a detector state of this version ({FORMAT}); "
                                "move the state folder away to start over")
    return state_dir / match.group(1)


class StateFile:
    """Windows of a state file on the grid. Reads and writes of different windows may run in parallel."""

    def __init__(self, path: Path, grid: Grid, *, create: bool = False):
        self.path, self.grid = path, grid
        self.row_bytes = grid.width * detect.STATE_DTYPE.itemsize
        if create:
            self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
            os.ftruncate(self.fd, self.row_bytes * grid.height)
        else:
            self.fd = os.open(path, os.O_RDONLY)

    def read(self, window: Window) -> np.ndarray:
        row0, col0, h, w = int(window.row_off), int(window.col_off), int(window.height), int(window.width)
        out = np.empty((h, w), dtype=detect.STATE_DTYPE)
        rows = out.view(np.uint8).reshape(h, -1)
        start = col0 * detect.STATE_DTYPE.itemsize
        for i in range(h):
            if os.preadv(self.fd, [rows[i]], (row0 + i) * self.row_bytes + start) != rows.shape[1]:
                raise InvalidInputError(f"{self.path}: detector state is truncated")
        return out

    def write(self, window: Window, state: np.ndarray) -> None:
        row0, col0 = int(window.row_off), int(window.col_off)
        rows = np.ascontiguousarray(state).view(np.uint8).reshape(state.shape[0], -1)
        start = col0 * detect.STATE_DTYPE.itemsize
        for i in range(rows.shape[0]):
            os.pwrite(self.fd, rows[i], (row0 + i) * self.row_bytes + start)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def open_state(state_dir: Path, grid: Grid) -> StateFile | None:
    """The saved state (read-only), or None before the first run. Raises InvalidInputError when it does not
    match the grid or this version's record layout."""
    if not (state_dir / VRT_FILE).exists() and (state_dir / LEGACY_FILE).exists():
        _convert_legacy(state_dir, grid)
    path = current_path(state_dir)
    if path is None:
        return None
    expected = grid.width * grid.height * detect.STATE_DTYPE.itemsize
    if not path.exists() or path.stat().st_size != expected:
        raise InvalidInputError(f"{path}: detector state is missing or does not match the grid "
                                f"({grid.width} x {grid.height} px); move the state folder away to start over")
    return StateFile(path, grid)


def create(state_dir: Path, grid: Grid) -> StateFile:
    """A new state file (all records zero) beside the current one, to be written window by window and then
    ``commit``-ed."""
    return StateFile(state_dir / f"detector-{time.time_ns()}.state", grid, create=True)


def commit(new: StateFile, state_dir: Path) -> None:
    """Make ``new`` the current state: point the VRT at it (atomically), then delete every other state file."""
    new.close()
    tmp = state_dir / (VRT_FILE + ".tmp")
    tmp.write_text(_vrt_text(new.path.name, new.grid))
    os.replace(tmp, state_dir / VRT_FILE)
    for path in state_dir.glob("detector-*.state"):
        if path != new.path:
            path.unlink()


def discard(new: StateFile) -> None:
    """Drop a new state file that will not be committed (a failed run)."""
    new.close()
    new.path.unlink(missing_ok=True)


def _vrt_text(source: str, grid: Grid) -> str:
    """A GDAL VRT presenting each state field as a band of the raw record file ``source`` (same folder)."""
    size = detect.STATE_DTYPE.itemsize
    root = grid.vrt({"FORMAT": FORMAT})
    for i, name in enumerate(detect.STATE_BANDS, start=1):
        dtype, offset = detect.STATE_DTYPE.fields[name][:2]
        band = ET.SubElement(root, "VRTRasterBand", dataType=_GDAL_TYPES[dtype.str[1:]], band=str(i),
                             subClass="VRTRawRasterBand")
        ET.SubElement(band, "Description").text = name
        ET.SubElement(band, "SourceFilename", relativeToVRT="1").text = source
        for tag, value in (("ImageOffset", offset), ("PixelOffset", size), ("LineOffset", size * grid.width),
                           ("ByteOrder", "LSB")):
            ET.SubElement(band, tag).text = str(value)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode") + "\n"


def _convert_legacy(state_dir: Path, grid: Grid) -> None:
    """An earlier version's state (float32 GeoTIFF, one band per field) as records, window by window."""
    legacy = state_dir / LEGACY_FILE
    with rasterio.open(legacy) as src:
        if (src.width, src.height) != (grid.width, grid.height):
            raise InvalidInputError(f"{legacy}: detector state does not match the grid")
        names = list(src.descriptions)
        new = create(state_dir, grid)
        for window in grid.windows():
            data = src.read(window=window)
            out = detect.new_state(data.shape[1:])
            for name in detect.STATE_BANDS:
                if name in names:
                    out[name] = data[names.index(name)]
            new.write(window, out)
    commit(new, state_dir)
    legacy.unlink()
