"""Where alerts and the scene catalogue live: one interface, an embedded GeoPackage backend (PostGIS to come)."""

from __future__ import annotations

from pathlib import Path

from geo.errors import ConfigError
from geo.store.base import Store


def open_store(url: str | Path) -> Store:
    """Open the store a URL names: a GeoPackage path (``*.gpkg`` or ``gpkg:///path``); PostGIS is not built yet."""
    text = str(url)
    if text.startswith(("postgresql://", "postgres://")):
        raise ConfigError("the PostGIS store is not available in this version; use a .gpkg path")
    if text.startswith("gpkg://"):
        text = text.removeprefix("gpkg://")
    if not text.endswith(".gpkg"):
        raise ConfigError(f"store URL {url!r} is neither a .gpkg file nor a postgresql:// URL")
    from geo.store.geopackage import GeoPackageStore

    return GeoPackageStore(Path(text))


__all__ = ["Store", "open_store"]
