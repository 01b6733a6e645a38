"""Security headers: ``nosniff``, a referrer policy and no framing on every response (JSON, files, errors, static),
and on HTML pages a content security policy that allows only our own scripts (the API docs' inline scripts by a
per-response nonce) and, when the settings name one, the outside basemap's origin for images and fetches. In
Chromium the pages then load with no policy violation.
"""

from __future__ import annotations

import re

import pytest
from browser.chromium import chromium_page
from conftest import ServerThread

from api.app import create_app
from api.settings import Settings

PATHS = ["/", "/ogc/", "/ogc/?f=html", "/ogc/collections/alerts/items?f=html", "/alerts", "/health",
         "/openapi.json", "/static/vendor/leaflet/leaflet.js", "/no-such-page", "/alerts/unknown-id",
         "/ogc/collections/alerts/tiles/WebMercatorQuad/0/0/0"]


@pytest.mark.parametrize("path", PATHS)
def test_every_response_carries_the_headers(app_client, path):
    r = app_client.get(path)
    assert r.headers["x-content-type-options"] == "nosniff", path
    assert r.headers["referrer-policy"] == "same-origin"
    assert r.headers["x-frame-options"] == "DENY"
    if r.headers.get("content-type", "").startswith("text/html"):
        policy = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
        script_src = re.search(r"script-src ([^;]*)", policy)[1].split()
        assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
        assert all(s == "'self'" or s.startswith("'nonce-") for s in script_src), policy


def test_the_app_is_a_static_shell_with_no_inline_script(app_client):
    r = app_client.get("/")
    assert r.status_code == 200 and not re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", r.text)


def test_only_the_configured_outside_basemap_may_add_an_origin(store, tmp_path):
    from fastapi.testclient import TestClient
    plain = TestClient(create_app(Settings(data_dir=tmp_path, store_url=store.url))).get("/")
    assert "openstreetmap" not in plain.headers["content-security-policy"]
    settings = Settings(data_dir=tmp_path, store_url=store.url,
                        basemap_url="https://tile.openstreetmap.org/{z}/{x}/{y}.png")
    client = TestClient(create_app(settings))
    policy = client.get("/").headers["content-security-policy"]
    assert "img-src 'self' data: blob: https://tile.openstreetmap.org;" in policy
    assert "connect-src 'self' https://tile.openstreetmap.org;" in policy
    assert re.search(r"script-src ([^;]*)", policy)[1].split()[0] == "'self'"
    assert client.get("/app/config.json").json()["basemap"]["tiles"] == [settings.basemap_url]
    with pytest.raises(ValueError):  # not https, or no {z}/{x}/{y}: refused when the settings are read
        Settings(data_dir=tmp_path, basemap_url="http://tile.example.org/{z}/{x}/{y}.png")


@pytest.mark.browser
def test_pages_load_in_chromium_without_a_policy_violation(store, tmp_path):
    app = create_app(Settings(data_dir=tmp_path, store_url=store.url))
    with ServerThread(app) as server, chromium_page() as (page, log):
        missing: list[str] = []
        page.on("response", lambda r: r.status == 404 and missing.append(r.url))
        page.goto(server.url + "/", wait_until="networkidle")
        page.wait_for_function("() => window.forestmonMap && window.forestmonMap.loaded()", timeout=60_000)
        assert page.locator(".alert-item").count() == 3
        page.goto(server.url + "/ogc/collections/alerts/items?f=html", wait_until="networkidle")
        assert page.evaluate("document.querySelectorAll('.leaflet-container').length") == 1  # drawn
        assert page.evaluate("document.querySelectorAll('path.leaflet-interactive').length") >= 3
        page.goto(server.url + "/ogc/collections?f=html", wait_until="networkidle")
        # the sample store holds no imagery: the app's question for the latest mosaic answers 404, nothing else
        assert [u.removeprefix(server.url) for u in missing] == ["/imagery/latest/truecolor/tilejson.json"]
        assert not [e for e in log.errors if "status of 404" not in e], log.errors
        assert not [e for e in log.errors if "Content Security Policy" in e]


@pytest.mark.browser
def test_the_api_docs_load_offline_from_our_own_copy_under_the_strict_policy(store, tmp_path):
    """/docs is Swagger UI served from /static (no CDN): it draws every operation with no policy violation."""
    app = create_app(Settings(data_dir=tmp_path, store_url=store.url))
    with ServerThread(app) as server, chromium_page() as (page, log):
        response = page.goto(server.url + "/docs", wait_until="networkidle")
        assert "'unsafe-inline'" not in re.search(r"script-src ([^;]*)", response.headers["content-security-policy"])[1]
        page.wait_for_selector(".opblock", timeout=20000)
        shown = page.evaluate("[...document.querySelectorAll('.opblock')].map(b => "
                              "b.querySelector('.opblock-summary-method').textContent.toLowerCase() + ' ' + "
                              "b.querySelector('.opblock-summary-path').dataset.path)")
        assert set(shown) == {f"{method} {path}" for path, ops in app.openapi()["paths"].items() for method in ops}
        assert not log.errors, log.errors
