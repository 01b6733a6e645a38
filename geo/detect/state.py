"""The detector's state on disk, in files over the analysis grid, named by ``detector.vrt``.

- ``detector-<run>.model``: the fitted NDVI baseline, one ``MODEL_DTYPE`` record a pixel, row by row
  (little-endian, no header). Every weekly run reads it; only a refit writes a new one.
- ``detector-<run>.sums``: what the baseline is learned in, one ``SUMS_DTYPE`` record a pixel; read whole and
  written only when judged scenes are learned (a refit); otherwise mapped into memory and read only where a
  pixel is flagged, to fit the second indices' (NBR, NDMI) baselines.
- ``flags-<run>.npz``: the flag records of the pixels in alert (``pix`` = row × grid width + col, ascending)
  and, for the scenes judged but not yet learned, the pixels whose observation is held out of learning.
Windows of the record files are copied from the files' mappings and written with one ``pwrite`` per row, so
the state goes through the page cache and never sits in the process's memory as a whole.

The refit is staggered (``geo.detect.plan``): the rows of windows take turns in ``STAGGER`` groups, and each row
lies in the files of its group (``Layout``, saved as ``STRIPES``). Groups may share files (a first run writes one
file of each kind for all of them); a run that refits some groups writes new files holding only their rows
(sparse files the size of the grid: the other rows are holes) and the VRT then names a file per group
(``MODEL`` = four names, group 0's first), with each group's last learned day (``LEARNED_GROUPS``). So a
weekly refit of a quarter of the windows writes a quarter of the state, not all of it.

``detector.vrt`` names the current files (metadata) and presents every field of the model and the sums to
GDAL as a band (raw raster bands; with files per group, taken row by row from one raw VRT per set of files,
``view-*.vrt``), so QGIS or ``gdalinfo`` open the state like any raster. A run writes new
files, then replaces ``detector.vrt`` (an atomic replace of a small file), then deletes the files it no
longer names: an interrupted run leaves the old state whole, and the next run removes the leftovers. States
in the older layouts (62-byte records; a float32 GeoTIFF ``detector.tif``) are converted on first use; one of
one file of each kind ("forestmon-state-2-…") is read as every group sharing them; one that also kept the second
indices' baselines in ``.second`` files ("-2-"/"-3-…-16") is read without them (the next run that writes the
state deletes them). Where each file lies: ``geo.datadir.StateDir``.
"""

from __future__ import annotations

import bisect
import fcntl
import mmap
import os
import re
import threading
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
from geo.detect.plan import STAGGER, group_of_stripe
from geo.detect.window import WindowFlags, new_state, refit
from geo.errors import ConflictError, InvalidInputError
from geo.grid import Grid

FORMAT = "forestmon-state-4-" + "-".join(str(t.itemsize) for t in (detect.SUMS_DTYPE, detect.MODEL_DTYPE,
                                                                   detect.FLAG_DTYPE))
# Earlier layouts read as they are: "-3-" also named a ``.second`` file per group (the second indices'
# baselines, 16 bytes a pixel, now fitted from the sums where needed), "-2-" one file of each kind for every group.
_V3_FORMAT = "forestmon-state-3-46-16-16-16"
_V2_FORMAT = "forestmon-state-2-46-16-16-16"
RECORD_FILES = (("MODEL", "model", detect.MODEL_DTYPE), ("SUMS", "sums", detect.SUMS_DTYPE))
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
        grid = records.grid
        if os.fstat(records.fd).st_size < records.row_bytes * grid.height:
            raise InvalidInputError(f"{records.path}: detector state is truncated")
        self.mm = mmap.mmap(records.fd, 0, access=mmap.ACCESS_COPY)
        self._released, self._lock = 0, threading.Lock()  # rows above _released are unmapped
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

    def release_below(self, row: int) -> None:
        """Unmap the pages of the rows above ``row`` not let go of yet (a read of them maps them again)."""
        with self._lock:
            start = self._released * self.records.row_bytes
            start -= start % mmap.PAGESIZE
            end = min(row * self.records.row_bytes, len(self.mm))
            end -= end % mmap.PAGESIZE
            if end <= start:
                return
            self._released = row
        self.mm.madvise(mmap.MADV_DONTNEED, start, end - start)


