"""Planning layers: read a planner's zoning file (GeoJSON, zipped Shapefile, GeoPackage, KML) in any CRS into
zones in EPSG:4326, with attributes kept, geometries repaired and reported by feature index, and each zone's
type matched against the zone-type table (``data/planning/zone_types.toml``) for its class (keep forest,
conversion, other). How zones are drawn is ``maps.styles``'s.

Nothing is stored here: a file either reads whole or raises InvalidInputError naming what is wrong, so the
store never holds half a layer.
"""

from __future__ import annotations

import json
import re
import tomllib
import unicodedata
import warnings
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError
from shapely.geometry import MultiPolygon, Polygon

from data import data_path
from geo.errors import InvalidInputError, NotFoundError, without_dir
from geo.query import Filter, Layer, Query
from geo.store import Store
from geo.store.store import ZONE_COLUMNS

KINDS = ("zoning", "landuse_plan", "forest_category", "protected_area")
ZONE_CLASSES = ("keep_forest", "conversion", "other")
SUFFIXES = {".geojson": "GeoJSON", ".json": "GeoJSON", ".zip": "zipped Shapefile", ".gpkg": "GeoPackage",
            ".kml": "KML"}
CHOOSE_LAYER = "name the one to import (the layer option)"
# Kinds whose zones are forest by definition when their type is not in the table.
FOREST_KINDS = ("forest_category", "protected_area")

# The zones of every planning layer version, as listings read them (one version: the ``layer_id`` filter).
ZONES = Layer(
    table="planning_zones",
    columns=ZONE_COLUMNS,
    order="feature_index",
    key="feature_index",
    json_column="properties",
    filters=(
        Filter("zone_type", "text", "zone type as in the source file"),
        Filter("zone_class", "text", "keep_forest, conversion or other", enum=ZONE_CLASSES),
        Filter("layer_id", "text", "the layer version", public=False),
        Filter("feature_index", "number", "position of the zone in the source file", public=False),
    ),
)

# Attribute names that usually hold the zone type, normalised (see normalised_name); the first present wins.
ZONE_FIELD_GUESSES = ("ZONETYPE", "ZONE", "ZONECLASS", "LANDUSE", "CATEGORY", "CLASS", "TYPE", "KIND", "LOAIDAT",
                      "MALOAIDAT", "MALOAI", "LOAI", "KYHIEU", "MADAT", "PHANKHU", "CHUCNANG", "LDLR", "MALDLR",
                      "NAME")

# Attribute names that usually hold a zone's own name (Vietnamese first), normalised; the first present wins.
NAME_FIELD_GUESSES = ("TENKHU", "TENPHANKHU", "TENKHUVUC", "TENVUNG", "TENLO", "TENTIEUKHU", "TEN", "TENGOI",
                      "ZONENAME", "NAME", "LABEL")

# VN-2000 → WGS 84, Decision 05/2007/QĐ-BTNMT = EPSG:6960 (coordinate-frame rotations; +towgs84 wants the
# position-vector signs). Used only for VN-2000 projections that match no EPSG code.
VN2000_TOWGS84 = "-191.90441429,-39.30318279,-111.45032835,0.00928836,-0.01975479,0.00427372,0.252906278"
VN2000_EPSG = (4756, 3405, 3406, 5896, 5897, 5898, 5899, *range(9205, 9219))


@dataclass
class ZoneType:
    """One row of the zone-type table: code, names, class, the colour maps draw it in, other names."""

    code: str
    vi: str
    en: str
    zone_class: str
    colour: str
    aliases: tuple[str, ...] = ()


@dataclass
class PlanningFile:
    """A planning file read whole: zones in EPSG:4326 and what the reader did to get them."""

    zones: gpd.GeoDataFrame
    source_crs: str
    zone_field: str | None
    repairs: list[str] = field(default_factory=list)
    name_field: str | None = None
    attributes: pd.DataFrame | None = None  # the source attributes, a row per zone, as read (typed)


def normalised_name(text: object) -> str:
    """Upper case, no accents, letters and digits only: 'Rừng phòng hộ' → 'RUNGPHONGHO'."""
    text = unicodedata.normalize("NFKD", str(text).replace("đ", "d").replace("Đ", "D"))
    return re.sub(r"[^A-Z0-9]", "", "".join(c for c in text if not unicodedata.combining(c)).upper())


