"""The detector on one window of the grid: judge a scene, learn scenes, refit the baseline, and ``fold``, which
runs a detection plan (judge every new scene, learn judged scenes in batches) over a window.

A scene is *judged* against the fitted baseline: a clear observation that drops below it beyond both an
absolute and a robust (z) threshold is *flagged*; the first flag makes the pixel a *low*-confidence alert, 2
flags among the next 4 valid observations make it *high* (*highest* when the second index agrees), otherwise
the flag expires after 4 observations or 180 days (see ``model.CONFIDENCE_RULES``). Confirmed pixels are not
alerted again. Only pixels whose own history says "stable forest" (enough observations over most of a year,
high and steady NDVI, few outliers), or that the user's forest layer names, are monitored. Judged scenes are
then *learned* into the sums (every clear observation of a pixel that was not in alert at that time; those
that do not fit the baseline are not learned) and the baseline is refitted.

``fold`` is what a detection run does on each window (``geo.detect.run``); ``update`` folds one scene whose
indices are given as arrays (judge, learn, refit), for tests and small studies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from geo.detect import kernels
from geo.detect.model import (
    FLAG_DTYPE,
    HIGH,
    LOW,
    MODEL_DTYPE,
    NONE,
    SD_UNIT,
    SUMS_DTYPE,
    DetectorParams,
    TwoDateParams,
    day_number,
)


class State:
    """A window of the detector state, whole: its sums, model and flags, one record of each per pixel.

    ``state[name]`` is the named field of whichever part holds it (names are unique across the parts);
    ``state[rows, cols]`` a part of the window (views). A detection run keeps the flags as a list of the
    pixels in alert (``WindowFlags``) instead.
    """

    def __init__(self, sums: np.ndarray, model: np.ndarray, flags: np.ndarray):
        self.sums, self.model, self.flags = sums, model, flags

    @property
    def shape(self) -> tuple[int, ...]:
        return self.sums.shape

    def __getitem__(self, name):
        if not isinstance(name, str):
            return State(self.sums[name], self.model[name], self.flags[name])
        for part in (self.sums, self.model, self.flags):
            if name in part.dtype.names:
                return part[name]
        raise KeyError(name)


def new_state(shape: tuple[int, int]) -> State:
    """A window's state with no history: zeroed records."""
    return State(np.zeros(shape, SUMS_DTYPE), np.zeros(shape, MODEL_DTYPE), np.zeros(shape, FLAG_DTYPE))


@dataclass
class WindowFlags:
    """The flag records of a window's pixels in alert: ``pix`` (row × width + col in the window, ascending)
    and their records."""

    pix: np.ndarray
    rec: np.ndarray

    @classmethod
    def empty(cls) -> WindowFlags:
        return cls(np.zeros(0, np.int32), np.zeros(0, FLAG_DTYPE))

    @classmethod
    def from_dense(cls, flags: np.ndarray) -> WindowFlags:
        pix = np.flatnonzero(flags["status"] != NONE).astype(np.int32)
        return cls(pix, flags.reshape(-1)[pix])

    def to_dense(self, shape: tuple[int, int]) -> np.ndarray:
        out = np.zeros(shape, FLAG_DTYPE)
        out.reshape(-1)[self.pix] = self.rec
        return out

    def alerts(self) -> WindowFlags:
        """Only the records still in alert (expired flags dropped)."""
        keep = self.rec["status"] != NONE
        return self if keep.all() else WindowFlags(self.pix[keep], self.rec[keep])

    def merged(self, pix: np.ndarray, rec: np.ndarray) -> WindowFlags:
        """These records plus new ones (pixels that had none), in pixel order."""
        if pix.size == 0:
            return self
        all_pix = np.concatenate([self.pix, pix])
        order = np.argsort(all_pix, kind="stable")
        return WindowFlags(all_pix[order], np.concatenate([self.rec, rec])[order])


@dataclass
class Observation:
    """One scene over one window, as the detector reads it: its day, the clear-land mask, and either the digital
    numbers of B04, B08, B12 (and B11 when present; 0 = no data; reflectance = DN × scale + offset), for a scene
    on the grid, or index arrays (NDVI; NBR and NDMI optional; NaN = no data), for a scene warped onto it."""

    day: date
    clear: np.ndarray
    dn: dict[str, np.ndarray] | None = None
    scale: float = 1e-4
    offset: float = 0.0
    ndvi: np.ndarray | None = None
    nbr: np.ndarray | None = None
    ndmi: np.ndarray | None = None


