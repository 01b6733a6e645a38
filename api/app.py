"""The FastAPI application, built from settings by ``create_app`` (nothing is read at import time)."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from api.auth import read_access
from api.headers import SecurityHeaders
from api.routers import alerts, docs, health, imagery_tiles, ogc, pages, planning
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
    ThrottledError,
)
from geo.region import load_region
from geo.store import open_store
from geo.store.sql import redact

# One table from domain errors to HTTP status codes.
STATUS_CODES: dict[type[ForestmonError], int] = {NotFoundError: 404, InvalidInputError: 422, ConfigError: 503}
STATUS_CODES.update({ConflictError: 409, ForbiddenError: 403, AuthenticationError: 401, ThrottledError: 429})


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
        docs_url=None,  # our own /docs, on the vendored Swagger UI
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.store = open_store(settings.store)
    app.state.region = load_region(settings.region)

    @app.exception_handler(ForestmonError)
    def _domain_error(request: Request, exc: ForestmonError) -> JSONResponse:
        status = next((code for cls, code in STATUS_CODES.items() if isinstance(exc, cls)), 400)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if isinstance(exc, ThrottledError):
            headers = {"Retry-After": str(exc.retry_after)}
        return JSONResponse({"detail": redact(str(exc))}, status_code=status, headers=headers)

    # The read rule, once: every router but logging in, liveness and the API docs needs a login when reads are
    # not public.
    app.include_router(auth_router.router)
    app.include_router(health.router)
    app.include_router(docs.router)
    for router in (pages.router, alerts.router, review_router.router, cases_router.router, exports_router.router,
                   planting_router.router, ogc.router, planning.router, imagery_tiles.router):
        app.include_router(router, dependencies=[Depends(read_access)])
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["*"], expose_headers=["ETag"])
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=data_path("web")), name="static")
    return app
