"""The FastAPI application, built from settings by ``create_app`` (nothing is read at import time)."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from api.auth import read_access
from api.errors import add_error_handler, document_errors
from api.headers import SecurityHeaders
from api.limits import BodyLimits
from api.routers import alerts, docs, health, imagery_tiles, offline, ogc, pages, planning, runs
from api.routers import auth as auth_router
from api.routers import cases as cases_router
from api.routers import exports as exports_router
from api.routers import planting as planting_router
from api.routers import review as review_router
from api.schedule import start_scheduler
from api.settings import Settings
from data import data_path
from geo.store import open_store


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        scheduler = start_scheduler(settings)
        yield
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        app.state.store.close()  # release the PostGIS pool

    app = FastAPI(
        lifespan=lifespan,
        title="forestmon",
        summary="Forest-loss alerts for Lâm Đồng province: satellite detection, rangers' map, weekly reports",
        version="0.1.0",
        docs_url=None,  # our own /docs, on the vendored Swagger UI
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.store = open_store(settings.store)
    app.state.region = settings.load_region()

    add_error_handler(app)
    document_errors(app)

    # The read rule, once: every router but logging in, liveness, the API docs and the app's empty shell needs a
    # login when reads are not public.
    app.include_router(auth_router.router)
    app.include_router(health.router)
    app.include_router(docs.router)
    app.include_router(pages.shell_router)  # the app's shell holds no data; its API calls follow the read rule
    for router in (pages.router, alerts.router, review_router.router, cases_router.router, exports_router.router,
                   planting_router.router, ogc.router, planning.router, imagery_tiles.router, offline.router,
                   runs.router):
        app.include_router(router, dependencies=[Depends(read_access)])
    app.add_middleware(BodyLimits, upload_max_mb=settings.upload_max_mb, max_photo_mb=settings.max_photo_mb)
    if settings.cors_origins:  # outside the body limits, so refusals carry the CORS headers too
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["*"], expose_headers=["ETag"])
    app.add_middleware(SecurityHeaders, basemap_origin=settings.basemap_origin)
    app.mount("/static", StaticFiles(directory=data_path("web")), name="static")
    return app