def harmonics(day: int) -> tuple[float, float]:
    """cos and sin of the time of year of a day number: the baseline's seasonal terms."""
    angle = 2 * np.pi * day / 365.25
    return float(np.cos(angle)), float(np.sin(angle))


_NO_FLOAT = np.zeros((1, 1), dtype=np.float64)
_NO_DN = np.zeros((1, 1), dtype=np.uint16)
_NO_FOREST = np.zeros((1, 1), dtype=np.uint8)
_NO_UNITS = np.zeros((1, 1), dtype=np.int32)
_NO_PIXELS = np.zeros(0, np.int32)


def _quality(clear: np.ndarray) -> np.ndarray:
    """An observation's quality per pixel as the kernels read it: 0 unusable, 1 clear, 2 suspect (a boolean
    clear mask is 0/1)."""
    clear = np.asarray(clear)
    return clear.view(np.uint8) if clear.dtype == np.bool_ else np.asarray(clear, np.uint8)


def _f64(a: np.ndarray | None) -> np.ndarray:
    return _NO_FLOAT if a is None else np.asarray(a, dtype=np.float64)


def _forest_arg(forest: np.ndarray | None) -> tuple[np.ndarray, bool]:
    if forest is None:
        return _NO_FOREST, False
    return np.asarray(forest != 0, dtype=np.uint8), True


def baseline(s: State, day: date, index: str = "ndvi") -> tuple[np.ndarray, np.ndarray]:
    """Every pixel's least-squares baseline of ``index`` (ndvi, nbr or ndmi) on ``day`` from its sums, and its
    spread (infinite until the model has learned more than three observations)."""
    c, sn = harmonics(day_number(day))
    f = {k: np.ascontiguousarray(s[k], dtype=np.float64) for k in ("n", "mc", "ms", "mcc", "mcs")}
    y, yc, ys = (np.ascontiguousarray(s[f"{index}_{k}"], dtype=np.float64) for k in ("y", "yc", "ys"))
    pred = kernels.fit(kernels.design(f["n"], f["mc"], f["ms"], f["mcc"], f["mcs"]), y, yc, ys, c, sn)[0]
    count = s["ndmi_n"] if index == "ndmi" else s["n"]
    return pred, np.where(count > 3, s[f"{index}_sd"] * SD_UNIT, np.inf)


def judge(model: np.ndarray, sums: np.ndarray, flags: WindowFlags, obs: Observation,
          params: DetectorParams = DetectorParams(), forest: np.ndarray | None = None,
          seen: np.ndarray | None = None) -> tuple[int, WindowFlags, np.ndarray]:
    """Judge one scene of a window against its fitted baseline (``model``; the second indices' are fitted from
    ``sums`` where a pixel is flagged, so a mapped view of them reads only those pages): start, confirm and
    expire alerts.

    Returns the number of status changes, the window's flags afterwards (expired ones still listed, with
    status none) and the pixels (row × width + col) whose observation is held out of learning. ``forest``:
    the user's forest layer on the window (nonzero = forest; without it, forest is judged from each pixel's
    history). ``seen`` (updated in place) gets the pixels observed clear."""
    d = day_number(obs.day)
    c, sn = harmonics(d)
    forest_arr, has_forest = _forest_arg(forest)
    seen = seen if seen is not None else np.zeros(model.shape, dtype=bool)
    clear = _quality(obs.clear)
    if obs.dn is not None:
        swir1 = obs.dn.get("B11")
        pixels = (obs.dn["B04"], obs.dn["B08"], obs.dn["B12"], _NO_DN if swir1 is None else swir1,
                  swir1 is not None, clear, np.float32(obs.scale), np.float32(obs.offset))
        kernel = kernels.judge_dn
    else:
        pixels = (_f64(obs.ndvi), clear, _f64(obs.nbr), obs.nbr is not None, _f64(obs.ndmi), obs.ndmi is not None)
        kernel = kernels.judge_indices
    size = model.shape[0] * model.shape[1]
    new_pix, new_rec = np.empty(size, np.int32), np.empty(size, FLAG_DTYPE)  # untouched pages cost nothing
    blocked = np.empty(size, np.int32)
    changed, n_new, n_blocked = kernel(model, sums, flags.pix, flags.rec, new_pix, new_rec, blocked,
                                       np.zeros(1, FLAG_DTYPE), d, c, sn, *pixels, forest_arr, has_forest, seen,
                                       params)
    return int(changed), flags.merged(new_pix[:n_new].copy(), new_rec[:n_new].copy()), blocked[:n_blocked].copy()


