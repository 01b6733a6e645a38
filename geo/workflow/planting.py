"""The register of planting lots (new plantation forest) for the afforestation targets.

Lots import from GeoPackage, GeoJSON, Shapefile (anything GDAL reads) or CSV with a ``wkt`` column; each has a
polygon, planting date, species, trees planted and programme. Areas are computed in hectares in the region's
projected grid CRS (UTM 48N), never from degrees. Lots are keyed by ``lot_id``: re-importing updates them.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely
from shapely.geometry import MultiPolygon, Polygon

from geo.errors import InvalidInputError, without_dir
from geo.store import Store
from geo.store.sql import now_iso
from geo.workflow.planning import normalised_name

REQUIRED = ("lot_id", "planted")
OPTIONAL = ("species", "trees", "programme", "district_id")
# A lot whose programme names one of these is scattered-tree planting (trồng cây phân tán: trees along roads, in
# gardens and fields), counted in trees; every other lot is plantation forest (trồng rừng tập trung), counted in
# hectares. Matched on the programme's name ignoring case, accents and punctuation.
SCATTERED_WORDS = ("PHANTAN", "SCATTERED")


def is_scattered(programme: str | None) -> bool:
    """Whether a lot of this programme is scattered-tree planting rather than plantation forest."""
    key = normalised_name(programme or "")
    return any(word in key for word in SCATTERED_WORDS)


def read_lots(path: Path) -> gpd.GeoDataFrame:
    """Read a lots file into EPSG:4326 polygons with the register's columns; raises naming what is wrong."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
            if "wkt" not in frame:
                raise InvalidInputError(f"{path.name}: a CSV of planting lots needs a 'wkt' column (EPSG:4326)")
            try:
                geoms = shapely.from_wkt(frame.pop("wkt").tolist())
            except shapely.errors.GEOSException as exc:
                raise InvalidInputError(f"{path.name}: column wkt: {exc}") from None
            lots = gpd.GeoDataFrame(frame, geometry=geoms, crs=4326)
        else:
            lots = pyogrio.read_dataframe(path)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, UnicodeDecodeError, ValueError) as exc:
        detail = without_dir(str(exc), path)
        raise InvalidInputError(f"{path.name}: cannot be read as planting lots: {detail}") from None
    missing = [c for c in REQUIRED if c not in lots.columns]
    if missing:
        raise InvalidInputError(f"{path.name}: missing column(s) {', '.join(missing)}")
    if lots.crs is None:
        raise InvalidInputError(f"{path.name}: has no CRS")
    return lots.to_crs(4326)


def _multi(geom, where: str) -> MultiPolygon:
    if geom is None or geom.is_empty:
        raise InvalidInputError(f"{where}: no geometry")
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    polys = [g for g in getattr(geom, "geoms", [geom]) if isinstance(g, Polygon)]
    polys += [p for g in getattr(geom, "geoms", []) if isinstance(g, MultiPolygon) for p in g.geoms]
    if not polys:
        raise InvalidInputError(f"{where}: geometry is {geom.geom_type}, not a polygon")
    return MultiPolygon(polys)


def import_lots(store: Store, path: Path, area_crs) -> dict[str, int]:
    """Import the lots of ``path``; all rows or none. Returns counts inserted and updated."""
    lots = read_lots(path)
    areas = lots.to_crs(area_crs).area / 10_000.0
    rows = []
    for i, (row, area) in enumerate(zip(lots.itertuples(index=False), areas, strict=True), start=1):
        where = f"{Path(path).name} row {i}"
        lot_id = str(row.lot_id or "").strip()
        if not lot_id:
            raise InvalidInputError(f"{where}: lot_id is empty")
        try:
            planted = date.fromisoformat(str(row.planted).strip()[:10]).isoformat()
        except ValueError:
            raise InvalidInputError(f"{where}: planted: {row.planted!r} is not a date") from None
        trees = getattr(row, "trees", None)
        try:
            trees = None if trees in (None, "") or pd.isna(trees) else int(float(trees))
        except (TypeError, ValueError):
            raise InvalidInputError(f"{where}: trees: {trees!r} is not a number") from None
        if trees is not None and trees < 0:
            raise InvalidInputError(f"{where}: trees: must not be negative")
        geom = _multi(row.geometry, where)
        extra = {c: (None if pd.isna(v := getattr(row, c, None)) or v == "" else str(v))
                 for c in ("species", "programme", "district_id")}
        rows.append([lot_id, planted, extra["species"], trees, extra["programme"], round(float(area), 4),
                     extra["district_id"], geom])
    counts = {"inserted": 0, "updated": 0}
    with store.transaction() as tx:
        geom_sql = tx.geom_sql("planting_lots")
        for values in rows:
            values[-1] = tx.geom_param("planting_lots", values[-1])
            if tx.fetchone("SELECT id FROM planting_lots WHERE lot_id = ?", [values[0]]):
                tx.execute(f"UPDATE planting_lots SET planted = ?, species = ?, trees = ?, programme = ?, area_ha = ?, "
                           f"district_id = ?, geom = {geom_sql}, imported_at = ? WHERE lot_id = ?",
                           [*values[1:], now_iso(), values[0]])
                counts["updated"] += 1
            else:
                tx.execute(f"INSERT INTO planting_lots (lot_id, planted, species, trees, programme, area_ha, "
                           f"district_id, geom, imported_at) VALUES (?, ?, ?, ?, ?, ?, ?, {geom_sql}, ?)",
                           [*values, now_iso()])
                counts["inserted"] += 1
        tx.layer_changed("planting_lots")  # the layer's extent and last change, as GIS reads them
    return counts


def list_lots(store: Store, year: int | None = None) -> gpd.GeoDataFrame:
    """Planting lots (optionally those planted in ``year``) as polygons in EPSG:4326."""
    with store.reading() as tx:
        sql = (f"SELECT lot_id, planted, species, trees, programme, area_ha, district_id, "
               f"{tx.geom_select('planting_lots')} AS wkb FROM planting_lots")
        params: list = []
        if year is not None:
            sql += " WHERE planted >= ? AND planted <= ?"
            params = [f"{year:04d}-01-01", f"{year:04d}-12-31"]
        rows = tx.fetch(sql + " ORDER BY planted, lot_id", params)
        geoms = [tx.geom_value("planting_lots", r.pop("wkb")) for r in rows]
    columns = ["lot_id", "planted", "species", "trees", "programme", "area_ha", "district_id"]
    return gpd.GeoDataFrame(rows, columns=columns, geometry=gpd.GeoSeries(geoms, crs=4326))
