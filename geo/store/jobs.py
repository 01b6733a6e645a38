"""The record of scheduled jobs (the weekly job): runs and their steps with timings and counts, and the lock that
keeps a job to one run at a time across processes and machines sharing the store.

The lock is a row of ``job_locks`` whose primary key is the job's name, so of two processes inserting it at once
the database lets one through and refuses the other (``ConflictError``). A holder that crashed leaves its row:
the lock is stale, and taken over, when its heartbeat is older than ``stale_after`` seconds or when its holder ran
on this machine and that process is gone.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime

from geo.errors import ConflictError
from geo.store.sql import now_iso
from geo.store.store import Store

RUN_FIELDS = ("id", "job", "week", "started", "finished", "status", "trigger", "holder", "error")
STEP_FIELDS = ("step", "position", "started", "finished", "seconds", "status", "counts", "message")


class JobBusy(ConflictError):
    """Another process holds the job's lock."""


@dataclass(frozen=True)
class Holder:
    """Who holds (or asks for) a lock: this machine and process."""

    host: str
    pid: int

    @classmethod
    def this_process(cls) -> Holder:
        return cls(socket.gethostname(), os.getpid())

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _age_seconds(stamp: str) -> float:
    return (datetime.now(UTC) - datetime.fromisoformat(stamp)).total_seconds()


def acquire_lock(store: Store, job: str, holder: Holder, stale_after: float) -> str | None:
    """Take the job's lock for ``holder``; returns what was taken over (a stale holder's description) or None.

    Raises ``JobBusy`` naming the holder when a live process holds it."""
    stale_note = None
    try:
        with store.transaction() as tx:
            row = tx.fetchone(f"SELECT holder, host, pid, heartbeat FROM job_locks WHERE job = ?{tx.for_update}",
                              [job])
            if row is not None:
                dead = row["host"] == holder.host and not _alive(int(row["pid"]))
                age = _age_seconds(row["heartbeat"])
                if not dead and age < stale_after:
                    raise JobBusy(f"the {job} job is already running ({row['holder']}, last seen "
                                  f"{age:.0f} s ago)", code="job_busy", job=job, holder=row["holder"])
                stale_note = f"{row['holder']} ({'process gone' if dead else f'silent for {age:.0f} s'})"
                tx.execute("DELETE FROM job_locks WHERE job = ? AND holder = ?", [job, row["holder"]])
            now = now_iso()
            tx.execute("INSERT INTO job_locks (job, holder, host, pid, acquired, heartbeat) VALUES (?, ?, ?, ?, ?, ?)",
                       [job, str(holder), holder.host, holder.pid, now, now])
    except JobBusy:
        raise
    except ConflictError:  # another process inserted the row between our read and our insert
        raise JobBusy(f"the {job} job is already running (another process took the lock just now)",
                      code="job_busy", job=job, holder="?") from None
    return stale_note


def heartbeat(store: Store, job: str, holder: Holder, run_id: int | None = None) -> None:
    """Say the holder is alive (and which run it works on)."""
    with store.transaction() as tx:
        tx.execute("UPDATE job_locks SET heartbeat = ?, run_id = coalesce(?, run_id) WHERE job = ? AND holder = ?",
                   [now_iso(), run_id, job, str(holder)])


def release_lock(store: Store, job: str, holder: Holder) -> None:
    with store.transaction() as tx:
        tx.execute("DELETE FROM job_locks WHERE job = ? AND holder = ?", [job, str(holder)])


def start_run(store: Store, job: str, week: str, trigger: str, holder: Holder) -> int:
    """Record a new run of ``job`` for ``week``; returns its id. Runs of the same week left 'running' by a crash
    are closed as failed first, naming the run that follows them."""
    with store.transaction() as tx:
        run_id = int(tx.scalar("INSERT INTO job_runs (job, week, started, status, trigger, holder) "
                               "VALUES (?, ?, ?, 'running', ?, ?) RETURNING id",
                               [job, week, now_iso(), trigger, str(holder)]))
        tx.execute("UPDATE job_runs SET status = 'failed', error = ? WHERE job = ? AND status = 'running' AND id <> ?",
                   [f"interrupted (process gone); resumed by run {run_id}", job, run_id])
        tx.execute("UPDATE job_steps SET status = 'failed', message = 'interrupted' WHERE status = 'running' "
                   "AND run_id IN (SELECT id FROM job_runs WHERE job = ? AND id <> ?)", [job, run_id])
    return run_id


def finish_run(store: Store, run_id: int, status: str, error: str | None = None) -> None:
    with store.transaction() as tx:
        tx.execute("UPDATE job_runs SET status = ?, finished = ?, error = ? WHERE id = ?",
                   [status, now_iso(), error, run_id])


def start_step(store: Store, run_id: int, step: str, position: int) -> None:
    with store.transaction() as tx:
        tx.execute("INSERT INTO job_steps (run_id, step, position, started, status) VALUES (?, ?, ?, ?, 'running')",
                   [run_id, step, position, now_iso()])


def finish_step(store: Store, run_id: int, step: str, status: str, seconds: float, counts: dict | None = None,
                message: str | None = None) -> None:
    with store.transaction() as tx:
        tx.execute("UPDATE job_steps SET status = ?, finished = ?, seconds = ?, counts = ?, message = ? "
                   "WHERE run_id = ? AND step = ?",
                   [status, now_iso(), round(seconds, 3), json.dumps(counts or {}, ensure_ascii=False), message,
                    run_id, step])


def completed_run(store: Store, job: str, week: str) -> dict | None:
    """The newest run of ``job`` for ``week`` that finished without a failed step, if any."""
    with store.reading() as tx:
        return tx.fetchone(f"SELECT {', '.join(RUN_FIELDS)} FROM job_runs WHERE job = ? AND week = ? "
                           "AND status = 'ok' ORDER BY id DESC", [job, week])


def list_runs(store: Store, job: str | None = None, limit: int = 20, offset: int = 0) -> list[dict]:
    """Runs, newest first, each with its ``steps`` (in order, ``counts`` as a dict)."""
    where, params = (" WHERE job = ?", [job]) if job else ("", [])
    with store.reading() as tx:
        runs = tx.fetch(f"SELECT {', '.join(RUN_FIELDS)} FROM job_runs{where} ORDER BY id DESC LIMIT ? OFFSET ?",
                        [*params, limit, offset])
        for run in runs:
            run["steps"] = _steps(tx, run["id"])
    return runs


def get_run(store: Store, run_id: int) -> dict | None:
    with store.reading() as tx:
        run = tx.fetchone(f"SELECT {', '.join(RUN_FIELDS)} FROM job_runs WHERE id = ?", [run_id])
        if run is not None:
            run["steps"] = _steps(tx, run_id)
    return run


def _steps(tx, run_id: int) -> list[dict]:
    steps = tx.fetch(f"SELECT {', '.join(STEP_FIELDS)} FROM job_steps WHERE run_id = ? ORDER BY position", [run_id])
    for step in steps:
        step["counts"] = json.loads(step["counts"]) if step["counts"] else {}
    return steps
