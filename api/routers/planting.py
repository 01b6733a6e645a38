"""The register of planting lots: import (planner or admin) and list, for the afforestation targets."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Response, UploadFile

from api.auth import Planner, Reader
from api.deps import RegionDep, SettingsDep, StoreDep
from api.routers.ogc import GEOJSON
from api.uploads import saved_upload
from geo.errors import InvalidInputError
from geo.workflow import lot_growth, planting, replanting

router = APIRouter(tags=["planting lots"])
SUFFIXES = (".gpkg", ".geojson", ".json", ".csv", ".zip")


@router.post("/planting-lots/import", summary="Import planting lots (GeoPackage, GeoJSON, zipped Shapefile, "
             "CSV with wkt); re-import updates lots by lot_id")
async def import_lots(file: UploadFile, _: Planner, store: StoreDep, region: RegionDep,
                      settings: SettingsDep) -> dict:
    suffix = Path(file.filename or "").suffix.lower()
    if suffix not in SUFFIXES:
        raise InvalidInputError(f"file: {file.filename!r} is not one of {', '.join(SUFFIXES)}")
    async with saved_upload(file, suffix, settings.upload_max_mb) as path:
        return planting.import_lots(store, path, region.grid_crs)


@router.get("/planting-lots", summary="Planting lots as GeoJSON, each with its status from the imagery, green share "
            "and the loss alerts overlapping it since its planting date", response_class=Response,
            responses={200: {"content": {GEOJSON: {}}}})
def list_lots(_: Reader, store: StoreDep,
              year: Annotated[int | None, Query(ge=1900, le=2200, description="planted that year")] = None,
              as_of: Annotated[date | None, Query(description="judge the lots on this day (default today)")] = None
              ) -> Response:
    lots = replanting.lots_with_state(store, as_of or date.today(), year)
    body = json.loads(lots.to_json(na="null", drop_id=True)) if len(lots) else {"type": "FeatureCollection",
                                                                                "features": []}
    for feature in body["features"]:  # the alert ids as a list in JSON (a comma-separated text in file exports)
        ids = feature["properties"]["loss_alerts"]
        feature["properties"]["loss_alerts"] = ids.split(",") if ids else []
    return Response(json.dumps(body, ensure_ascii=False), media_type=GEOJSON)


@router.get("/planting-lots/replanting-candidates", summary="Confirmed forest-loss alerts as candidate replanting "
            "sites (id, area in ha, cause, commune, centroid, lots planted on it since), largest first")
def replanting_candidates(_: Reader, store: StoreDep, region: RegionDep) -> dict:
    return replanting.candidates(store, region)


@router.get("/planting-lots/growth", summary="Each lot's status from the imagery (established, establishing, not "
            "yet visible, failed, cleared) and the registered area beside the area confirmed from imagery")
def lots_growth(_: Reader, store: StoreDep,
                as_of: Annotated[date | None, Query(description="judge the lots on this day (default today)")] = None
                ) -> dict:
    body = lot_growth.lots_growth(store, as_of or date.today())
    losses = replanting.loss_alerts_by_lot(store, planting.list_lots(store))
    for lot in body["lots"]:
        lot["loss_alerts"] = losses.get(lot["lot_id"], [])
    return body


@router.get("/planting-lots/{lot_id}/growth", summary="One lot's NDVI trajectory since planting (median, quartiles, "
            "green share per clear observation) and its status", responses={404: {"description": "unknown lot"}})
def lot_growth_one(lot_id: str, _: Reader, store: StoreDep,
                   as_of: Annotated[date | None, Query(description="judge the lot on this day (default today)")]
                   = None) -> dict:
    lot = lot_growth.lots_growth(store, as_of or date.today(), lot_id)["lots"][0]
    lots = planting.list_lots(store)
    lot["loss_alerts"] = replanting.loss_alerts_by_lot(store, lots[lots["lot_id"] == lot_id])[lot_id]
    return lot
