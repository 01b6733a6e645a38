"""Sentinel-2 L2A from Sentinel Hub or the Copernicus Data Space Ecosystem, through the ``sentinelhub`` package.

Catalog API: the acquisitions over the area in a time range under a cloud limit (pagination followed by the
client). Process API: B02 B03 B04 B08 B8A B11 B12 and SCL on the analysis grid, tile by tile, in requests of at
most ``max_px`` pixels a side, as GeoTIFF; with them (unless ``cloud_layers`` is off) Sentinel Hub's s2cloudless
cloud probability CLP and cloud mask CLM, which the tile writer folds into SCL as cloud. The client retries 429
(after the server's wait), 5xx and timeouts with backoff; responses are kept in the cache folder, so a re-run
downloads nothing twice. Credentials come from the environment only and are never logged.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from oauthlib.oauth2.rfc6749.errors import InsecureTransportError, OAuth2Error
from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from pyproj import Transformer
from sentinelhub import (
    CRS as SH_CRS,
)
from sentinelhub import (
    BBox,
    DataCollection,
    MimeType,
    MosaickingOrder,
    SentinelHubCatalog,
    SentinelHubDownloadClient,
    SentinelHubRequest,
    SHConfig,
)
from sentinelhub.exceptions import DownloadFailedException, OutOfRequestsException
from shapely.geometry import box, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import transform as shapely_transform
from shapely.ops import unary_union

from geo.errors import ConfigError, ForestmonError
from geo.tiles import Tile
from ingest.acquisition import ARD_BANDS, CLOUD_BANDS, Acquisition, BandSource

log = logging.getLogger(__name__)

ENDPOINTS = {
    "sentinelhub": ("https://services.sentinel-hub.com",
                    "https://services.sentinel-hub.com/auth/realms/main/protocol/openid-connect/token"),
    "cdse": ("https://sh.dataspace.copernicus.eu",
             "https://identity.dataspace.copernicus.eu/auth/realms/CDSE/protocol/openid-connect/token"),
}
PROCESS_BANDS = (*ARD_BANDS, "SCL")


def evalscript(cloud_layers: bool) -> str:
    """The Process API script: the ARD bands and SCL as digital numbers (and CLP, CLM), all 0 where no data."""
    bands = [*PROCESS_BANDS, *(CLOUD_BANDS if cloud_layers else ())]
    names = ", ".join(f'"{b}"' for b in bands)
    nodata = ", ".join("255" if b == "CLM" else "0" for b in bands)
    values = ", ".join(f"s.{b}" for b in bands)
    return f"""//VERSION=3
