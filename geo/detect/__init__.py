"""Forest-loss detection, one module per job:

- ``model``: what the detector keeps per pixel (record layouts), its thresholds and the confidence rules;
- ``kernels``: the compiled per-pixel steps (judge, learn, refit, count);
- ``window``: the detector on one window (judge, learn, refit, and ``fold``, which runs a plan);
- ``plan``: in what order a run judges new scenes and learns judged ones (refits staggered over four groups of windows);
- ``state``: the state files on disk; ``coverage``: the monitored forest seen per admin unit;
- ``run``: the detection run over the whole grid (``run_detection``); ``polygons``: alert pixels to polygons.

This face hands on the detector's own names, so ``from geo import detect`` reads ``detect.update(...)``.
"""

from geo.detect.model import (
    CONFIDENCE_NAMES,
    FLAG_DTYPE,
    HIGH,
    HIGHEST,
    LOW,
    MODEL_DTYPE,
    NONE,
    STATE_BANDS,
    SUMS_DTYPE,
    DetectorParams,
    TwoDateParams,
    day_number,
    from_day_number,
)
from geo.detect.window import (
    Observation,
    State,
    TwoDateView,
    WindowFlags,
    baseline,
    before_after,
    fold,
    judge,
    learn,
    new_state,
    refit,
    update,
)

__all__ = ["CONFIDENCE_NAMES", "FLAG_DTYPE", "HIGH", "HIGHEST", "LOW", "MODEL_DTYPE", "NONE",
           "STATE_BANDS", "SUMS_DTYPE", "DetectorParams", "Observation", "State", "TwoDateParams",
           "TwoDateView", "WindowFlags",
           "baseline", "before_after", "day_number", "fold", "from_day_number", "judge", "learn", "new_state",
           "refit", "update"]
