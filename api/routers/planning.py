"""Planning layers for planners: upload a zoning or land-use plan file, list the layer versions with their
styles, overlay alerts on them (loss inside keep-forest zones vs conversion zones, per zone and month; JSON, CSV
or GeoPackage) and compare two versions of a plan. Names of zone types and classes in the request's language."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, HTTPException, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse

from api.auth import Planner
from api.deps import RegionDep, SettingsDep, StoreDep
from api.errors import request_language
from api.uploads import saved_upload
from geo.workflow.overlay import overlay_report, report_csv, report_gpkg, report_records
from geo.workflow.plan_diff import diff_versions
from geo.workflow.planning import KINDS, SUFFIXES, find_layers, import_layer
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
    name_field: Annotated[str | None, Form(description="attribute holding each zone's own name (default: guessed "
                                                       "from ten_khu, ten, ten_vung, name…)")] = None,
) -> JSONResponse:
    if kind not in KINDS:
        raise HTTPException(422, f"kind: {kind!r} is not one of {', '.join(KINDS)}")
    suffix = Path(file.filename or "").suffix.lower()
    if suffix not in SUFFIXES:
        raise HTTPException(422, f"file: {file.filename!r} is not a GeoJSON, zipped Shapefile (.zip), GeoPackage "
                                 "or KML file")
    async with saved_upload(file, suffix, settings.upload_max_mb) as path:
        record = import_layer(store, path, name=name, kind=kind, valid_from=valid_from, layer=layer or None,
                              zone_field=zone_field or None, name_field=name_field or None, area_crs=region.grid_crs,
                              source_name=Path(file.filename or path.name).name)
    return JSONResponse({**_layer_json(request, record), "repairs": record["repairs"],
                         "columns": record["columns"]}, status_code=201)


def _lang(request: Request, settings) -> str:
    return request_language(request.headers, request.query_params, settings.lang)


def _attachment(data: bytes, media: str, name: str) -> Response:
    return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


OVERLAY_FORMATS = {"csv": ("text/csv; charset=utf-8", "csv"), "gpkg": ("application/geopackage+sqlite3", "gpkg")}


@router.get("/overlay", summary="Alerts over planning zones: loss in keep-forest vs conversion zones, per zone",
            response_model=None,
            responses={200: {"content": {"text/csv": {}, "application/geopackage+sqlite3": {}}},
                       404: {"description": "no planning layer with that id or name"}})
def overlay(
    request: Request, store: StoreDep, region: RegionDep, settings: SettingsDep,
    on: Annotated[date | None, Query(description="use the layer versions valid on this date (default newest)")] = None,
    layer: Annotated[list[str] | None, Query(description="only these layers: a version's id, or a layer's name "
                                                          "(its version valid on `on`)")] = None,
    start: Annotated[date | None, Query(description="alerts first detected on or after")] = None,
    end: Annotated[date | None, Query(description="alerts first detected on or before")] = None,
    dismissed: Annotated[bool, Query(description="also list dismissed alerts' overlaps, apart (never counted)")]
    = False,
    f: Annotated[Literal["json", "csv", "gpkg"], Query(description="json, csv (per alert and zone) or gpkg")]
    = "json",
) -> dict | Response:
    if start and end and start > end:
        raise HTTPException(422, f"start: {start} is after end {end}")
    report = overlay_report(store, on=on, names=layer or None, start=start, end=end, area_crs=region.grid_crs,
                            dismissed=dismissed, lang=_lang(request, settings))
    if f == "json":
        return report_records(report)
    media, suffix = OVERLAY_FORMATS[f]
    data = report_csv(report) if f == "csv" else report_gpkg(report)
    return _attachment(data, media, f"overlay-{on or 'newest'}.{suffix}")


@router.get("/diff", summary="What changed between two versions of a plan: zones whose type changed, added, "
                             "removed, with hectares per change of type",
            responses={404: {"description": "no planning layer with that id or name"}})
def diff(
    request: Request, store: StoreDep, region: RegionDep, settings: SettingsDep,
    from_: Annotated[str, Query(alias="from", min_length=1, max_length=300,
                                description="the older version: its id, or a layer name with `from_on`")],
    to: Annotated[str, Query(min_length=1, max_length=300, description="the newer version: its id, or a layer "
                                                                       "name with `to_on` (default newest)")],
    from_on: Annotated[date | None, Query(description="with a layer name in `from`: its version valid then")] = None,
    to_on: Annotated[date | None, Query(description="with a layer name in `to`: its version valid then")] = None,
) -> dict:
    before = find_layers(store, [from_], from_on)[0]
    after = find_layers(store, [to], to_on)[0]
    features, table = diff_versions(store, before, after, area_crs=region.grid_crs, lang=_lang(request, settings))
    collection = json.loads(features.to_json(na="null", drop_id=True))
    keep = ("id", "name", "valid_from", "valid_to", "kind")
    return {**collection, "from": {k: before.get(k) for k in keep}, "to": {k: after.get(k) for k in keep},
            "table": json.loads(table.to_json(orient="records"))}
