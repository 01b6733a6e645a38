"""Errors as the API answers them: one table from domain errors to HTTP status codes, the handlers that apply it,
and the error responses every operation documents in the OpenAPI document (one ``Error`` body for all of them).

Every error body is ``{"detail": ..., "code": ...}``: ``code`` is stable and machine-readable (``ERROR_CODES``,
a client keys its own texts on it), ``detail`` is said in the request's language (``?lang=`` or
``Accept-Language``, else the server's default; Vietnamese unless set), from ``maps/strings/<lang>.toml``.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.utils import is_body_allowed_for_status_code
from pydantic import BaseModel, ConfigDict
from starlette.datastructures import Headers, QueryParams
from starlette.exceptions import HTTPException as StarletteHTTPException

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
from maps.strings import LANGUAGES, error_codes, error_message

STATUS_CODES: dict[type[ForestmonError], int] = {NotFoundError: 404, InvalidInputError: 422, ConfigError: 503}
STATUS_CODES.update({ConflictError: 409, ForbiddenError: 403, AuthenticationError: 401, ThrottledError: 429})

# The code of an HTTP error raised without one (FastAPI's, Starlette's own 404/405, a route's HTTPException).
HTTP_CODES = {400: "invalid_input", 401: "login_required", 403: "forbidden_role", 404: "not_found",
              405: "method_not_allowed", 409: "conflict", 413: "too_large", 422: "invalid_input", 429: "throttled"}
ERROR_CODES = error_codes()
ErrorCode = Literal[ERROR_CODES]  # type: ignore[valid-type]


class ApiError(HTTPException):
    """An HTTP error raised by the web layer (a bad query parameter) with its own error code."""

    def __init__(self, status_code: int, detail: str, code: str, headers: dict[str, str] | None = None):
        super().__init__(status_code, detail, headers)
        self.code = code


def request_language(headers: Headers, query: QueryParams, default: str) -> str:
    """``?lang=vi|en`` if given, else the first of our languages in ``Accept-Language`` (by quality), else
    ``default``."""
    if query.get("lang") in LANGUAGES:
        return query["lang"]
    ranked = []
    for i, part in enumerate(headers.get("accept-language", "").split(",")):
        tag, _, q = part.strip().partition(";q=")
        try:
            ranked.append((-float(q or 1), i, tag.split("-")[0].strip().lower()))
        except ValueError:
            continue
    return next((tag for *_, tag in sorted(ranked) if tag in LANGUAGES), default)


def error_body(request_headers: Headers, query: QueryParams, default_lang: str, code: str, detail: Any,
               params: dict[str, Any] | None = None) -> dict:
    """The JSON of an error answer: ``detail`` in the request's language (a validation list is kept as is)."""
    if isinstance(detail, str) or detail is None:
        lang = request_language(request_headers, query, default_lang)
        detail = error_message(code, lang, redact(detail or ""), params or {})
    return {"detail": detail, "code": code}


def _default_lang(request: Request) -> str:
    settings = getattr(request.app.state, "settings", None)
    return getattr(settings, "lang", "vi")


class Problem(BaseModel):
    """One malformed part of a request, as FastAPI's validation reports it."""

    model_config = ConfigDict(extra="allow")
    loc: list[str | int]
    msg: str
    type: str


class Error(BaseModel):
    """What is wrong, in one line; for a malformed request, one entry per bad part."""

    detail: str | list[Problem]
    code: ErrorCode  # type: ignore[valid-type]


# The answers any operation may give, and those that depend on what it is.
EVERY_OPERATION = {"401": "wrong or expired credentials, or a login needed where reads are not public",
                   "422": "a malformed or invalid request: the message names the part"}
WITH_PATH_ID = {"404": "no such resource"}
WRITES = {"403": "the user's role or units do not allow this", "413": "the request body is over the size limit"}


def add_error_handler(app: FastAPI) -> None:
    """Domain errors answered with their status code and a one-line, redacted message; HTTP and validation errors
    given their code too."""

    @app.exception_handler(ForestmonError)
    def _domain_error(request: Request, exc: ForestmonError) -> JSONResponse:
        status = next((code for cls, code in STATUS_CODES.items() if isinstance(exc, cls)), 400)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if isinstance(exc, ThrottledError):
            headers = {"Retry-After": str(exc.retry_after)}
        body = error_body(request.headers, request.query_params, _default_lang(request), exc.code, str(exc),
                          exc.params)
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if not is_body_allowed_for_status_code(exc.status_code):  # a 304
            return Response(status_code=exc.status_code, headers=exc.headers)
        code = getattr(exc, "code", None) or HTTP_CODES.get(exc.status_code, "error")
        detail = exc.detail
        if detail in ("Not Found", "Method Not Allowed"):  # Starlette's own, for a path no route takes
            detail = f"{request.method} {request.url.path}"
            detail = f"no such path: {detail}" if exc.status_code == 404 else f"not allowed: {detail}"
        body = error_body(request.headers, request.query_params, _default_lang(request), code, detail)
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": jsonable_encoder(exc.errors()), "code": "validation_error"}, status_code=422)


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
