"""The FastAPI application, built from settings by ``create_app`` (nothing is read at import time)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from api.routers import alerts, imagery_tiles, ogc, pages, planning
from api.settings import Settings
from data import data_path
from geo.errors import ConfigError, ForestmonError, InvalidInputError, NotFoundError
from geo.region import load_region
from geo.store import open_store

# One table from domain errors to HTTP status codes.
STATUS_CODES: dict[type[ForestmonError], int] = {NotFoundError: 404, InvalidInputError: 422, ConfigError: 503}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = FastAPI(
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
        return JSONResponse({"detail": str(exc)}, status_code=status)

    app.include_router(pages.router)
    app.include_router(alerts.router)
    app.include_router(ogc.router)
    app.include_router(planning.router)
    app.include_router(imagery_tiles.router)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["*"], expose_headers=["ETag"])
    app.mount("/static", StaticFiles(directory=data_path("web")), name="static")
    return app
