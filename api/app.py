"""The FastAPI application, built from settings by ``create_app`` (nothing is read at import time)."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from api.auth import read_access
from api.limits import BodyLimits
from api.routers import alerts, imagery_tiles, ogc, pages, planning
from api.routers import auth as auth_router
from api.routers import cases as cases_router
from api.routers import exports as exports_router
from api.routers import planting as planting_router
from api.routers import review as review_router
from api.settings import Settings
from data import data_path
from geo.errors import (
    AuthenticationError,
    ConfigError,
    ConflictError,
    ForbiddenError,
    ForestmonError,
    InvalidInputError,
    NotFoundError,
)
from geo.region import load_region
from geo.store import open_store

# One table from domain errors to HTTP status codes.
STATUS_CODES: dict[type[ForestmonError], int] = {NotFoundError: 404, InvalidInputError: 422, ConfigError: 503}
STATUS_CODES.update({ConflictError: 409, ForbiddenError: 403, AuthenticationError: 401})


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        app.state.store.close()  # release the PostGIS pool

    app = FastAPI(
        lifespan=lifespan,
        title="forestmon",
        summary="Forest-loss alerts for Lâm Đồng province: satellite detection, rangers' map, weekly reports",
        version="0.1.0",
    )
    app.state.settings = settings
    app.state.store = open_store(settings.store)
    app.state.region = load_region(settings.region)

    @app.exception_handler(ForestmonError)
    def _domain_error(request: Request, exc: ForestmonError) -> JSONResponse:
        status = next((code for cls, code in STATUS_CODES.items() if isinstance(exc, cls)), 400)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)

    app.include_router(pages.router)
    app.include_router(alerts.router, dependencies=[Depends(read_access)])
    app.include_router(auth_router.router)
    app.include_router(review_router.router)
    app.include_router(cases_router.router)
    app.include_router(exports_router.router)
    app.include_router(planting_router.router)
    app.include_router(ogc.router, dependencies=[Depends(read_access)])
    app.include_router(planning.router)
    app.include_router(imagery_tiles.router, dependencies=[Depends(read_access)])
    app.add_middleware(BodyLimits, upload_max_mb=settings.upload_max_mb, max_photo_mb=settings.max_photo_mb)
    if settings.cors_origins:  # outermost, so refusals carry the CORS headers too
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["*"], expose_headers=["ETag"])
    app.mount("/static", StaticFiles(directory=data_path("web")), name="static")
    return app
