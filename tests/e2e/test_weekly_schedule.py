"""The server runs the weekly job itself at the configured weekday and time (Asia/Ho_Chi_Minh): the next run
computed from an injected time, and ``forestmon serve --workers 2`` firing at a time set a few seconds ahead —
one run and one e-mail, although both workers' schedulers fire (both backends)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from conftest import free_port
from weeklykit import SmtpServer, job_env, wait_for, watched_folder

from api.schedule import next_run
from api.settings import TIMEZONE, Settings
from api.weekly import last_complete_week
from geo.store import jobs, open_store
from geo.workflow import subscriptions as subs

LEAD_S = 60  # from now to the scheduled time: two workers start in 5–20 s on 2 idle cores


@pytest.mark.parametrize(("at", "now", "expected"), [
    ("mon 06:00", "2025-07-06T22:59:00+00:00", "2025-07-07T06:00:00+07:00"),   # Sunday 23:59 UTC = Monday 05:59
    ("mon 06:00", "2025-07-06T23:00:01+00:00", "2025-07-14T06:00:00+07:00"),   # just after: a week later
    ("fri 18:30", "2024-12-31T00:00:00+00:00", "2025-01-03T18:30:00+07:00"),
])
def test_the_next_run_follows_the_configured_weekday_and_hour_in_vietnam(at, now, expected):
    fire = next_run(Settings(weekly_at=at), datetime.fromisoformat(now))
    assert fire == datetime.fromisoformat(expected)


def test_the_last_complete_week_is_vietnam_time():
    assert last_complete_week(datetime.fromisoformat("2025-07-06T16:59:00+00:00")) == "2025-W26"  # Sun 23:59 +07
    assert last_complete_week(datetime.fromisoformat("2025-07-06T17:00:00+00:00")) == "2025-W27"  # Mon 00:00 +07


def test_two_workers_run_the_scheduled_job_once(backend_url, tmp_path):
    watch = watched_folder(tmp_path / "inbox")
    with open_store(backend_url) as store:
        subs.add_subscription(store, email="tinh@example.vn")
    fire = (datetime.now(UTC) + timedelta(seconds=LEAD_S)).astimezone(TIMEZONE)
    with SmtpServer() as smtp:
        env = {**os.environ, **job_env(tmp_path / "d", backend_url, watch, smtp.port), "FORESTMON_WEEKLY_SCHEDULE":
               "true", "FORESTMON_WEEKLY_AT": fire.strftime("%a %H:%M:%S").lower()}
        port = free_port()
        proc = subprocess.Popen([str(Path(sys.executable).with_name("forestmon")), "serve", "--workers", "2",
                                 "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        try:
            def up() -> bool:
                try:
                    return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200
                except httpx.TransportError:
                    return False

            wait_for(up, LEAD_S - 5, "the server to answer before the scheduled time", interval=0.2)
            assert datetime.now(UTC) < fire, "the server started after the scheduled time: raise LEAD_S"
            with open_store(backend_url) as store:
                wait_for(lambda: [r for r in jobs.list_runs(store) if r["finished"]], LEAD_S + 180,
                         "the scheduled run to finish", interval=0.5)
                assert proc.poll() is None, "the server stopped"
                time.sleep(3)  # the other worker's scheduler had its chance
                runs = jobs.list_runs(store)
                assert len(runs) == 1, runs
                assert (runs[0]["trigger"], runs[0]["status"]) == ("schedule", "ok"), runs
                assert runs[0]["week"] == last_complete_week(fire)
                assert datetime.fromisoformat(runs[0]["started"]) >= fire.astimezone(UTC) - timedelta(seconds=1)
            assert len(smtp.mailbox.messages) == 1
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                output = proc.communicate(timeout=30)[0]
            except subprocess.TimeoutExpired:
                proc.kill()
                output = proc.communicate()[0]
        # both workers' schedulers fired: one ran the week, the other found it running (or done)
        assert output.count("weekly job scheduled") == 2, output
        assert output.count("scheduled weekly job:") == 2, output
        assert "already running" in output or "already done" in output, output
