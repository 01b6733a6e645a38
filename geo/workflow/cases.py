"""Violation cases: a confirmed violation becomes a case (one case may cover several alerts) with the damaged area,
timber volume and outcome; historical cases import from CSV to set the baseline year of the targets.
"""

from __future__ import annotations

import csv
import io
import math
from datetime import date

from geo.errors import ConflictError, InvalidInputError, NotFoundError
from geo.store import Store
from geo.store.sql import Tx, now_iso
from geo.workflow.rights import Actor, alert_to_write, check_case, check_register

VIOLATION_TYPES = ("illegal_clearing", "illegal_logging", "farming_encroachment", "fire", "other")
OUTCOMES = ("pending", "administrative_fine", "criminal_prosecution", "dropped")
CSV_COLUMNS = ("number", "opened", "violation_type", "area_ha", "timber_m3", "outcome", "fine_amount",
               "district_id", "note")
FIELDS = ("id", "number", "opened", "violation_type", "area_ha", "timber_m3", "outcome", "fine_amount",
           "district_id", "note", "source", "created_by", "created_at", "version")


def _number(value, name: str, *, required: bool = False) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidInputError(f"{name}: required")
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name}: {value!r} is not a number") from None
    if not math.isfinite(number) or number < 0:
        raise InvalidInputError(f"{name}: must be a finite number of at least 0, got {value!r}")
    return number


def _validate(number: str, opened, violation_type: str, outcome: str, fine_amount) -> str:
    if not (number or "").strip() or len(number) > 64:
        raise InvalidInputError("number: a case number of 1-64 characters is required")
    try:
        day = opened if isinstance(opened, date) else date.fromisoformat(str(opened).strip())
    except ValueError:
        raise InvalidInputError(f"opened: {opened!r} is not a date (YYYY-MM-DD)") from None
    if violation_type not in VIOLATION_TYPES:
        raise InvalidInputError(f"violation_type: {violation_type!r} is not one of {', '.join(VIOLATION_TYPES)}")
    if outcome not in OUTCOMES:
        raise InvalidInputError(f"outcome: {outcome!r} is not one of {', '.join(OUTCOMES)}")
    if outcome == "administrative_fine" and fine_amount is None:
        raise InvalidInputError("fine_amount: an administrative fine needs its amount (VND)")
    return day.isoformat()


def _case(tx: Tx, case_id: int) -> dict:
    row = tx.fetchone(f"SELECT {', '.join(FIELDS)} FROM cases WHERE id = ?", [case_id])
    if row is None:
        raise NotFoundError(f"no case with id {case_id}")
    row["alert_ids"] = [r["id"] for r in tx.fetch("SELECT id FROM alerts WHERE case_id = ? ORDER BY id", [case_id])]
    return row


def open_case(store: Store, actor: Actor, *, number: str, opened, violation_type: str, alert_ids: list[str],
              timber_m3=None, area_ha=None, outcome: str = "pending", fine_amount=None,
              note: str | None = None) -> dict:
    """Open a case for confirmed alerts; the damaged area defaults to the alerts' area. All or nothing."""
    timber_m3 = _number(timber_m3, "timber_m3")
    area_ha = _number(area_ha, "area_ha")
    fine_amount = _number(fine_amount, "fine_amount")
    opened = _validate(number, opened, violation_type, outcome, fine_amount)
    if not alert_ids:
        raise InvalidInputError("alert_ids: a case covers at least one confirmed alert")
    with store.transaction() as tx:
        alerts = _caseless_confirmed(tx, actor, alert_ids)
        if tx.fetchone("SELECT id FROM cases WHERE number = ?", [number]):
            raise ConflictError(f"a case numbered {number!r} already exists", code="duplicate")
        if area_ha is None:
            area_ha = round(sum(a["area_ha"] or 0.0 for a in alerts), 4)
        case_id = tx.scalar(
            "INSERT INTO cases (number, opened, violation_type, area_ha, timber_m3, outcome, fine_amount, district_id, "
            "note, source, created_by, created_at, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'review', ?, ?, 1) "
            "RETURNING id",
            [number, opened, violation_type, area_ha, timber_m3, outcome, fine_amount, alerts[0]["district_id"],
             note, actor.username, now_iso()])
        _link(tx, actor, case_id, number, alerts, note, "open_case")
        return _case(tx, case_id)