function setup() {{
  return {{
    input: [{{bands: [{names}, "dataMask"], units: "DN"}}],
    output: {{id: "default", bands: {len(bands)}, sampleType: "UINT16"}}
  }};
}}
function evaluatePixel(s) {{
  if (s.dataMask == 0) {{ return [{nodata}]; }}
  return [{values}];
}}
"""


class SentinelHubSettings(BaseSettings):
    """Where and how to reach Sentinel Hub (env prefix ``FORESTMON_SH_``); the secret only from the environment."""

    model_config = SettingsConfigDict(env_prefix="FORESTMON_SH_", env_file=".env", extra="ignore")

    endpoint: str = Field(default="sentinelhub", pattern="^(sentinelhub|cdse)$",
                          description="sentinelhub (services.sentinel-hub.com) or cdse (Copernicus Data Space)")
    base_url: str | None = Field(default=None, description="override the endpoint's service URL")
    token_url: str | None = Field(default=None, description="override the endpoint's OAuth token URL")
    client_id: str | None = Field(default=None, validation_alias=AliasChoices(
        "FORESTMON_SH_CLIENT_ID", "SH_CLIENT_ID", "client_id"))
    client_secret: SecretStr | None = Field(default=None, validation_alias=AliasChoices(
        "FORESTMON_SH_CLIENT_SECRET", "SH_CLIENT_SECRET", "client_secret"))
    max_px: int = Field(default=2500, ge=16, le=2500, description="largest request side (Process API limit 2500)")
    attempts: int = Field(default=4, ge=1, description="tries per request on 5xx and timeouts")
    retry_wait_s: float = Field(default=5.0, ge=0, description="first wait between tries, x3 each time")
    timeout_s: float = Field(default=120.0, gt=0)
    rate_limit_retries: int = Field(default=20, ge=1, description="tries per request on 429")
    threads: int = Field(default=4, ge=1, description="parallel downloads")
    cloud_layers: bool = Field(default=True, description="also request CLP and CLM (s2cloudless) and fold them "
                               "into the mask as cloud: they catch cloud SCL calls land")

    @property
    def urls(self) -> tuple[str, str]:
        base, token = ENDPOINTS[self.endpoint]
        return (self.base_url or base).rstrip("/"), self.token_url or token

    def sh_config(self) -> SHConfig:
        if not self.client_id or not self.client_secret or not self.client_secret.get_secret_value():
            raise ConfigError("Sentinel Hub credentials missing: set FORESTMON_SH_CLIENT_ID and "
                              "FORESTMON_SH_CLIENT_SECRET in the environment")
        base, token = self.urls
        return SHConfig(use_defaults=True, sh_client_id=self.client_id,
                        sh_client_secret=self.client_secret.get_secret_value(), sh_base_url=base,
                        sh_token_url=token, max_download_attempts=self.attempts,
                        download_sleep_time=self.retry_wait_s, download_timeout_seconds=self.timeout_s,
                        max_retries=self.rate_limit_retries, number_of_download_processes=self.threads)


def collection(settings: SentinelHubSettings) -> DataCollection:
    """Sentinel-2 L2A at the chosen endpoint."""
    base, _ = settings.urls
    if base == ENDPOINTS["sentinelhub"][0]:
        return DataCollection.SENTINEL2_L2A
    name = "SENTINEL2_L2A_" + "".join(c if c.isalnum() else "_" for c in base.upper())
    try:
        return DataCollection[name]
    except (KeyError, AttributeError, ValueError):
        return DataCollection.SENTINEL2_L2A.define_from(name, service_url=base)


def public_url(url: str) -> str:
    """``url`` without what may carry a secret: user name and password, query and fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _explain(exc: Exception, settings: SentinelHubSettings) -> ForestmonError:
    """One line for the user: the credential problem or the failed call, with its HTTP status. Upstream bodies
    are never relayed: a careless server may echo the request, and the token request carries the secret."""
    base, token = (public_url(u) for u in settings.urls)
    response = getattr(getattr(exc, "request_exception", None), "response", None)
    status = getattr(response, "status_code", None)
    url = public_url(getattr(response, "url", None) or getattr(getattr(exc, "request", None), "url", None) or base)
    if isinstance(exc, InsecureTransportError):
        return ConfigError(f"the Sentinel Hub token URL {token} is not https://: OAuth sends the client secret only "
                           "over https; set FORESTMON_SH_TOKEN_URL to an https:// address")
    if isinstance(exc, OAuth2Error) or status in (401, 403):
        return ConfigError(f"Sentinel Hub ({settings.endpoint}) refused the client id/secret "
                           f"(HTTP {status or exc.status_code}, token URL {token}): check FORESTMON_SH_CLIENT_ID "
                           "and FORESTMON_SH_CLIENT_SECRET")
    if isinstance(exc, OutOfRequestsException):
        return ForestmonError(f"Sentinel Hub at {base} kept answering 429 (rate limit) after "
                              f"{settings.rate_limit_retries} tries; try again later")
    if status is not None:
        reason = " ".join(filter(None, [str(status), getattr(response, "reason", None)]))
        return ForestmonError(f"Sentinel Hub failed: HTTP {reason} from {url} after {settings.attempts} tries")
    cause = type(getattr(exc, "request_exception", None) or exc).__name__  # a timeout, a refused connection
    return ForestmonError(f"Sentinel Hub at {base} failed: {cause} after {settings.attempts} tries")


@dataclass(frozen=True)
class Scene:
    """One acquisition day in the catalogue: its items, mean cloud cover and footprint (EPSG:4326)."""

    day: date
    item_ids: tuple[str, ...]
    cloud_pct: float
    footprint: BaseGeometry

    @property
    def id(self) -> str:
        return f"{self.day:%Y%m%d}-S2L2A-sentinelhub"


def search(settings: SentinelHubSettings, area_lonlat: BaseGeometry, start: date, end: date,
           max_cloud: float) -> list[Scene]:
    """Catalog search over the area's bounding box, grouped into one scene per day, oldest first."""
    config = settings.sh_config()
    catalog = SentinelHubCatalog(config=config)
    try:
        items = list(catalog.search(
            collection(settings), bbox=BBox(area_lonlat.bounds, crs=SH_CRS.WGS84),
            time=(datetime.combine(start, time.min, UTC), datetime.combine(end, time.max, UTC)),
            filter=f"eo:cloud_cover <= {max_cloud:g}",
            fields={"include": ["id", "geometry", "properties.datetime", "properties.eo:cloud_cover"], "exclude": []}))
    except (DownloadFailedException, OAuth2Error, OutOfRequestsException) as exc:
        raise _explain(exc, settings) from exc
    by_day: dict[date, list[dict]] = defaultdict(list)
    for item in items:
        when = datetime.fromisoformat(item["properties"]["datetime"].replace("Z", "+00:00"))
        if shape(item["geometry"]).intersects(area_lonlat):
            by_day[when.astimezone(UTC).date()].append(item)
    scenes = []
    for day, group in sorted(by_day.items()):
        clouds = [float(i["properties"].get("eo:cloud_cover", 0)) for i in group]
        scenes.append(Scene(day, tuple(i["id"] for i in group), round(sum(clouds) / len(clouds), 2),
                            unary_union([shape(i["geometry"]) for i in group])))
    log.info("catalog: %d item(s) in %d scene(s)", len(items), len(scenes))
    return scenes


