"""The weekly job's record (``/runs``: its runs, newest first, each with its steps' timings and counts) behind the
read rule, and the report subscriptions (``/subscriptions``), which admins manage."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from api.auth import Admin
from api.deps import RegionDep, StoreDep
from api.params import MAX_LIMIT, reject_unknown_parameters
from geo.errors import NotFoundError
from geo.store import jobs
from geo.workflow import subscriptions as subs

router = APIRouter(tags=["weekly job"], dependencies=[Depends(reject_unknown_parameters)])
RunId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class Step(BaseModel):
    step: str
    position: int
    started: str
    finished: str | None
    seconds: float | None
    status: str
    counts: dict[str, int | float | str | None]
    message: str | None


class Run(BaseModel):
    id: int
    job: str
    week: str
    started: str
    finished: str | None
    status: str = Field(description="running, ok, failed (a step failed) or partial (some deliveries failed)")
    trigger: str | None
    holder: str | None
    error: str | None
    steps: list[Step]


class Runs(BaseModel):
    runs: list[Run]


@router.get("/runs", summary="The weekly job's runs, newest first, with their steps")
def list_runs(store: StoreDep, limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
              offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0) -> Runs:
    return Runs(runs=jobs.list_runs(store, limit=limit, offset=offset))


@router.get("/runs/{run_id}", summary="One run of the weekly job with its steps")
def get_run(run_id: RunId, store: StoreDep) -> Run:
    run = jobs.get_run(store, run_id)
    if run is None:
        raise NotFoundError(f"no run with id {run_id}", id=run_id)
    return Run(**run)


class NewSubscription(BaseModel):
    email: str | None = Field(default=None, max_length=320)
    webhook_url: str | None = Field(default=None, max_length=2000)
    unit_id: str | None = Field(default=None, max_length=64, description="admin unit id; none for the province")
    lang: Literal["vi", "en"] = "vi"
    secret: str | None = Field(default=None, min_length=16, max_length=200,
                               description="webhook HMAC secret; default a new random one, returned once")


class Subscription(BaseModel):
    id: int
    email: str | None
    webhook_url: str | None
    unit_id: str | None
    lang: str
    active: int
    created_at: str
    secret: str | None = Field(default=None, description="only in the answer that created a webhook subscription")


@router.get("/subscriptions", summary="Report subscriptions (admins)")
def list_subscriptions(_: Admin, store: StoreDep) -> list[Subscription]:
    return [Subscription(**subs.public(s)) for s in subs.list_subscriptions(store)]


@router.post("/subscriptions", status_code=201, summary="Add a report subscription (admins)")
def add_subscription(body: NewSubscription, _: Admin, store: StoreDep, region: RegionDep) -> Subscription:
    known = {str(u) for u in region.units()["id"]}
    sub = subs.add_subscription(store, email=body.email, webhook_url=body.webhook_url, unit_id=body.unit_id,
                                lang=body.lang, secret=body.secret, known_units=known)
    return Subscription(**sub)


@router.delete("/subscriptions/{subscription_id}", status_code=204, summary="Remove a subscription (admins)")
def remove_subscription(subscription_id: RunId, _: Admin, store: StoreDep) -> None:
    subs.remove_subscription(store, subscription_id)