def _caseless_confirmed(tx: Tx, actor: Actor, alert_ids: list[str]) -> list[dict]:
    """The alerts (locked, in the order given) if ``actor`` may write each and each is confirmed and in no case."""
    wanted = list(dict.fromkeys(alert_ids))
    # locked in one order (by id), so that two cases opened at once over the same alerts cannot deadlock
    locked = {alert_id: alert_to_write(tx, actor, alert_id, "open cases") for alert_id in sorted(wanted)}
    alerts = []
    for alert_id in wanted:
        alert = locked[alert_id]
        if alert["status"] != "confirmed":
            raise ConflictError(f"alert {alert_id} is {alert['status']!r}: only confirmed alerts become cases",
                                code="not_confirmed", id=alert_id, status=alert["status"])
        if alert["case_id"] is not None:
            raise ConflictError(f"alert {alert_id} already belongs to case {alert['case_id']}",
                                code="already_in_case", id=alert_id, case=alert["case_id"])
        alerts.append(alert)
    return alerts


def _link(tx: Tx, actor: Actor, case_id: int, number: str, alerts: list[dict], note: str | None,
          action: str) -> None:
    """Put the alerts in the case, each with a history step ``action`` (open_case or add_to_case)."""
    for alert in alerts:
        # the database decides a race: only one transaction links a confirmed alert without a case
        if tx.execute("UPDATE alerts SET case_id = ? WHERE id = ? AND case_id IS NULL AND status = 'confirmed'",
                      [case_id, alert["id"]]) != 1:
            raise ConflictError(f"alert {alert['id']} has just been put in another case or changed: reload it",
                                code="already_in_case", id=alert["id"])
        tx.execute("INSERT INTO alert_history (alert_id, at, username, action, from_status, to_status, "
                   "reason, note, assignee, version) VALUES (?, ?, ?, ?, 'confirmed', 'confirmed', ?, ?, NULL, ?)",
                   [alert["id"], now_iso(), actor.username, action, f"case {number}", note, alert["version"]])


def add_alerts(store: Store, actor: Actor, case_id: int, *, alert_ids: list[str], version: int,
               note: str | None = None) -> dict:
    """Add confirmed alerts to an existing case (``version``: the case's version the user saw); the case's damaged
    area grows by theirs. All or nothing."""
    if not alert_ids:
        raise InvalidInputError("alert_ids: give at least one confirmed alert to add")
    with store.transaction() as tx:
        case = _case(tx, case_id)
        check_case(tx, actor, case)
        alerts = _caseless_confirmed(tx, actor, alert_ids)
        added = round(sum(a["area_ha"] or 0.0 for a in alerts), 4)
        if tx.execute("UPDATE cases SET area_ha = COALESCE(area_ha, 0) + ?, version = version + 1 "
                      "WHERE id = ? AND version = ?", [added, case_id, version]) != 1:
            raise ConflictError(f"case {case_id} has changed since you saw it (your version {version}, "
                                f"now {case['version']}): reload it",
                                code="stale_version", id=case_id, version=version, current=case["version"])
        _link(tx, actor, case_id, case["number"], alerts, note, "add_to_case")
        return _case(tx, case_id)


