"""Schemathesis fuzzes every operation of the OpenAPI document against the app served on 127.0.0.1, logged in
as an admin (an API key), on both backends: no input may cause a 500 (bad input is a 4xx naming what is wrong)."""

from __future__ import annotations

import schemathesis
from conftest import ServerThread
from hypothesis import HealthCheck, given, settings
from reviewkit import PASSWORD, USERS

from api.app import create_app
from api.settings import Settings
from api.users import add_user, create_api_key

EXAMPLES = 15


def fuzz(operation, key: str, failures: list[str]) -> None:
    """Call one operation with generated inputs; record every 5xx with the request that caused it."""

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def call(case):
        response = case.call(headers={"X-API-Key": key}, timeout=30)
        if response.status_code >= 500:
            failures.append(f"{operation.method.upper()} {case.formatted_path} {case.query or ''} "
                            f"-> {response.status_code}: {response.text[:200]}")

    call()


def test_no_input_makes_a_500(store, tmp_path):
    for name, (role, units) in USERS.items():
        add_user(store, name, PASSWORD, role, units)
    key = create_api_key(store, "admin", "fuzz")
    failures: list[str] = []
    operations = 0
    with ServerThread(create_app(Settings(data_dir=tmp_path, store_url=store.url, max_photo_mb=0.2))) as server:
        schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
        for result in schema.get_all_operations():
            operation = result.ok()
            operations += 1

            fuzz(operation, key, failures)
    assert operations >= 20
    assert failures == []
