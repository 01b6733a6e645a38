"""Progress of long work, reported as ``(label, done, total)``: the CLI draws bars, the service logs lines."""

from __future__ import annotations

import logging
from collections.abc import Callable

Progress = Callable[[str, int, int], None]
log = logging.getLogger("forestmon.progress")


def log_progress(label: str, done: int, total: int) -> None:
    """The default callback: a log line every tenth step and at the end."""
    if done == total or done % 10 == 0:
        log.info("%s: %d/%d", label, done, total)
