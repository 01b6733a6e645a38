"""Tile jobs on this machine: Dask's threaded scheduler, each result handed over as soon as its job is done."""

from __future__ import annotations

import threading
import time

import pytest

from ingest.executor import run_jobs


def test_every_result_comes_back_once_while_the_others_still_run():
    started = threading.Event()
    seen_while_running: list[bool] = []
    out: list[dict] = []

    def job(i: int) -> dict:
        if i == 0:  # a slow tile: the others are handed over before it ends
            started.wait(5)
            time.sleep(0.2)
        return {"i": i, "thread": threading.get_ident()}

    def on_result(result: dict) -> None:
        started.set()
        seen_while_running.append(result["i"] != 0)
        out.append(result)

    run_jobs(job, range(6), on_result=on_result)
    assert sorted(r["i"] for r in out) == list(range(6))
    assert out[-1]["i"] == 0 and all(seen_while_running[:-1])
    assert all(r["thread"] != threading.get_ident() for r in out)  # run on the scheduler's threads


def test_a_failing_job_stops_the_run_with_its_error():
    def job(i: int) -> dict:
        if i == 2:
            raise ValueError("tile 2 is broken")
        return {"i": i}

    with pytest.raises(ValueError, match="tile 2 is broken"):
        run_jobs(job, range(4), on_result=lambda r: None)


def test_no_jobs_is_a_no_op():
    run_jobs(lambda j: {}, [], on_result=lambda r: pytest.fail("no result expected"))
