"""Writes sent again after a dropped answer: an ``Idempotency-Key`` names one write of one user; the store keeps the
key with the request and its first answer (primary key ``(username, key)``), in the same transaction as the write.

A retry with the same key and the same request gets the first answer back and writes nothing; the same key with
another request is refused (a client bug, not a retry). A write that failed kept nothing, so its retry runs again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from geo.errors import ConflictError, ForestmonError, InvalidInputError
from geo.store import Store
from geo.store.sql import Tx, now_iso

KEY = re.compile(r"^[A-Za-z0-9._:-]{8,100}$")  # a UUID, or any client token of that alphabet


def check_key(key: str) -> str:
    if not KEY.fullmatch(key):
        raise InvalidInputError(f"Idempotency-Key: {key[:40]!r} is not 8 to 100 letters, digits or . _ : -",
                                code="idempotency_key", key=key[:40])
    return key


def _stored(tx: Tx, username: str, key: str, request: str) -> dict | None:
    row = tx.fetchone("SELECT request, response FROM idempotency_keys WHERE username = ? AND key = ?"
                      + tx.for_update, [username, key])
    if row is None:
        return None
    if row["request"] != request:
        raise ConflictError(f"Idempotency-Key {key!r} was already used for another request",
                            code="idempotency_key_reused", key=key)
    return json.loads(row["response"])


def once(store: Store, username: str, key: str | None, request: dict, work: Callable[[Tx], dict]) -> dict:
    """``work(tx)``'s answer, run at most once per ``(username, key)``; without a key, simply run it."""
    if key is None:
        with store.transaction() as tx:
            return work(tx)
    check_key(key)
    fingerprint = json.dumps(request, sort_keys=True, ensure_ascii=False)
    try:
        with store.transaction() as tx:
            found = _stored(tx, username, key, fingerprint)
            if found is not None:
                return found
            answer = work(tx)
            tx.execute("INSERT INTO idempotency_keys (username, key, request, response, created_at) "
                       "VALUES (?, ?, ?, ?, ?)", [username, key, fingerprint, json.dumps(answer), now_iso()])
            return answer
    except ForestmonError:
        raise
    except Exception:
        # The same key committed by a concurrent twin between our read and our insert (the primary key refused
        # ours, and our transaction rolled back): answer what the twin answered.
        with store.reading() as tx:
            found = _stored(tx, username, key, fingerprint)
        if found is None:
            raise
        return found
