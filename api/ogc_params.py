"""Query parameters of the OGC API routes as small validating dependencies (after tipg): datetime intervals,
paging, output format, property filters, and the collection the path names."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import Depends, HTTPException, Path, Query, Request

from api.collections import CollectionContext, FeatureSource, collection
from api.deps import get_region, get_store

DEFAULT_LIMIT = 10
MAX_LIMIT = 10000


def _day(text: str, whole: str) -> date:
    try:
        return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text).date()
    except ValueError:
        raise HTTPException(400, f"datetime: {text!r} in {whole!r} is not an RFC 3339 date or date-time") from None


def datetime_param(
    datetime_: Annotated[str | None, Query(alias="datetime", description=(
        "a date, a date-time, or an interval start/end with '..' for an open end (RFC 3339), e.g. "
        "2024-03-01/2024-06-30 or ../2024-06-30"), examples=["2024-01-01/2024-06-30"])] = None,
) -> tuple[date | None, date | None]:
    """``datetime`` as a (start, end) pair of dates, both inclusive; a 400 naming what is wrong otherwise."""
    if datetime_ is None:
        return None, None
    text = datetime_.strip()
    parts = text.split("/")
    if len(parts) == 1:
        day = _day(text, datetime_)
        return day, day
    if len(parts) != 2 or parts == ["..", ".."] or parts == ["", ""]:
        raise HTTPException(400, f"datetime: expected one date or an interval start/end, got {datetime_!r}")
    start = None if parts[0] in ("", "..") else _day(parts[0], datetime_)
    end = None if parts[1] in ("", "..") else _day(parts[1], datetime_)
    if start and end and start > end:
        raise HTTPException(400, f"datetime: the interval starts ({start}) after it ends ({end})")
    return start, end


def _values(name: str, text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    values = tuple(v.strip() for v in text.split(",") if v.strip())
    if not values:
        raise HTTPException(400, f"{name}: give one or more comma-separated values")
    return values


def filter_params(
    status: Annotated[str | None, Query(description="alerts: review statuses, comma-separated")] = None,
    confidence: Annotated[str | None, Query(description="alerts: confidence levels, comma-separated")] = None,
    district_id: Annotated[str | None, Query(description="alerts: admin unit ids, comma-separated")] = None,
    min_area_ha: Annotated[float | None, Query(ge=0, description="alerts: smallest area, ha")] = None,
    max_area_ha: Annotated[float | None, Query(ge=0, description="alerts: largest area, ha")] = None,
    zone_type: Annotated[str | None, Query(description="planning layers: zone types, comma-separated")] = None,
    zone_class: Annotated[str | None, Query(description="planning layers: keep_forest, conversion, other")] = None,
) -> dict[str, object]:
    """Property filters given by the client (each collection checks which it has)."""
    out: dict[str, object] = {}
    for name, text in (("status", status), ("confidence", confidence), ("district_id", district_id),
                       ("zone_type", zone_type), ("zone_class", zone_class)):
        values = _values(name, text)
        if values:
            out[name] = values
    if min_area_ha is not None:
        out["min_area_ha"] = min_area_ha
    if max_area_ha is not None:
        out["max_area_ha"] = max_area_ha
    if min_area_ha is not None and max_area_ha is not None and min_area_ha > max_area_ha:
        raise HTTPException(400, f"min_area_ha: {min_area_ha} is above max_area_ha {max_area_ha}")
    return out


def output_format(
    request: Request,
    f: Annotated[Literal["json", "html"] | None, Query(description="output format; default from Accept")] = None,
) -> str:
    """``f=`` wins; otherwise HTML for browsers (Accept text/html without JSON), JSON for everyone else."""
    if f:
        return f
    accept = request.headers.get("accept", "")
    return "html" if "text/html" in accept and "json" not in accept else "json"


def collection_context(request: Request) -> CollectionContext:
    """The store and region, and the caller's role when an auth layer has set ``request.state.role``."""
    return CollectionContext(get_store(request), get_region(request), getattr(request.state, "role", None))


def source_dep(
    collection_id: Annotated[str, Path(description="collection id, as listed at /ogc/collections")],
    ctx: Annotated[CollectionContext, Depends(collection_context)],
) -> FeatureSource:
    return collection(ctx, collection_id)


Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"features per page (1-{MAX_LIMIT})")]
Offset = Annotated[int, Query(ge=0, le=1_000_000_000, description="features to skip")]
Format = Annotated[str, Depends(output_format)]
Source = Annotated[FeatureSource, Depends(source_dep)]
Filters = Annotated[dict, Depends(filter_params)]
DateRange = Annotated[tuple[date | None, date | None], Depends(datetime_param)]
