"""The plan of a detection run: in what order the catalogued scenes are judged against the baseline and learned
into it (then refitted), so that a weekly run mostly judges and the baseline is refitted on a schedule."""

from __future__ import annotations

from datetime import date

from geo.detect.model import day_number

Steps = list[tuple[str, list[dict]]]


def record_day(record: dict) -> int:
    """The day number of a catalogue record's acquisition."""
    return day_number(date.fromisoformat(record["acquired"]))


def plan(judged: list[dict], new: list[dict], learned_through: int, refit_days: int,
         two_date: bool) -> tuple[Steps, int]:
    """The run's steps in time order over catalogue records: ("judge", [scene]) for each new scene and
    ("learn", scenes) for each batch of judged scenes learned into the baseline (then refitted).

    ``judged``: scenes judged by earlier runs and not learned yet; ``learned_through``: the day the baseline is
    learned through (0: no state yet). A batch is learned before judging a scene when the baseline would
    otherwise be more than ``refit_days`` older than it, and at the end once the newest scene is ``refit_days``
    past the baseline; the first scenes of a new state are learned at once. With ``two_date`` (two scenes and
    no history) the one step is ("compare", new). Returns the steps and the day the baseline is learned
    through afterwards."""
    if two_date:  # two dates and no history: compared, learned by a later run
        return [("compare", new)], learned_through
    steps: Steps = []
    waiting = list(judged)
    for scene in new:
        if waiting and (record_day(scene) - learned_through > refit_days or learned_through == 0):
            steps.append(("learn", waiting))
            learned_through = max(record_day(s) for s in waiting)
            waiting = []
        steps.append(("judge", [scene]))
        waiting.append(scene)
    newest = record_day(new[-1])
    if waiting and (newest - learned_through >= refit_days or learned_through == 0):
        steps.append(("learn", waiting))
        learned_through = max(learned_through, newest)
    return steps, learned_through
