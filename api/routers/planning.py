"""Planning layers for planners: upload a zoning or land-use plan file, list the layer versions with their
styles, and overlay alerts on them (loss inside keep-forest zones vs conversion zones, per zone and month)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import JSONResponse

from api.auth import Planner
from api.deps import RegionDep, SettingsDep, StoreDep
from api.uploads import saved_upload
from geo.workflow.overlay import overlay_report, report_records
from geo.workflow.planning import KINDS, SUFFIXES, import_layer
from maps.styles import legend

router = APIRouter(prefix="/planning", tags=["planning layers"])


def _layer_json(request: Request, rec: dict) -> dict:
    base = str(request.base_url).rstrip("/")
    out = {k: v for k, v in rec.items() if k != "repairs"}
    out["collection"] = f"{base}/ogc/collections/plan-{rec['id']}"
    out["tiles"] = f"{base}/ogc/collections/plan-{rec['id']}/tiles/WebMercatorQuad/tilejson.json"
    return out


@router.get("/layers", summary="Planning layer versions, with their validity and links to features and tiles")
def list_layers(request: Request, store: StoreDep) -> dict:
    return {"layers": [_layer_json(request, rec) for rec in store.planning_layers()], "styles": legend()}


@router.get("/styles", summary="Zone types: class (keep_forest, conversion, other) and map colour")
def styles() -> dict:
    return {"zone_types": legend()}


@router.post("/layers", status_code=201, summary="Upload a planning layer (GeoJSON, zipped Shapefile, GeoPackage, KML)",
             responses={413: {"description": "upload too large"}, 422: {"description": "file refused, nothing stored"}})
async def upload_layer(
    request: Request, store: StoreDep, settings: SettingsDep, region: RegionDep, user: Planner,
    file: Annotated[UploadFile, File(description="GeoJSON, zipped Shapefile (.zip), GeoPackage or KML, any CRS")],
    name: Annotated[str, Form(min_length=1, max_length=200, description="layer name (versions share it)")],
    kind: Annotated[str, Form(description=f"one of {', '.join(KINDS)}")],
    valid_from: Annotated[date, Form(description="date the plan takes effect (YYYY-MM-DD)")],
    layer: Annotated[str | None, Form(description="layer inside a GeoPackage or zip")] = None,
    zone_field: Annotated[str | None, Form(description="attribute holding the zone type")] = None,
) -> JSONResponse:
    if kind not in KINDS:
        raise HTTPException(422, f"kind: {kind!r} is not one of {', '.join(KINDS)}")
    suffix = Path(file.filename or "").suffix.lower()
    if suffix not in SUFFIXES:
        raise HTTPException(422, f"file: {file.filename!r} is not a GeoJSON, zipped Shapefile (.zip), GeoPackage "
                                 "or KML file")
    async with saved_upload(file, suffix, settings.upload_max_mb) as path:
        record = import_layer(store, path, name=name, kind=kind, valid_from=valid_from, layer=layer or None,
                              zone_field=zone_field or None, area_crs=region.grid_crs,
                              source_name=Path(file.filename or path.name).name)
    return JSONResponse({**_layer_json(request, record), "repairs": record["repairs"]}, status_code=201)


@router.get("/overlay", summary="Alerts over planning zones: loss in keep-forest vs conversion zones, per zone",
            responses={404: {"description": "no planning layer of that name"}})
def overlay(
    store: StoreDep, region: RegionDep,
    on: Annotated[date | None, Query(description="use the layer versions valid on this date (default newest)")] = None,
    layer: Annotated[list[str] | None, Query(description="only these layer names")] = None,
    start: Annotated[date | None, Query(description="alerts first detected on or after")] = None,
    end: Annotated[date | None, Query(description="alerts first detected on or before")] = None,
) -> dict:
    if start and end and start > end:
        raise HTTPException(422, f"start: {start} is after end {end}")
    report = overlay_report(store, on=on, names=layer or None, start=start, end=end, area_crs=region.grid_crs)
    return report_records(report)
