"""The week against the same week of earlier years, labelled like Global Forest Watch's frequency classes.

The past weeks count only in years whose catalogue holds imagery of that week (a year without imagery says
nothing). Their mean μ and spread σ (the standard deviation of the past counts, and at least √μ and 1, the
noise of counting rare events) give the label: *unusually high* above μ + 2σ, *high* above μ + σ, *low*
below μ − σ, *normal* otherwise.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

LABELS = ("unusually_high", "high", "normal", "low")


def same_week(year: int, week: int) -> tuple[date, date]:
    """Monday and Sunday of ISO ``week`` in ``year`` (its last week when the year has fewer weeks)."""
    last = date(year, 12, 28).isocalendar().week
    monday = date.fromisocalendar(year, min(week, last), 1)
    return monday, monday + timedelta(days=6)


@dataclass(frozen=True)
class Frequency:
    """This week's count, the past years' counts, their mean and spread, and the label."""

    count: int
    past: dict[int, int]
    mean: float
    spread: float
    label: str


def frequency(count: int, past: dict[int, int]) -> Frequency | None:
    """The label of ``count`` against ``past`` (year → count of the same week); None without a past year."""
    if not past:
        return None
    values: Sequence[int] = list(past.values())
    mean = statistics.fmean(values)
    spread = max(statistics.pstdev(values), math.sqrt(mean), 1.0)
    if count > mean + 2 * spread:
        label = "unusually_high"
    elif count > mean + spread:
        label = "high"
    elif count < mean - spread:
        label = "low"
    else:
        label = "normal"
    return Frequency(count, dict(past), mean, spread, label)
