"""OGC API – Features (Part 1: core, GeoJSON, HTML, OpenAPI 3.0) under ``/ogc``, and vector tiles (MVT) with
TileJSON per collection. ``/`` stays the rangers' map, so the OGC landing page is ``/ogc/``.

Every collection of ``api.collections`` is served the same way (``items_response`` is also what ``/alerts``
answers with); responses carry an ETag tied to the store's data version (304 when unchanged). A query
parameter a route does not take is refused with 400.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi import Query as QueryParam
from fastapi.responses import HTMLResponse

from api.caching import cached
from api.collections import CollectionContext, FeatureSource, collections, feature_list
from api.deps import SettingsDep, StoreDep
from api.params import Filters, Format, Source, collection_context, item_query, reject_unknown_parameters
from api.settings import Settings
from geo.query import Query
from geo.store import Store
from maps.templating import TEMPLATES
from maps.vectortiles import MAX_FEATURES, MAX_ZOOM, encode_tile, tile_bounds

router = APIRouter(prefix="/ogc", tags=["OGC API Features"], dependencies=[Depends(reject_unknown_parameters)])
DEFAULT_LIMIT = 10
GEOJSON = "application/geo+json"
MVT = "application/vnd.mapbox-vector-tile"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"

_PAGE = TEMPLATES.get_template("ogc.html")


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _url(request: Request, path: str, **params) -> str:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{_base(request)}{path}" + (f"?{query}" if query else "")


def _html(request: Request, title: str, *, description: str = "", links: list | None = None,
          columns: list | None = None, rows: list | None = None, geojson: dict | None = None) -> HTMLResponse:
    query = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "f"] + [("f", "json")])
    return HTMLResponse(_PAGE.render(title=title, description=description, links=links or [], columns=columns or [],
                                     rows=rows or [], base=_base(request), json_query=query,
                                     geojson=geojson))


def _json(body: dict, media_type: str = "application/json") -> Response:
    return Response(json.dumps(body, ensure_ascii=False, default=str), media_type=media_type)


# -- landing, conformance, collections -------------------------------------------------------------------------
@router.get("/", summary="OGC API landing page", response_class=Response,
            responses={200: {"content": {"application/json": {}, "text/html": {}}}})
def landing(request: Request, f: Format) -> Response:
    links = [
        {"rel": "self", "type": "application/json", "title": "this document", "href": _url(request, "/ogc/")},
        {"rel": "service-desc", "type": "application/vnd.oai.openapi+json;version=3.0", "title": "OpenAPI",
         "href": _url(request, "/openapi.json")},
        {"rel": "service-doc", "type": "text/html", "title": "API documentation", "href": _url(request, "/docs")},
        {"rel": "conformance", "type": "application/json", "title": "conformance classes",
         "href": _url(request, "/ogc/conformance")},
        {"rel": "data", "type": "application/json", "title": "collections", "href": _url(request, "/ogc/collections")},
    ]
    title = "forestmon: forest-loss alerts, admin units and planning layers of Lâm Đồng"
    if f == "html":
        return _html(request, title, links=[{**link, "href": link["href"] + (
            "?f=html" if link["rel"] in ("conformance", "data") else "")} for link in links])
    return _json({"title": title, "description": "OGC API – Features for forestmon", "links": links})


@router.get("/conformance", summary="Conformance classes", response_class=Response,
            responses={200: {"content": {"application/json": {}, "text/html": {}}}})
def conformance(request: Request, f: Format) -> Response:
    if f == "html":
        return _html(request, "Conformance", links=[{"href": c, "title": c} for c in CONFORMANCE])
    return _json({"conformsTo": CONFORMANCE})


def _collection_json(request: Request, source: FeatureSource) -> dict:
    path = f"/ogc/collections/{source.id}"
    bbox, interval = source.extent()
    extent: dict = {}
    if bbox:
        extent["spatial"] = {"bbox": [list(bbox)], "crs": CRS84}
    if interval:
        extent["temporal"] = {"interval": [list(interval)]}
    out = {
        "id": source.id, "title": source.title, "description": source.description, "itemType": "feature",
        "crs": [CRS84], "extent": extent, "forestmon:kind": source.kind,
        "links": [
            {"rel": "self", "type": "application/json", "href": _url(request, path)},
            {"rel": "items", "type": GEOJSON, "title": "features", "href": _url(request, f"{path}/items")},
            {"rel": "alternate", "type": "text/html", "href": _url(request, path, f="html")},
            {"rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables", "type": "application/schema+json",
             "href": _url(request, f"{path}/queryables")},
            {"rel": "describedby", "type": "application/json", "title": "TileJSON (vector tiles)",
             "href": _url(request, f"{path}/tiles/WebMercatorQuad/tilejson.json")},
        ],
    }
    if source.units:
        out["forestmon:units"] = source.units
    if source.name:
        out["forestmon:name"] = source.name
    if source.style:
        out["style"] = source.style
    return out


@router.get("/collections", summary="The feature collections", response_class=Response,
            responses={200: {"content": {"application/json": {}, "text/html": {}}}})
def list_collections(request: Request, f: Format, store: StoreDep, settings: SettingsDep,
                     ctx: Annotated[CollectionContext, Depends(collection_context)]) -> Response:
    def build() -> Response:
        found = [_collection_json(request, s) for s in collections(ctx).values()]
        if f == "html":
            return _html(request, "Collections", columns=["id", "title", "description"],
                         rows=[[c["id"], c["title"], c["description"]] for c in found],
                         links=[{"href": _url(request, f"/ogc/collections/{c['id']}/items", f="html"),
                                 "title": f"{c['id']}: {c['title']}"} for c in found])
        return _json({"collections": found, "links": [
            {"rel": "self", "type": "application/json", "href": _url(request, "/ogc/collections")}]})
    return cached(request, store.data_version(), build, max_age=settings.cache_max_age)


@router.get("/collections/{collection_id}", summary="One collection", response_class=Response,
            responses={200: {"content": {"application/json": {}, "text/html": {}}}, 404: {"description": "unknown"}})
def get_collection(request: Request, source: Source, f: Format) -> Response:
    body = _collection_json(request, source)
    if f == "html":
        return _html(request, source.title, description=source.description,
                     links=[{"href": link["href"], "title": link["rel"]} for link in body["links"]])
    return _json(body)


@router.get("/collections/{collection_id}/queryables", summary="Properties the items can be filtered on",
            response_class=Response, responses={200: {"content": {"application/schema+json": {}}}})
def queryables(request: Request, source: Source) -> Response:
    props = {}
    for spec in source.filters:
        schema: dict = {"type": "number" if spec.kind == "number" else "string", "description": spec.description}
        if spec.enum:
            schema["enum"] = list(spec.enum)
        props[spec.name] = schema
    return _json({"$schema": "https://json-schema.org/draft/2019-09/schema", "type": "object",
                  "title": source.title, "properties": props}, "application/schema+json")


# -- items ----------------------------------------------------------------------------------------------------
def items_response(request: Request, source: FeatureSource, query: Query, f: str, store: Store, settings: Settings,
                   path: str, skip_geometry: bool = False) -> Response:
    """A page of a collection's features as a GeoJSON FeatureCollection (numbers matched and returned, links to
    the next and previous pages) or an HTML page; ``path`` is the URL path the links page along. With
    ``skip_geometry`` every feature's geometry is null (a list of names costs no outlines)."""
    source.check(query)

    def build() -> Response:
        written = source.features_json(query) if f != "html" and not skip_geometry else None  # the backend's JSON
        if written is None:
            gdf, matched = source.items(query)
            found = feature_list(gdf)
            returned = len(found)
            if skip_geometry:
                for feature in found:
                    feature["geometry"] = None
        else:
            found, returned, matched = written
        params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("offset", "f")]
        page = lambda off, fmt=None: _url(request, path) + "?" + urlencode(  # noqa: E731
            params + [("offset", off)] + ([("f", fmt)] if fmt else []))
        links = [{"rel": "self", "type": GEOJSON, "href": page(query.offset)},
                 {"rel": "alternate", "type": "text/html", "href": page(query.offset, "html")},
                 {"rel": "collection", "type": "application/json",
                  "href": _url(request, f"/ogc/collections/{source.id}")}]
        if query.offset + returned < matched:
            links.append({"rel": "next", "type": GEOJSON, "href": page(query.offset + query.limit)})
        if query.offset > 0:
            links.append({"rel": "prev", "type": GEOJSON, "href": page(max(query.offset - query.limit, 0))})
        if f == "html":
            columns = ["id"] + [c for c in gdf.columns if c not in ("fid", gdf.geometry.name)][:8]
            rows = [[feat["id"], *(feat["properties"].get(c) for c in columns[1:])] for feat in found]
            nav = [{"href": link["href"] + "&f=html", "title": link["rel"]} for link in links
                   if link["rel"] in ("next", "prev")]
            return _html(request, source.title,
                         description=f"{matched} features; {len(found)} shown from {query.offset}",
                         columns=columns, rows=rows, links=nav,
                         geojson={"type": "FeatureCollection", "features": found})
        body = {"type": "FeatureCollection", "features": [] if written else found, "numberMatched": matched,
                "numberReturned": returned, "timeStamp": datetime.now(UTC).isoformat(timespec="seconds"),
                "links": links}
        if written:  # splice the backend's JSON array in place of the empty one
            text = json.dumps(body, ensure_ascii=False, default=str)
            return Response(text.replace('"features": []', f'"features": {found}', 1), media_type=GEOJSON)
        return _json(body, GEOJSON)
    return cached(request, store.data_version(), build, max_age=settings.cache_max_age)


