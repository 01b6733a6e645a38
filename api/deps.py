"""Request dependencies: the store and settings held by the app, and small validating query parameters."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request

from api.settings import Settings
from geo.region import Region
from geo.store import Store


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_store(request: Request) -> Store:
    return request.app.state.store


def get_region(request: Request) -> Region:
    return request.app.state.region


def bbox_param(
    bbox: Annotated[str | None, Query(description="west,south,east,north in WGS 84 degrees",
                                      examples=["108.3,11.9,108.5,12.1"])] = None,
) -> tuple[float, float, float, float] | None:
    """Parse ``bbox=w,s,e,n``; anything else is a 422 that names the parameter and says what is wrong."""
    if bbox is None:
        return None
    parts = bbox.split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(parts) != 4 or len(values) != 4:
        raise HTTPException(422, f"bbox: expected four comma-separated numbers west,south,east,north, got {bbox!r}")
    west, south, east, north = values
    if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= 90 and -90 <= north <= 90):
        raise HTTPException(422, f"bbox: coordinates out of range for WGS 84 degrees: {bbox!r}")
    if west > east or south > north:
        raise HTTPException(422, f"bbox: west must not exceed east and south must not exceed north: {bbox!r}")
    return values


def date_range(
    start: Annotated[date | None, Query(description="first detected on or after (YYYY-MM-DD)")] = None,
    end: Annotated[date | None, Query(description="first detected on or before (YYYY-MM-DD)")] = None,
) -> tuple[date | None, date | None]:
    if start and end and start > end:
        raise HTTPException(422, f"start: {start} is after end {end}")
    return start, end


StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
RegionDep = Annotated[Region, Depends(get_region)]
BboxDep = Annotated[tuple[float, float, float, float] | None, Depends(bbox_param)]