def update_case(store: Store, actor: Actor, case_id: int, *, version: int, **changes) -> dict:
    """Change a case's outcome, fine, timber, area or note; ``version`` must be the one the user saw."""
    allowed = {"outcome", "fine_amount", "timber_m3", "area_ha", "note", "violation_type"}
    unknown = set(changes) - allowed
    if unknown:
        raise InvalidInputError(f"{sorted(unknown)[0]}: cannot be changed on a case")
    for name in ("fine_amount", "timber_m3", "area_ha"):
        if name in changes:
            changes[name] = _number(changes[name], name)
    with store.transaction() as tx:
        case = _case(tx, case_id)
        check_case(tx, actor, case)
        merged = {**case, **changes}
        _validate(merged["number"], merged["opened"], merged["violation_type"], merged["outcome"],
                  merged["fine_amount"])
        if case["version"] != version:
            raise ConflictError(f"case {case_id} has changed since you saw it (your version {version}, "
                                f"now {case['version']}): reload it",
                                code="stale_version", id=case_id, version=version, current=case["version"])
        if changes:
            sets = ", ".join(f"{k} = ?" for k in changes)
            if tx.execute(f"UPDATE cases SET {sets}, version = version + 1 WHERE id = ? AND version = ?",
                          [*changes.values(), case_id, version]) != 1:
                raise ConflictError(f"case {case_id} has changed since you saw it: reload it", code="stale_version",
                                    id=case_id)
        return _case(tx, case_id)


def get_case(store: Store, case_id: int) -> dict:
    with store.reading() as tx:
        return _case(tx, case_id)


def list_cases(store: Store, year: int | None = None) -> list[dict]:
    sql, params = f"SELECT {', '.join(FIELDS)} FROM cases", []
    if year is not None:
        sql += " WHERE opened >= ? AND opened <= ?"
        params = [f"{year:04d}-01-01", f"{year:04d}-12-31"]
    with store.reading() as tx:
        return tx.fetch(sql + " ORDER BY opened, number", params)


def import_cases_csv(store: Store, text: str, actor: Actor) -> dict[str, int]:
    """Import historical cases from CSV (columns ``CSV_COLUMNS``; ``number``, ``opened``, ``violation_type``
    required), keyed by case number: re-importing updates instead of duplicating. All rows or none.
    """
    check_register(actor)
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        records = list(reader)
    except csv.Error as exc:  # e.g. a stray quote or carriage return the CSV dialect cannot read
        raise InvalidInputError(f"CSV line {reader.line_num}: {exc}") from None
    missing = [c for c in ("number", "opened", "violation_type") if c not in (reader.fieldnames or [])]
    if missing:
        raise InvalidInputError(f"CSV: missing column(s) {', '.join(missing)}; expected {', '.join(CSV_COLUMNS)}")
    rows = []
    for line, raw in enumerate(records, start=2):
        try:
            row = {c: (raw.get(c) or "").strip() or None for c in CSV_COLUMNS}
            row["outcome"] = row["outcome"] or "pending"
            for name in ("area_ha", "timber_m3", "fine_amount"):
                row[name] = _number(row[name], name)
            row["opened"] = _validate(row["number"] or "", row["opened"], row["violation_type"], row["outcome"],
                                      row["fine_amount"])
        except InvalidInputError as exc:
            raise InvalidInputError(f"CSV line {line}: {exc}") from None
        rows.append(row)
    counts = {"inserted": 0, "updated": 0}
    with store.transaction() as tx:
        for row in rows:
            values = [row[c] for c in CSV_COLUMNS]
            if tx.fetchone("SELECT id FROM cases WHERE number = ?", [row["number"]]):
                sets = ", ".join(f"{c} = ?" for c in CSV_COLUMNS[1:])
                tx.execute(f"UPDATE cases SET {sets}, version = version + 1 WHERE number = ?",
                           [*values[1:], row["number"]])
                counts["updated"] += 1
            else:
                tx.execute(f"INSERT INTO cases ({', '.join(CSV_COLUMNS)}, source, created_by, created_at, version) "
                           f"VALUES ({', '.join('?' for _ in CSV_COLUMNS)}, 'import', ?, ?, 1)",
                           [*values, actor.username, now_iso()])
                counts["inserted"] += 1
    return counts
