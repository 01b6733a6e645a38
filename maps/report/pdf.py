"""The weekly report as PDF: the same HTML page laid out for A4 by WeasyPrint, its fonts (DejaVu Sans, which has
every Vietnamese diacritic) embedded, so the text extracts back as written.

WeasyPrint needs Pango (Debian: ``libpango-1.0-0 libpangoft2-1.0-0``) and the fonts (``fonts-dejavu-core``);
``scripts/test`` and ``scripts/demo`` install them. The page holds no external URL (the figure is a data URI), and
any other URL is refused rather than fetched.
"""

from __future__ import annotations

from pathlib import Path

from geo.errors import ConfigError


def html_to_pdf(html: str) -> bytes:
    """The PDF of one report page (A4, the page's own print styles)."""
    try:
        from weasyprint import HTML
        from weasyprint.urls import URLFetcher
    except OSError as exc:  # Pango missing: name the system packages to install
        raise ConfigError(f"PDF reports need Pango (apt-get install libpango-1.0-0 libpangoft2-1.0-0): {exc}") from None
    fetcher = URLFetcher(allowed_protocols={"data"}, fail_on_errors=True)  # data URIs only: nothing is fetched
    return HTML(string=html, url_fetcher=fetcher, base_url=None).write_pdf()


def write_pdf(html: str, path: Path) -> Path:
    """Write the PDF of ``html`` to ``path`` atomically (a partial file never carries the final name)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(html_to_pdf(html))
    tmp.replace(path)
    return path
