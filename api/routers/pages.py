"""What a person opens: the rangers' app at ``/``, the latest quick-look image, the weekly reports and their list."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

from api.deps import SettingsDep, StoreDep
from api.settings import Settings
from data import data_path
from geo.errors import NotFoundError
from geo.scenes import open_scene
from geo.store import Store
from maps.imagery import true_colour_png
from maps.report.weekly import reports_for_week
from maps.strings import page_strings
from maps.templating import TEMPLATES

router = APIRouter()
# The rangers' app shell: a static page with no data in it (everything comes from the API after logging in), so it
# is served without the read rule: with public reads off an anonymous browser still gets the log-in form.
shell_router = APIRouter()
APP_SHELL = data_path("web") / "app" / "index.html"
SERVICE_WORKER = data_path("web") / "app" / "sw.js"
REPORT_NAME = r"^[\w.-]+\.(html|pdf)$"  # a plain file name: no separators, no NUL (which Path.resolve refuses)
REPORT_TYPES = {".html": "text/html; charset=utf-8", ".pdf": "application/pdf"}
REPORT_WEEK = re.compile(r"(\d{4})-W(\d{2})")  # the file name ``forestmon report`` gives a week's report


def latest_clear_scene(store: Store) -> dict | None:
    """The newest catalogued scene with little cloud (under 20%), else the least cloudy one."""
    scenes = store.scenes("ok")
    if not scenes:
        return None
    clear = [s for s in scenes if (s["cloud_pct"] or 0) < 20 and (s["valid_fraction"] or 0) > 0.5]
    return clear[-1] if clear else min(scenes, key=lambda s: s["cloud_pct"] or 100)


@lru_cache(maxsize=8)
def _quicklook(path: str) -> tuple[bytes, tuple[float, float, float, float]]:
    scene = open_scene(Path(path))
    return true_colour_png(scene.path, scene.bands, scale=scene.scale, offset=scene.offset)


@shell_router.get("/", include_in_schema=False)  # a page, like /docs: not an API operation
def app_shell() -> FileResponse:
    """The rangers' app (log in, queue, review, layers): a static shell whose ES modules and strings are under
    /static/app/; every figure it shows comes from the API."""
    return FileResponse(APP_SHELL, media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-cache"})


@shell_router.get("/app/config.json", include_in_schema=False)
def app_config(settings: SettingsDep) -> dict:
    """What the app needs before anyone logs in: whether it may show data to an anonymous reader, the default
    language and the optional external basemap. It holds no data; the layers themselves come from /ogc."""
    basemap = ({"tiles": [settings.basemap_url], "attribution": settings.basemap_attribution}
               if settings.basemap_url else None)
    return {"public_reads": settings.public_reads, "lang": settings.lang, "basemap": basemap}


@shell_router.get("/sw.js", include_in_schema=False)
def service_worker() -> FileResponse:
    """The app's service worker (offline shell, offline packages), served at the root so its scope is the app."""
    return FileResponse(SERVICE_WORKER, media_type="text/javascript; charset=utf-8",
                        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"})


@shell_router.get("/app/", include_in_schema=False)
def old_app_address() -> RedirectResponse:
    """``/app/`` leads to the app (the browser keeps the link's hash: its view, filters and alert)."""
    return RedirectResponse("/", status_code=308)


@router.get("/imagery/latest.png", summary="True colour of the latest clear scene (Web Mercator PNG)",
            response_class=Response, responses={200: {"content": {"image/png": {}}}}, tags=["imagery"])
def latest_image(store: StoreDep) -> Response:
    scene = latest_clear_scene(store)
    if scene is None:
        raise NotFoundError("no scene has been ingested yet")
    png, _ = _quicklook(scene["path"])
    return Response(png, media_type="image/png", headers={"Cache-Control": "public, max-age=300"})


def report_list(settings: Settings, base: str) -> list[dict]:
    """The reports in the data directory, newest week first, the province before its units: week and dates, unit
    (id, name, level; none for the province), language, HTML file and URL, PDF URL. Weeks come from the manifests
    ``forestmon report`` writes (``maps.report.weekly``); any other HTML file is listed by its name."""
    out, listed = [], set()
    folder = settings.paths.reports
    for manifest in folder.glob("*.json") if folder.is_dir() else []:
        try:
            week = json.loads(manifest.read_text(encoding="utf-8"))["week"]
            entries = reports_for_week(folder, week, None)
        except (ValueError, KeyError, TypeError, OSError):
            continue
        for r in entries:
            if r.html.name in listed or not r.html.is_file():
                continue
            listed.add(r.html.name)
            monday = date.fromisocalendar(int(week[:4]), int(week[6:8]), 1)
            out.append({"week": week, "start": str(monday), "end": str(monday + timedelta(days=6)),
                        "unit_id": r.unit_id, "unit_name": r.unit_name, "level": r.level, "lang": r.lang,
                        "file": r.html.name, "url": f"{base}/reports/{r.html.name}",
                        "pdf": f"{base}/reports/{r.pdf.name}" if r.pdf.is_file() else None})
    for path in folder.glob("*.html") if folder.is_dir() else []:
        if path.name in listed:
            continue
        item = {"week": None, "start": None, "end": None, "unit_id": None, "unit_name": None, "level": None,
                "lang": None, "file": path.name, "url": f"{base}/reports/{path.name}", "pdf": None}
        if match := REPORT_WEEK.fullmatch(path.stem):
            try:
                monday = date.fromisocalendar(int(match[1]), int(match[2]), 1)
                item |= {"week": path.stem, "start": str(monday), "end": str(monday + timedelta(days=6))}
            except ValueError:  # week 00 or 54: listed by its file name only
                pass
        out.append(item)
    out.sort(key=lambda r: (r["unit_id"] is not None, r["lang"] or "", r["unit_name"] or "", r["file"]))
    out.sort(key=lambda r: r["week"] or "", reverse=True)  # stable: newest week first, province first within it
    return out


@router.get("/reports/", summary="The weekly reports, newest first (JSON, or an HTML page with f=html)",
            tags=["reports"], response_class=Response,
            responses={200: {"content": {"application/json": {}, "text/html": {}}}})
def reports(request: Request, settings: SettingsDep, f: Literal["json", "html"] = "json",
            lang: Annotated[Literal["vi", "en"] | None, Query(description="page language")] = None) -> Response:
    items = report_list(settings, str(request.base_url).rstrip("/"))
    if f == "json":
        return Response(json.dumps({"reports": items}, ensure_ascii=False), media_type="application/json")
    t = page_strings("report")[lang or settings.lang]
    html = TEMPLATES.get_template("reports.html").render(
        lang=lang or settings.lang, title=t["list_title"], week_label=t["list_week"], dates_label=t["list_dates"],
        unit_label=t["list_unit"], level_label=t["list_level"], lang_label=t["list_lang"],
        files_label=t["list_files"], kinds=t["kinds"], none_label=t["list_none"], reports=items,
        base=str(request.base_url).rstrip("/"))
    return HTMLResponse(html)


@router.get("/reports/{name}", summary="A weekly report written by `forestmon report` (HTML or PDF)",
            tags=["reports"], response_class=FileResponse,
            responses={200: {"content": {"text/html": {}, "application/pdf": {}}}})
def report(name: Annotated[str, PathParam(pattern=REPORT_NAME,
                                          description="file name of the report (*.html or *.pdf)")],
           settings: SettingsDep) -> FileResponse:
    path = (settings.paths.reports / name).resolve()
    if path.parent != settings.paths.reports.resolve() or path.suffix not in REPORT_TYPES or not path.is_file():
        raise NotFoundError(f"no report named {name!r}")
    return FileResponse(path, media_type=REPORT_TYPES[path.suffix])
