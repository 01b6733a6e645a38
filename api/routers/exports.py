"""Downloads of alerts, cases and planting lots for GIS and GPS units, optionally in VN-2000. Alerts take the
same selection as ``/alerts`` (bbox, datetime or start/end, status, confidence, district_id, min/max area), so
the app downloads what it shows; a parameter the route does not take is a 400, never a silent full export."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Response

from api.auth import Reader
from api.collections import AlertSource
from api.deps import RegionDep, StoreDep
from api.params import filter_query, reject_unknown_parameters
from geo import query as q
from geo.workflow import exports, privacy

router = APIRouter(tags=["exports"], dependencies=[Depends(reject_unknown_parameters)])


@router.get("/exports/{layer}", summary="Alerts, cases or planting lots as GeoPackage, GeoJSON, CSV, KML or GPX",
            response_class=Response,
            responses={200: {"content": {media: {} for _, media, _ in exports.FORMATS.values()}},
                       400: {"description": "an unknown parameter or a malformed date"}})
def export_layer(
    layer: Annotated[Literal[exports.LAYERS], Path(description="what to export")],  # type: ignore[valid-type]
    user: Reader,
    store: StoreDep,
    region: RegionDep,
    format: Annotated[Literal[tuple(exports.FORMATS)], Query(description="file format")] = "gpkg",  # type: ignore
    crs: Annotated[Literal["4326", "5899", "9218"], Query(description="EPSG: WGS 84 or VN-2000 TM-3 zones")] = "4326",
    year: Annotated[int | None, Query(ge=1900, le=2200, description="cases opened / lots planted that year")] = None,
    selection: Annotated[q.Query, Depends(filter_query(AlertSource.filters))] = None,  # alerts only
) -> Response:
    shown = exports.layer(store, layer, year, selection, region.coordinate_names)  # coordinates named by its CRS
    frame = privacy.shown_frame(shown, layer, public=user is None)
    data = exports.export(frame, format, layer, int(crs))
    _, media, suffix = exports.FORMATS[format]
    name = layer + ("" if crs == "4326" else f"-epsg{crs}") + suffix
    return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})
