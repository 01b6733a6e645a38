"""The detector's state on disk, in three files over the analysis grid, named by ``detector.vrt``.

- ``detector-<run>.model``: the fitted baseline, one ``MODEL_DTYPE`` record a pixel, row by row (little-endian,
  no header). Every weekly run reads it; only a refit writes a new one.
- ``detector-<run>.second``: the baseline of the second indices (NBR, NDMI; ``SECOND_DTYPE``), mapped into
  memory and read only where a pixel is flagged.
- ``detector-<run>.sums``: what the baseline is learned in, one ``SUMS_DTYPE`` record a pixel; read and
  written only when judged scenes are learned (a refit).
- ``flags-<run>.npz``: the flag records of the pixels in alert (``pix`` = row × grid width + col, ascending)
  and, for the scenes judged but not yet learned, the pixels whose observation is held out of learning.
Windows of the record files are read and written with one ``pread``/``pwrite`` per row, so the state goes
through the page cache and never sits in the process's memory as a whole.

``detector.vrt`` names the current files (metadata) and presents every field of the model and the sums to
GDAL as a band (raw raster bands), so QGIS or ``gdalinfo`` open the state like any raster. A run writes new
files, then replaces ``detector.vrt`` (an atomic replace of a small file), then deletes the files it no
longer names: an interrupted run leaves the old state whole, and the next run removes the leftovers. States
in the older layouts (62-byte records; a float32 GeoTIFF ``detector.tif``) are converted on first use. Where
each file lies: ``geo.datadir.StateDir``.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import re
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import rasterio
from rasterio.windows import Window

from geo.datadir import StateDir
from geo.detect import model as detect
from geo.detect.window import WindowFlags, new_state, refit
from geo.errors import ConflictError, InvalidInputError
from geo.grid import Grid

FORMAT = "forestmon-state-2-" + "-".join(str(t.itemsize) for t in (detect.SUMS_DTYPE, detect.MODEL_DTYPE,
                                                                      detect.SECOND_DTYPE, detect.FLAG_DTYPE))
RECORD_FILES = (("MODEL", "model", detect.MODEL_DTYPE), ("SECOND", "second", detect.SECOND_DTYPE),
                ("SUMS", "sums", detect.SUMS_DTYPE))
_GDAL_TYPES = {"u1": "Byte", "u2": "UInt16", "i2": "Int16", "f4": "Float32"}
_META = re.compile(r'<MDI key="([A-Z_]+)">([^<]*)</MDI>')
_SOURCE = re.compile(r"<SourceFilename[^>]*>([^<]+)</SourceFilename>")


@contextmanager
def locked(state: StateDir) -> Iterator[None]:
    """Hold the state folder for one run (an advisory lock, released when the run ends or dies): a second run
    at the same time stops with a clear message instead of overwriting the first one's state."""
    state.path.mkdir(parents=True, exist_ok=True)
    with open(state.lock, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConflictError(f"{state.path}: another detection run is using this state; "
                                "run again when it has finished") from None
        yield


class RecordFile:
    """Windows of a file of records (``dtype``) on the grid. Reads and writes of different windows may run in
    parallel threads."""

    def __init__(self, path: Path, grid: Grid, dtype: np.dtype, *, create: bool = False):
        self.path, self.grid, self.dtype = path, grid, dtype
        self.row_bytes = grid.width * dtype.itemsize
        if create:
            self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
            os.ftruncate(self.fd, self.row_bytes * grid.height)
        else:
            self.fd = os.open(path, os.O_RDONLY)

    def read(self, window: Window, buffer: np.ndarray | None = None) -> np.ndarray:
        """The window's records: a new array, or a view of ``buffer`` (a flat array of records the caller reuses
        from window to window: no fresh memory to be zero-filled by the kernel each time)."""
        row0, col0, h, w = int(window.row_off), int(window.col_off), int(window.height), int(window.width)
        out = np.empty((h, w), dtype=self.dtype) if buffer is None else buffer[:h * w].reshape(h, w)
        rows = out.view(np.uint8).reshape(h, -1)
        start = col0 * self.dtype.itemsize
        for i in range(h):
            if os.preadv(self.fd, [rows[i]], (row0 + i) * self.row_bytes + start) != rows.shape[1]:
                raise InvalidInputError(f"{self.path}: detector state is truncated")
        return out

    def mapped(self) -> Mapped:
        """The whole file mapped into memory, for reads of a few records a window."""
        return Mapped(self)

    def write(self, window: Window, records: np.ndarray) -> None:
        row0, col0 = int(window.row_off), int(window.col_off)
        rows = np.ascontiguousarray(records).view(np.uint8).reshape(records.shape[0], -1)
        start = col0 * self.dtype.itemsize
        for i in range(rows.shape[0]):
            os.pwrite(self.fd, rows[i], (row0 + i) * self.row_bytes + start)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class Mapped:
    """A record file mapped into memory (copy-on-write: the arrays are writable, the file never written through
    them): only the pages of the records read are loaded, and ``release`` lets go of a window's."""

    def __init__(self, records: RecordFile):
        self.records = records
        self.mm = mmap.mmap(records.fd, 0, access=mmap.ACCESS_COPY)
        grid = records.grid
        self.array = np.frombuffer(self.mm, records.dtype).reshape(grid.height, grid.width)

    def window(self, window: Window) -> np.ndarray:
        r0, c0 = int(window.row_off), int(window.col_off)
        return self.array[r0:r0 + int(window.height), c0:c0 + int(window.width)]

    def release(self, window: Window) -> None:
        """Unmap the pages of the window's rows (they stay in the page cache): mapped pages do not add up."""
        start = int(window.row_off) * self.records.row_bytes
        start -= start % mmap.PAGESIZE
        end = min((int(window.row_off) + int(window.height)) * self.records.row_bytes, len(self.mm))
        self.mm.madvise(mmap.MADV_DONTNEED, start, end - start)


@dataclass
class FlagTable:
    """The flags of the whole grid: the pixels in alert and the held-out observations of scenes not yet
    learned, each by ``pix`` = row × grid width + col, ascending."""

    width: int
    pix: np.ndarray            # int64
    rec: np.ndarray            # FLAG_DTYPE
    held_pix: np.ndarray       # int64
    held_day: np.ndarray       # uint16 day numbers

    @classmethod
    def empty(cls, width: int) -> FlagTable:
        return cls(width, np.zeros(0, np.int64), np.zeros(0, detect.FLAG_DTYPE), np.zeros(0, np.int64),
                   np.zeros(0, np.uint16))

    def _in_window(self, pix: np.ndarray, window: Window) -> tuple[np.ndarray, np.ndarray]:
        """Positions (in ``pix``) of the entries inside ``window`` and their pixel numbers in the window."""
        r0, c0, h, w = int(window.row_off), int(window.col_off), int(window.height), int(window.width)
        lo, hi = np.searchsorted(pix, [r0 * self.width, (r0 + h) * self.width])
        band = pix[lo:hi]
        col = band % self.width
        inside = np.flatnonzero((col >= c0) & (col < c0 + w))
        local = (band[inside] // self.width - r0) * w + col[inside] - c0
        return inside + lo, local.astype(np.int32)

    def window(self, window: Window) -> WindowFlags:
        at, local = self._in_window(self.pix, window)
        return WindowFlags(local, self.rec[at])

    def held(self, window: Window) -> dict[int, np.ndarray]:
        """Held-out pixels of the window (numbered in the window) by day."""
        at, local = self._in_window(self.held_pix, window)
        days = self.held_day[at]
        return {int(d): local[days == d] for d in np.unique(days)}

    @classmethod
    def gather(cls, width: int, parts: list[tuple[Window, WindowFlags, dict[int, np.ndarray]]]) -> FlagTable:
        """The table of a whole run from each window's flags and held-out pixels."""
        def to_grid(window: Window, local: np.ndarray) -> np.ndarray:
            w = int(window.width)
            return (local // w + int(window.row_off)).astype(np.int64) * width + local % w + int(window.col_off)

        pix = [to_grid(win, flags.pix) for win, flags, _ in parts]
        rec = [flags.rec for _, flags, _ in parts]
        held = [(to_grid(win, p), np.full(p.size, d, np.uint16)) for win, _, h in parts for d, p in h.items()]
        table = cls.empty(width)
        if pix:
            all_pix = np.concatenate(pix)
            order = np.argsort(all_pix, kind="stable")
            table.pix, table.rec = all_pix[order], np.concatenate(rec)[order]
        if held:
            hp = np.concatenate([p for p, _ in held])
            order = np.argsort(hp, kind="stable")
            table.held_pix, table.held_day = hp[order], np.concatenate([d for _, d in held])[order]
        return table

    def same_as(self, other: FlagTable) -> bool:
        return all(np.array_equal(a, b) for a, b in ((self.pix, other.pix), (self.rec, other.rec),
                                                     (self.held_pix, other.held_pix), (self.held_day, other.held_day)))

    def save(self, path: Path) -> None:
        with open(path, "wb") as handle:
            np.savez(handle, pix=self.pix, rec=self.rec, held_pix=self.held_pix, held_day=self.held_day)

    @classmethod
    def load(cls, path: Path, width: int) -> FlagTable:
        try:
            with np.load(path) as data:
                table = cls(width, data["pix"], data["rec"], data["held_pix"], data["held_day"])
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
            raise InvalidInputError(f"{path}: detector flags are unreadable ({exc})") from None
        if table.rec.dtype != detect.FLAG_DTYPE:
            raise InvalidInputError(f"{path}: detector flags of another version")
        return table


@dataclass
class State:
    """A committed state (or the one a run is writing): its files and the last day learned into the sums."""

    grid: Grid
    model: RecordFile
    second: RecordFile
    sums: RecordFile
    flags: FlagTable
    learned_through: int       # day number of the newest scene learned into the sums (0: none)
    flags_path: Path | None = None

    def close(self) -> None:
        for f in (self.model, self.second, self.sums):
            f.close()


def _meta(state: StateDir) -> dict[str, str] | None:
    vrt = state.vrt
    if not vrt.exists():
        return None
    text = vrt.read_text()
    meta = dict(_META.findall(text))
    if meta.get("FORMAT") == _V1_FORMAT:
        source = _SOURCE.search(text)
        meta["SOURCE"] = source.group(1) if source else ""
    elif meta.get("FORMAT") != FORMAT:
        raise InvalidInputError(f"{vrt}: not a detector state of this version ({FORMAT}); "
                                "move the state folder away to start over")
    return meta


def current_paths(state: StateDir) -> list[Path]:
    """The files ``detector.vrt`` names (none before the first run)."""
    meta = _meta(state)
    if meta is None:
        return []
    keys = ("MODEL", "SECOND", "SUMS", "FLAGS") if meta["FORMAT"] == FORMAT else ("SOURCE",)
    return [state.path / meta[k] for k in keys if meta.get(k)]


def open_state(state: StateDir, grid: Grid) -> State | None:
    """The saved state (read-only), or None before the first run. Raises InvalidInputError when it does not
    match the grid or this version's layout; converts a state in an older layout first."""
    if not state.vrt.exists() and state.legacy.exists():
        _convert_legacy(state, grid)
    meta = _meta(state)
    if meta is None:
        return None
    if meta["FORMAT"] == _V1_FORMAT:
        _convert_v1(state, grid, state.path / meta["SOURCE"])
        meta = _meta(state)
    files = {}
    for key, _, dtype in RECORD_FILES:
        path = state.path / meta[key]
        if not path.exists() or path.stat().st_size != grid.width * grid.height * dtype.itemsize:
            raise InvalidInputError(f"{path}: detector state is missing or does not match the grid "
                                    f"({grid.width} x {grid.height} px); move the state folder away to start over")
        files[key] = RecordFile(path, grid, dtype)
    flags_path = state.path / meta["FLAGS"]
    flags = FlagTable.load(flags_path, grid.width)
    return State(grid, files["MODEL"], files["SECOND"], files["SUMS"], flags, int(meta["LEARNED_THROUGH"]),
                 flags_path)


def create(state: StateDir, grid: Grid) -> tuple[RecordFile, RecordFile, RecordFile]:
    """New model, second-index model and sums files (all records zero) beside the current ones, to be written
    window by window and then ``commit``-ed."""
    stamp = time.time_ns()
    return tuple(RecordFile(state.records(stamp, suffix), grid, dtype, create=True)
                 for _, suffix, dtype in RECORD_FILES)


def commit(state: StateDir, grid: Grid, records: tuple[Path, Path, Path], flags: FlagTable,
           learned_through: int) -> None:
    """Make these files the current state (``records``: the model, second-index model and sums files): save the
    flags, point the VRT at all four (atomically), then delete every state file it no longer names."""
    flags_path = state.flags(time.time_ns())
    flags.save(flags_path)
    tmp = state.vrt.with_name(state.vrt.name + ".tmp")
    tmp.write_text(_vrt_text(grid, [p.name for p in records], flags_path.name, learned_through))
    os.replace(tmp, state.vrt)
    keep = {p.name for p in records} | {flags_path.name}
    for pattern in StateDir.STATE_PATTERNS:
        for path in state.path.glob(pattern):
            if path.name not in keep:
                path.unlink()


def discard(*files: RecordFile) -> None:
    """Drop new files that will not be committed (a failed run)."""
    for f in files:
        f.close()
        f.path.unlink(missing_ok=True)


def _vrt_text(grid: Grid, records: list[str], flags: str, learned_through: int) -> str:
    """A GDAL VRT presenting each field of the record files (model, second-index model, sums) as a band."""
    root = grid.vrt({**{key: name for (key, _, _), name in zip(RECORD_FILES, records, strict=True)},
                     "FORMAT": FORMAT, "FLAGS": flags, "LEARNED_THROUGH": str(learned_through)})
    i = 0
    for source, (_, _, dtype) in zip(records, RECORD_FILES, strict=True):
        for name in dtype.names:
            i += 1
            field, offset = dtype.fields[name][:2]
            band = ET.SubElement(root, "VRTRasterBand", dataType=_GDAL_TYPES[field.str[1:]], band=str(i),
                                 subClass="VRTRawRasterBand")
            ET.SubElement(band, "Description").text = name
            ET.SubElement(band, "SourceFilename", relativeToVRT="1").text = source
            for tag, value in (("ImageOffset", offset), ("PixelOffset", dtype.itemsize),
                               ("LineOffset", dtype.itemsize * grid.width), ("ByteOrder", "LSB")):
                ET.SubElement(band, tag).text = str(value)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode") + "\n"


# Older layouts: one record a pixel with every field (62 bytes, "forestmon-state-1-62"), or before that a
# float32 GeoTIFF with one band per field. Both are converted window by window: the sums and flags copied,
# the model fitted from the sums.
_V1_DTYPE = np.dtype([
    ("last_day", "u2"), ("first_day", "u2"), ("last_learned", "u2"),
    ("flag_day", "u2"), ("before_day", "u2"), ("confirm_day", "u2"),
    ("n", "u2"), ("ndmi_n", "u2"), ("n_valid", "u2"), ("n_outlier", "u2"), ("flag_drop", "f4"),
    ("mc", "i2"), ("ms", "i2"), ("mcc", "i2"), ("mcs", "i2"),
    ("ndvi_y", "i2"), ("ndvi_yc", "i2"), ("ndvi_ys", "i2"), ("ndvi_sd", "u2"),
    ("nbr_y", "i2"), ("nbr_yc", "i2"), ("nbr_ys", "i2"), ("nbr_sd", "u2"),
    ("ndmi_y", "i2"), ("ndmi_yc", "i2"), ("ndmi_ys", "i2"), ("ndmi_sd", "u2"),
    ("status", "u1"), ("watched", "u1"), ("flag_after", "u1"), ("flag_hits", "u1"), ("flag_nbr_hits", "u1"),
    ("pad", "u1"),
])
_V1_FORMAT = "forestmon-state-1-62"


def _convert(state: StateDir, grid: Grid, read_window) -> None:
    """Write this version's state from an older one's records (``read_window(window)`` → _V1_DTYPE)."""
    files = create(state, grid)
    parts, learned = [], 0
    for window in grid.windows():
        old = read_window(window)
        s = new_state(old.shape)
        for name in detect.SUMS_DTYPE.names:
            s.sums[name] = old[name]
        for name in detect.FLAG_DTYPE.names:
            if name in old.dtype.names:
                s.flags[name] = old[name]
        s.flags["judged_day"] = np.where(old["status"] > 0, old["last_day"], 0)
        refit(s.sums, s.model, s.second)
        for f, part in zip(files, (s.model, s.second, s.sums), strict=True):
            f.write(window, part)
        parts.append((window, WindowFlags.from_dense(s.flags), {}))
        learned = max(learned, int(old["last_day"].max(initial=0)))  # every folded scene was learned
    for f in files:
        f.close()
    commit(state, grid, tuple(f.path for f in files), FlagTable.gather(grid.width, parts), learned)


def _convert_v1(state: StateDir, grid: Grid, source: Path) -> None:
    if not source.exists() or source.stat().st_size != grid.width * grid.height * _V1_DTYPE.itemsize:
        raise InvalidInputError(f"{source}: detector state is missing or does not match the grid "
                                f"({grid.width} x {grid.height} px); move the state folder away to start over")
    old = RecordFile(source, grid, _V1_DTYPE)
    try:
        _convert(state, grid, old.read)
    finally:
        old.close()


def _convert_legacy(state: StateDir, grid: Grid) -> None:
    legacy = state.legacy
    with rasterio.open(legacy) as src:
        if (src.width, src.height) != (grid.width, grid.height):
            raise InvalidInputError(f"{legacy}: detector state does not match the grid")
        names = list(src.descriptions)

        def read(window: Window) -> np.ndarray:
            data = src.read(window=window)
            out = np.zeros(data.shape[1:], _V1_DTYPE)
            for name in _V1_DTYPE.names:
                if name in names:
                    out[name] = data[names.index(name)]
            return out

        _convert(state, grid, read)
    legacy.unlink()
