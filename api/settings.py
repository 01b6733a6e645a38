"""Settings from the environment (prefix ``FORESTMON_``) or a ``.env`` file; nothing is read at import time."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from geo.datadir import DataDir
from geo.region import Region, load_region


class Settings(BaseSettings):
    """Where data lives, which store and region to use, and where the service listens."""

    model_config = SettingsConfigDict(env_prefix="FORESTMON_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("forestmon-data"), description="scenes, detector state, reports, the store")
    store_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("FORESTMON_STORE_URL", "FORESTMON_DATABASE_URL", "store_url"),
        description="a .gpkg path (default: forestmon.gpkg in the data directory) or a postgresql:// URL",
        repr=False,  # it may carry the database password
    )
    region: str = Field(default="lamdong", description="region name (bundled, or made by `forestmon region init` "
                        "in the data directory) or a profile folder")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=64,
                         description="server processes (default: one per CPU core)")
    lang: str = Field(default="vi", pattern="^(vi|en)$", description="default language of pages and reports")
    public_reads: bool = Field(default=True, description="alerts, cases, targets and exports readable without login")
    token_minutes: int = Field(default=720, ge=1, description="lifetime of a login (bearer) token")
    max_photo_mb: float = Field(default=10.0, gt=0, description="largest accepted field photo, MB")
    # Browser origins allowed by CORS ("*" for any); how long caches may keep items and tiles before asking
    # again (0: always revalidate with the ETag); the largest uploaded file.
    cors_origins: list[str] = Field(default=[], description="origins allowed to call the API from a browser")
    cache_max_age: int = Field(default=0, ge=0, description="Cache-Control max-age (s) of items and tiles")
    offline_cap_mb: float = Field(default=300.0, gt=0, description="largest offline package a phone may take, MB")
    offline_buffer_m: float = Field(default=500.0, ge=0, le=5000, description="imagery kept offline around each "
                                    "alert, m")
    upload_max_mb: float = Field(default=50.0, gt=0, description="largest uploaded file (planning layer, planting "
                                 "lots, case register), MB")

    # An outside XYZ basemap under our imagery, for offices with internet (off by default: the app works offline on
    # our own imagery and boundaries). e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png
    basemap_url: str | None = Field(default=None, pattern=r"^https://[^/\s]+/\S*\{z\}\S*\{x\}\S*\{y\}",
                                    description="XYZ tile URL template of an external basemap (https, {z}/{x}/{y})")
    basemap_attribution: str = Field(default="", max_length=300, description="credit shown under the external "
                                     "basemap, e.g. © OpenStreetMap contributors")

    @property
    def basemap_origin(self) -> str | None:
        """The external basemap's origin (scheme and host), which the pages' policy lets images come from."""
        if not self.basemap_url:
            return None
        scheme, rest = self.basemap_url.split("://", 1)
        return f"{scheme}://{rest.split('/', 1)[0]}"

    @property
    def paths(self) -> DataDir:
        """Every file and folder of the data directory."""
        return DataDir(self.data_dir)

    def load_region(self) -> Region:
        """The region profile: a folder by path, one in the data directory's ``regions/``, or a bundled one."""
        return load_region(self.region, self.paths.regions)

    @property
    def store(self) -> str:
        return self.store_url or str(self.paths.store)
