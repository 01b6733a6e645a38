"""Security headers: ``nosniff``, a referrer policy and no framing on every response (JSON, files, errors, static),
and on HTML pages a content security policy that allows only our own scripts, the web map's inline scripts by
a per-response nonce. In Chromium the pages then load with no policy violation.
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


def test_the_web_map_marks_its_own_inline_scripts_with_the_responses_nonce(app_client):
    pages = [app_client.get("/") for _ in range(2)]
    nonces = [re.search(r"'nonce-([^']+)'", r.headers["content-security-policy"])[1] for r in pages]
    assert nonces[0] != nonces[1]  # fresh for each response
    for r, nonce in zip(pages, nonces, strict=True):
        inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", r.text)
        assert inline and all(f'nonce="{nonce}"' in attrs for attrs in inline), inline


@pytest.mark.browser
def test_pages_load_in_chromium_without_a_policy_violation(store, tmp_path):
    app = create_app(Settings(data_dir=tmp_path, store_url=store.url))
    with ServerThread(app) as server, chromium_page() as (page, log):
        for path in ("/", "/ogc/collections/alerts/items?f=html"):
            page.goto(server.url + path, wait_until="networkidle")
            assert page.evaluate("document.querySelectorAll('.leaflet-container').length") == 1, path  # drawn
            assert page.evaluate("document.querySelectorAll('path.leaflet-interactive').length") >= 3, path
        page.goto(server.url + "/ogc/collections?f=html", wait_until="networkidle")
        assert not log.errors, log.errors


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
