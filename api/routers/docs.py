"""The API's documentation: interactive at ``/docs`` (FastAPI's Swagger UI page on our vendored copy, its one
inline script marked with the response's CSP nonce) and as a reference at ``/redoc`` (ReDoc's standalone bundle,
no inline script, no web fonts); no CDN, so both work offline."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)
SWAGGER = "static/vendor/swagger-ui-dist"
REDOC = "static/vendor/redoc/bundles/redoc.standalone.js"


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "").rstrip("/")
    page = get_swagger_ui_html(openapi_url=f"{root}/openapi.json", title=f"{request.app.title} API",
                               swagger_js_url=f"{root}/{SWAGGER}/swagger-ui-bundle.js",
                               swagger_css_url=f"{root}/{SWAGGER}/swagger-ui.css",
                               swagger_favicon_url=f"{root}/{SWAGGER}/favicon-32x32.png")
    html = page.body.decode().replace("<script>", f'<script nonce="{request.state.csp_nonce}">')
    return HTMLResponse(html)


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "").rstrip("/")
    page = get_redoc_html(openapi_url=f"{root}/openapi.json", title=f"{request.app.title} API",
                          redoc_js_url=f"{root}/{REDOC}", redoc_favicon_url=f"{root}/{SWAGGER}/favicon-32x32.png",
                          with_google_fonts=False)
    # ReDoc's search runs in a worker made from a blob: URL, which the policy (script-src) refuses: left out
    return HTMLResponse(page.body.decode().replace("<redoc ", "<redoc disable-search ", 1))
