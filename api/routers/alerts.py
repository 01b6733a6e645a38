"""Alerts as GeoJSON: the list with filters, and one alert by id."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Literal

import geopandas as gpd
from fastapi import APIRouter, Depends, Query, Response

from api.auth import Reader
from api.deps import StoreDep, bbox_param, date_range
from geo.alerts import PRIVATE_COLUMNS
from geo.store.base import AlertQuery

router = APIRouter(tags=["alerts"])
GEOJSON = "application/geo+json"


def feature_collection(alerts: gpd.GeoDataFrame, *, public: bool = False, **extra) -> dict:
    if public:
        alerts = alerts.drop(columns=[c for c in PRIVATE_COLUMNS if c in alerts.columns])
    data = json.loads(alerts.to_json(na="null", show_bbox=False, drop_id=True)) if len(alerts) else {
        "type": "FeatureCollection", "features": []}
    for feature in data["features"]:
        feature["id"] = feature["properties"]["id"]
    return {**data, **extra}


@router.get("/alerts", summary="Forest-loss alerts as a GeoJSON FeatureCollection",
            response_class=Response, responses={200: {"content": {GEOJSON: {}}}})
def list_alerts(
    store: StoreDep,
    user: Reader,
    bbox: Annotated[tuple[float, float, float, float] | None, Depends(bbox_param)],
    dates: Annotated[tuple[date | None, date | None], Depends(date_range)],
    confidence: Annotated[list[Literal["low", "high", "highest"]] | None,
                          Query(description="one or more confidence levels")] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> Response:
    query = AlertQuery(bbox=bbox, start=dates[0], end=dates[1],
                       confidence=tuple(confidence) if confidence else None, limit=limit, offset=offset)
    alerts = store.query_alerts(query)
    body = feature_collection(alerts, public=user is None, numberMatched=store.count_alerts(query),
                              numberReturned=len(alerts))
    return Response(json.dumps(body, ensure_ascii=False), media_type=GEOJSON)


@router.get("/alerts/{alert_id}", summary="One alert as a GeoJSON Feature",
            response_class=Response, responses={200: {"content": {GEOJSON: {}}}, 404: {"description": "unknown id"}})
def get_alert(alert_id: str, store: StoreDep, user: Reader) -> Response:
    feature = feature_collection(store.get_alert(alert_id), public=user is None)["features"][0]
    version = feature["properties"].get("version")  # for If-Match on review transitions
    headers = {"ETag": f'"{version}"'} if version is not None else None
    return Response(json.dumps(feature, ensure_ascii=False), media_type=GEOJSON, headers=headers)
