"""The plan of a detection run: in what order the catalogued scenes are judged against the baseline and learned
into it (then refitted), so that a weekly run mostly judges and the baseline is refitted on a schedule.

**The refit is staggered.** The windows of the grid fall into ``STAGGER`` groups (``group_of_stripe``: the
rows of windows taken in turn, so each group's records are whole rows of the state files and a group's refit
rewrites only its own files, ``geo.detect.state``). Each group has its own refit days, every ``refit_days``
(28) days, group g's shifted by g × refit_days / STAGGER days from the others' (day numbers since 1970-01-01):
with a scene a week, each week one group in four learns the scenes it judged since its last refit and refits,
instead of every window in the same week. The rule, per group: a scene is judged as it comes; right after
judging the first scene on or after one of the group's refit days, the group learns every scene judged since
its last refit (that one included) and refits; a new state learns its first scene at once. Every window thus
learns each judged scene within ``refit_days`` of the next scene (plus the gap to that scene), and the rule
depends only on the scenes' days: the state after a series of runs is the same whichever way the scenes were
batched into runs, or wherever a run was killed and re-run (a killed run commits nothing). ``refit_days`` 0
learns every scene as it comes, in every group.
"""

from __future__ import annotations

from datetime import date

from geo.detect.model import day_number

Steps = list[tuple[str, list[dict]]]

STAGGER = 4  # groups of windows whose refits take turns


def group_of_stripe(stripe: int) -> int:
    """The refit group of the ``stripe``-th row of windows (counted from the grid's top)."""
    return stripe % STAGGER


def refit_offset(group: int, refit_days: int) -> int:
    """The shift (days) of a group's refit days from day 0 of the epoch."""
    return group * refit_days // STAGGER


def next_refit(after: int, refit_days: int, offset: int) -> int:
    """The first of a group's refit days (``offset`` + k × ``refit_days``) strictly after day ``after``."""
    return after + refit_days - (after - offset) % refit_days


def record_day(record: dict) -> int:
    """The day number of a catalogue record's acquisition."""
    return day_number(date.fromisoformat(record["acquired"]))


def plan(judged: list[dict], new: list[dict], learned_through: int, refit_days: int,
         two_date: bool, offset: int = 0) -> tuple[Steps, int]:
    """One group's steps in time order over catalogue records: ("judge", [scene]) for each new scene and
    ("learn", scenes) for each batch of judged scenes learned into the baseline (then refitted).

    ``judged``: scenes judged by earlier runs and not learned yet by this group; ``learned_through``: the day
    the group's baseline is learned through (0: no state yet); ``offset``: the group's shift of its refit days
    (``refit_offset``). A batch is learned right after judging the first scene on or after a refit day of the
    group (see the module's docstring). With ``two_date`` (two scenes and no history) the one step is
    ("compare", new). Returns the steps and the day the group's baseline is learned through afterwards."""
    if two_date:  # two dates and no history: compared, learned by a later run
        return [("compare", new)], learned_through
    steps: Steps = []
    waiting = list(judged)
    for scene in new:
        steps.append(("judge", [scene]))
        waiting.append(scene)
        day = record_day(scene)
        if learned_through == 0 or refit_days <= 0 or day >= next_refit(learned_through, refit_days, offset):
            steps.append(("learn", waiting))
            learned_through = max(learned_through, *(record_day(s) for s in waiting))
            waiting = []
    return steps, learned_through
