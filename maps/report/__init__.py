"""The weekly change report: one self-contained, printable HTML page per ISO week, with its map and targets.

``build_report`` writes it (Vietnamese by default, English with ``lang="en"``) from the page template
``maps/templates/report.html`` and the texts in ``maps/strings``; ``tables`` shapes its tables, ``figure``
draws its map, ``text`` writes its numbers and dates.
"""

from maps.report.build import STRINGS, build_report, parse_week
from maps.report.tables import MAX_ALERT_ROWS

__all__ = ["MAX_ALERT_ROWS", "STRINGS", "build_report", "parse_week"]
