"""Where alerts and the scene catalogue live: one interface, an embedded GeoPackage backend and PostGIS."""

from __future__ import annotations

from pathlib import Path

from geo.errors import ConfigError
from geo.store.base import Store


def open_store(url: str | Path) -> Store:
    """Open the store a URL names: a GeoPackage path (``*.gpkg`` or ``gpkg:///path``) or ``postgresql://…``.

    Pending schema migrations are applied on opening.
    """
    text = str(url)
    if text.startswith(("postgresql://", "postgres://")):
        from geo.store.postgis import PostGISStore

        return PostGISStore(text)
    if text.startswith("gpkg://"):
        text = text.removeprefix("gpkg://")
    if not text.endswith(".gpkg"):
        raise ConfigError(f"store URL {url!r} is neither a .gpkg file nor a postgresql:// URL")
    from geo.store.geopackage import GeoPackageStore

    return GeoPackageStore(Path(text))


__all__ = ["Store", "open_store"]
