"""The staggered refit plan (geo.detect.plan): groups take turns, every scene is learned within the refit period,
and the plan depends only on the scenes' days, not on how they were batched into runs."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from geo.detect.model import day_number
from geo.detect.plan import STAGGER, group_of_stripe, next_refit, plan, refit_offset

REFIT = 28


def scenes(first: date, n: int, every: int = 7) -> list[dict]:
    return [{"id": f"s{k}", "acquired": (first + timedelta(days=every * k)).isoformat()} for k in range(n)]


def learned_batches(series: list[dict], group: int, batches: list[int]) -> tuple[list[list[str]], int]:
    """Run the plan over ``series`` in runs of ``batches`` scenes each; the learned batches (ids) and the day
    learned through at the end."""
    through, waiting, learned, at = 0, [], [], 0
    for size in batches:
        new = series[at:at + size]
        at += size
        steps, through = plan(waiting, new, through, REFIT, False, refit_offset(group, REFIT))
        learned += [[s["id"] for s in batch] for kind, batch in steps if kind == "learn"]
        done = {i for b in learned for i in b}
        waiting = [s for s in series[:at] if s["id"] not in done]
    return learned, through


def test_groups_are_stripes_in_turn_with_refit_days_a_week_apart():
    assert [group_of_stripe(k) for k in range(9)] == [0, 1, 2, 3, 0, 1, 2, 3, 0]
    assert [refit_offset(g, REFIT) for g in range(STAGGER)] == [0, 7, 14, 21]
    assert next_refit(27, REFIT, 0) == 28 and next_refit(28, REFIT, 0) == 56 and next_refit(28, REFIT, 7) == 35


def test_with_a_scene_a_week_each_week_one_group_learns_the_four_scenes_it_judged():
    series = scenes(date(2024, 1, 2), 20)
    learners = []
    for week in range(1, 20):  # after the first scene (learned by every group at once)
        learners.append([g for g in range(STAGGER)
                         if any(series[week]["id"] in b and b[-1] == series[week]["id"]
                                for b in learned_batches(series, g, [1] * 20)[0])])
    assert all(len(g) == 1 for g in learners)
    assert [g[0] for g in learners[3:11]] == [g[0] for g in learners[3:7]] * 2  # each in turn
    for g in range(STAGGER):
        batches, _ = learned_batches(series, g, [1] * 20)
        assert batches[0] == ["s0"]
        assert all(len(b) == 4 for b in batches[2:])


@pytest.mark.parametrize("batches", [[20], [1] * 20, [3, 1, 5, 2, 9], [7, 13]])
def test_the_plan_does_not_depend_on_how_scenes_were_batched_into_runs(batches):
    series = scenes(date(2024, 1, 2), 20, every=5)  # Sentinel-2's revisit: refit days fall between scenes
    for g in range(STAGGER):
        assert learned_batches(series, g, batches) == learned_batches(series, g, [1] * 20)


def test_every_scene_is_learned_within_the_refit_period_plus_the_gap_to_the_next_scene():
    series = scenes(date(2024, 1, 2), 40, every=5)
    days = {s["id"]: day_number(date.fromisoformat(s["acquired"])) for s in series}
    for g in range(STAGGER):
        batches, _ = learned_batches(series, g, [1] * 40)
        for batch in batches:
            assert days[batch[-1]] - days[batch[0]] <= REFIT + 5


def test_refit_days_0_learns_every_scene_as_it_comes():
    series = scenes(date(2024, 1, 2), 6)
    for g in range(STAGGER):
        steps, through = plan([], series, 0, 0, False, refit_offset(g, 0))
        assert [kind for kind, _ in steps] == ["judge", "learn"] * 6
        assert through == day_number(date.fromisoformat(series[-1]["acquired"]))
