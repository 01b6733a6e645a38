"""HTTP caching tied to the store's data version: an ETag per (data version, URL) and a Cache-Control header,
so a map revalidates cheaply (304) and sees new alerts as soon as the data changes, without a restart."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from fastapi import Request, Response


def etag(request: Request, version: int | str) -> str:
    key = f"{version}|{request.url.path}|{request.url.query}|{request.headers.get('accept', '')}"
    return f'W/"{hashlib.sha1(key.encode()).hexdigest()[:20]}"'


def cached(request: Request, version: int | str, build: Callable[[], Response], *, max_age: int = 0) -> Response:
    """``build()``'s response with ETag and Cache-Control, or an empty 304 when the client's copy is current.

    The ETag is computed before the work, so an unchanged tile or page costs one version lookup.
    """
    tag = etag(request, version)
    headers = {"ETag": tag, "Cache-Control": f"public, max-age={max_age}, must-revalidate"}
    match = request.headers.get("if-none-match", "")
    if tag in [t.strip() for t in match.split(",")] or match.strip() == "*":
        return Response(status_code=304, headers=headers)
    response = build()
    response.headers.update(headers)
    return response
