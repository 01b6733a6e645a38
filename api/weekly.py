"""The weekly job: for the last complete ISO week in Asia/Ho_Chi_Minh (or a given one), fetch and ingest the new
imagery, detect, assign the new alerts, build the report, deliver it to the subscriptions; recorded run by run and
step by step in the store (``geo.store.jobs``), one run at a time (the store's lock).

Every step can be run again: ingesting skips the tiles already catalogued, detection folds only scenes not yet
processed (marked in the same transaction as its run), the report is rewritten whole, and the outbox
(``geo.workflow.subscriptions``) sends each (subscription, week) at most once. So a run killed at any step is
resumed by running the job again; a week whose run finished without failures is not run again unless forced.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from api.delivery import Summary, compose_email, post_webhook, report_files, send_email, webhook_body
from api.settings import TIMEZONE, Settings
from geo.detect.run import run_detection
from geo.errors import ConfigError, ForestmonError, InvalidInputError
from geo.progress import log_progress
from geo.query import Query
from geo.region import Region, load_region
from geo.store import Store, jobs, open_store
from geo.store.sql import redact
from geo.workflow import subscriptions as subs
from geo.workflow.review import auto_assign
from ingest.catalogue import ingest_local, ingest_sentinelhub
from ingest.sentinelhub_source import SentinelHubSettings
from maps.report import parse_week
from maps.report.tables import assign_units
from maps.report.weekly import reports_for_week

log = logging.getLogger(__name__)
JOB = "weekly"
STEPS = ("ingest", "detect", "assign", "report", "deliver")

# Exit statuses of ``forestmon weekly``.
EXIT_OK = 0            # every step done (or the week was already done)
EXIT_FAILED = 1        # a step failed; the run stopped there (run the job again to resume)
EXIT_BUSY = 3          # another run holds the lock
EXIT_UNDELIVERED = 4   # done, but some deliveries failed (they are tried again by the next run)


@dataclass
class WeeklyResult:
    week: str
    status: int
    run_id: int | None = None
    message: str = ""
    steps: dict[str, dict] = field(default_factory=dict)


def last_complete_week(now: datetime | None = None) -> str:
    """The ISO week (``YYYY-Www``) before the current one in Asia/Ho_Chi_Minh."""
    today = (now or datetime.now(TIMEZONE)).astimezone(TIMEZONE).date()
    iso = (today - timedelta(days=7)).isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def _check_week(week: str) -> tuple[date, date]:
    try:
        return parse_week(week)
    except (ValueError, ForestmonError) as exc:
        raise InvalidInputError(f"--week {week!r}: expected an ISO week like 2024-W11 ({exc})") from None


class WeeklyJob:
    """One run of the weekly job for one week (see the module's docstring)."""

    def __init__(self, settings: Settings, week: str, trigger: str, echo: Callable[[str], None]):
        self.settings = settings
        self.week = week
        self.monday, self.sunday = _check_week(week)
        self.trigger = trigger
        self.echo = echo
        self.region: Region = load_region(settings.region)
        self.holder = jobs.Holder.this_process()

    # -- the steps; each returns (counts, message) --------------------------------------------------------
    def ingest(self, store: Store) -> tuple[dict, str]:
        sh = SentinelHubSettings()
        settings = self.settings
        if sh.client_id and sh.client_secret:
            acquired = [s["acquired"] for s in store.scenes("ok")]
            start = (date.fromisoformat(max(acquired)[:10]) + timedelta(days=1)) if acquired \
                else self.monday - timedelta(days=settings.weekly_history_days)
            if start > self.sunday:
                return {"source": "sentinelhub", "catalogued": 0}, "the catalogue already holds the week"
            result = ingest_sentinelhub(sh, store, self.region, settings.paths.ard, settings.paths.sentinelhub_cache,
                                        start, self.sunday, progress=log_progress)
            source = f"sentinelhub ({sh.endpoint}) {start}..{self.sunday}"
        elif settings.watch_dir is not None:
            if not settings.watch_dir.is_dir():
                raise InvalidInputError(f"the watched folder {settings.watch_dir} does not exist "
                                        "(FORESTMON_WATCH_DIR)")
            result = ingest_local([settings.watch_dir], store, self.region, settings.paths.ard, progress=log_progress)
            source = f"folder {settings.watch_dir}"
        else:
            held = len(store.scenes("ok"))
            return ({"source": "none", "catalogued": 0, "scenes_held": held},
                    "no imagery source configured (FORESTMON_SH_CLIENT_ID/FORESTMON_SH_CLIENT_SECRET or "
                    f"FORESTMON_WATCH_DIR): going on with the {held} scene(s) the catalogue holds")
        counts = {"source": source.split()[0], "catalogued": len(result.ok), "failed": len(result.failed),
                  "tiles_written": result.tiles_written, "tiles_skipped": result.tiles_skipped}
        reasons = "; ".join(r["reason"] for r in result.failed[:3])
        return counts, f"{source}: {len(result.ok)} scene(s) catalogued" + (f"; failed: {reasons}" if reasons else "")

    def detect(self, store: Store) -> tuple[dict, str]:
        if not store.scenes("ok"):
            return {"scenes_processed": 0}, "the catalogue holds no scene: nothing to detect"
        result = run_detection(self.region, store, self.settings.paths.state, progress=log_progress)
        counts = {"scenes_processed": result.scenes_processed, "alerts": result.alerts, **result.counts}
        return counts, f"{result.scenes_processed} new scene(s), {result.alerts} alert(s)"

    def assign(self, store: Store) -> tuple[dict, str]:
        assigned = auto_assign(store)
        return {"assigned": sum(assigned.values()), "rangers": len(assigned)}, \
            f"{sum(assigned.values())} alert(s) assigned"

    def report(self, store: Store) -> tuple[dict, str]:
        from api.cli.steps import write_report  # the one way reports are written (``forestmon report``)

        # the default language, and every other one a subscription reads
        langs = dict.fromkeys([self.settings.lang, *(sub["lang"] for sub in subs.list_subscriptions(
            store, active_only=True))])
        for lang in langs:
            path = write_report(self.settings, self.week, lang=lang)
        written = reports_for_week(self.settings.paths.reports, self.week)
        return {"files": 2 * len(written), "languages": len(langs)}, \
            f"{len(written)} report(s) in {', '.join(langs)}, province {path.name}"

    def deliver(self, store: Store, run_id: int) -> tuple[dict, str]:
        counts = {"sent": 0, "failed": 0, "already": 0}
        errors = []
        units = self._unit_names()
        for sub in subs.list_subscriptions(store, active_only=True):
            if not subs.claim_delivery(store, sub["id"], self.week, run_id):
                counts["already"] += 1
                continue
            summary = self._summary(store, sub["unit_id"], units, sub["lang"])
            if sub["email"]:
                outcome = send_email(self.settings, compose_email(self.settings, summary, sub["email"], sub["lang"]))
                target = sub["email"]
            else:
                outcome = post_webhook(self.settings, sub["webhook_url"], sub["secret"] or "",
                                       webhook_body(summary, sub["lang"], self.settings), f"{sub['id']}-{self.week}")
                target = sub["webhook_url"]
            subs.finish_delivery(store, sub["id"], self.week, outcome.ok, outcome.attempts, outcome.error)
            counts["sent" if outcome.ok else "failed"] += 1
            if not outcome.ok:
                errors.append(f"subscription {sub['id']} ({target}): {outcome.error}")
                log.warning("delivery failed: %s", errors[-1])
        message = f"{counts['sent']} sent, {counts['failed']} failed, {counts['already']} already delivered"
        return counts, message + ("; " + "; ".join(errors) if errors else "")

    def _units_frame(self):
        """The units in force in the week, else the newest boundaries the profile holds."""
        try:
            return self.region.units(self.monday)
        except ConfigError:
            return self.region.units()

    def _unit_names(self) -> dict[str, str]:
        """Unit id -> name of the units in force in the week."""
        return {str(u.id): str(u.name) for u in self._units_frame().itertuples()}

    def _summary(self, store: Store, unit_id: str | None, units: dict[str, str], lang: str) -> Summary:
        """The week's new alerts of a unit (None: the province), placed in the units in force that week as the
        report places them (a 2025 commune holds the alerts whose centroid it holds)."""
        alerts = store.query_alerts(Query(start=self.monday, end=self.sunday))
        if unit_id:
            ids, _ = assign_units(alerts, self._units_frame())
            alerts = alerts[ids == unit_id]
        name = units.get(unit_id, unit_id) if unit_id else self.region.title
        return Summary(self.week, self.monday.isoformat(), self.sunday.isoformat(), unit_id, name, len(alerts),
                       float(alerts["area_ha"].sum()) if len(alerts) else 0.0,
                       report_files(self.settings.paths.reports, self.week, unit_id, lang))

    # -- the run ---------------------------------------------------------------------------------------------
    def run(self, store: Store, force: bool = False) -> WeeklyResult:
        done = jobs.completed_run(store, JOB, self.week)
        if done is not None and not force:
            return WeeklyResult(self.week, EXIT_OK, done["id"],
                                f"week {self.week} was already done by run {done['id']} ({done['finished']})")
        try:
            taken = jobs.acquire_lock(store, JOB, self.holder, self.settings.weekly_lock_stale_s)
        except jobs.JobBusy as exc:
            return WeeklyResult(self.week, EXIT_BUSY, None, str(exc))
        try:
            if taken:
                self.echo(f"took over the lock of a stale run: {taken}")
            done = jobs.completed_run(store, JOB, self.week)  # finished while we waited for the lock
            if done is not None and not force:
                return WeeklyResult(self.week, EXIT_OK, done["id"],
                                    f"week {self.week} was already done by run {done['id']} ({done['finished']})")
            return self._steps(store)
        finally:
            jobs.release_lock(store, JOB, self.holder)

    def _steps(self, store: Store) -> WeeklyResult:
        run_id = jobs.start_run(store, JOB, self.week, self.trigger, self.holder)
        result = WeeklyResult(self.week, EXIT_OK, run_id)
        self.echo(f"weekly run {run_id} for {self.week} ({self.monday}..{self.sunday})")
        for position, step in enumerate(STEPS, start=1):
            jobs.heartbeat(store, JOB, self.holder, run_id)
            jobs.start_step(store, run_id, step, position)
            started = time.monotonic()
            try:
                counts, message = self.deliver(store, run_id) if step == "deliver" else getattr(self, step)(store)
            except Exception as exc:  # recorded, then the run stops here: the next run resumes
                known = isinstance(exc, ForestmonError)
                error = redact(str(exc) if known else f"{type(exc).__name__}: {exc}")
                if not known:
                    log.error("weekly step %s failed:\n%s", step, traceback.format_exc())
                jobs.finish_step(store, run_id, step, "failed", time.monotonic() - started, message=error)
                jobs.finish_run(store, run_id, "failed", f"{step}: {error}")
                self.echo(f"  {step}: FAILED: {error}")
                return WeeklyResult(self.week, EXIT_FAILED, run_id, f"step {step} failed: {error}", result.steps)
            seconds = time.monotonic() - started
            jobs.finish_step(store, run_id, step, "ok", seconds, counts, message)
            result.steps[step] = counts
            self.echo(f"  {step}: {message} ({seconds:.1f} s)")
        failed = result.steps["deliver"]["failed"]
        jobs.finish_run(store, run_id, "partial" if failed else "ok",
                        f"{failed} delivery(ies) failed" if failed else None)
        result.status = EXIT_UNDELIVERED if failed else EXIT_OK
        result.message = f"week {self.week} done" + (f"; {failed} delivery(ies) failed" if failed else "")
        return result


def run_weekly(settings: Settings, week: str | None = None, *, trigger: str = "cli", force: bool = False,
               echo: Callable[[str], None] = log.info, now: datetime | None = None) -> WeeklyResult:
    """Run the weekly job for ``week`` (default: the last complete one at ``now``) and say how it ended."""
    job = WeeklyJob(settings, week or last_complete_week(now), trigger, echo)
    with open_store(settings.store) as store:
        return job.run(store, force=force)