def item_feature(request: Request, source: FeatureSource, feature_id: str) -> dict:
    """One feature of a collection as GeoJSON, with its links."""
    feature = feature_list(source.item(feature_id))[0]
    path = f"/ogc/collections/{source.id}"
    feature["links"] = [
        {"rel": "self", "type": GEOJSON, "href": _url(request, f"{path}/items/{feature_id}")},
        {"rel": "collection", "type": "application/json", "href": _url(request, path)}]
    return feature


@router.get("/collections/{collection_id}/items", summary="Features of a collection (GeoJSON or HTML)",
            response_class=Response,
            responses={200: {"content": {GEOJSON: {}, "text/html": {}}}, 400: {"description": "unknown parameter"},
                       404: {"description": "unknown collection"}})
def items(request: Request, source: Source, store: StoreDep, settings: SettingsDep, f: Format,
          query: Annotated[Query, Depends(item_query(DEFAULT_LIMIT))],
          skip_geometry: Annotated[bool, QueryParam(alias="skipGeometry", description=(
              "true: features without their geometry (null), as pygeoapi's skipGeometry"))] = False) -> Response:
    return items_response(request, source, query, f, store, settings, f"/ogc/collections/{source.id}/items",
                          skip_geometry)


@router.get("/collections/{collection_id}/items/{feature_id}", summary="One feature (GeoJSON or HTML)",
            response_class=Response,
            responses={200: {"content": {GEOJSON: {}, "text/html": {}}}, 404: {"description": "unknown id"}})
