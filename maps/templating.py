"""The one Jinja environment for the HTML pages under ``maps/templates`` (the OGC pages, the weekly report).

Autoescape is on for every template, so stored text (zone properties, notes, names) is shown, never run.
"""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

TEMPLATES = Environment(loader=PackageLoader("maps", "templates"), autoescape=select_autoescape(default=True),
                        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
