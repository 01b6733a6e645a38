"""Violation cases (open from confirmed alerts, update the outcome, import history from CSV) and the targets."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, UploadFile
from pydantic import BaseModel, Field

from api.auth import Admin, Reader, Reviewer
from api.deps import RegionDep, SettingsDep, StoreDep
from api.uploads import read_upload
from geo.errors import ConfigError, InvalidInputError, NotFoundError
from geo.workflow import cases, privacy, targets

router = APIRouter(tags=["cases and targets"])
CaseId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Amount = Annotated[float, Field(ge=0, le=1e15, allow_inf_nan=False)]


class NewCase(BaseModel):
    number: str = Field(min_length=1, max_length=64, description="the case number on the file")
    opened: date
    violation_type: Literal[cases.VIOLATION_TYPES]  # type: ignore[valid-type]
    alert_ids: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(min_length=1, max_length=500)
    timber_m3: Amount | None = Field(default=None, description="damaged timber volume, m³")
    area_ha: Amount | None = Field(default=None, description="field-measured damaged area; default the alerts' area")
    outcome: Literal[cases.OUTCOMES] = "pending"  # type: ignore[valid-type]
    fine_amount: Amount | None = Field(default=None, description="VND, for an administrative fine")
    note: str | None = Field(default=None, max_length=2000)


class CaseChange(BaseModel):
    version: int = Field(ge=1, le=2**31 - 1, description="the case version you saw")
    outcome: Literal[cases.OUTCOMES] | None = None  # type: ignore[valid-type]
    fine_amount: Amount | None = None
    timber_m3: Amount | None = None
    area_ha: Amount | None = None
    note: str | None = Field(default=None, max_length=2000)


class Case(BaseModel):
    id: int
    number: str
    opened: str
    violation_type: str
    area_ha: float | None
    timber_m3: float | None
    outcome: str
    fine_amount: float | None
    district_id: str | None
    note: str | None
    source: str
    created_by: str | None
    created_at: str
    version: int
    alert_ids: list[str] = []


@router.post("/cases", response_model=Case, status_code=201, summary="Open a case for confirmed alerts",
             responses={404: {"description": "an unknown alert id"},
                        409: {"description": "an alert is not confirmed or already in a case; duplicate number"}})
def open_case(body: NewCase, user: Reviewer, store: StoreDep) -> dict:
    return cases.open_case(store, user, **body.model_dump())


@router.get("/cases", response_model=list[Case], summary="Violation cases, optionally of one year")
def list_cases(user: Reader, store: StoreDep,
               year: Annotated[int | None, Query(ge=1900, le=2200)] = None) -> list[dict]:
    return privacy.shown(cases.list_cases(store, year), "cases", public=user is None)


@router.get("/cases/{case_id}", response_model=Case, summary="One case with its alerts")
def get_case(case_id: CaseId, user: Reader, store: StoreDep) -> dict:
    return privacy.shown([cases.get_case(store, case_id)], "cases", public=user is None)[0]


@router.patch("/cases/{case_id}", response_model=Case, summary="Record the outcome, fine or measured figures",
              responses={409: {"description": "stale version"}})
def update_case(case_id: CaseId, body: CaseChange, user: Reviewer, store: StoreDep) -> dict:
    changes = body.model_dump(exclude_unset=True)
    version = changes.pop("version")
    return cases.update_case(store, user, case_id, version=version, **changes)


class AddedAlerts(BaseModel):
    alert_ids: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(min_length=1, max_length=500)
    version: int = Field(ge=1, le=2**31 - 1, description="the case version you saw (a newer one answers 409)")
    note: str | None = Field(default=None, max_length=2000)


@router.post("/cases/{case_id}/alerts", response_model=Case, summary="Add confirmed alerts to an existing case",
             responses={404: {"description": "unknown case or alert"},
                        409: {"description": "an alert is not confirmed or already in a case; stale case version"}})
def add_case_alerts(case_id: CaseId, body: AddedAlerts, user: Reviewer, store: StoreDep) -> dict:
    return cases.add_alerts(store, user, case_id, **body.model_dump())


@router.post("/cases/import", summary="Import historical cases from CSV (admin); re-import updates by number")
async def import_cases(file: UploadFile, user: Admin, store: StoreDep,
                       settings: SettingsDep) -> dict:
    data = await read_upload(file, settings.upload_max_mb)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInputError("file: the CSV must be UTF-8 text") from None
    return cases.import_cases_csv(store, text, user)


@router.get("/targets/{year}", summary="Progress against the year's targets: violations and afforestation",
            responses={404: {"description": "the region profile has no targets for that year"}})
def year_targets(year: Annotated[int, Path(ge=1900, le=2200)], _: Reader, store: StoreDep, region: RegionDep,
                 as_of: Annotated[date | None, Query(description="count up to this day (default today)")] = None
                 ) -> dict:
    try:
        region.targets(year)
    except ConfigError as exc:
        raise NotFoundError(str(exc)) from None
    return targets.progress(store, region, year, as_of)
