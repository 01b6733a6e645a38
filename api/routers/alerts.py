"""``/alerts``: a short name for the alerts collection of the OGC API. ``GET /alerts`` is
``GET /ogc/collections/alerts/items`` (the same parameters, filters, GeoJSON and privacy rule) with 1000
features a page by default; ``GET /alerts/{id}`` is the item, with the alert's review version as its ETag
(send it back as ``If-Match`` on a review transition) and, under ``imagery``, the TileJSON and tile URLs of its
``before`` and ``after`` scenes (null where the catalogue does not hold the scene), and under ``places`` its unit in
each boundary version and the planning zones in force it overlaps."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from shapely.geometry import shape

from api.collections import AlertSource, CollectionContext, alerts_source
from api.deps import RegionDep, SettingsDep, StoreDep
from api.params import collection_context, item_query, reject_unknown_parameters
from api.routers.imagery_tiles import scene_links
from api.routers.ogc import GEOJSON, item_feature, items_response
from geo.query import Query
from geo.workflow.places import admin_units, zones_touched

router = APIRouter(tags=["alerts"], dependencies=[Depends(reject_unknown_parameters)])
Context = Annotated[CollectionContext, Depends(collection_context)]


@router.get("/alerts", summary="Forest-loss alerts as a GeoJSON FeatureCollection (the alerts collection's items)",
            response_class=Response,
            responses={200: {"content": {GEOJSON: {}}}, 400: {"description": "unknown parameter"}})
def list_alerts(request: Request, ctx: Context, store: StoreDep, settings: SettingsDep,
                query: Annotated[Query, Depends(item_query(1000, AlertSource.filters))]) -> Response:
    return items_response(request, alerts_source(ctx), query, "json", store, settings, "/alerts")


@router.get("/alerts/{alert_id}", summary="One alert as a GeoJSON Feature",
            response_class=Response, responses={200: {"content": {GEOJSON: {}}}, 404: {"description": "unknown id"}})
def get_alert(request: Request, ctx: Context, store: StoreDep, region: RegionDep,
              alert_id: Annotated[str, Path(min_length=1, max_length=100)]) -> Response:
    feature = item_feature(request, alerts_source(ctx), alert_id)
    props = feature["properties"]
    feature["imagery"] = {"before": scene_links(request, store, props.get("scene_before")),
                          "after": scene_links(request, store, props.get("scene_after"))}
    if feature.get("geometry"):
        geometry = shape(feature["geometry"])
        feature["places"] = {"units": admin_units(region, geometry), "zones": zones_touched(store, geometry)}
    version = feature["properties"].get("version")  # for If-Match on review transitions
    headers = {"ETag": f'"{version}"'} if version is not None else None
    return Response(json.dumps(feature, ensure_ascii=False), media_type=GEOJSON, headers=headers)
