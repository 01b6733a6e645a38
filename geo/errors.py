"""Domain exceptions; the API maps each to one HTTP status, the CLI to one line and a non-zero exit."""

import os
from pathlib import Path


class ForestmonError(Exception):
    """Base class: a problem the user can act on, with a message naming what is wrong."""


class NotFoundError(ForestmonError):
    """An id, file or layer that does not exist."""


class InvalidInputError(ForestmonError):
    """Input that cannot be used: corrupt raster, wrong CRS, missing band, bad value."""


class ConfigError(ForestmonError):
    """A region profile, setting or data file that is missing or malformed."""


class ConflictError(ForestmonError):
    """A write that conflicts with the stored state: a stale version, an invalid status transition, a duplicate."""


class ForbiddenError(ForestmonError):
    """The user is known but their role or units do not allow this."""


class AuthenticationError(ForestmonError):
    """No valid credentials: wrong password, unknown or expired token, disabled user."""


def without_dir(message: str, path: Path) -> str:
    """A library's message (GDAL's, pandas') with ``path``'s folder left out: an uploaded file is named by its
    name, never by where the server keeps it."""
    return message.replace(f"{path.parent}{os.sep}", "")


class ThrottledError(ForestmonError):
    """Too many attempts (e.g. wrong passwords) in a short time: try again after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after
