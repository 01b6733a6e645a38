"""Who receives the weekly report (subscriptions: an e-mail address or a webhook URL, an admin unit or the whole
province, a language) and the delivery outbox: one row per subscription and week.

Delivery is at most once. Before sending, the intent is committed (``status = 'sending'``); the row's unique key
(subscription, week) lets only one process claim it. A job killed after sending and before recording ``sent``
leaves the row 'sending', and a re-run does not send it again (a recipient may miss a week, never get it twice);
an operator who wants it sent again deletes the row (``forestmon subscriptions resend``). A delivery that failed
for certain (refused by the server, retries exhausted) is 'failed' and is tried again by the next run.
"""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlsplit

from geo.errors import ConflictError, InvalidInputError, NotFoundError
from geo.store.sql import now_iso
from geo.store.store import Store

FIELDS = ("id", "email", "webhook_url", "unit_id", "lang", "secret", "active", "created_at")
DELIVERY_FIELDS = ("id", "subscription_id", "week", "run_id", "status", "attempts", "created_at", "sent_at", "error")
EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")
LANGS = ("vi", "en")


def add_subscription(store: Store, *, email: str | None = None, webhook_url: str | None = None,
                     unit_id: str | None = None, lang: str = "vi", secret: str | None = None,
                     known_units: set[str] | None = None) -> dict:
    """Add a subscription (exactly one of ``email`` and ``webhook_url``); a webhook without ``secret`` gets a new
    random one (returned once, in the record). ``unit_id`` None is the whole province."""
    if (email is None) == (webhook_url is None):
        raise InvalidInputError("a subscription has either an e-mail address or a webhook URL (exactly one)")
    if email is not None and not EMAIL.match(email):
        raise InvalidInputError(f"{email!r} is not an e-mail address")
    if webhook_url is not None:
        parts = urlsplit(webhook_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidInputError(f"{webhook_url!r} is not an http(s) URL")
        secret = secret or secrets.token_urlsafe(32)
    if lang not in LANGS:
        raise InvalidInputError(f"language {lang!r}: expected vi or en")
    if unit_id is not None and known_units is not None and unit_id not in known_units:
        raise InvalidInputError(f"unknown admin unit {unit_id!r}; known: {', '.join(sorted(known_units))}")
    with store.transaction() as tx:
        new_id = tx.scalar("INSERT INTO subscriptions (email, webhook_url, unit_id, lang, secret, active, created_at) "
                           "VALUES (?, ?, ?, ?, ?, 1, ?) RETURNING id",
                           [email, webhook_url, unit_id, lang, secret if webhook_url else None, now_iso()])
    return get_subscription(store, int(new_id))


def get_subscription(store: Store, subscription_id: int) -> dict:
    with store.reading() as tx:
        row = tx.fetchone(f"SELECT {', '.join(FIELDS)} FROM subscriptions WHERE id = ?", [subscription_id])
    if row is None:
        raise NotFoundError(f"no subscription with id {subscription_id}", id=subscription_id)
    return row


def list_subscriptions(store: Store, active_only: bool = False) -> list[dict]:
    where = " WHERE active = 1" if active_only else ""
    with store.reading() as tx:
        return tx.fetch(f"SELECT {', '.join(FIELDS)} FROM subscriptions{where} ORDER BY id")


def remove_subscription(store: Store, subscription_id: int) -> None:
    get_subscription(store, subscription_id)
    with store.transaction() as tx:
        tx.execute("DELETE FROM deliveries WHERE subscription_id = ?", [subscription_id])
        tx.execute("DELETE FROM subscriptions WHERE id = ?", [subscription_id])


def public(subscription: dict) -> dict:
    """A subscription as it is shown after creation: the webhook secret left out."""
    return {k: v for k, v in subscription.items() if k != "secret"}


# -- the outbox ------------------------------------------------------------------------------------------------
def claim_delivery(store: Store, subscription_id: int, week: str, run_id: int) -> bool:
    """Record the intent to deliver ``week`` to the subscription; True when this caller may send it now.

    False when it was sent, or a send was started and never recorded (at most once), or another process just
    claimed it. A delivery that failed for certain is claimed again."""
    try:
        with store.transaction() as tx:
            row = tx.fetchone(f"SELECT status FROM deliveries WHERE subscription_id = ? AND week = ?{tx.for_update}",
                              [subscription_id, week])
            if row is None:
                tx.execute("INSERT INTO deliveries (subscription_id, week, run_id, status, attempts, created_at) "
                           "VALUES (?, ?, ?, 'sending', 0, ?)", [subscription_id, week, run_id, now_iso()])
                return True
            if row["status"] != "failed":
                return False
            tx.execute("UPDATE deliveries SET status = 'sending', run_id = ?, error = NULL "
                       "WHERE subscription_id = ? AND week = ?", [run_id, subscription_id, week])
            return True
    except ConflictError:  # another process inserted the same (subscription, week) first
        return False


def finish_delivery(store: Store, subscription_id: int, week: str, ok: bool, attempts: int,
                    error: str | None = None) -> None:
    with store.transaction() as tx:
        tx.execute("UPDATE deliveries SET status = ?, attempts = attempts + ?, sent_at = ?, error = ? "
                   "WHERE subscription_id = ? AND week = ?",
                   ["sent" if ok else "failed", attempts, now_iso() if ok else None, error, subscription_id, week])


def deliveries(store: Store, week: str | None = None) -> list[dict]:
    where, params = (" WHERE week = ?", [week]) if week else ("", [])
    with store.reading() as tx:
        return tx.fetch(f"SELECT {', '.join(DELIVERY_FIELDS)} FROM deliveries{where} ORDER BY week DESC, id", params)


def forget_delivery(store: Store, week: str, subscription_id: int | None = None) -> int:
    """Delete the delivery records of ``week`` (of one subscription, or all): the next run sends them again.
    Returns how many were deleted."""
    clause, params = (" AND subscription_id = ?", [subscription_id]) if subscription_id is not None else ("", [])
    with store.transaction() as tx:
        return tx.execute(f"DELETE FROM deliveries WHERE week = ?{clause}", [week, *params])
