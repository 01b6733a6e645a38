"""The texts of the web map and the weekly report in each language, read from ``<lang>.toml`` beside this module.

A language file holds what both pages say at its top (alert fields, number format, ``[levels]``,
``[statuses]``) and each page's own texts under ``[map]`` and ``[report]``; a page's texts in a language are the
shared ones with its own added.
"""

from __future__ import annotations

import tomllib
from importlib.resources import files
from typing import Any

LANGUAGES = ("vi", "en")  # each has a <lang>.toml here
PAGES = ("map", "report")


def page_strings(page: str) -> dict[str, dict[str, Any]]:
    """The texts of ``page`` (``map`` or ``report``) by language, in the order of LANGUAGES."""
    out = {}
    for lang in LANGUAGES:
        data = tomllib.loads(files(__name__).joinpath(f"{lang}.toml").read_text(encoding="utf-8"))
        shared = {key: value for key, value in data.items() if key not in PAGES}
        out[lang] = {**shared, **data[page]}
    return out
