"""The server's own schedule: the weekly job at the configured weekday and time in Asia/Ho_Chi_Minh
(``FORESTMON_WEEKLY_SCHEDULE=true``, ``FORESTMON_WEEKLY_AT="mon 06:00"``), with APScheduler.

At that time the scheduler runs ``forestmon weekly`` as a child process with the server's environment: the heavy
work (detection, its compiled kernels) stays out of the serving process, and a crash of the job cannot take a
worker down. Every server worker runs its own scheduler; when they fire together, the store's job lock lets one
run and the others find it busy (or the week already done) and do nothing.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from datetime import datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from api.settings import TIMEZONE, Settings

log = logging.getLogger("uvicorn.error")  # the server's own log, where its operator looks
WEEKLY_COMMAND = (sys.executable, "-c", "from api.cli import main; main()", "weekly", "--trigger", "schedule")


def weekly_trigger(settings: Settings) -> CronTrigger:
    """The cron trigger of ``settings.weekly_at`` (``DAY HH:MM[:SS]``) in Asia/Ho_Chi_Minh."""
    day, clock = settings.weekly_at.split()
    hour, minute, *second = (int(part) for part in clock.split(":"))
    return CronTrigger(day_of_week=day, hour=hour, minute=minute, second=second[0] if second else 0,
                       timezone=TIMEZONE)


def next_run(settings: Settings, now: datetime) -> datetime:
    """When the weekly job next runs after ``now``."""
    return weekly_trigger(settings).get_next_fire_time(None, now.astimezone(TIMEZONE))


def _run() -> None:
    """Run ``forestmon weekly`` for the last complete week and log how it ended (its output, its exit status)."""
    done = subprocess.run(WEEKLY_COMMAND, capture_output=True, text=True, check=False)
    output = " | ".join(line for line in (done.stdout + done.stderr).splitlines() if line.strip())
    (log.info if done.returncode == 0 else log.warning)(
        "scheduled weekly job: exit status %d: %s", done.returncode, output[-2000:])


def start_scheduler(settings: Settings) -> BackgroundScheduler | None:
    """Start the weekly job's scheduler in this process when the settings ask for it; None otherwise."""
    if not settings.weekly_schedule:
        return None
    scheduler = BackgroundScheduler(timezone=TIMEZONE)
    scheduler.add_job(_run, weekly_trigger(settings), id="weekly", max_instances=1, coalesce=True,
                      misfire_grace_time=3600)
    scheduler.start()
    log.info("weekly job scheduled: %s (next %s)", settings.weekly_at, scheduler.get_job("weekly").next_run_time)
    return scheduler
