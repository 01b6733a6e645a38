"""Schemathesis fuzzes every operation of the OpenAPI document against the app served on 127.0.0.1, on both
backends, as an admin (an API key) and as an anonymous caller, over a store holding alerts, a catalogued scene
and a planning layer: no input may cause a 500 (bad input is a 4xx naming what is wrong), every status code
answered is documented, and every response matches its documented schema and content type."""

from __future__ import annotations

from datetime import date

import geopandas as gpd
import pytest
import schemathesis
from conftest import ServerThread, write_scene
from hypothesis import HealthCheck, given, settings
from reviewkit import PASSWORD, USERS
from schemathesis import checks
from shapely.geometry import box

from api.app import create_app
from api.settings import Settings
from api.users import add_user, create_api_key
from geo.workflow.planning import import_layer

EXAMPLES = 20
CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.response_schema_conformance,
          checks.content_type_conformance]


def fuzz(operation, headers: dict[str, str], failures: list[str]) -> None:
    """Call one operation with generated inputs; record every failed check with the request that caused it."""

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def call(case):
        response = case.call(headers=headers, timeout=30)
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except BaseExceptionGroup as failed:  # schemathesis' FailureGroup: one entry per failed check
            failures.append(f"{operation.method.upper()} {case.formatted_path} {case.query or ''} "
                            f"-> {response.status_code}: {str(failed)[:300]} {response.text[:200]}")

    call()


@pytest.mark.parametrize("caller", ["admin", "anonymous"])
def test_no_input_makes_a_500(store, tmp_path, caller):
    for name, (role, units) in USERS.items():
        add_user(store, name, PASSWORD, role, units)
    path = write_scene(tmp_path / "S2_20240501.tif", date(2024, 5, 1))
    store.upsert_scenes([{"id": "20240501-test", "sensor": "Sentinel-2", "acquired": "2024-05-01", "source": "test",
                          "path": str(path), "cloud_pct": 0.0, "valid_fraction": 1.0, "status": "ok",
                          "reason": None, "processed": 1}])
    gpd.GeoDataFrame({"loai_dat": ["RPH"]}, geometry=[box(108.3, 11.95, 108.31, 11.97)], crs=4326).to_file(
        tmp_path / "zoning.geojson")
    import_layer(store, tmp_path / "zoning.geojson", name="Phân khu", kind="zoning", valid_from=date(2024, 1, 1))
    headers = {"X-API-Key": create_api_key(store, "admin", "fuzz")} if caller == "admin" else {}
    failures: list[str] = []
    app = create_app(Settings(data_dir=tmp_path, store_url=store.url, max_photo_mb=0.2, upload_max_mb=0.05))
    with ServerThread(app) as server:
        schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        for operation in operations:
            fuzz(operation, headers, failures)
    assert len(operations) >= 40
    assert failures == []
