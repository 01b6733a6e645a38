"""Request bodies refused before they are read, as a pure ASGI middleware (it streams, never buffers).

A body sent to a write route without credentials (no bearer token, no ``X-API-Key``) is a 401 at once; a body
whose ``Content-Length`` passes the route's limit is a 413 at once; a chunked body is read only until it passes
the limit, then answered with 413. Without this, Starlette would read (and spool to disk) a multi-gigabyte upload
before the route's own checks run. The login form (``/auth/token``) is the one write that takes no credentials.
"""

from __future__ import annotations

import anyio.from_thread
from starlette.datastructures import Headers, QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_body
from api.uploads import FRAMING, too_big_message

READS = frozenset({"GET", "HEAD", "OPTIONS"})
OPEN_WRITES = frozenset({"/auth/token"})  # writes anyone may send: the login form
PHOTO_SUFFIX = "/photos"  # POST /alerts/{id}/photos takes a field photo (its own, smaller limit)


class BodyTooLarge(Exception):
    """Raised into the app by ``receive`` once a streamed body passes its limit."""


def has_credentials(headers: Headers) -> bool:
    """Whether the request carries a bearer token or an API key (checked for validity later, by the route)."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return (scheme.lower() == "bearer" and bool(token.strip())) or bool(headers.get("x-api-key", "").strip())


class BodyLimits:
    """ASGI middleware: 401 for an anonymous body to a write route, 413 for a body over the limit (in MB)."""

    def __init__(self, app: ASGIApp, upload_max_mb: float, max_photo_mb: float) -> None:
        self.app = app
        self.upload_max_mb, self.max_photo_mb = upload_max_mb, max_photo_mb

    def limit_mb(self, path: str) -> float:
        if path in OPEN_WRITES:  # a login form is a few hundred bytes: anyone may send it, so it is kept small
            return 0.0
        return self.max_photo_mb if path.rstrip("/").endswith(PHOTO_SUFFIX) else self.upload_max_mb

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in READS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        query = QueryParams(scope.get("query_string", b""))
        lang = getattr(getattr(scope["app"].state, "settings", None), "lang", "vi") if "app" in scope else "vi"
        if scope["path"] not in OPEN_WRITES and not has_credentials(headers):
            detail = "log in first: send a bearer token (POST /auth/token) or an X-API-Key header"
            body = error_body(headers, query, lang, "login_required", detail)
            await JSONResponse(body, 401, {"WWW-Authenticate": "Bearer"})(scope, receive, send)
            return
        max_mb = self.limit_mb(scope["path"])
        limit = int(max_mb * 1_000_000) + FRAMING
        body = error_body(headers, query, lang, "too_large", too_big_message(max_mb))
        too_big = JSONResponse(body, 413, {"Connection": "close"})
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            await too_big(scope, receive, send)
            return

        received, cut, started = 0, False, False

        async def limited_receive() -> Message:
            nonlocal received, cut
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    cut = True
                    raise BodyTooLarge(too_big_message(max_mb))
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if not cut:  # once the body is cut, whatever the app answers (its 400 or 500) is replaced by the 413
                started = True
                await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except BodyTooLarge:
            pass
        if cut and not started:
            await too_big(scope, receive, send)


def client_gone(request: Request) -> bool:
    """From a route running in the thread pool: whether the client has hung up, so costly work it waited for in the
    queue is skipped (nobody would receive it)."""
    return anyio.from_thread.run(request.is_disconnected)
