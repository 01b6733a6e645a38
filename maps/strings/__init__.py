"""The texts of the web map and the weekly report in each language, read from ``<lang>.toml`` beside this module.

A language file holds what both pages say at its top (alert fields, number format, ``[levels]``,
``[statuses]``) and each page's own texts under ``[map]`` and ``[report]``; a page's texts in a language are the
shared ones with its own added. ``[errors]`` holds the API's error messages by error code (``error_message``).
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib.resources import files
from typing import Any

LANGUAGES = ("vi", "en")  # each has a <lang>.toml here
PAGES = ("map", "report")
NOT_SHARED = (*PAGES, "errors", "mail")


@cache
def _language(lang: str) -> dict[str, Any]:
    return tomllib.loads(files(__name__).joinpath(f"{lang}.toml").read_text(encoding="utf-8"))


def error_codes() -> tuple[str, ...]:
    """Every error code the API may answer with (those of the Vietnamese file; a test keeps the files alike)."""
    return tuple(_language("vi")["errors"])


def error_message(code: str, lang: str, detail: str, params: dict[str, Any]) -> str:
    """The API error ``code`` said in ``lang``: English is the raise site's own ``detail`` when it has one;
    otherwise the ``[errors]`` template, filled with ``params`` and ``detail`` (a review status is named in
    ``lang``). A template whose values are missing falls back to the code's English ``detail``."""
    if lang == "en" and detail:
        return detail
    strings = _language(lang)
    template = strings["errors"].get(code, strings["errors"]["error"])
    named = {k: strings["statuses"].get(v, v) if k in ("status", "to") else v for k, v in params.items()}
    try:
        return template.format(**named, detail=detail)
    except (KeyError, IndexError):
        return detail or strings["errors"]["error"]


def mail_strings(lang: str) -> dict[str, str]:
    """The texts of the weekly report's e-mail in ``lang`` (``[mail]``: subject, body, link, footer)."""
    return dict(_language(lang)["mail"])


def page_strings(page: str) -> dict[str, dict[str, Any]]:
    """The texts of ``page`` (``map`` or ``report``) by language, in the order of LANGUAGES."""
    out = {}
    for lang in LANGUAGES:
        data = _language(lang)
        shared = {key: value for key, value in data.items() if key not in NOT_SHARED}
        out[lang] = {**shared, **data[page]}
    return out
