"""Query parameters of the feature routes (``/ogc/collections/{id}/items``, ``/alerts``, vector tiles) as small
validating dependencies (after tipg): bbox, datetime, the property filters the collections declare, paging and
output format; and the refusal, with 400 naming them, of parameters a route does not take (OGC API Features
asks for it; a misspelt filter must not silently return everything)."""

from __future__ import annotations

import inspect
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import Depends, HTTPException, Path, Query, Request
from fastapi.dependencies.models import Dependant

from api.collections import ITEM_FILTERS, CollectionContext, FeatureSource, collection
from api.deps import get_region, get_store
from api.errors import ApiError
from geo import query as q

MAX_LIMIT = 10000


def bbox_param(
    bbox: Annotated[str | None, Query(description="west,south,east,north in WGS 84 degrees",
                                      examples=["108.3,11.9,108.5,12.1"])] = None,
) -> q.Bbox | None:
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


def _day(text: str, name: str, whole: str) -> date:
    try:
        return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text).date()
    except ValueError:
        raise HTTPException(400, f"{name}: {text!r} in {whole!r} is not an RFC 3339 date or date-time") from None


def datetime_param(
    datetime_: Annotated[str | None, Query(alias="datetime", description=(
        "a date, a date-time, or an interval start/end with '..' for an open end (RFC 3339), e.g. "
        "2024-03-01/2024-06-30 or ../2024-06-30"), examples=["2024-01-01/2024-06-30"])] = None,
    start: Annotated[date | None, Query(description="on or after this day: the same as datetime=START/..")] = None,
    end: Annotated[date | None, Query(description="on or before this day: the same as datetime=../END")] = None,
) -> tuple[date | None, date | None]:
    """``datetime`` (or ``start``/``end``) as a (start, end) pair of dates, both inclusive; a 400 naming what
    is wrong otherwise."""
    if datetime_ is None:
        if start and end and start > end:
            raise HTTPException(422, f"start: {start} is after end {end}")
        return start, end
    if start or end:
        raise HTTPException(400, "datetime: give either datetime or start/end, not both")
    text = datetime_.strip()
    parts = text.split("/")
    if len(parts) == 1:
        day = _day(text, "datetime", datetime_)
        return day, day
    if len(parts) != 2 or parts == ["..", ".."] or parts == ["", ""]:
        raise HTTPException(400, f"datetime: expected one date or an interval start/end, got {datetime_!r}")
    first = None if parts[0] in ("", "..") else _day(parts[0], "datetime", datetime_)
    last = None if parts[1] in ("", "..") else _day(parts[1], "datetime", datetime_)
    if first and last and first > last:
        raise HTTPException(400, f"datetime: the interval starts ({first}) after it ends ({last})")
    return first, last


def _filter_parameter(key: str, spec: q.Filter) -> inspect.Parameter:
    if spec.kind == "number":
        bound = "smallest" if key.startswith("min_") else "largest"
        annotation = Annotated[float | None, Query(description=f"{spec.description}: the {bound}")]
    else:
        one_of = f" ({', '.join(spec.enum)})" if spec.enum else ""
        annotation = Annotated[list[str] | None, Query(
            description=f"{spec.description}{one_of}: one or more values, comma-separated or repeated")]
    return inspect.Parameter(key, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)


def _filters_dependency(filters: tuple[q.Filter, ...]):
    """A dependency taking one query parameter per filter key (``status``, ``min_area_ha``, ...) and returning
    the filters given, as ``geo.query.Query.filters`` holds them."""
    specs = {key: spec for spec in filters for key in spec.keys}

    def filter_params(**given) -> dict[str, object]:
        out: dict[str, object] = {}
        for key, value in given.items():
            if value is None:
                continue
            if specs[key].kind == "number":
                out[key] = value
                continue
            values = tuple(v.strip() for text in value for v in text.split(",") if v.strip())
            if not values:
                raise HTTPException(400, f"{key}: give one or more comma-separated values")
            specs[key].check_values(values)  # an id list: its length and each id (a 422 with a stable code)
            out[key] = values
        for spec in filters:
            low, high = out.get(f"min_{spec.name}"), out.get(f"max_{spec.name}")
            if low is not None and high is not None and low > high:
                raise HTTPException(400, f"min_{spec.name}: {low} is above max_{spec.name} {high}")
        return out

    filter_params.__signature__ = inspect.Signature([_filter_parameter(k, s) for k, s in specs.items()])
    return filter_params


filter_params = _filters_dependency(ITEM_FILTERS)


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


def filter_query(filters: tuple[q.Filter, ...] = ITEM_FILTERS):
    """The dependency reading which features a request selects (bbox, dates, the property ``filters``), without
    paging: the same parameters as a page of items, for a download of the whole selection."""
    given_filters = _filters_dependency(filters)

    def dependency(
        bbox: Annotated[q.Bbox | None, Depends(bbox_param)],
        dates: Annotated[tuple[date | None, date | None], Depends(datetime_param)],
        filters: dict = Depends(given_filters),  # a default, not an annotation: evaluated here, in this closure
    ) -> q.Query:
        return q.Query(bbox, dates[0], dates[1], filters)

    return dependency


def item_query(default_limit: int, filters: tuple[q.Filter, ...] = ITEM_FILTERS):
    """The dependency reading a page of features' query (bbox, dates, the property ``filters``, paging), with this
    default page size."""
    given_filters = _filters_dependency(filters)

    def dependency(
        bbox: Annotated[q.Bbox | None, Depends(bbox_param)],
        dates: Annotated[tuple[date | None, date | None], Depends(datetime_param)],
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"features per page (1-{MAX_LIMIT})")]
        = default_limit,
        offset: Annotated[int, Query(ge=0, le=1_000_000_000, description="features to skip")] = 0,
        filters: dict = Depends(given_filters),  # a default, not an annotation: evaluated here, in this closure
    ) -> q.Query:
        return q.Query(bbox, dates[0], dates[1], filters, limit, offset)

    return dependency


def _query_names(dependant: Dependant) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def reject_unknown_parameters(request: Request) -> None:
    """A router dependency: 400 for any query parameter the matched route does not take, naming it."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    allowed = _query_names(dependant) | {"lang"}  # the language of an error message (api.errors) or a page
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise ApiError(400, f"unknown query parameter{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                            f"this request takes {', '.join(sorted(allowed)) or 'none'}", "unknown_parameter")


Format = Annotated[str, Depends(output_format)]
Source = Annotated[FeatureSource, Depends(source_dep)]
Filters = Annotated[dict, Depends(filter_params)]
BboxDep = Annotated[q.Bbox | None, Depends(bbox_param)]
