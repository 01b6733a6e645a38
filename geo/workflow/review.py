"""The rangers' review of an alert: a status machine with coded causes and reasons, an append-only history,
optimistic concurrency on a version number, automatic assignment by admin unit, and each ranger's queue.

``new → assigned → in_field → confirmed | dismissed`` (an assigned alert may also be dismissed from the desk,
e.g. a cloud); an admin re-opens a confirmed or dismissed alert (back to ``assigned``). Every write carries the
version the reviewer saw: a stale one is refused and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd

from geo.errors import ConflictError, InvalidInputError, NotFoundError
from geo.query import Query
from geo.store import Store
from geo.store.sql import Tx, now_iso
from geo.workflow.rights import Actor, alert_to_write, check_alert_action

TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("assigned",),
    "assigned": ("assigned", "in_field", "dismissed"),
    "in_field": ("confirmed", "dismissed"),
    "confirmed": ("assigned",),
    "dismissed": ("assigned",),
}
CAUSES = ("illegal_clearing", "illegal_logging", "farming_encroachment", "permitted_harvest", "fire",
          "natural", "other")
DISMISS_REASONS = ("cloud_shadow", "seasonal_crop", "permitted_plantation_harvest", "cleared_before_monitoring",
                   "misregistration", "other")
OPEN_STATUSES = ("assigned", "in_field")
CONFIDENCE_WEIGHT = {"low": 1.0, "high": 2.0, "highest": 3.0}
SYSTEM = "system"


@dataclass(frozen=True)
class SystemActor:
    """The service itself (automatic assignment)."""

    username: str = SYSTEM
    role: str = "admin"
    units: tuple[str, ...] = ()


# Loss in special-use and protection forest goes first: they are the province's most protected categories.
FOREST_WEIGHT = {"special_use": 3.0, "protection": 2.0}


def priority(area_ha: float | None, confidence: str | None, forest_category: str | None = None) -> float:
    """Review priority: hectares × confidence weight (1, 2, 3) × forest weight (special-use 3, protection 2)."""
    weight = CONFIDENCE_WEIGHT.get(confidence or "", 1.0) * FOREST_WEIGHT.get(forest_category or "", 1.0)
    return round(float(area_ha or 0.0) * weight, 4)


def _action(current: str, to: str) -> str:
    if current in ("confirmed", "dismissed") and to == "assigned":
        return "reopen"
    return {"assigned": "assign", "in_field": "start_field_check", "confirmed": "confirm",
            "dismissed": "dismiss"}[to]


def _check_fields(to: str, cause: str | None, reason: str | None, note: str | None, assignee: str | None) -> None:
    if to == "confirmed":
        if cause not in CAUSES:
            raise InvalidInputError(f"cause: confirming needs a cause, one of {', '.join(CAUSES)}; got {cause!r}")
        if cause == "other" and not (note or "").strip():
            raise InvalidInputError("note: a note is required when the cause is 'other'")
    elif cause is not None:
        raise InvalidInputError(f"cause: only a confirmation has a cause (this moves to {to!r})")
    if to == "dismissed":
        if reason not in DISMISS_REASONS:
            raise InvalidInputError(f"reason: dismissing needs a reason, one of {', '.join(DISMISS_REASONS)}; "
                                    f"got {reason!r}")
        if reason == "other" and not (note or "").strip():
            raise InvalidInputError("note: a note is required when the reason is 'other'")
    elif reason is not None:
        raise InvalidInputError(f"reason: only a dismissal has a reason (this moves to {to!r}); use the note")
    if to != "assigned" and assignee is not None:
        raise InvalidInputError("assignee: only an assignment names an assignee")


def _ranger(tx: Tx, username: str) -> dict:
    row = tx.fetchone("SELECT username, role, disabled FROM users WHERE username = ?", [username])
    if row is None or row["role"] != "ranger" or row["disabled"]:
        raise InvalidInputError(f"assignee: {username!r} is not an active ranger")
    return row


def apply_transition(tx: Tx, alert_id: str, to: str, *, actor: Actor, version: int, cause: str | None = None,
                     reason: str | None = None, note: str | None = None, assignee: str | None = None) -> dict:
    """Move one alert inside an open transaction; returns its new review state. See ``transition``."""
    if to not in TRANSITIONS:
        raise InvalidInputError(f"to: {to!r} is not a review status; one of {', '.join(TRANSITIONS)}")
    _check_fields(to, cause, reason, note, assignee)
    alert = alert_to_write(tx, actor, alert_id)
    current = alert["status"]
    if to not in TRANSITIONS[current]:
        allowed = ", ".join(TRANSITIONS[current]) or "none"
        raise ConflictError(f"alert {alert_id} is {current!r} and cannot become {to!r}; allowed: {allowed}",
                            code="invalid_transition", id=alert_id, status=current, to=to)
    action = _action(current, to)
    check_alert_action(actor, action)
    if alert["version"] != version:
        raise ConflictError(f"alert {alert_id} has changed since you saw it (your version {version}, "
                            f"now {alert['version']}): reload it and decide again",
                            code="stale_version", id=alert_id, version=version, current=alert["version"])
    if to == "assigned":
        assignee = assignee or (alert["assigned_to"] if action == "reopen" else None)
        if assignee is None:
            raise InvalidInputError("assignee: an assignment names the ranger")
        _ranger(tx, assignee)
    else:
        assignee = alert["assigned_to"]
    at = now_iso()
    changed = tx.execute(
        "UPDATE alerts SET status = ?, version = version + 1, assigned_to = ?, cause = ?, dismiss_reason = ?, "
        "review_note = ?, reviewed_by = ?, reviewed_at = ? WHERE id = ? AND version = ?",
        [to, assignee, cause if to == "confirmed" else None, reason if to == "dismissed" else None,
         note, actor.username, at, alert_id, version])
    if changed != 1:  # another write committed between our read and our update
        raise ConflictError(f"alert {alert_id} has changed since you saw it: reload it and decide again",
                            code="stale_version", id=alert_id)
    tx.execute("INSERT INTO alert_history (alert_id, at, username, action, from_status, to_status, reason, note, "
               "assignee, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
               [alert_id, at, actor.username, action, current, to, cause or reason, note, assignee, version + 1])
    return {"id": alert_id, "status": to, "version": version + 1, "assigned_to": assignee}


def transition(store: Store, alert_id: str, to: str, *, actor: Actor, version: int, cause: str | None = None,
               reason: str | None = None, note: str | None = None, assignee: str | None = None) -> dict:
    """Move an alert to status ``to`` as ``actor``, who saw ``version``; all or nothing, with a history row.

    Raises NotFoundError (unknown alert), ConflictError (not allowed from the current status, naming the allowed
    ones; or a stale version), ForbiddenError (role or units), InvalidInputError (missing/unknown cause, reason,
    note or assignee, naming the field).
    """
    with store.transaction() as tx:
        return apply_transition(tx, alert_id, to, actor=actor, version=version, cause=cause, reason=reason,
                                note=note, assignee=assignee)


def statuses(store: Store, alert_ids: list[str]) -> list[dict]:
    """Review status, version, assignee and last change of each alert, in the order asked (404 naming the first
    unknown id)."""
    wanted = list(dict.fromkeys(alert_ids))
    with store.reading() as tx:
        marks = ", ".join("?" for _ in wanted)
        rows = {r["id"]: r for r in tx.fetch(
            f"SELECT id, status, version, assigned_to, reviewed_at AS last_change FROM alerts WHERE id IN ({marks})",
            wanted)}
    missing = [i for i in wanted if i not in rows]
    if missing:
        raise NotFoundError(f"no alert with id {missing[0]!r}")
    return [rows[i] for i in wanted]


def history(store: Store, alert_id: str) -> list[dict]:
    """Every transition of the alert, oldest first (404 for an unknown alert)."""
    with store.reading() as tx:
        if tx.fetchone("SELECT id FROM alerts WHERE id = ?", [alert_id]) is None:
            raise NotFoundError(f"no alert with id {alert_id!r}")
        return tx.fetch("SELECT at, username, action, from_status, to_status, reason, note, assignee, version "
                        "FROM alert_history WHERE alert_id = ? ORDER BY id", [alert_id])


def auto_assign(store: Store) -> dict[str, int]:
    """Assign every new alert to an active ranger covering its admin unit, highest priority first.

    Among the rangers of a unit, the one with the fewest open alerts gets it (ties by username). Alerts in units
    no ranger covers stay new. Returns {username: count assigned}; each assignment is in the history as 'system'.
    """
    counts: dict[str, int] = {}
    with store.transaction() as tx:
        rangers = tx.fetch("SELECT username, units FROM users WHERE role = 'ranger' AND disabled = 0 "
                           "ORDER BY username")
        if not rangers:
            return counts
        load = {r["username"]: 0 for r in rangers}
        for row in tx.fetch(f"SELECT assigned_to, count(*) AS n FROM alerts WHERE status IN "
                            f"({', '.join('?' for _ in OPEN_STATUSES)}) GROUP BY assigned_to", OPEN_STATUSES):
            if row["assigned_to"] in load:
                load[row["assigned_to"]] = row["n"]
        by_unit: dict[str, list[str]] = {}
        for r in rangers:
            for unit in filter(None, (r["units"] or "").split(",")):
                by_unit.setdefault(unit, []).append(r["username"])
        new = tx.fetch("SELECT id, version, district_id, area_ha, confidence, forest_category FROM alerts "
                       "WHERE status = 'new'")
        for alert in new:
            alert["priority"] = priority(alert["area_ha"], alert["confidence"], alert["forest_category"])
        for alert in sorted(new, key=lambda a: (-a["priority"], a["id"])):
            candidates = by_unit.get(alert["district_id"] or "")
            if not candidates:
                continue
            ranger = min(candidates, key=lambda u: (load[u], u))
            tx.execute("UPDATE alerts SET priority = ? WHERE id = ?", [alert["priority"], alert["id"]])
            apply_transition(tx, alert["id"], "assigned", actor=SystemActor(), version=alert["version"],
                             assignee=ranger)
            load[ranger] += 1
            counts[ranger] = counts.get(ranger, 0) + 1
    return counts


def queue(store: Store, username: str) -> gpd.GeoDataFrame:
    """A ranger's open alerts (assigned or in the field), highest priority first, then oldest first."""
    alerts = store.query_alerts(Query(filters={"status": OPEN_STATUSES, "assigned_to": (username,)}))
    if alerts.empty:
        return alerts
    alerts["_p"] = alerts["priority"].fillna(0.0)
    return alerts.sort_values(["_p", "first_detected", "id"], ascending=[False, True, True]).drop(columns="_p") \
        .reset_index(drop=True)
