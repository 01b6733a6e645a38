"""Who may write review data, one rule per resource, used by every write that touches it (transitions,
assignment, photos, opening and updating cases).

An admin may act on everything; a ranger on the alerts of their admin units (or assigned to them) and on the
cases whose alerts are all such alerts (a case without alerts, imported from the register, by its district);
planners and viewers never write review data. Assigning and re-opening alerts, and importing the case register,
are an admin's.
"""

from __future__ import annotations

from typing import Protocol

from geo.errors import ForbiddenError, NotFoundError
from geo.store.sql import Tx

REVIEWERS = ("admin", "ranger")
ADMIN_ACTIONS = ("assign", "reopen")


class Actor(Protocol):
    """Who acts: the API's users satisfy this."""

    username: str
    role: str
    units: tuple[str, ...]


def _reviewer(actor: Actor, what: str) -> None:
    if actor.role not in REVIEWERS:
        raise ForbiddenError(f"role {actor.role!r} may not {what}; needs one of: {', '.join(REVIEWERS)}")


def _yours(actor: Actor, alert: dict) -> bool:
    return actor.role == "admin" or alert["assigned_to"] == actor.username or alert["district_id"] in actor.units


def check_alert(actor: Actor, alert: dict, what: str = "review alerts") -> None:
    """May ``actor`` write this alert's review data (``alert`` holds id, district_id, assigned_to)?"""
    _reviewer(actor, what)
    if not _yours(actor, alert):
        raise ForbiddenError(f"alert {alert['id']} is in unit {alert['district_id']!r}, "
                             f"which is not among your units ({', '.join(actor.units) or 'none'})",
                             code="forbidden_unit", id=alert["id"], unit=alert["district_id"])


def alert_to_write(tx: Tx, actor: Actor, alert_id: str, what: str = "review alerts") -> dict:
    """The alert (id, status, version, case_id, area_ha, district_id, assigned_to) ``actor`` may write, locked
    for the rest of the transaction on PostGIS; NotFoundError or ForbiddenError otherwise."""
    _reviewer(actor, what)
    alert = tx.fetchone("SELECT id, status, version, case_id, area_ha, district_id, assigned_to FROM alerts "
                        "WHERE id = ?" + tx.for_update, [alert_id])
    if alert is None:
        raise NotFoundError(f"no alert with id {alert_id!r}")
    check_alert(actor, alert, what)
    return alert


def check_alert_action(actor: Actor, action: str) -> None:
    """Assigning and re-opening an alert are an admin's, whatever the unit."""
    if actor.role != "admin" and action in ADMIN_ACTIONS:
        raise ForbiddenError(f"role {actor.role!r} may not {action} alerts; only an admin may")


def check_case(tx: Tx, actor: Actor, case: dict, what: str = "change cases") -> None:
    """May ``actor`` change this case (``case`` holds id and district_id)? Its alerts decide its units."""
    _reviewer(actor, what)
    alerts = tx.fetch("SELECT id, district_id, assigned_to FROM alerts WHERE case_id = ?", [case["id"]])
    alerts = alerts or [{"id": None, "district_id": case["district_id"], "assigned_to": None}]
    if not all(_yours(actor, a) for a in alerts):
        units = sorted({a["district_id"] or "none" for a in alerts})
        raise ForbiddenError(f"case {case['id']} is in unit(s) {', '.join(units)}, not all among your units "
                             f"({', '.join(actor.units) or 'none'})", code="forbidden_unit", id=case["id"],
                             unit=", ".join(units))


def check_register(actor: Actor) -> None:
    """Importing the case register rewrites cases of every unit: an admin's."""
    if actor.role != "admin":
        raise ForbiddenError(f"role {actor.role!r} may not import the case register; only an admin may")
