"""Users, roles and credentials, kept in the store: argon2 password hashes, login tokens and API keys.

Roles: admin (everything), ranger (reviews the alerts of the admin units assigned to them), planner (reads
everything, manages planning layers and planting lots), viewer (read only). Tokens and API keys are random
secrets shown once; only their SHA-256 is stored, so a stolen database does not hold usable credentials.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from geo.errors import AuthenticationError, ConflictError, InvalidInputError, NotFoundError, ThrottledError
from geo.store import Store
from geo.store.sql import now_iso

ROLES = ("admin", "ranger", "planner", "viewer")
USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,63}$")
MIN_PASSWORD = 8
_hasher = PasswordHasher()
# A hash to verify against when the user does not exist, so that timing does not reveal valid usernames.
_DUMMY_HASH = _hasher.hash("not-a-real-password")
# Login throttle: failed logins allowed per account and per client address in a window of seconds; kept in the
# store (login_attempts) so that every worker process counts the same.
MAX_FAILURES = {"user": 5, "addr": 20}
WINDOW_SECONDS = 300


@dataclass(frozen=True)
class User:
    username: str
    role: str
    units: tuple[str, ...] = ()
    display_name: str | None = None
    disabled: bool = False

    def as_dict(self) -> dict:
        return {"username": self.username, "role": self.role, "units": list(self.units),
                "display_name": self.display_name, "disabled": self.disabled}


def _user(row: dict) -> User:
    units = tuple(u for u in (row["units"] or "").split(",") if u)
    return User(row["username"], row["role"], units, row["display_name"], bool(row["disabled"]))


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def add_user(store: Store, username: str, password: str, role: str, units: tuple[str, ...] | list[str] = (),
             display_name: str | None = None) -> User:
    """Create a user; the password is stored only as an argon2id hash."""
    if not USERNAME.match(username or ""):
        raise InvalidInputError(f"username: {username!r} must be 2-64 lowercase letters, digits, '.', '_' or '-'")
    if role not in ROLES:
        raise InvalidInputError(f"role: {role!r} is not one of {', '.join(ROLES)}")
    if len(password or "") < MIN_PASSWORD:
        raise InvalidInputError(f"password: must be at least {MIN_PASSWORD} characters")
    units = tuple(str(u).strip() for u in units if str(u).strip())
    if any("," in u for u in units):
        raise InvalidInputError("units: an admin unit id cannot contain a comma")
    with store.transaction() as tx:
        if tx.fetchone("SELECT 1 AS x FROM users WHERE username = ?", [username]):
            raise ConflictError(f"user {username!r} already exists", code="duplicate")
        tx.execute("INSERT INTO users (username, display_name, role, units, password_hash, disabled, created_at) "
                   "VALUES (?, ?, ?, ?, ?, 0, ?)",
                   [username, display_name, role, ",".join(units), _hasher.hash(password), now_iso()])
    return User(username, role, units, display_name)


def list_users(store: Store) -> list[User]:
    with store.reading() as tx:
        return [_user(r) for r in tx.fetch("SELECT * FROM users ORDER BY username")]


def get_user(store: Store, username: str) -> User:
    with store.reading() as tx:
        row = tx.fetchone("SELECT * FROM users WHERE username = ?", [username])
    if row is None:
        raise NotFoundError(f"no user {username!r}")
    return _user(row)


def set_disabled(store: Store, username: str, disabled: bool = True) -> User:
    """Disable (or re-enable) a user; disabling also revokes every token and API key they hold."""
    with store.transaction() as tx:
        if tx.execute("UPDATE users SET disabled = ? WHERE username = ?", [int(disabled), username]) == 0:
            raise NotFoundError(f"no user {username!r}")
        if disabled:
            tx.execute("DELETE FROM credentials WHERE username = ?", [username])
    return get_user(store, username)


def authenticate(store: Store, username: str, password: str, address: str | None = None) -> User:
    """The user whose password this is; raises AuthenticationError without saying which part was wrong, and
    ThrottledError (even for the right password) after too many failures for the account or the address."""
    keys = {"user": f"user:{username}", "addr": f"addr:{address or 'unknown'}"}
    _count_attempt(store, keys)  # before the password is checked, so parallel guesses are counted too
    with store.reading() as tx:
        row = tx.fetchone("SELECT * FROM users WHERE username = ?", [username])
    try:
        _hasher.verify(row["password_hash"] if row else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        row = None
    if row is None or row["disabled"]:
        raise AuthenticationError("wrong username or password, or the user is disabled", code="bad_credentials")
    # a success: the account starts afresh, the address does not count it (no response shows these counts)
    with store.transaction(shown=False) as tx:
        tx.execute("DELETE FROM login_attempts WHERE key = ?", [keys["user"]])
        tx.execute("UPDATE login_attempts SET failures = failures - 1 WHERE key = ? AND failures > 0",
                   [keys["addr"]])
    return _user(row)


def _count_attempt(store: Store, keys: dict[str, str]) -> None:
    """Count this attempt for the account and the address, then refuse it when either has passed its allowance in
    the current window. The count is one atomic upsert per row, so the database orders simultaneous attempts and
    no burst gets more tries than allowed; counts whose window has passed are dropped first (a new window)."""
    now = time.time()
    with store.transaction(shown=False) as tx:
        tx.execute("DELETE FROM login_attempts WHERE window_start < ?", [now - WINDOW_SECONDS])
        tx.executemany("INSERT INTO login_attempts (key, failures, window_start) VALUES (?, 1, ?) "
                       "ON CONFLICT (key) DO UPDATE SET failures = login_attempts.failures + 1",
                       [[key, now] for key in keys.values()])
        rows = tx.fetch("SELECT key, failures, window_start FROM login_attempts WHERE key IN (?, ?)",
                        list(keys.values()))
    for kind, key in keys.items():
        row = next((r for r in rows if r["key"] == key), None)
        if row and row["failures"] > MAX_FAILURES[kind]:
            wait = max(1, int(row["window_start"] + WINDOW_SECONDS - now + 0.999))
            what = "this account" if kind == "user" else "your address"
            raise ThrottledError(f"too many failed logins for {what}: try again in {wait} seconds", wait)


def issue_token(store: Store, user: User, minutes: int) -> str:
    """A bearer token for ``user``, valid for ``minutes``."""
    token = secrets.token_urlsafe(32)
    expires = (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat(timespec="seconds")
    with store.transaction(shown=False) as tx:
        tx.execute("DELETE FROM credentials WHERE kind = 'token' AND expires_at < ?", [now_iso()])
        tx.execute("INSERT INTO credentials (secret_hash, username, kind, name, created_at, expires_at) "
                   "VALUES (?, ?, 'token', NULL, ?, ?)", [_digest(token), user.username, now_iso(), expires])
    return token


def create_api_key(store: Store, username: str, name: str) -> str:
    """A long-lived API key for scripts (``X-API-Key`` header or ``Authorization: Bearer``), shown once."""
    get_user(store, username)
    key = "fmk_" + secrets.token_urlsafe(32)
    with store.transaction(shown=False) as tx:
        tx.execute("INSERT INTO credentials (secret_hash, username, kind, name, created_at, expires_at) "
                   "VALUES (?, ?, 'api_key', ?, ?, NULL)", [_digest(key), username, name, now_iso()])
    return key


def user_for_secret(store: Store, secret: str) -> User:
    """The active user holding this token or API key; raises AuthenticationError."""
    with store.reading() as tx:
        row = tx.fetchone("SELECT u.*, c.expires_at FROM credentials c JOIN users u ON u.username = c.username "
                          "WHERE c.secret_hash = ?", [_digest(secret)])
    if row is None or row["disabled"] or (row["expires_at"] and row["expires_at"] < now_iso()):
        raise AuthenticationError("invalid or expired token", code="bad_credentials")
    return _user(row)