@cache
def zone_types() -> dict[str, ZoneType]:
    """The zone-type table, by code."""
    with open(data_path("planning", "zone_types.toml"), "rb") as f:
        table = tomllib.load(f)
    return {code: ZoneType(code, t["vi"], t["en"], t["class"], t["colour"], tuple(t.get("aliases", ())))
            for code, t in table.items()}


@cache
def _lookup() -> dict[str, ZoneType]:
    out = {}
    for t in zone_types().values():
        for name in (t.code, t.vi, t.en, *t.aliases):
            out.setdefault(normalised_name(name), t)
    return out


@cache
def _names() -> dict[str, dict[str, str]]:
    with open(data_path("planning", "names.toml"), "rb") as f:
        return tomllib.load(f)


def label(key: str, lang: str = "vi") -> str:
    """A zone class's or a plan change's name in ``lang`` (vi or en): keep_forest, conversion, added, …"""
    names = _names()
    return names.get(lang, names["vi"]).get(key, key)


def zone_type_name(zone_type: str | None, lang: str = "vi") -> str:
    """A zone type's name in ``lang`` from the zone-type table; the file's own spelling when the table does not
    know it."""
    known = find_zone_type(zone_type)
    if known is not None:
        return known.en if lang == "en" else known.vi
    return zone_type if zone_type else label("no_type", lang)


def find_zone_type(zone_type: str | None) -> ZoneType | None:
    """The table's entry for a zone type as a file writes it (code, Vietnamese or English name, or alias,
    ignoring case, accents and punctuation); None when the table does not know it."""
    return _lookup().get(normalised_name(zone_type)) if zone_type else None


def zone_class(zone_type: str | None, kind: str) -> str:
    """Class of a zone type within a layer of ``kind``: the table's, else keep_forest in the forest kinds (their
    zones are forest by definition), else other."""
    known = find_zone_type(zone_type)
    if known is not None:
        return known.zone_class
    return "keep_forest" if kind in FOREST_KINDS else "other"


def layer_id(name: str, valid_from: date) -> str:
    """URL-safe id of one layer version: slug of the name and the validity date."""
    slug = re.sub(r"[^a-z0-9]+", "-", unicodedata.normalize("NFKD", name.replace("đ", "d").replace("Đ", "D"))
                  .encode("ascii", "ignore").decode().lower()).strip("-")
    if not slug:
        raise InvalidInputError(f"layer name {name!r}: needs at least one letter or digit")
    return f"{slug}-{valid_from:%Y%m%d}"


# -- CRS ---------------------------------------------------------------------------------------------------
def is_vn2000(crs: CRS) -> bool:
    datum = crs.geodetic_crs.datum.name if crs.geodetic_crs else ""
    return any(k in normalised_name(datum) for k in ("VN2000", "VIETNAM2000"))


