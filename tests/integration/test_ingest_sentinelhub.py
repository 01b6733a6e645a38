"""The Sentinel Hub source end to end against a Sentinel Hub look-alike on 127.0.0.1: the real ``sentinelhub``
client authenticates, pages through the catalogue, splits tiles into Process API requests, retries, caches."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import rasterio
from conftest import ServerThread
from pyproj import Transformer
from sentinelhub import SentinelHubDownloadClient
from sentinelhub_server import CLIENT_ID, CLIENT_SECRET, FakeSentinelHub, expected_clouds, expected_value, item
from shapely.geometry import box

from geo.errors import ConfigError, ForestmonError
from geo.region import load_region
from geo.store import open_store
from ingest.catalogue import ingest_sentinelhub
from ingest.sentinelhub_source import SentinelHubSettings

TO_LONLAT = Transformer.from_crs(32648, 4326, always_xy=True)
AREA_UTM = (860100, 1338900, 861100, 1339900)          # 1 km x 1 km near Da Lat, inside tile E043N066
AREA = box(*TO_LONLAT.transform_bounds(*AREA_UTM))
ITEM_BOUNDS = (108.2, 11.9, 108.5, 12.2)


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")   # plain http to 127.0.0.1, tests only
    SentinelHubDownloadClient.clear_cache()
    items = [item(f"S2_{d}_{k}", f"{d}T03:21:0{k}Z", cloud, ITEM_BOUNDS)
             for d, cloud in (("2024-01-05", 10.0), ("2024-01-10", 90.0), ("2024-01-15", 30.0)) for k in (1, 2)]
    items.append(item("S2_far_away", "2024-01-07T03:21:00Z", 5.0, (105.0, 21.0, 105.5, 21.5)))  # Hà Nội
    fake = FakeSentinelHub(items, cloudy_days={"2024-01-15"}, hazy_days={"2024-01-05"})
    with ServerThread(fake.app) as thread:
        fake.url = thread.url
        yield fake
    SentinelHubDownloadClient.clear_cache()


def settings_for(server, **kw) -> SentinelHubSettings:
    values = {"base_url": server.url, "token_url": f"{server.url}/oauth/token", "client_id": CLIENT_ID,
              "client_secret": CLIENT_SECRET, "max_px": 40, "retry_wait_s": 0.01, "timeout_s": 1.0, "attempts": 3}
    return SentinelHubSettings(**{**values, **kw})


def run(server, tmp_path, **kw):
    store = open_store(tmp_path / "store.gpkg")
    result = ingest_sentinelhub(settings_for(server, **kw.pop("settings", {})), store, load_region("lamdong"),
                                tmp_path / "ard", tmp_path / "cache", date(2024, 1, 1), date(2024, 1, 31),
                                max_cloud=kw.pop("max_cloud", 50), area=AREA, **kw)
    return store, result


def test_catalogue_pages_process_chunks_and_tiles_with_known_values(server, tmp_path):
    store, result = run(server, tmp_path)
    assert server.calls["catalog"] >= 3                       # 6 matching items, 2 a page: pagination followed
    assert not result.failed
    records = store.scenes("ok")
    assert [r["acquired"] for r in records] == ["2024-01-05", "2024-01-15"]   # 90 % cloud filtered, Hà Nội not here
    assert {r["tile"] for r in records} == {"E043N066"} and {r["source"] for r in records} == {"sentinelhub"}
    assert records[0]["source_path"] == "S2_2024-01-05_1,S2_2024-01-05_2"
    assert max(max(s) for s in server.process_sizes) <= 40 and len(server.process_sizes) == 2 * 9
    with rasterio.open(records[0]["path"]) as src:
        # the area went to lon/lat and back: its window on the grid is 100 px and a little
        assert 100 <= src.width <= 106 and 100 <= src.height <= 106
        assert 860060 <= src.transform.c <= 860100 and 1339900 <= src.transform.f <= 1339940
        assert src.descriptions[2] == "B04" and src.tags()["ACQUISITION_DATE"] == "2024-01-05"
        centres = src.transform.c + 10 * (np.arange(src.width) + 0.5)
        for i in range(1, 8):
            band = src.read(i)
            assert (band == expected_value(i, centres)[None, :]).all(), src.descriptions[i - 1]
        # SCL said vegetation everywhere; s2cloudless's probability (>= 0.4) and mask mark 10 px of every 50 cloud
        clp, clm = expected_clouds(centres, hazy=True)
        cloud = (clp >= 0.4 * 255) | (clm == 1)
        assert cloud.sum() > 0 and (src.read(8) == np.where(cloud, 8, 4)[None, :]).all()
        assert src.tags()["MASK_SOURCE"] == "scl+clp+clm"
    assert all('"CLP", "CLM"' in script for script in server.evalscripts)
    assert records[0]["cloud_pct"] == pytest.approx(100 * cloud.mean(), abs=2) and records[1]["cloud_pct"] == 100
    assert records[0]["valid_fraction"] == pytest.approx(1 - cloud.mean(), abs=0.02)
    assert records[1]["valid_fraction"] == 0.0


def test_the_cloud_layers_can_be_left_out(server, tmp_path):
    """With ``cloud_layers`` off (FORESTMON_SH_CLOUD_LAYERS=false) the requests ask for the 8 bands alone and the
    mask is SCL's."""
    store, result = run(server, tmp_path, settings={"cloud_layers": False})
    assert not result.failed and not any("CLP" in script for script in server.evalscripts)
    with rasterio.open(store.scenes("ok")[0]["path"]) as src:
        assert (src.read(8) == 4).all() and src.tags()["MASK_SOURCE"] == "scl"