@dataclass(frozen=True)
class Layout:
    """Which refit group each row of the grid belongs to: the grid's rows of windows (``stripes``: the first row
    of each) taken in turn (``geo.detect.plan.group_of_stripe``). Fixed with the state: saved in its VRT."""

    stripes: tuple[int, ...]

    @classmethod
    def of(cls, grid: Grid, window: int, tile_px: int | None) -> Layout:
        return cls(tuple(sorted({int(w.row_off) for w in grid.windows(window, tile_px)})))

    @classmethod
    def parse(cls, text: str) -> Layout:
        return cls(tuple(int(v) for v in text.split(",")))

    def __str__(self) -> str:
        return ",".join(str(v) for v in self.stripes)

    def row_groups(self, height: int) -> np.ndarray:
        """The group of every row of the grid."""
        ends = [*self.stripes[1:], height]
        return np.concatenate([np.full(max(end - start, 0), group_of_stripe(k), np.int8)
                               for k, (start, end) in enumerate(zip(self.stripes, ends, strict=True))])

    def group(self, row: int) -> int:
        """The group of a row (of a window: its first)."""
        return group_of_stripe(bisect.bisect_right(self.stripes, row) - 1)

    def groups_with_rows(self, height: int) -> set[int]:
        return {int(g) for g in np.unique(self.row_groups(height))}

    def split(self, windows: list[Window]) -> list[Window]:
        """The windows cut where a stripe starts, so each lies in one group."""
        out = []
        for w in windows:
            r0, r1 = int(w.row_off), int(w.row_off + w.height)
            cuts = [r0, *(r for r in self.stripes if r0 < r < r1), r1]
            out += [Window(w.col_off, a, w.width, b - a) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
        return out


class Records:
    """One kind of records (model or sums) over the grid, each row in the file of its refit group
    (``paths[group]``; groups may share a file). Windows are copied from the files' mappings and written one
    ``pwrite`` a row, from several threads at once. A writer (``create``) holds files for some groups only
    (None: a group this run does not write)."""

    def __init__(self, paths: tuple[Path | None, ...], grid: Grid, dtype: np.dtype, rows: np.ndarray, *,
                 create: bool = False):
        self.paths, self.grid, self.dtype = paths, grid, dtype
        unique = list(dict.fromkeys(p for p in paths if p is not None))
        self.files = [RecordFile(p, grid, dtype, create=create) for p in unique]
        index = [unique.index(p) if p is not None else -1 for p in paths]
        self.row_file = np.asarray(index, np.int16)[rows]  # the file of each row (-1: none)
        self.row_bytes = grid.width * dtype.itemsize
        self._reader: RecordsMapped | None = None
        self._lock = threading.Lock()
        if create:
            self._allocate()

    def _allocate(self) -> None:
        """Reserve the disk blocks of the rows each new file will hold (its other rows stay holes): writing into
        reserved blocks costs a third of the time of writing into holes, which the file system allocates page
        by page."""
        runs = np.flatnonzero(np.diff(self.row_file, prepend=-2, append=-2))  # where the file of a row changes
        for start, end in zip(runs[:-1], runs[1:], strict=True):
            k = int(self.row_file[start])
            if k >= 0:
                os.posix_fallocate(self.files[k].fd, int(start) * self.row_bytes, int(end - start) * self.row_bytes)

    @property
    def path(self) -> Path:
        """The one file, when every group shares it."""
        if len(self.files) != 1:
            raise ValueError("records in several files")
        return self.files[0].path

    def _fd(self, row: int) -> int:
        k = self.row_file[row]
        if k < 0:
            raise ValueError(f"row {row}: not in the files of this run")
        return self.files[k].fd

    def read(self, window: Window, buffer: np.ndarray | None = None) -> np.ndarray:
        """The window's records: a new array, or a view of ``buffer`` (a flat array of records the caller reuses
        from window to window: no fresh memory to be zero-filled by the kernel each time).

        Copied from the files' mappings: one copy a window instead of a read call a row, three times faster.
        Windows are read in the grid's order (rows of windows in turn), so the pages of the rows more than a
        window above this one are let go of (they stay in the page cache): memory stays that of a few rows of
        windows. Letting go of a window's own rows at once would take pages the windows beside it still read."""
        row0, h, w = int(window.row_off), int(window.height), int(window.width)
        if (self.row_file[row0:row0 + h] < 0).any():
            raise ValueError(f"rows {row0}-{row0 + h}: not in the files of this run")
        out = np.empty((h, w), dtype=self.dtype) if buffer is None else buffer[:h * w].reshape(h, w)
        maps = self._maps()
        # (as bytes: numpy assigns records of a structured dtype field by field, many times slower)
        out.view(np.uint8).reshape(h, -1)[...] = maps.window(window).view(np.uint8)
        maps.release_below(row0 - h)
        return out

    def _maps(self) -> RecordsMapped:
        if self._reader is None:
            with self._lock:
                if self._reader is None:
                    self._reader = RecordsMapped(self)
        return self._reader

    def write(self, window: Window, records: np.ndarray) -> None:
        row0, col0 = int(window.row_off), int(window.col_off)
        rows = np.ascontiguousarray(records).view(np.uint8).reshape(records.shape[0], -1)
        start = col0 * self.dtype.itemsize
        for i in range(rows.shape[0]):
            os.pwrite(self._fd(row0 + i), rows[i], (row0 + i) * self.row_bytes + start)

    def mapped(self) -> RecordsMapped:
        """The files mapped into memory, for reads of a few records a window."""
        return RecordsMapped(self)

    def close(self) -> None:
        self._reader = None  # unmapped once no array holds a view of it
        for f in self.files:
            f.close()


class RecordsMapped:
    """``Records`` mapped into memory (see ``Mapped``): a window's records are a view of its file's mapping."""

    def __init__(self, records: Records):
        self.records = records
        self.maps = [Mapped(f) for f in records.files]

    def window(self, window: Window) -> np.ndarray:
        r0, h = int(window.row_off), int(window.height)
        files = self.records.row_file[r0:r0 + h]
        if (files == files[0]).all():
            return self.maps[files[0]].window(window)
        return np.concatenate([self.maps[files[i]].window(Window(window.col_off, r0 + i, window.width, 1))
                               for i in range(h)])

    def release(self, window: Window) -> None:
        r0, h = int(window.row_off), int(window.height)
        for k in np.unique(self.records.row_file[r0:r0 + h]):
            self.maps[k].release(window)

    def release_below(self, row: int) -> None:
        for m in self.maps:
            m.release_below(row)


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
    """A committed state (or the one a run is writing): its records, flags, the rows' refit groups and the last
    day learned into the sums, per group."""

    grid: Grid
    model: Records
    sums: Records
    flags: FlagTable
    learned: tuple[int, ...]   # per refit group: day number of the newest scene learned into its sums (0: none)
    layout: Layout | None = None  # None: a state of one file of each kind, before the groups (every row group 0's)
    flags_path: Path | None = None

    @property
    def learned_through(self) -> int:
        """The day the sums of every group with rows are learned through."""
        groups = self.layout.groups_with_rows(self.grid.height) if self.layout else range(len(self.learned))
        return min(self.learned[g] for g in groups)

    def close(self) -> None:
        for f in (self.model, self.sums):
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
    elif meta.get("FORMAT") not in (FORMAT, _V3_FORMAT, _V2_FORMAT):
        raise InvalidInputError(f"{vrt}: not a detector state of this version ({FORMAT}); "
                                "move the state folder away to start over")
    return meta


def _group_names(meta: dict[str, str], key: str) -> list[str]:
    """The file of each refit group (one name: every group's)."""
    names = meta[key].split(",")
    return names * STAGGER if len(names) == 1 else names


def current_paths(state: StateDir) -> list[Path]:
    """The files ``detector.vrt`` names (none before the first run): the record files (each once, models first,
    then sums; an earlier layout's second-index models after them) and the flags last."""
    meta = _meta(state)
    if meta is None:
        return []
    if meta["FORMAT"] == _V1_FORMAT:
        return [state.path / meta["SOURCE"]] if meta.get("SOURCE") else []
    keys = [key for key, _, _ in RECORD_FILES] + (["SECOND"] if "SECOND" in meta else [])
    names = [n for key in keys for n in dict.fromkeys(_group_names(meta, key))]
    return [state.path / n for n in [*names, meta["FLAGS"]]]


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
    layout = Layout.parse(meta["STRIPES"]) if meta.get("STRIPES") else None
    rows = layout.row_groups(grid.height) if layout else np.zeros(grid.height, np.int8)
    files = {}
    for key, _, dtype in RECORD_FILES:
        paths = tuple(state.path / n for n in _group_names(meta, key))
        for path in dict.fromkeys(paths):
            if not path.exists() or path.stat().st_size != grid.width * grid.height * dtype.itemsize:
                raise InvalidInputError(f"{path}: detector state is missing or does not match the grid "
                                        f"({grid.width} x {grid.height} px); move the state folder away to start over")
        files[key] = Records(paths, grid, dtype, rows)
    flags_path = state.path / meta["FLAGS"]
    flags = FlagTable.load(flags_path, grid.width)
    learned = (tuple(int(v) for v in meta["LEARNED_GROUPS"].split(",")) if meta.get("LEARNED_GROUPS")
               else (int(meta["LEARNED_THROUGH"]),) * STAGGER)
    return State(grid, files["MODEL"], files["SUMS"], flags, learned, layout, flags_path)


def create(state: StateDir, grid: Grid, layout: Layout | None = None,
           groups: set[int] | None = None) -> tuple[Records, Records]:
    """New model and sums files (all records zero) beside the current ones, to be written
    window by window and then ``commit``-ed: one file of each kind holding the rows of ``groups`` (default:
    every row), which only those rows may be written to."""
    stamp = time.time_ns()
    rows = layout.row_groups(grid.height) if layout else np.zeros(grid.height, np.int8)
    return tuple(Records(tuple(state.records(stamp, suffix) if groups is None or g in groups else None
                               for g in range(STAGGER)), grid, dtype, rows, create=True)
                 for _, suffix, dtype in RECORD_FILES)


def group_paths(new: Records, old: Records | None) -> tuple[Path, ...]:
    """The file of each group after a run that wrote ``new``: its new file where it has one, else the old."""
    return tuple(p if p is not None else old.paths[g] for g, p in enumerate(new.paths))


def commit(state: StateDir, grid: Grid, records: tuple, flags: FlagTable, learned: int | tuple[int, ...],
           layout: Layout | None = None) -> None:
    """Make these files the current state (``records``: the model and sums files, each a path or a path per
    refit group; ``learned``: the day learned through, or one per group): save the flags,
    point the VRT at all of them (atomically), then delete every state file it no longer names."""
    flags_path = state.flags(time.time_ns())
    flags.save(flags_path)
    per_group = [tuple(r) if isinstance(r, tuple | list) else (r,) * STAGGER for r in records]
    learned = tuple(learned) if isinstance(learned, tuple | list) else (int(learned),) * STAGGER
    tmp = state.vrt.with_name(state.vrt.name + ".tmp")
    views = _vrt_text(state, grid, per_group, flags_path.name, learned, layout)
    tmp.write_text(views.pop(state.vrt.name))
    for name, text in views.items():
        (state.path / name).write_text(text)
    os.replace(tmp, state.vrt)
    keep = {Path(p).name for paths in per_group for p in paths} | {flags_path.name, *views}
    for pattern in StateDir.STATE_PATTERNS:
        for path in state.path.glob(pattern):
            if path.name not in keep:
                path.unlink()


def discard(*files: Records | RecordFile) -> None:
    """Drop new files that will not be committed (a failed run)."""
    for f in files:
        f.close()
        for one in getattr(f, "files", [f]):
            one.path.unlink(missing_ok=True)


def _raw_bands(root: ET.Element, grid: Grid, records: tuple[str, ...]) -> None:
    """Every field of the record files as a raw band of ``root``."""
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


def _vrt_text(state: StateDir, grid: Grid, per_group: list[tuple], flags: str, learned: tuple[int, ...],
              layout: Layout | None) -> dict[str, str]:
    """The GDAL VRT presenting each field of the record files (model, sums) as a band, by
    file name: ``detector.vrt`` and, when the groups' rows lie in different files, one raw VRT per set of files
    (``view-*.vrt``) that it takes each row of windows from."""
    names = [tuple(Path(p).name for p in paths) for paths in per_group]
    sets = list(dict.fromkeys(zip(*names, strict=True)))  # (model, sums) of each group, each set once
    meta = {key: ",".join(n if len(set(n)) > 1 else [n[0]]) for (key, _, _), n in zip(RECORD_FILES, names,
                                                                                       strict=True)}
    held = [learned[g] for g in (layout.groups_with_rows(grid.height) if layout else range(len(learned)))]
    meta.update({"FORMAT": FORMAT, "FLAGS": flags, "LEARNED_THROUGH": str(min(held or learned)),
                 "LEARNED_GROUPS": ",".join(str(d) for d in learned)})
    if layout is not None:
        meta["STRIPES"] = str(layout)
    root = grid.vrt(meta)
    out = {}
    if len(sets) == 1:
        _raw_bands(root, grid, sets[0])
    else:
        stamp = time.time_ns()
        view = {}
        for k, files in enumerate(sets):
            sub = grid.vrt({})
            _raw_bands(sub, grid, files)
            ET.indent(sub)
            view[files] = f"view-{stamp}-{k}.vrt"
            out[view[files]] = ET.tostring(sub, encoding="unicode") + "\n"
        group_set = list(zip(*names, strict=True))
        ends = [*layout.stripes[1:], grid.height]
        i = 0
        for _, _, dtype in RECORD_FILES:
            for name in dtype.names:
                i += 1
                field = dtype.fields[name][0]
                band = ET.SubElement(root, "VRTRasterBand", dataType=_GDAL_TYPES[field.str[1:]], band=str(i))
                ET.SubElement(band, "Description").text = name
                for k, (start, end) in enumerate(zip(layout.stripes, ends, strict=True)):
                    if end <= start:
                        continue
                    source = ET.SubElement(band, "SimpleSource")
                    ET.SubElement(source, "SourceFilename", relativeToVRT="1").text = view[
                        group_set[group_of_stripe(k)]]
                    ET.SubElement(source, "SourceBand").text = str(i)
                    rect = {"xOff": "0", "yOff": str(start), "xSize": str(grid.width), "ySize": str(end - start)}
                    ET.SubElement(source, "SrcRect", **rect)
                    ET.SubElement(source, "DstRect", **rect)
    ET.indent(root)
    out[state.vrt.name] = ET.tostring(root, encoding="unicode") + "\n"
    return out


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
        refit(s.sums, s.model)
        for f, part in zip(files, (s.model, s.sums), strict=True):
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