def _tm_params(crs: CRS) -> tuple | None:
    """(central meridian, scale, false easting, false northing, latitude of origin) of a TM/UTM projection."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # to_dict goes through a PROJ string, which warns
        d = crs.to_dict()
    if d.get("proj") == "utm":
        return (6.0 * d["zone"] - 183.0, 0.9996, 500000.0, 10000000.0 if d.get("south") else 0.0, 0.0)
    if d.get("proj") == "tmerc":
        return (d.get("lon_0", 0.0), d.get("k", d.get("k_0", 1.0)), d.get("x_0", 0.0), d.get("y_0", 0.0),
                d.get("lat_0", 0.0))
    return None


def official_crs(crs: CRS) -> CRS:
    """The CRS to transform from: VN-2000 variants (e.g. a .prj without EPSG code, or with a ballpark datum)
    become their EPSG definition, so the official 7-parameter transformation (EPSG:6960) applies."""
    if not is_vn2000(crs):
        return crs
    epsg = crs.to_epsg(min_confidence=70)
    if epsg in VN2000_EPSG:
        return CRS.from_epsg(epsg)
    if crs.is_geographic:
        return CRS.from_epsg(4756)
    params = _tm_params(crs)
    if params is not None:
        for code in VN2000_EPSG[1:]:
            cand = _tm_params(CRS.from_epsg(code))
            if cand and np.allclose(params, cand, rtol=0, atol=1e-6):
                return CRS.from_epsg(code)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # to_proj4 warns that PROJ strings lose metadata
            proj = re.sub(r"\+towgs84=\S+", "", crs.to_proj4())
        return CRS.from_proj4(f"{proj} +towgs84={VN2000_TOWGS84}")
    except CRSError as exc:
        raise InvalidInputError(f"VN-2000 CRS {crs.name!r} cannot be used: {exc}") from exc


def _crs_label(crs: CRS) -> str:
    epsg = crs.to_epsg()
    return f"EPSG:{epsg} ({crs.name})" if epsg else crs.name


# -- reading -----------------------------------------------------------------------------------------------
def _source(path: Path, layer: str | None) -> tuple[str, str | None]:
    """The GDAL path and layer to read, or a refusal naming the format problem."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InvalidInputError(f"{path.name}: unsupported format {suffix or '(no extension)'}; "
                                "give a GeoJSON, zipped Shapefile (.zip), GeoPackage or KML file")
    if path.stat().st_size == 0:
        raise InvalidInputError(f"{path.name}: the file is empty")
    if suffix == ".zip":
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
        except zipfile.BadZipFile as exc:
            raise InvalidInputError(f"{path.name}: not a zip archive ({exc})") from exc
        shps = [n for n in names if n.lower().endswith(".shp") and not n.startswith("__MACOSX")]
        if not shps:
            raise InvalidInputError(f"{path.name}: the zip holds no Shapefile (.shp)")
        if layer:
            shps = [n for n in shps if Path(n).stem == layer]
            if not shps:
                raise InvalidInputError(f"{path.name}: no Shapefile named {layer!r} in the zip")
        if len(shps) > 1:
            raise InvalidInputError(f"{path.name}: the zip holds several Shapefiles "
                                    f"({', '.join(Path(n).stem for n in shps)}); {CHOOSE_LAYER}")
        shp = shps[0]
        if not any(n.lower() == shp[:-4].lower() + ".prj" for n in names):
            raise InvalidInputError(f"{path.name}: {shp} has no .prj, so its CRS is unknown; add the .prj")
        return f"/vsizip/{path}/{shp}", None
    return str(path), layer


def read_planning_file(path: str | Path, *, kind: str, layer: str | None = None, zone_field: str | None = None,
                       name_field: str | None = None, area_crs: CRS | str = "EPSG:32648") -> PlanningFile:
    """Read a planning file whole into zones (EPSG:4326, MultiPolygon) or raise InvalidInputError.

    Invalid geometries are repaired (``make_valid``, polygonal parts kept) and each repair reported by its
    0-based feature index; features without geometry or with non-polygonal geometry refuse the whole file.
    Each zone's own name comes from ``name_field``, or the first of ``NAME_FIELD_GUESSES`` the file has.
    """
    path = Path(path)
    if kind not in KINDS:
        raise InvalidInputError(f"kind {kind!r}: expected one of {', '.join(KINDS)}")
    if not path.is_file():
        raise InvalidInputError(f"{path}: no such file")
    gdal_path, layer = _source(path, layer)
    fmt = SUFFIXES[path.suffix.lower()]
    try:
        layers = [n for n, g in pyogrio.list_layers(gdal_path) if g]
        if layer is None and len(layers) > 1:
            raise InvalidInputError(f"{path.name}: several layers ({', '.join(layers)}); {CHOOSE_LAYER}")
        if layer is not None and layer not in layers:
            raise InvalidInputError(f"{path.name}: no layer {layer!r}; it has {', '.join(layers) or 'none'}")
        gdf = pyogrio.read_dataframe(gdal_path, layer=layer)
    except InvalidInputError:
        raise
    except Exception as exc:  # pyogrio raises DataSourceError / DataLayerError / GDAL errors of many kinds
        detail = without_dir(str(exc).splitlines()[0], path)[:200]
        raise InvalidInputError(f"{path.name}: not a readable {fmt} file ({detail})") from exc
    if len(gdf) == 0:
        raise InvalidInputError(f"{path.name}: the file holds no features")
    if gdf.crs is None:
        raise InvalidInputError(f"{path.name}: the CRS is unknown (no CRS in the file); give the file with its CRS")
    given = CRS.from_user_input(gdf.crs)
    source_crs = official_crs(given)
    label = _crs_label(source_crs) if source_crs.to_epsg() else f"{given.name} (VN-2000, EPSG:6960 parameters)"
    gdf = gdf.set_crs(source_crs, allow_override=True)
    geoms, repairs = _polygons(path.name, gdf.geometry.values)
    field_name = _zone_field(gdf, zone_field, path.name)
    name_col = _name_field(gdf, name_field, path.name)
    attrs = gdf.drop(columns=gdf.geometry.name)
    zone_type = attrs[field_name].astype(object).where(attrs[field_name].notna(), None) if field_name else None
    zones = gpd.GeoDataFrame({
        "feature_index": np.arange(len(gdf), dtype="int64"),
        "zone_type": [None if v is None else str(v) for v in zone_type] if field_name else [None] * len(gdf),
        "properties": [json.dumps(_jsonable(r), ensure_ascii=False) for r in attrs.to_dict("records")],
        "zone_name": [None if v is None or v != v or str(v).strip() == "" else str(v).strip()
                      for v in attrs[name_col].astype(object)] if name_col else [None] * len(gdf),
    }, geometry=gpd.GeoSeries(geoms, crs=source_crs)).to_crs(4326)
    _check_lonlat(zones, path.name, label)
    zones["zone_class"] = [zone_class(t, kind) for t in zones["zone_type"]]
    zones["area_ha"] = zones.geometry.to_crs(area_crs).area / 10000.0
    return PlanningFile(zones=zones, source_crs=label, zone_field=field_name, repairs=repairs, name_field=name_col,
                        attributes=pd.DataFrame(attrs).reset_index(drop=True))