def test_rerun_downloads_nothing_and_rebuilds_lost_tiles_from_the_cache(server, tmp_path):
    run(server, tmp_path)
    calls = server.calls["process"]
    _, again = run(server, tmp_path)
    assert server.calls["process"] == calls and again.tiles_written == 0 and again.tiles_skipped == 2
    for tif in (tmp_path / "ard").rglob("*.tif"):
        tif.unlink()                                           # the tiles are gone, the downloads are not
    store, third = run(server, tmp_path)
    assert server.calls["process"] == calls and third.tiles_written == 2
    assert all(Path(r["path"]).exists() for r in store.scenes("ok"))
    assert len(store.scenes()) == 2                            # no duplicates


def test_429_500_and_a_slow_answer_are_retried(server, tmp_path):
    server.fail("token", 500)
    server.fail("catalog", 429)
    server.fail("process", 429, 500, "slow", 503)
    store, result = run(server, tmp_path)
    assert not result.failed and len(store.scenes("ok")) == 2
    assert server.calls["process"] == 18 + 4


def test_a_tile_that_keeps_failing_is_recorded_and_the_rest_goes_on(server, tmp_path):
    server.fail("process", *([500] * 40))                     # the first day's 9 chunks exhaust their 3 tries
    store, result = run(server, tmp_path, settings={"threads": 1})
    assert len(result.failed) >= 1 and "failed" in result.failed[0]["reason"]
    assert "s3cret" not in result.failed[0]["reason"]
    failed = store.scenes("failed")
    assert failed and failed[0]["tile"] == "E043N066"
    server.failures.clear()
    store, result = run(server, tmp_path)                      # the next run completes the work
    assert len(store.scenes("ok")) == 2 and not store.scenes("failed")


def test_wrong_credentials_give_one_clear_line(server, tmp_path):
    server.reject_token = True
    with pytest.raises(ConfigError, match="refused the client id/secret") as err:
        run(server, tmp_path)
    assert CLIENT_SECRET not in str(err.value)


@pytest.mark.parametrize("status", [400, 500])
def test_an_upstream_that_echoes_the_request_never_puts_the_secret_in_a_message(server, tmp_path, status):
    """Upstream bodies are not relayed: the message names the call and its HTTP status, not what came back."""
    server.fail("token", *[("echo", status)] * 5)
    with pytest.raises(ForestmonError) as err:
        run(server, tmp_path)
    message = str(err.value)
    assert CLIENT_SECRET not in message and "client_secret" not in message and "bad request" not in message
    assert f"HTTP {status}" in message and "token" in message


