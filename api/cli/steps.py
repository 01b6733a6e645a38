"""The steps several commands run: detection followed by assignment (``detect``, ``ingest``, ``demo``), the weekly
report (``report``, ``demo``), serving the map (``serve``, ``demo``), and the progress bars they draw."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import click
from pydantic import SecretStr

from api.settings import Settings
from geo.detect.run import DetectResult, run_detection
from geo.grid import Grid
from geo.store import Store, open_store
from geo.workflow.review import auto_assign
from maps.report import parse_week
from maps.report.weekly import write_week_reports


class ProgressBars:
    """A progress callback ``(label, done, total)`` drawing one click progress bar per label on stderr."""

    def __init__(self) -> None:
        self._bars: dict[str, tuple[object, int]] = {}

    def __call__(self, label: str, done: int, total: int) -> None:
        bar, seen = self._bars.get(label, (None, 0))
        if bar is None:
            bar = click.progressbar(length=total, label=label.ljust(10), file=sys.stderr, show_pos=True)
            bar.__enter__()
        bar.update(done - seen)
        self._bars[label] = (bar, done)
        if done >= total:
            bar.__exit__(None, None, None)
            del self._bars[label]


def detect_and_assign(settings: Settings, store: Store, progress: ProgressBars, **detection) -> DetectResult:
    """Run detection on the catalogued scenes not yet processed, then assign the new alerts to the rangers of their
    admin units; print what was processed, how many alerts were assigned, and the coverage per unit.

    ``detection`` goes to ``run_detection`` as it is (``params``, ``min_area_ha``, ``grid``, ``forest_layer``).
    """
    result = run_detection(settings.load_region(), store, settings.paths.state, progress=progress,
                           **detection)
    assigned = auto_assign(store)
    click.echo(f"processed {result.scenes_processed} new scene(s); {result.alerts} alert(s) "
               f"({json.dumps(result.counts)}); assigned {sum(assigned.values())}")
    for unit in result.coverage:
        click.echo(f"  {unit['unit']}: {unit['forest_ha']:,.0f} ha watched ({100 * (unit['watched_share'] or 0):.0f}% "
                   f"of its {unit['area_ha']:,.0f} ha), {100 * unit['observed_share']:.0f}% of it seen cloud-free")
    return result


def write_report(settings: Settings, week: str, out: Path | None = None, lang: str | None = None,
                 units: list[str] | None = None) -> Path:
    """Write the week's reports (``YYYY-Www``): the province's and every admin unit's (or the ``units`` given), HTML
    and PDF, in the data directory's reports folder; return the province report's HTML path (with ``out``, only
    the province's HTML, written there)."""
    parse_week(week)  # fail on a bad week before any work
    region = settings.load_region()
    grid_file = settings.paths.state.grid
    area = Grid.from_json(grid_file.read_text()).bounds_lonlat() if grid_file.exists() else None
    with open_store(settings.store) as store:
        if out is None:
            bar = ProgressBars()
            written = write_week_reports(store, region, settings.paths.reports, week, lang=lang or settings.lang,
                                         units=units, demo_bounds=area,
                                         on_report=lambda done, total: bar("reports", done, total))
            return written[0].html
        files = write_week_reports(store, region, out.parent / f".{out.name}.parts", week,
                                   lang=lang or settings.lang, units=[], demo_bounds=area)
        out.parent.mkdir(parents=True, exist_ok=True)
        files[0].html.replace(out)
        shutil.rmtree(out.parent / f".{out.name}.parts", ignore_errors=True)
        return out


def run_server(settings: Settings) -> None:
    """Serve the map and the API with uvicorn in ``settings.workers`` processes until Ctrl+C.

    Each worker builds its own app (``api.app:create_app``) from the environment, so the settings go there; every
    worker opens its own store (its own PostGIS pool, its own SQLite connections) and shares the tile cache on disk.
    """
    import uvicorn

    for name, value in settings.model_dump(mode="json").items():
        secret = getattr(settings, name)
        if isinstance(secret, SecretStr):  # dumped as asterisks: the workers need the value itself
            value = secret.get_secret_value()
        if value is not None:
            os.environ[f"FORESTMON_{name.upper()}"] = value if isinstance(value, str) else json.dumps(value)
    click.echo(f"serving the map on http://{settings.host}:{settings.port}/ with {settings.workers} worker(s)  "
               "(API docs at /docs; Ctrl+C stops)")
    if settings.workers > 1:  # the store made and migrated once, before the workers open it together
        open_store(settings.store).close()
    factory = "api.cli.steps:worker_app" if settings.workers > 1 else "api.app:create_app"
    uvicorn.run(factory, factory=True, workers=settings.workers, host=settings.host, port=settings.port,
                log_level="info", timeout_graceful_shutdown=30, timeout_worker_healthcheck=WORKER_STARTUP_S)


PR_SET_PDEATHSIG = 1
# How long uvicorn's supervisor waits for a worker to answer its health check. A worker started from the console
# script re-imports the whole CLI before it can answer, which takes more than uvicorn's default 5 s on a busy
# machine: the supervisor then takes it for dead and restarts it, over and over.
WORKER_STARTUP_S = 120


def worker_app():
    """The app of one of several server workers, which ends with its supervisor even when that is killed -9
    (Linux's parent-death signal), so no orphaned worker keeps serving and holding the port."""
    import ctypes
    import signal

    from api.app import create_app

    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() == 1:  # the supervisor was already gone
            os.kill(os.getpid(), signal.SIGTERM)
    return create_app()