def footprint_in(scene: Scene, crs) -> BaseGeometry:
    to_grid = Transformer.from_crs(4326, crs, always_xy=True).transform
    return shapely_transform(to_grid, scene.footprint)


def chunks(tile: Tile, bounds: tuple[float, float, float, float], max_px: int) -> list[tuple[float, ...]]:
    """The part of ``tile`` inside ``bounds`` cut into requests of at most ``max_px`` a side (grid CRS bounds)."""
    window = tile.window_covering(bounds)
    if window is None:
        return []
    res = tile.grid.resolution
    west0, north0 = tile.grid.window_transform(window).c, tile.grid.window_transform(window).f
    width, height = int(window.width), int(window.height)
    out = []
    for r in range(math.ceil(height / max_px)):
        for c in range(math.ceil(width / max_px)):
            w = min(max_px, width - c * max_px)
            h = min(max_px, height - r * max_px)
            west, north = west0 + c * max_px * res, north0 - r * max_px * res
            out.append((west, north - h * res, west + w * res, north))
    return out


def tile_requests(settings: SentinelHubSettings, scene: Scene, tile: Tile, bounds, cache_dir: Path
                  ) -> list[SentinelHubRequest]:
    """Process API requests covering the scene on one tile, GeoTIFF responses cached under ``cache_dir``."""
    config = settings.sh_config()
    res = tile.grid.resolution
    crs = SH_CRS(tile.grid.crs.to_epsg())
    day_start = datetime.combine(scene.day, time.min, UTC)
    requests = []
    for part in chunks(tile, bounds, settings.max_px):
        size = (round((part[2] - part[0]) / res), round((part[3] - part[1]) / res))
        requests.append(SentinelHubRequest(
            evalscript=evalscript(settings.cloud_layers),
            input_data=[SentinelHubRequest.input_data(
                data_collection=collection(settings), time_interval=(day_start, day_start + timedelta(days=1)),
                mosaicking_order=MosaickingOrder.LEAST_CC)],
            responses=[SentinelHubRequest.output_response("default", MimeType.TIFF)],
            bbox=BBox(part, crs=crs), size=size, config=config, data_folder=str(cache_dir)))
    return requests


def download(settings: SentinelHubSettings, requests: list[SentinelHubRequest]) -> list[str]:
    """Fetch the responses not in the cache yet (in parallel, with the client's retries); their file paths."""
    download_list = []
    for request in requests:
        for item in request.download_list:
            item.save_response = True
            item.return_data = False
            download_list.append(item)
    client = SentinelHubDownloadClient(config=settings.sh_config())
    try:
        client.download(download_list, max_threads=settings.threads, show_progress=False)
    except (DownloadFailedException, OAuth2Error, OutOfRequestsException) as exc:
        raise _explain(exc, settings) from exc
    return [item.get_storage_paths()[1] for item in download_list]


def acquisition(scene: Scene, paths: list[str], bounds, source: str, cloud_layers: bool = True) -> Acquisition:
    """The downloaded GeoTIFFs of one tile as an acquisition: the 7 ARD bands (DN = reflectance x 10000), SCL,
    then CLP and CLM when requested."""
    files = tuple(paths)
    bands = {name: BandSource(files, i, scale=1e-4, nodata=0) for i, name in enumerate(ARD_BANDS, start=1)}
    clouds = {}
    if cloud_layers:
        n = len(PROCESS_BANDS)
        clouds = {"cloud_probability": BandSource(files, n + 1, scale=1 / 255, nodata=None),
                  "cloud_flag": BandSource(files, n + 2, scale=1.0, nodata=255)}
    return Acquisition(id=scene.id.replace("sentinelhub", source), sensor="Sentinel-2",
                       acquired=datetime.combine(scene.day, time.min, UTC), source=source,
                       source_path=",".join(scene.item_ids), bands=bands,
                       mask=BandSource(files, len(PROCESS_BANDS), scale=1.0, nodata=0), mask_kind="scl",
                       bounds=bounds, cloud_pct=scene.cloud_pct, extra={"CATALOG_ITEMS": ",".join(scene.item_ids)},
                       **clouds)


def tile_bounds(tile: Tile, footprint: BaseGeometry) -> tuple[float, float, float, float] | None:
    part = footprint.intersection(box(*tile.grid.bounds))
    return None if part.is_empty or part.area == 0 else part.bounds