def item(request: Request, source: Source, store: StoreDep, settings: SettingsDep, f: Format,
         feature_id: Annotated[str, Path(description="feature id")]) -> Response:
    def build() -> Response:
        feature = item_feature(request, source, feature_id)
        if f == "html":
            return _html(request, f"{source.title}: {feature_id}", columns=["property", "value"],
                         rows=[[k, v] for k, v in feature["properties"].items()],
                         geojson={"type": "FeatureCollection", "features": [feature]})
        return _json(feature, GEOJSON)
    return cached(request, store.data_version(), build, max_age=settings.cache_max_age)


# -- vector tiles ---------------------------------------------------------------------------------------------
@router.get("/collections/{collection_id}/tiles/WebMercatorQuad/tilejson.json", summary="TileJSON (vector tiles)",
            tags=["tiles"])
def vector_tilejson(request: Request, source: Source) -> dict:
    bbox, _ = source.extent()
    fields = {f.name: f.description for f in source.filters}
    path = f"/ogc/collections/{source.id}/tiles/WebMercatorQuad"
    return {"tilejson": "3.0.0", "name": source.id, "description": source.title,
            "tiles": [_url(request, path) + "/{z}/{x}/{y}"], "minzoom": 0, "maxzoom": MAX_ZOOM,
            "bounds": list(bbox) if bbox else [-180, -85.0511, 180, 85.0511],
            "vector_layers": [{"id": source.id, "fields": fields, "minzoom": 0, "maxzoom": MAX_ZOOM}]}


@router.get("/collections/{collection_id}/tiles/WebMercatorQuad/{z}/{x}/{y}", summary="A vector tile (MVT)",
            tags=["tiles"], response_class=Response,
            responses={200: {"content": {MVT: {}}}, 404: {"description": "tile outside the grid or unknown"}})
def vector_tile(request: Request, source: Source, store: StoreDep, settings: SettingsDep, filters: Filters,
                z: Annotated[int, Path(ge=0, le=MAX_ZOOM)], x: Annotated[int, Path(ge=0)],
                y: Annotated[int, Path(ge=0)]) -> Response:
    _, lonlat = tile_bounds(z, x, y)
    query = Query(bbox=lonlat, filters=filters, limit=MAX_FEATURES)
    source.check(query)

    def build() -> Response:
        data = source.mvt(z, x, y, query)
        if data is None:
            data = encode_tile({source.id: source.tile_features(query)}, z, x, y)
        return Response(data, media_type=MVT)
    # a tile holds what the caller's role may see, nothing of the caller's own: one body per role and data version
    return cached(request, store.data_version(), build, max_age=settings.cache_max_age, by_role=True)
