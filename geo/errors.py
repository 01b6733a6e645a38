"""Domain exceptions; the API maps each to one HTTP status, the CLI to one line and a non-zero exit."""

import os
from pathlib import Path


class ForestmonError(Exception):
    """Base class: a problem the user can act on, with a message naming what is wrong.

    ``code`` is a stable, machine-readable name of the kind of problem (a client shows its own text for it); each
    class has a default and a raise site may name a narrower one. ``params`` are the values a translated message
    may quote (``maps/strings/<lang>.toml``, ``[errors]``); the English message itself stays the raise site's.
    """

    code = "invalid_input"

    def __init__(self, message: str = "", *, code: str | None = None, **params: object):
        super().__init__(message)
        if code:
            self.code = code
        self.params = params


class NotFoundError(ForestmonError):
    """An id, file or layer that does not exist."""

    code = "not_found"


class InvalidInputError(ForestmonError):
    """Input that cannot be used: corrupt raster, wrong CRS, missing band, bad value."""

    code = "invalid_input"


class ConfigError(ForestmonError):
    """A region profile, setting or data file that is missing or malformed."""

    code = "config"


class ConflictError(ForestmonError):
    """A write that conflicts with the stored state: a stale version, an invalid status transition, a duplicate."""

    code = "conflict"


class ForbiddenError(ForestmonError):
    """The user is known but their role or units do not allow this."""

    code = "forbidden_role"


class AuthenticationError(ForestmonError):
    """No valid credentials: wrong password, unknown or expired token, disabled user."""

    code = "login_required"


def without_dir(message: str, path: Path) -> str:
    """A library's message (GDAL's, pandas') with ``path``'s folder left out: an uploaded file is named by its
    name, never by where the server keeps it."""
    return message.replace(f"{path.parent}{os.sep}", "")


class ThrottledError(ForestmonError):
    """Too many attempts (e.g. wrong passwords) in a short time: try again after ``retry_after`` seconds."""

    code = "throttled"

    def __init__(self, message: str, retry_after: int):
        super().__init__(message, seconds=retry_after)
        self.retry_after = retry_after
