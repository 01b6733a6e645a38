"""Settings from the environment (prefix ``FORESTMON_``) or a ``.env`` file; nothing is read at import time."""

from __future__ import annotations

import os
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from geo.datadir import DataDir
from geo.region import Region, load_region

TIMEZONE = ZoneInfo("Asia/Ho_Chi_Minh")  # the province's clock: weeks and the schedule follow it


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
    offline_max_alerts: int = Field(default=500, ge=1, le=500, description="most alerts in one offline package")
    offline_max_files: int = Field(default=20000, ge=1, description="most files in one offline package")
    offline_max_area_km2: float = Field(default=2500.0, gt=0, description="largest drawn area an offline package "
                                        "may cover, km²")
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

    # The weekly job (``forestmon weekly``; ``api.weekly``): a folder of delivered scene files to ingest when no
    # Sentinel Hub credentials are set, how long a silent lock holder is taken for dead, how far back a first fetch
    # reaches, and whether and when the server runs the job itself (Asia/Ho_Chi_Minh time).
    watch_dir: Path | None = Field(default=None, description="folder of scene files the office receives, ingested "
                                   "by the weekly job")
    weekly_lock_stale_s: float = Field(default=6 * 3600, gt=0, description="a weekly-job lock silent this long is "
                                       "taken over")
    weekly_history_days: int = Field(default=365, ge=1, description="first fetch: days of imagery before the week")
    weekly_schedule: bool = Field(default=False, description="the server runs the weekly job itself")
    weekly_at: str = Field(default="mon 06:00", pattern=r"^(mon|tue|wed|thu|fri|sat|sun) \d{1,2}:\d{2}(:\d{2})?$",
                           description="weekday and time (Asia/Ho_Chi_Minh) of the scheduled weekly job")
    public_url: str | None = Field(default=None, description="the app's address, for links in e-mails")
    # E-mail delivery through SMTP; the password only from the environment or .env, never shown.
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: SecretStr | None = Field(default=None, repr=False)
    smtp_starttls: bool = Field(default=True, description="STARTTLS after connecting (port 587)")
    smtp_ssl: bool = Field(default=False, description="TLS from the start (port 465)")
    smtp_from: str = Field(default="forestmon@localhost", description="the From address of report e-mails")
    smtp_timeout_s: float = Field(default=60.0, gt=0)
    webhook_attempts: int = Field(default=4, ge=1, description="tries per webhook on 5xx and connection errors")
    webhook_backoff_s: float = Field(default=2.0, ge=0, description="first wait between webhook tries, doubled "
                                     "each time")

    @field_validator("watch_dir", "smtp_host", "public_url", mode="before")
    @classmethod
    def _empty_is_none(cls, value):
        """An empty variable (``FORESTMON_WATCH_DIR=``) means not set."""
        return None if value == "" else value

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