def test_a_failing_process_call_is_recorded_without_the_upstream_body(server, tmp_path):
    server.fail("process", *[("echo", 500)] * 40)              # the first day's chunks exhaust their tries
    store, result = run(server, tmp_path, settings={"threads": 1})
    assert result.failed and all("HTTP 500" in f["reason"] and "bad request" not in f["reason"] for f in result.failed)


def test_a_plain_http_token_url_is_named_as_such_not_as_refused_credentials(server, tmp_path, monkeypatch):
    monkeypatch.delenv("OAUTHLIB_INSECURE_TRANSPORT")
    with pytest.raises(ConfigError) as err:
        run(server, tmp_path)
    assert "https://" in str(err.value) and "refused" not in str(err.value)
    assert CLIENT_SECRET not in str(err.value)


def test_a_token_url_with_credentials_in_it_is_named_without_them(server, tmp_path):
    server.reject_token = True
    url = server.url.replace("http://", "http://user:pa55word@") + "/oauth/token?key=s3cr3tkey"
    with pytest.raises(ConfigError) as err:
        run(server, tmp_path, settings={"token_url": url})
    assert "pa55word" not in str(err.value) and "s3cr3tkey" not in str(err.value)
    assert "/oauth/token" in str(err.value)


def test_missing_credentials_give_one_clear_line(server, tmp_path):
    with pytest.raises(ConfigError, match="FORESTMON_SH_CLIENT_ID"):
        run(server, tmp_path, settings={"client_id": None, "client_secret": None})


def test_cli_with_a_refused_secret_prints_one_line_and_never_the_secret(server, tmp_path):
    server.reject_token = True
    env = {**os.environ, "OAUTHLIB_INSECURE_TRANSPORT": "1", "FORESTMON_SH_BASE_URL": server.url,
           "FORESTMON_SH_TOKEN_URL": f"{server.url}/oauth/token", "FORESTMON_SH_CLIENT_ID": CLIENT_ID,
           "FORESTMON_SH_CLIENT_SECRET": CLIENT_SECRET, "FORESTMON_SH_RETRY_WAIT_S": "0.01"}
    exe = Path(sys.executable).with_name("forestmon")
    proc = subprocess.run([str(exe), "-v", "ingest", "sentinelhub", "--start", "2024-01-01", "--end", "2024-01-31",
                           "--data-dir", str(tmp_path / "d")], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "refused the client id/secret" in errors[0] and "Traceback" not in proc.stderr
    assert CLIENT_SECRET not in proc.stderr + proc.stdout


def test_cli_passes_dates_cloud_cover_area_and_endpoint_to_the_source(server, tmp_path):
    """`forestmon ingest sentinelhub` through click: the scenes `ingest_sentinelhub` catalogues with those arguments."""
    import geopandas as gpd
    from click.testing import CliRunner

    from api.cli import cli

    area = tmp_path / "area.geojson"
    gpd.GeoDataFrame(geometry=[AREA], crs=4326).to_file(area)
    env = {"FORESTMON_SH_BASE_URL": server.url, "FORESTMON_SH_TOKEN_URL": f"{server.url}/oauth/token",
           "FORESTMON_SH_CLIENT_ID": CLIENT_ID, "FORESTMON_SH_CLIENT_SECRET": CLIENT_SECRET,
           "FORESTMON_SH_MAX_PX": "40", "FORESTMON_SH_RETRY_WAIT_S": "0.01", "FORESTMON_SH_TIMEOUT_S": "1.0"}
    result = CliRunner().invoke(cli, ["ingest", "sentinelhub", "--start", "2024-01-01", "--end", "2024-01-31",
                                      "--max-cloud", "50", "--area", str(area), "--endpoint", "cdse", "--no-detect",
                                      "--data-dir", str(tmp_path / "d")], env=env)
    assert result.exit_code == 0, (result.output, result.exception)
    assert "catalogued 2 scene(s), 0 failed" in result.output
    store = open_store(tmp_path / "d" / "forestmon.gpkg")
    assert [r["acquired"] for r in store.scenes("ok")] == ["2024-01-05", "2024-01-15"]
    assert (tmp_path / "d" / "cache" / "sentinelhub").is_dir()
