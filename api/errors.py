"""Errors as the API answers them: one table from domain errors to HTTP status codes, the handler that applies it,
and the error responses every operation documents in the OpenAPI document (one ``Error`` body for all of them).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

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
from geo.store.sql import redact

STATUS_CODES: dict[type[ForestmonError], int] = {NotFoundError: 404, InvalidInputError: 422, ConfigError: 503}
STATUS_CODES.update({ConflictError: 409, ForbiddenError: 403, AuthenticationError: 401, ThrottledError: 429})


class Problem(BaseModel):
    """One malformed part of a request, as FastAPI's validation reports it."""

    model_config = ConfigDict(extra="allow")
    loc: list[str | int]
    msg: str
    type: str


class Error(BaseModel):
    """What is wrong, in one line; for a malformed request, one entry per bad part."""

    detail: str | list[Problem]


# The answers any operation may give, and those that depend on what it is.
EVERY_OPERATION = {"401": "wrong or expired credentials, or a login needed where reads are not public",
                   "422": "a malformed or invalid request: the message names the part"}
WITH_PATH_ID = {"404": "no such resource"}
WRITES = {"403": "the user's role or units do not allow this", "413": "the request body is over the size limit"}


def add_error_handler(app: FastAPI) -> None:
    """Domain errors answered with their status code and a one-line, redacted message."""

    @app.exception_handler(ForestmonError)
    def _domain_error(request: Request, exc: ForestmonError) -> JSONResponse:
        status = next((code for cls, code in STATUS_CODES.items() if isinstance(exc, cls)), 400)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if isinstance(exc, ThrottledError):
            headers = {"Retry-After": str(exc.retry_after)}
        return JSONResponse({"detail": redact(str(exc))}, status_code=status, headers=headers)


def document_errors(app: FastAPI) -> None:
    """Make ``app.openapi()`` list, on every operation, the error answers it may give with the ``Error`` body
    (FastAPI documents only 422, with a schema that does not fit our one-line messages)."""

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
            schema.setdefault("components", {}).setdefault("schemas", {}).update(_schemas())
            for operations in schema.get("paths", {}).values():
                for method, operation in operations.items():
                    _document(operation, method)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi


def _schemas() -> dict:
    schema = Error.model_json_schema(ref_template="#/components/schemas/{model}")
    return {**schema.pop("$defs"), "Error": schema}


def _document(operation: dict, method: str) -> None:
    codes = dict(EVERY_OPERATION)
    if any(p.get("in") == "path" for p in operation.get("parameters", [])):
        codes |= WITH_PATH_ID
    if method in ("post", "put", "patch", "delete"):
        codes |= WRITES
    responses = operation.setdefault("responses", {})
    body = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for code, description in codes.items():
        responses.setdefault(code, {"description": description})
    for code, response in responses.items():
        if code[0] in "45":  # every error answer has the Error body
            response["content"] = body
            if code == "422":
                response["description"] = codes["422"]
