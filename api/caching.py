"""HTTP caching tied to the store's data version: an ETag per (data version, URL) and a Cache-Control header,
so a map revalidates cheaply (304) and sees new alerts as soon as the data changes, without a restart.

Each app (one per worker) also keeps the bodies it built, keyed by that ETag and the caller's credentials (what
a caller may see depends on who they are), up to ``MEMO_BYTES``: an unchanged page of alerts, tile or map page is
built once per data version, not once per request. A new data version makes new keys; the oldest go first.

Vector tiles are the same for every caller of one role (what a tile holds depends on the role alone: the public
sees no private columns), so their bodies are kept by role rather than by credentials: a tile built for one ranger
answers the next ranger at the same data version (every write, a review included, makes a new data version).
Identical requests arriving together build once: the others wait for the first one's body (single flight)."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable

from fastapi import Request, Response

MEMO_BYTES = 64 * 1024 * 1024  # per worker
MEMO_LARGEST = 4 * 1024 * 1024  # bodies above this are built each time


class _Memo:
    """Response bodies by key, least recently used dropped first once they pass ``limit`` bytes in all."""

    def __init__(self, limit: int):
        self.limit, self.size = limit, 0
        self.items: OrderedDict[tuple, tuple[bytes, str | None]] = OrderedDict()
        self.lock = threading.Lock()
        self.building: dict[tuple, threading.Lock] = {}  # a lock per key being built (single flight)

    def get(self, key: tuple) -> tuple[bytes, str | None] | None:
        with self.lock:
            found = self.items.get(key)
            if found is not None:
                self.items.move_to_end(key)
            return found

    def put(self, key: tuple, body: bytes, media_type: str | None) -> None:
        with self.lock:
            if key in self.items:
                return
            self.items[key] = (body, media_type)
            self.size += len(body)
            while self.size > self.limit:
                _, (old, _) = self.items.popitem(last=False)
                self.size -= len(old)


    def builder(self, key: tuple) -> threading.Lock:
        """The lock whoever builds ``key`` holds; the other requests for it wait on it, then read the memo."""
        with self.lock:
            return self.building.setdefault(key, threading.Lock())

    def built(self, key: tuple) -> None:
        with self.lock:
            self.building.pop(key, None)


_memo_lock = threading.Lock()


def _app_memo(request: Request) -> _Memo:
    """The memo of the app serving ``request`` (made on first use): its store and data directory, its bodies."""
    with _memo_lock:
        memo = getattr(request.app.state, "response_memo", None)
        if memo is None:
            memo = request.app.state.response_memo = _Memo(MEMO_BYTES)
        return memo


CREDENTIALS = ("authorization", "x-api-key")  # what a caller may see depends on who they are


def etag(request: Request, version: int | str) -> str:
    """The tag of what this URL shows this caller at this data version (another caller's copy never matches)."""
    who = "|".join(request.headers.get(h, "") for h in CREDENTIALS)
    key = f"{version}|{request.url.path}|{request.url.query}|{request.headers.get('accept', '')}|{who}"
    return f'W/"{hashlib.sha1(key.encode()).hexdigest()[:20]}"'


def cache_headers(request: Request, tag: str, max_age: int) -> dict[str, str]:
    """ETag and Cache-Control; an answer to a logged-in caller is ``private`` (no shared cache keeps it) and every
    answer varies with the credentials."""
    scope = "private" if any(request.headers.get(h) for h in CREDENTIALS) else "public"
    return {"ETag": tag, "Cache-Control": f"{scope}, max-age={max_age}, must-revalidate",
            "Vary": "Accept, Authorization, X-API-Key"}


def cached(request: Request, version: int | str, build: Callable[[], Response], *, max_age: int = 0,
           by_role: bool = False) -> Response:
    """``build()``'s response with ETag and Cache-Control, or an empty 304 when the client's copy is current.

    The ETag is computed before the work, so an unchanged tile or page costs one version lookup; a body this
    worker already built for the same ETag and credentials is answered again without building it. With
    ``by_role`` (what the answer holds depends on the caller's role alone, as for vector tiles) a body built for
    any caller of the same role is answered. Identical requests arriving together build once.
    """
    tag = etag(request, version)
    headers = cache_headers(request, tag, max_age)
    match = request.headers.get("if-none-match", "")
    if tag in [t.strip() for t in match.split(",")] or match.strip() == "*":
        return Response(status_code=304, headers=headers)
    if by_role:  # the role is set by the read-access dependency, which ran before this
        key = ("role", getattr(request.state, "role", None), str(version), request.url.path, request.url.query,
               request.headers.get("accept", ""))
    else:
        key = (tag,)  # the tag names the caller
    memo = _app_memo(request)
    found = memo.get(key)
    if found is None:
        with memo.builder(key):  # one request builds; identical ones wait for it, then find its body
            found = memo.get(key)
            if found is None:
                try:
                    response = build()
                    if response.status_code == 200 and len(getattr(response, "body", b"")) <= MEMO_LARGEST:
                        memo.put(key, bytes(response.body), response.media_type)
                finally:
                    memo.built(key)
                response.headers.update(headers)
                return response
    return Response(found[0], media_type=found[1], headers=headers)