def learn(sums: np.ndarray, obs: Observation, held: np.ndarray, params: DetectorParams = DetectorParams()) -> None:
    """Learn one scene into a window's sums (in place), except the ``held`` pixels (see ``held_out``).
    Observations not newer than a pixel's last one are ignored."""
    d = day_number(obs.day)
    c, sn = harmonics(d)
    clear = _quality(obs.clear)
    if obs.dn is not None:
        swir1 = obs.dn.get("B11")
        kernels.learn_dn(sums, d, c, sn, obs.dn["B04"], obs.dn["B08"], obs.dn["B12"],
                         _NO_DN if swir1 is None else swir1, swir1 is not None, clear, np.float32(obs.scale),
                         np.float32(obs.offset), held, params)
    else:
        kernels.learn_indices(sums, d, c, sn, _f64(obs.ndvi), clear, _f64(obs.nbr), obs.nbr is not None,
                              _f64(obs.ndmi), obs.ndmi is not None, held, params)


def refit(sums: np.ndarray, model: np.ndarray, params: DetectorParams = DetectorParams()) -> None:
    """Fit the baseline (``model``) of every pixel from its ``sums``, in place."""
    kernels.refit(sums, model, params)


def held_out(shape: tuple[int, int], flags: WindowFlags, day: date, pix: np.ndarray) -> np.ndarray:
    """The pixels of a window whose observation of ``day`` is not learned: those listed in ``pix`` when the
    scene was judged (flagged or pending) and the confirmed ones, flagged on or before that day."""
    out = np.zeros(shape, dtype=np.bool_)
    flat = out.reshape(-1)
    flat[pix] = True
    confirmed = (flags.rec["status"] >= HIGH) & (flags.rec["flag_day"] <= day_number(day))
    flat[flags.pix[confirmed]] = True
    return out


@dataclass
class Folded:
    """A window after a plan: status changes, its flags (pixels in alert), the observations held out of
    learning by day (of scenes judged but not yet learned) and its sums (None when nothing was learned)."""

    changed: int
    flags: WindowFlags
    held: dict[int, np.ndarray] = field(default_factory=dict)
    sums: np.ndarray | None = None


def fold(steps: Sequence[tuple[str, Sequence]], observe: Callable[[object, bool], Observation | None],
         model: np.ndarray, flags: WindowFlags, held: dict[int, np.ndarray],
         params: DetectorParams = DetectorParams(), *, sums: np.ndarray | Callable[[], np.ndarray],
         judged_sums: np.ndarray | None = None, forest: np.ndarray | None = None,
         seen: np.ndarray | None = None) -> Folded:
    """Run a detection plan over one window, in place on ``model``.

    ``steps`` in time order: ``("judge", [scene])`` judges a new scene against the baseline;
    ``("learn", scenes)`` learns judged scenes into the sums and refits the baseline. A scene is anything with a
    ``day`` (a ``date``); ``observe(scene, kept)`` reads it over the window (None where it does not cover it),
    ``kept`` saying whether its arrays are kept for a later step (so they must not be a reused buffer): a scene
    judged and learned in the same plan is read once. ``sums`` (or a function reading them, called at the first
    learning step) are the window's sums; until that step a scene is judged with ``judged_sums`` (the same
    records, e.g. a mapped view: only flagged pixels' are read; default: ``sums``, read at once). ``held``:
    observations held out of learning, by day, from earlier runs (updated).
    """
    judged = {id(s) for kind, scenes in steps if kind == "judge" for s in scenes}
    keep = {id(s) for kind, scenes in steps if kind == "learn" for s in scenes} & judged
    kept: dict[int, Observation] = {}
    changed = 0
    for kind, scenes in steps:
        if kind == "judge":
            scene = scenes[0]
            obs = observe(scene, id(scene) in keep)
            if obs is None:
                continue
            if callable(sums) and judged_sums is None:
                sums = sums()
            n, flags, out = judge(model, sums if not callable(sums) else judged_sums, flags, obs, params, forest,
                                  seen)
            changed += n
            d = day_number(obs.day)
            held[d] = np.concatenate([held[d], out]) if d in held else out
            if id(scene) in keep:
                kept[id(scene)] = obs
            continue
        if callable(sums):
            sums = sums()
        for scene in scenes:
            obs = kept.pop(id(scene), None) or observe(scene, False)
            if obs is not None:
                learn(sums, obs, held_out(model.shape, flags, obs.day, held.get(day_number(obs.day), _NO_PIXELS)),
                      params)
        refit(sums, model, params)
        through = max(day_number(s.day) for s in scenes)
        held = {d: h for d, h in held.items() if d > through}
        flags = flags.alerts()
    return Folded(changed, flags.alerts(), held, None if callable(sums) else sums)


