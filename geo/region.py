"""Region profile: admin boundaries (versioned by validity date), analysis grid, official CRS and yearly targets."""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path

import geopandas as gpd
from pyogrio.errors import DataSourceError
from pyproj import CRS
from pyproj.exceptions import CRSError

from data import data_path
from geo.errors import ConfigError


@dataclass(frozen=True)
class AdminVersion:
    """One versioned admin-boundary file of the profile."""

    file: Path
    valid_from: date
    valid_to: date | None
    source: str
    province_level: int
    unit_level: int
    unit_kind: str
    default: bool = False  # the boundaries detection, the web map and the catalogue use when no day is given

    def covers(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


@dataclass(frozen=True)
class DemoArea:
    """The synthetic demo area: a square on the analysis grid and its time span."""

    x0: float
    y0: float
    size_m: float
    start: date
    end: date
    interval_days: int
    seed: int

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return (self.x0, self.y0, self.x0 + self.size_m, self.y0 + self.size_m)


@dataclass
class Region:
    """A region profile loaded from ``profile.toml`` in its folder."""

    name: str
    title: str
    folder: Path
    grid_crs: CRS
    resolution: float
    official_crs: CRS
    admin_versions: list[AdminVersion]
    official_crs_alt: CRS | None = None
    demo: DemoArea | None = None
    tile_px: int = 2000               # side of the region's fixed tiles, in grid pixels
    _admin_cache: dict = field(default_factory=dict, repr=False)

    def admin_version(self, day: date | None = None) -> AdminVersion:
        """The admin boundaries valid on ``day``; without a day, the version marked ``default`` in the profile (the
        boundaries the imagery grid, detection and the targets are set up for), else the newest."""
        if day is None:
            marked = [v for v in self.admin_versions if v.default]
            return marked[0] if marked else max(self.admin_versions, key=lambda v: v.valid_from)
        for version in self.admin_versions:
            if version.covers(day):
                return version
        raise ConfigError(f"region {self.name!r} has no admin boundaries valid on {day.isoformat()}")

    def _admin(self, version: AdminVersion) -> gpd.GeoDataFrame:
        if version.file not in self._admin_cache:
            gdf = gpd.read_file(version.file)
            if gdf.crs is None or gdf.crs.to_epsg() != 4326:
                gdf = gdf.set_crs(4326, allow_override=True) if gdf.crs is None else gdf.to_crs(4326)
            self._admin_cache[version.file] = gdf
        return self._admin_cache[version.file]

    def province(self, day: date | None = None) -> gpd.GeoDataFrame:
        version = self.admin_version(day)
        gdf = self._admin(version)
        return gdf[gdf["level"] == version.province_level].reset_index(drop=True)

    def units(self, day: date | None = None) -> gpd.GeoDataFrame:
        """Admin units valid on ``day`` (districts until 30 June 2025, communes from 1 July 2025; without a day, the
        default version's), columns ``id``, ``name``, geometry in EPSG:4326."""
        version = self.admin_version(day)
        gdf = self._admin(version)
        return gdf[gdf["level"] == version.unit_level][["id", "name", "geometry"]].reset_index(drop=True)

    def targets(self, year: int) -> dict:
        """The targets file for ``year`` (one file per year in ``targets/``)."""
        path = self.folder / "targets" / f"{year}.toml"
        if not path.exists():
            years = sorted(p.stem for p in (self.folder / "targets").glob("*.toml"))
            raise ConfigError(f"region {self.name!r} has no targets for {year}; it has: {', '.join(years)}")
        with path.open("rb") as f:
            return tomllib.load(f)

    @cached_property
    def official_crs_name(self) -> str:
        return self.official_crs.name

    @cached_property
    def coordinate_names(self) -> dict[str, str]:
        """What outputs call the stored projected-centroid columns (``vn2000_x``, ``vn2000_y``, ``vn2000_epsg``) in
        this region: see ``coordinate_prefix``."""
        return coordinate_names(self.official_crs, self.official_crs_alt)


STORED_COORDINATES = ("vn2000_x", "vn2000_y", "vn2000_epsg")  # the alert columns (geo.alerts), whatever the region


def coordinate_prefix(crs: CRS) -> str:
    """The name outputs give a projected CRS's coordinates (``<prefix>_x``, ``<prefix>_y``, ``<prefix>_epsg``):
    ``vn2000`` for any VN-2000 CRS (its datum is Vietnam 2000: Lâm Đồng's TM-3 zones keep the names users know),
    else ``epsg<code>`` (``epsg32648`` for WGS 84 / UTM 48N, ``epsg31982`` for SIRGAS 2000 / UTM 22S): unambiguous
    where a zone name is not (UTM 22S of WGS 84 or of SIRGAS 2000?); ``official`` for a CRS without an EPSG code."""
    if crs.datum is not None and crs.datum.name == "Vietnam 2000":
        return "vn2000"
    code = crs.to_epsg()
    return f"epsg{code}" if code else "official"


def coordinate_names(official: CRS, alternate: CRS | None = None) -> dict[str, str]:
    """Stored column -> output name of the alerts' projected centroid, for a region with these official CRSs.
    A region whose two CRSs would get different names (each alert is in one or the other, its code in
    ``<prefix>_epsg``) names them ``official_x``/``official_y``/``official_epsg``."""
    prefixes = {coordinate_prefix(c) for c in (official, alternate) if c is not None}
    prefix = prefixes.pop() if len(prefixes) == 1 else "official"
    return {stored: f"{prefix}_{stored.rsplit('_', 1)[1]}" for stored in STORED_COORDINATES}


def _date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def load_region(name_or_path: str | Path = "lamdong", user_regions: Path | None = None) -> Region:
    """Load a region: a profile folder by path, else one the user made (``user_regions/NAME``, see
    ``forestmon region init``), else a bundled one by name."""
    folder = Path(name_or_path)
    if not (folder / "profile.toml").exists() and user_regions is not None:
        folder = user_regions / str(name_or_path)
    if not (folder / "profile.toml").exists():
        folder = data_path("regions", str(name_or_path))
    profile = folder / "profile.toml"
    if not profile.exists():
        raise ConfigError(f"no region profile {name_or_path!r} (looked for {profile})")
    try:
        with profile.open("rb") as f:
            cfg = tomllib.load(f)
        admin = [
            AdminVersion(
                file=folder / a["file"],
                valid_from=_date(a["valid_from"]),
                valid_to=_date(a["valid_to"]) if a.get("valid_to") else None,
                source=a.get("source", ""),
                province_level=int(a.get("province_level", 1)),
                unit_level=int(a.get("unit_level", 2)),
                unit_kind=a.get("unit_kind", "unit"),
                default=bool(a.get("default", False)),
            )
            for a in cfg.get("admin", [])
        ]
        demo = None
        if "demo" in cfg:
            d = cfg["demo"]
            demo = DemoArea(
                x0=float(d["x0"]), y0=float(d["y0"]), size_m=float(d["size_m"]),
                start=_date(d["start"]), end=_date(d["end"]),
                interval_days=int(d["interval_days"]), seed=int(d["seed"]),
            )
        return Region(
            name=cfg["name"],
            title=cfg.get("title", cfg["name"]),
            folder=folder,
            grid_crs=CRS.from_user_input(cfg["grid"]["crs"]),
            resolution=float(cfg["grid"]["resolution"]),
            official_crs=CRS.from_user_input(cfg["official"]["crs"]),
            official_crs_alt=(CRS.from_user_input(cfg["official"]["alternate_crs"])
                              if cfg["official"].get("alternate_crs") else None),
            admin_versions=admin,
            demo=demo,
            tile_px=int(cfg["grid"].get("tile_size", 2000)),
        )
    except (KeyError, ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"region profile {profile} is malformed: {exc}") from exc


PROFILE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
ADMIN_FILE = "admin.geojson"


def _read_vector(path: Path, what: str) -> gpd.GeoDataFrame:
    """Polygons of a vector file GDAL reads, in EPSG:4326, made valid; a ConfigError naming the file otherwise."""
    try:
        frame = gpd.read_file(path)
    except (DataSourceError, ValueError, OSError) as exc:
        raise ConfigError(f"{what} {path}: not a vector file GDAL can read ({exc})") from exc
    if frame.crs is None:
        raise ConfigError(f"{what} {path}: has no CRS")
    frame = frame[frame.geometry.notna()].to_crs(4326)
    frame = frame.set_geometry(frame.geometry.make_valid())
    frame = frame[frame.geometry.geom_type.isin(["Polygon", "MultiPolygon"]) & ~frame.geometry.is_empty]
    if frame.empty:
        raise ConfigError(f"{what} {path}: no polygons")
    return frame.reset_index(drop=True)


def _column(frame: gpd.GeoDataFrame, preferred: tuple[str, ...]) -> str | None:
    lower = {c.lower(): c for c in frame.columns if c != frame.geometry.name}
    return next((lower[c] for c in preferred if c in lower), None)


def init_region(name: str, boundary: Path, regions_dir: Path, admin: Path | None = None,
                official_crs: str | None = None, title: str | None = None, resolution: float = 10.0,
                valid_from: date = date(2000, 1, 1)) -> Region:
    """Write a region profile for any area into ``regions_dir/name`` and return it loaded.

    The analysis grid is the WGS 84 UTM zone of the boundary's centre (north or south by its latitude); the
    official CRS is the one given, else that zone. The boundary is kept as the region (level 1) and the admin
    units, when given, as its units (level 2, ``id`` and ``name`` from the file's columns of those names, else
    its row number and first text column); without them the whole region is the one unit.
    """
    if not PROFILE_NAME.match(name):
        raise ConfigError(f"region name {name!r}: use lower-case letters, digits, '-' and '_' (up to 63)")
    if data_path("regions", name).exists():
        raise ConfigError(f"region name {name!r} is a bundled region; choose another name")
    folder = regions_dir / name
    if (folder / "profile.toml").exists():
        raise ConfigError(f"region {name!r} already exists ({folder / 'profile.toml'})")
    area = _read_vector(boundary, "--boundary")
    grid_crs = area.estimate_utm_crs(datum_name="WGS 84")
    try:
        official = CRS.from_user_input(official_crs) if official_crs else grid_crs
    except CRSError as exc:
        raise ConfigError(f"--crs {official_crs}: not a CRS pyproj knows ({exc})") from exc
    if not official.is_projected:
        raise ConfigError(f"--crs {official_crs}: {official.name} is not projected; give a projected CRS")
    title = title or name
    outline = area.geometry.union_all()
    rows = [{"level": 1, "id": name, "name": title, "geometry": outline}]
    if admin is not None:
        units = _read_vector(admin, "--admin")
        id_col = _column(units, ("id", "code", "codigo", "ma", "gid"))
        name_col = _column(units, ("name", "ten", "nom", "nome", "nombre")) or next(
            (c for c in units.columns if c != units.geometry.name and units[c].dtype == object), None)
        for i, unit in units.iterrows():
            rows.append({"level": 2, "id": str(unit[id_col]) if id_col else str(i + 1),
                         "name": str(unit[name_col]) if name_col else f"{title} {i + 1}",
                         "geometry": unit.geometry})
    else:
        rows.append({"level": 2, "id": name, "name": title, "geometry": outline})
    folder.mkdir(parents=True, exist_ok=True)
    gpd.GeoDataFrame(rows, geometry="geometry", crs=4326).to_file(folder / ADMIN_FILE, driver="GeoJSON")
    (folder / "targets").mkdir(exist_ok=True)
    source = f"boundary {boundary.name}" + (f", admin units {admin.name}" if admin is not None else "")
    (folder / "profile.toml").write_text(
        f"# Region profile written by `forestmon region init` on {date.today().isoformat()}.\n"
        f"name = {json.dumps(name)}\n"
        f"title = {json.dumps(title, ensure_ascii=False)}\n\n"
        "[grid]\n"
        f"crs = \"EPSG:{grid_crs.to_epsg()}\"    # {grid_crs.name}, the zone of the area's centre\n"
        f"resolution = {resolution}\n"
        "tile_size = 2000\n\n"
        "[official]\n"
        f"crs = {json.dumps(_crs_text(official), ensure_ascii=False)}    # {official.name}\n\n"
        "[[admin]]\n"
        f"file = \"{ADMIN_FILE}\"\n"
        f"valid_from = \"{valid_from.isoformat()}\"\n"
        f"source = {json.dumps(source, ensure_ascii=False)}\n"
        "province_level = 1\n"
        "unit_level = 2\n"
        f"unit_kind = \"{'unit' if admin is not None else 'region'}\"\n",
        encoding="utf-8")
    return load_region(folder)


def _crs_text(crs: CRS) -> str:
    """``EPSG:n`` when the CRS has an EPSG code, else its WKT."""
    code = crs.to_epsg()
    return f"EPSG:{code}" if code else crs.to_wkt()
