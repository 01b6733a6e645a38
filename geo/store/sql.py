"""What both backends share below the domain: a transaction handle with portable SQL, and the migration runner.

Domain modules (review, users, cases, planting lots) write plain SQL with ``?`` placeholders and run it through a
``Tx``; each backend adapts placeholders and geometry, and returns rows as dicts of plain Python values (dates and
timestamps as ISO strings), so the same code and the same tests run on the GeoPackage and on PostGIS.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import UTC, date, datetime
from importlib import resources

from geo.errors import InvalidInputError

MIGRATIONS_PACKAGE = "geo.store.migrations"


def now_iso() -> str:
    """The current time in UTC as an ISO string to the second: how every timestamp is written."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def plain_value(value):
    """Dates and timestamps as ISO strings (UTC, to the second), everything else unchanged."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    return value


def check_params(params: Sequence) -> list:
    """Parameters as a list, refusing text with NUL characters (PostgreSQL cannot store them; neither do we)."""
    out = list(params)
    for value in out:
        if isinstance(value, str) and "\x00" in value:
            raise InvalidInputError(f"text may not contain NUL characters: {value[:40]!r}")
    return out


class Tx(ABC):
    """One open transaction (or a read-only session): portable SQL with ``?`` placeholders."""

    #: SQL expression storing one WKB parameter as a geometry in EPSG:4326.
    geom_in: str = "?"

    def geom_out(self, column: str) -> str:
        """SQL expression reading a geometry column back as WKB."""
        return column

    @abstractmethod
    def execute(self, sql: str, params: Sequence = ()) -> int:
        """Run one statement; returns the number of rows it changed."""

    @abstractmethod
    def fetch(self, sql: str, params: Sequence = ()) -> list[dict]:
        """Run one query; rows as dicts of plain values."""

    def fetchone(self, sql: str, params: Sequence = ()) -> dict | None:
        rows = self.fetch(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Sequence = ()):
        row = self.fetchone(sql, params)
        return None if row is None else next(iter(row.values()))


def migration_files(backend: str) -> list[tuple[str, str]]:
    """``(name, sql)`` of the backend's migrations, in name order (``NNNN_what.sql`` in ``migrations/BACKEND/``)."""
    folder = resources.files(MIGRATIONS_PACKAGE) / backend
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return [(f.name.removesuffix(".sql"), f.read_text(encoding="utf-8")) for f in files]


def split_statements(script: str) -> list[str]:
    """Split an SQL script into statements at semicolons that end a line (triggers' bodies stay whole).

    A line ending in ``;`` inside a ``BEGIN … END;`` block (a trigger body) does not end the statement.
    """
    statements, current, depth = [], [], 0
    for line in script.splitlines():
        stripped = line.split("--", 1)[0].strip()
        if not stripped and not current:
            continue
        current.append(line)
        upper = stripped.upper()
        if upper.endswith("BEGIN") or " BEGIN " in f" {upper} " and upper.startswith("CREATE TRIGGER"):
            depth += 1
        if upper.startswith("END") and depth:
            depth -= 1
        if stripped.endswith(";") and depth == 0:
            statements.append("\n".join(current).strip())
            current = []
    if "".join(current).strip():
        statements.append("\n".join(current).strip())
    return statements