def update(s: State, day: date, ndvi: np.ndarray, clear: np.ndarray, nbr: np.ndarray | None = None,
           params: DetectorParams = DetectorParams(), forest: np.ndarray | None = None,
           ndmi: np.ndarray | None = None) -> int:
    """Fold one scene into a window's whole state, in place, as a run that learns every scene does: judge it,
    learn it, refit the baseline. Returns the number of pixels that changed alert status.

    ``ndvi``/``nbr``/``ndmi`` are index arrays of the window (NBR and NDMI optional: the second, independent
    indices that raise a confirmed alert to *highest*), ``clear`` the clear-land mask, ``forest`` the user's
    forest layer on the window. Observations not newer than a pixel's last one are ignored, so feeding the same
    scene twice changes nothing.
    """
    obs = Observation(day, clear, ndvi=ndvi, nbr=nbr, ndmi=ndmi)
    done = fold([("judge", [obs]), ("learn", [obs])], lambda scene, kept: scene, s.model,
                WindowFlags.from_dense(s.flags), {}, params, sums=s.sums, forest=forest)
    s.flags[...] = done.flags.to_dense(s.shape)
    return done.changed


def coverage_counts(model: np.ndarray, alert: np.ndarray, seen: np.ndarray, units: np.ndarray | int, n_units: int,
                    day: date, forest: np.ndarray | None = None,
                    params: DetectorParams = DetectorParams()) -> tuple[np.ndarray, np.ndarray, int]:
    """Per admin unit (``units``: each pixel's unit number 0..n_units-1, or one number for the whole window), the
    monitored pixels (watched on ``day``, the run's newest scene, or in ``alert``) and those of them ``seen``
    clear; and the next day a pixel of the window becomes monitored (65535: none), until which the monitored
    counts stay as they are (for the same model and no alert)."""
    forest_arr, has_forest = _forest_arg(forest)
    if isinstance(units, np.ndarray):
        unit_arr, unit = units, -1
    else:
        unit_arr, unit = _NO_UNITS, int(units)
    monitored, observed, next_day = kernels.coverage_counts(model, alert, forest_arr, has_forest, day_number(day),
                                                            seen, unit_arr, unit, n_units, params)
    return monitored, observed, int(next_day)


@dataclass
class TwoDateView:
    """One date of the two-date mode on a window: NDVI, SWIR2 reflectance, the clear mask and the pixels near a
    cloud or shadow."""

    ndvi: np.ndarray
    swir2: np.ndarray
    clear: np.ndarray
    near_cloud: np.ndarray


def before_after(s: State, before: date, after: date, first: TwoDateView, second: TwoDateView,
                 params: DetectorParams = DetectorParams(), forest: np.ndarray | None = None,
                 two: TwoDateParams = TwoDateParams()) -> int:
    """Two-date mode: flag pixels vegetated before whose NDVI fell and SWIR2 rose after (low confidence at most).

    With no history there is no seasonal baseline: the before image stands in for it, so the thresholds
    are the absolute and relative ones, and nothing is confirmed. A pixel near a cloud or shadow on either date
    needs ``two.near_cloud_factor`` times the drops and the rise. Later scenes fold in as usual.
    """
    p = params
    vegetated = first.ndvi >= p.forest_min_ndvi
    if forest is not None:
        vegetated &= forest.astype(bool)
    strict = np.where(first.near_cloud | second.near_cloud, np.float32(two.near_cloud_factor), np.float32(1))
    drop = first.ndvi - second.ndvi
    with np.errstate(invalid="ignore"):
        flagged = (first.clear & second.clear & vegetated & (drop >= p.abs_drop * strict)
                   & (second.ndvi <= first.ndvi * (1 - p.rel_drop * strict))
                   & (second.swir2 - first.swir2 >= two.swir_rise * strict))
    flags = s.flags
    flagged &= flags["status"] == NONE
    flags["status"][flagged] = LOW
    flags["flag_day"][flagged] = day_number(after)
    flags["judged_day"][flagged] = day_number(after)
    flags["flag_hits"][flagged] = 1
    flags["flag_drop"][flagged] = drop[flagged]
    flags["before_day"][flagged] = day_number(before)
    return int(flagged.sum())
