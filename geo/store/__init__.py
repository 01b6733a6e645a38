"""Where alerts, the scene catalogue and the workflow's records live: one ``Store`` (``geo.store.store``), each
query written once, on an embedded GeoPackage or on PostGIS (``geo.store.geopackage``, ``geo.store.postgis``:
the dialects); every table declared once in ``geo.store.schema``, with the migrations that build it."""

from __future__ import annotations

from pathlib import Path

from geo.errors import ConfigError
from geo.store.sql import redact
from geo.store.store import Store


def open_store(url: str | Path) -> Store:
    """Open the store a URL names: a GeoPackage path (``*.gpkg`` or ``gpkg:///path``) or ``postgresql://…``.

    Pending schema migrations are applied on opening.
    """
    text = str(url)
    if text.startswith(("postgresql://", "postgres://")):
        from geo.store.postgis import PostGISDialect

        return Store(PostGISDialect(text))
    if text.startswith("gpkg://"):
        text = text.removeprefix("gpkg://")
    if not text.endswith(".gpkg"):
        raise ConfigError(f"store URL {redact(text)!r} is neither a .gpkg file nor a postgresql:// URL")
    from geo.store.geopackage import GeoPackageDialect

    return Store(GeoPackageDialect(Path(text)))


__all__ = ["Store", "open_store", "redact"]
