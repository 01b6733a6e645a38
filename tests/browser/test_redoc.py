"""``/redoc``: the API reference from our vendored ReDoc (npm ``redoc``, no CDN, no web fonts) draws every
operation in Chromium under the strict content security policy, with no request leaving 127.0.0.1."""

from __future__ import annotations

import re

import pytest
from browser.chromium import chromium_page
from conftest import ServerThread

from api.app import create_app
from api.settings import Settings


@pytest.mark.browser
def test_redoc_draws_every_operation_offline_under_the_strict_policy(store, tmp_path):
    app = create_app(Settings(data_dir=tmp_path, store_url=store.url))
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with ServerThread(app) as server, chromium_page() as (page, log):
        response = page.goto(server.url + "/redoc", wait_until="networkidle")
        script_src = re.search(r"script-src ([^;]*)", response.headers["content-security-policy"])[1]
        assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
        page.wait_for_selector("[data-section-id^='operation/']", timeout=30000)
        drawn = set(page.eval_on_selector_all("[data-section-id^='operation/']",
                                              "els => els.map(e => e.dataset.sectionId.split('/').pop())"))
        operations = {op["operationId"] for ops in app.openapi()["paths"].values() for op in ops.values()}
        assert drawn == operations  # an operation under two tags is drawn twice, once per tag
        page.screenshot(path=str(shots / "redoc.png"))
        assert not log.blocked, log.blocked
        assert all(url.startswith(server.url) for url in log.requests), log.requests
        assert not log.errors, log.errors
