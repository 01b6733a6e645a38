"""Files people upload (planning layers, planting lots, case registers, field photos): read in chunks and refused
with 413 as soon as they pass their size limit (``FORESTMON_UPLOAD_MAX_MB``, or ``FORESTMON_MAX_PHOTO_MB`` for
photos), before anything is stored; kept in a temporary folder while a reader needs a file."""

from __future__ import annotations

import re
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path, PurePosixPath

from fastapi import HTTPException, UploadFile

CHUNK = 1 << 20
FRAMING = 64 * 1024  # form fields and multipart framing around the file


def too_big_message(max_mb: float) -> str:
    return f"file: larger than the {max_mb:g} MB allowed; nothing was stored"


def _too_big(max_mb: float) -> HTTPException:
    return HTTPException(413, too_big_message(max_mb))


async def read_upload(file: UploadFile, max_mb: float) -> bytes:
    """The uploaded file's bytes, or 413 once they pass ``max_mb`` megabytes."""
    limit, parts, size = int(max_mb * 1_000_000), [], 0
    while chunk := await file.read(CHUNK):
        size += len(chunk)
        if size > limit:
            raise _too_big(max_mb)
        parts.append(chunk)
    return b"".join(parts)


def client_name(file: UploadFile, suffix: str) -> str:
    """The file name the client gave (letters, digits, ``._-`` kept; other characters as ``_``) ending in
    ``suffix``, else ``upload`` + suffix: what messages about the file call it."""
    name = re.sub(r"[^\w.-]", "_", PurePosixPath((file.filename or "").replace("\\", "/")).name)[-100:]
    return name if name.lower().endswith(suffix) and name.strip(".") else f"upload{suffix}"


@asynccontextmanager
async def saved_upload(file: UploadFile, suffix: str, max_mb: float) -> AsyncIterator[Path]:
    """The uploaded file written under its client name (``client_name``) in a temporary folder (GDAL reads by
    name; messages name the file, never the folder), removed afterwards; 413 once it passes ``max_mb`` MB."""
    limit, size = int(max_mb * 1_000_000), 0
    with tempfile.TemporaryDirectory(prefix="forestmon-upload-") as tmp:
        path = Path(tmp) / client_name(file, suffix)
        with path.open("wb") as out:
            while chunk := await file.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise _too_big(max_mb)
                out.write(chunk)
        yield path