def _check_lonlat(zones: gpd.GeoDataFrame, name: str, crs_label: str) -> None:
    """Refuse zones whose coordinates, in EPSG:4326, are not finite or lie outside lon -180..180, lat -90..90:
    a coordinate of 1e308 or a longitude of 200 is an error in the file, not a place."""
    b = zones.geometry.bounds
    ok = (np.isfinite(b.to_numpy()).all(axis=1) & (b["minx"] >= -180) & (b["maxx"] <= 180)
          & (b["miny"] >= -90) & (b["maxy"] <= 90))
    if not ok.all():
        bad = [int(i) for i in zones["feature_index"][~ok.to_numpy()]]
        raise InvalidInputError(f"{name}: coordinates outside longitude -180..180 / latitude -90..90 (read in "
                                f"{crs_label}) in features {_some(bad)}")


def _polygons(name: str, geoms) -> tuple[list[MultiPolygon], list[str]]:
    """MultiPolygons from the file's geometries, repairing invalid ones; refuses missing or non-areal ones."""
    missing, wrong, out, repairs = [], [], [], []
    for i, geom in enumerate(geoms):
        if geom is None or geom.is_empty:
            missing.append(i)
            continue
        geom = shapely.force_2d(geom)
        if not geom.is_valid:
            reason = shapely.is_valid_reason(geom)
            geom = shapely.make_valid(geom)
            repairs.append(f"feature {i}: {reason}; repaired")
        polys = [g for g in getattr(geom, "geoms", [geom]) if isinstance(g, Polygon | MultiPolygon)]
        parts = [p for g in polys for p in getattr(g, "geoms", [g]) if not p.is_empty]
        if not parts:
            wrong.append(f"{i} ({geom.geom_type})")
            continue
        out.append(MultiPolygon(parts))
    if missing:
        raise InvalidInputError(f"{name}: features without geometry: {_some(missing)}")
    if wrong:
        raise InvalidInputError(f"{name}: planning zones must be polygons; not polygons: {_some(wrong)}")
    return out, repairs


def _some(items: list, n: int = 10) -> str:
    text = ", ".join(str(i) for i in items[:n])
    return text + (f" and {len(items) - n} more" if len(items) > n else "")


def _zone_field(gdf: gpd.GeoDataFrame, zone_field: str | None, name: str) -> str | None:
    columns = [c for c in gdf.columns if c != gdf.geometry.name]
    if zone_field:
        if zone_field not in columns:
            raise InvalidInputError(f"{name}: no attribute {zone_field!r} for the zone type; it has "
                                    f"{', '.join(columns) or 'no attributes'}")
        return zone_field
    by_key = {normalised_name(c): c for c in columns}
    return next((by_key[k] for k in ZONE_FIELD_GUESSES if k in by_key), None)


