"""Request dependencies: the settings, store and region the app holds."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.settings import Settings
from geo.region import Region
from geo.store import Store


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_store(request: Request) -> Store:
    return request.app.state.store


def get_region(request: Request) -> Region:
    return request.app.state.region


StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
RegionDep = Annotated[Region, Depends(get_region)]
