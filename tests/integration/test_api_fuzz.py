"""schemathesis over the whole OpenAPI document: generated requests to every operation (GET, and the planning
upload) never get a 500, whatever the parameters."""

from __future__ import annotations

from datetime import date

import geopandas as gpd
import pytest
import schemathesis
from conftest import sample_alerts, write_scene
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from shapely.geometry import box

from api.app import create_app
from api.settings import Settings
from geo.store import open_store
from geo.workflow.planning import import_layer


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("fuzz")
    store = open_store(data_dir / "forestmon.gpkg")
    store.sync_alerts(sample_alerts())
    path = write_scene(data_dir / "S2_20240501.tif", date(2024, 5, 1))
    store.upsert_scenes([{"id": "20240501-test", "sensor": "Sentinel-2", "acquired": "2024-05-01", "source": "test",
                          "path": str(path), "cloud_pct": 0.0, "valid_fraction": 1.0, "status": "ok",
                          "reason": None, "processed": 1}])
    gpd.GeoDataFrame({"loai_dat": ["RPH"]}, geometry=[box(108.3, 11.95, 108.31, 11.97)], crs=4326).to_file(
        data_dir / "zoning.geojson")
    import_layer(store, data_dir / "zoning.geojson", name="Phân khu", kind="zoning", valid_from=date(2024, 1, 1))
    app = create_app(Settings(data_dir=data_dir, store_url=store.url, upload_max_mb=0.05))
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def test_no_request_gets_a_server_error(api_schema):
    """Each operation in turn with generated parameters and bodies (the schemathesis pytest plugin does not
    run under pytest 9, so hypothesis drives each operation's strategy here)."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=50, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def call(case):
            case.call_and_validate(checks=[not_a_server_error])

        call()
