"""Security headers on every response: ``nosniff``, no referrer to other sites, no framing, and on HTML pages a
content security policy allowing only our own files (everything the pages load is vendored under /static).

Each request gets a fresh script nonce in ``request.state.csp_nonce``: a page with inline scripts (FastAPI's
docs pages) marks its own scripts with it, so a script that stored text smuggles in has none and never runs.
Styles may be inline (Leaflet and MapLibre write style attributes); CSS cannot run script. An external basemap,
when the settings name one, is the only other origin images and fetches may come from.
"""

from __future__ import annotations

import secrets

from fastapi import Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NONCE_BYTES = 16
NONCE_SLOT = "N" * len(secrets.token_urlsafe(NONCE_BYTES))  # where a page kept for reuse takes each answer's nonce
ALWAYS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin"), (b"x-frame-options", b"DENY")]


def content_security_policy(nonce: str, basemap: str | None = None) -> str:
    """The policy of our HTML pages: scripts from /static or carrying this response's nonce, nothing framed;
    images and fetches from us (and the external basemap's origin, when one is set)."""
    extra = f" {basemap}" if basemap else ""
    return ("default-src 'self'; "
            f"script-src 'self' 'nonce-{nonce}'; "
            f"style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:{extra}; connect-src 'self'{extra}; "
            "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


class SecurityHeaders:
    """ASGI middleware adding the headers above (a pure ASGI one: it leaves streaming and disconnects alone)."""

    def __init__(self, app: ASGIApp, basemap_origin: str | None = None):
        self.app = app
        self.basemap_origin = basemap_origin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        nonce = secrets.token_urlsafe(NONCE_BYTES)
        scope.setdefault("state", {})["csp_nonce"] = nonce
        policy = content_security_policy(nonce, self.basemap_origin)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in ALWAYS if name not in present]
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if content_type.startswith(b"text/html") and b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", policy.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def with_nonce(response: Response, request: Request) -> Response:
    """A page built once and answered many times (its scripts marked ``nonce="NONCE_SLOT"``) with this response's
    nonce in place of the slot; the slot has the nonce's length, so the body's length stays right."""
    if response.body:
        response.body = response.body.replace(f'nonce="{NONCE_SLOT}"'.encode(),
                                              f'nonce="{request.state.csp_nonce}"'.encode())
    return response
