"""The API's interactive documentation at ``/docs``: FastAPI's Swagger UI page on our vendored copy (no CDN, so it
works offline), its one inline script marked with the response's CSP nonce."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)
SWAGGER = "static/vendor/swagger-ui-dist"


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "").rstrip("/")
    page = get_swagger_ui_html(openapi_url=f"{root}/openapi.json", title=f"{request.app.title} API",
                               swagger_js_url=f"{root}/{SWAGGER}/swagger-ui-bundle.js",
                               swagger_css_url=f"{root}/{SWAGGER}/swagger-ui.css",
                               swagger_favicon_url=f"{root}/{SWAGGER}/favicon-32x32.png")
    html = page.body.decode().replace("<script>", f'<script nonce="{request.state.csp_nonce}">')
    return HTMLResponse(html)