def _name_field(gdf: gpd.GeoDataFrame, name_field: str | None, name: str) -> str | None:
    """The attribute holding each zone's own name: the one asked for (refused when missing), else a guess."""
    columns = [c for c in gdf.columns if c != gdf.geometry.name]
    if name_field:
        if name_field not in columns:
            raise InvalidInputError(f"{name}: no attribute {name_field!r} for the zone name; it has "
                                    f"{', '.join(columns) or 'no attributes'}")
        return name_field
    by_key = {normalised_name(c): c for c in columns}
    return next((by_key[k] for k in NAME_FIELD_GUESSES if k in by_key), None)


def _jsonable(record: dict) -> dict:
    out = {}
    for k, v in record.items():
        if isinstance(v, np.generic):
            v = v.item()
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT:
            v = None
        elif isinstance(v, datetime | date | pd.Timestamp):
            v = v.isoformat()
        elif not isinstance(v, str | int | float | bool):
            v = str(v)
        out[k] = v
    return out


def import_layer(store, path: str | Path, *, name: str, kind: str, valid_from: date, layer: str | None = None,
                 zone_field: str | None = None, name_field: str | None = None, area_crs: CRS | str = "EPSG:32648",
                 source_name: str | None = None) -> dict:
    """Read a planning file whole and store it as the layer version ``name`` valid from ``valid_from``.

    Re-importing the same name and date replaces that version (no duplicates); other versions are kept.
    Returns the stored layer record (with ``repairs`` as a list).
    """
    if not name or not name.strip():
        raise InvalidInputError("name: a planning layer needs a name")
    read = read_planning_file(path, kind=kind, layer=layer, zone_field=zone_field, name_field=name_field,
                              area_crs=area_crs)
    record = {
        "id": layer_id(name, valid_from), "name": name.strip(), "kind": kind, "valid_from": valid_from.isoformat(),
        "source": source_name or Path(path).name, "source_crs": read.source_crs, "zone_field": read.zone_field,
        "name_field": read.name_field, "feature_count": len(read.zones),
        "repairs": json.dumps(read.repairs, ensure_ascii=False),
        "imported": datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    zones = read.zones.assign(layer_id=record["id"])
    columns = store.replace_planning_layer(record, zones, read.attributes)
    return {**record, "repairs": read.repairs, "columns": columns}


def layers_valid_on(layers: list[dict], day: date | None = None) -> list[dict]:
    """Per layer name, the version valid on ``day`` (default: the newest version of each name)."""
    out: dict[str, dict] = {}
    for rec in sorted(layers, key=lambda r: (r["name"], r["valid_from"])):
        if day is None or rec["valid_from"] <= day.isoformat():
            out[rec["name"]] = rec
    return list(out.values())


def find_layers(store: Store, refs: list[str], day: date | None = None) -> list[dict]:
    """The layer versions named by ``refs``: each a version's id (that version), or a layer's name (its version
    valid on ``day``, default the newest). Raises NotFoundError naming the refs that match nothing."""
    every = store.planning_layers()
    by_id = {rec["id"]: rec for rec in every}
    by_name = {rec["name"]: rec for rec in layers_valid_on(every, day)}
    out, unknown = [], []
    for ref in refs:
        rec = by_id.get(ref) or by_name.get(ref)
        if rec is None:
            unknown.append(ref)
        elif rec not in out:
            out.append(rec)
    if unknown:
        known = ", ".join(sorted({rec["name"] for rec in every})) or "none"
        raise NotFoundError(f"no planning layer with the id or name {', '.join(unknown)}"
                            + (f" valid on {day}" if day else "") + f"; the layers are: {known}")
    return out


def _one_version(layer_id: str, query: Query | None) -> Query:
    query = query or Query()
    return Query(query.bbox, query.start, query.end, {**query.filters, "layer_id": (layer_id,)}, query.limit,
                 query.offset)


def query_zones(store: Store, layer_id: str, query: Query | None = None) -> gpd.GeoDataFrame:
    """Zones of one layer version matching the query, by feature index."""
    return store.features(ZONES, _one_version(layer_id, query))


def count_zones(store: Store, layer_id: str, query: Query | None = None) -> int:
    """How many zones of the layer version match the query, ignoring limit and offset."""
    return store.count(ZONES, _one_version(layer_id, query))
