"""A small Sentinel Hub look-alike for the tests, served over real HTTP on 127.0.0.1 (FastAPI + uvicorn).

It speaks what the ``sentinelhub`` client uses: the OAuth client-credentials token, Catalog API search with
``next`` pagination, and the Process API answering GeoTIFFs built from the request (bbox, CRS, size, date).
Failures are queued per endpoint (``server.fail("process", 429, 500, "slow")``, ``server.reject_token = True``),
and every call is counted, so tests can check retries and the download cache.

The pixel values are known: band i holds 100 * i + (row number of the pixel's easting modulo 50), so any error in
placing a request's GeoTIFF on the grid shows; SCL is 4 (vegetation), 9 (cloud) on days listed as cloudy. When
the evalscript asks for CLP and CLM (s2cloudless), they follow :func:`expected_clouds`: on days listed as hazy,
cloud SCL missed in two bands of easting.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from collections import defaultdict, deque
from datetime import datetime
from urllib.parse import parse_qs

import numpy as np
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from rasterio.io import MemoryFile
from rasterio.transform import from_bounds

CLIENT_ID, CLIENT_SECRET = "test-client", "s3cret-never-logged"
BANDS = ("B02", "B03", "B04", "B08", "B8A", "B11", "B12", "SCL")


def expected_value(band_index: int, easting_center: np.ndarray) -> np.ndarray:
    """What the server puts in band ``band_index`` (1-based) of a pixel centred at ``easting_center``."""
    return (100 * band_index + (easting_center // 10) % 50).astype(np.uint16)


def expected_clouds(easting_center: np.ndarray, hazy: bool) -> tuple[np.ndarray, np.ndarray]:
    """(CLP, CLM) the server gives a pixel centred at ``easting_center``: on a hazy day CLP 200 (probability 0.78)
    where the easting's pixel number modulo 50 is 10-14 and CLM 1 where it is 20-24; otherwise CLP 30, CLM 0."""
    k = (easting_center // 10) % 50
    clp = np.where(hazy & (k >= 10) & (k < 15), 200, 30).astype(np.uint16)
    clm = (hazy & (k >= 20) & (k < 25)).astype(np.uint16)
    return clp, clm


class FakeSentinelHub:
    def __init__(self, items: list[dict], cloudy_days: set[str] = frozenset(), slow_seconds: float = 1.5,
                 hazy_days: set[str] = frozenset()):
        self.items = items
        self.cloudy_days = set(cloudy_days)
        self.hazy_days = set(hazy_days)
        self.evalscripts: list[str] = []
        self.slow_seconds = slow_seconds
        self.reject_token = False
        self.page_size = 2          # small pages, so every search follows ``next``
        self.failures: dict[str, deque] = defaultdict(deque)
        self.calls: dict[str, int] = defaultdict(int)
        self.process_sizes: list[tuple[int, int]] = []
        self.token = "header." + base64.urlsafe_b64encode(json.dumps({"azp": CLIENT_ID}).encode()).decode() + ".sig"
        self.app = self._build()

    def fail(self, endpoint: str, *actions) -> None:
        """Queue failures for the next calls to ``endpoint`` (token, catalog, process): a status, "slow", or
        ("echo", status) to answer that status with the request body in the text."""
        self.failures[endpoint].extend(actions)

    async def _failure(self, endpoint: str, request: Request) -> Response | None:
        self.calls[endpoint] += 1
        if not self.failures[endpoint]:
            return None
        action = self.failures[endpoint].popleft()
        if action == "slow":
            await asyncio.sleep(self.slow_seconds)
            return None
        if isinstance(action, tuple) and action[0] == "echo":  # a careless upstream echoing the request back
            return Response(f"bad request: {(await request.body()).decode()}", status_code=action[1])
        if action == 429:
            return JSONResponse({"error": {"status": 429, "reason": "Too Many Requests"}}, status_code=429,
                                headers={"Retry-After": "50"})   # the client reads it as milliseconds
        return JSONResponse({"error": {"status": action, "reason": "injected"}}, status_code=action)

    def _authorised(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.token}"

    def _build(self) -> FastAPI:
        app = FastAPI()

        @app.post("/oauth/token")
        async def token(request: Request):
            failure = await self._failure("token", request)
            if failure is not None:
                return failure
            form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
            if self.reject_token or form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
                return JSONResponse({"error": "invalid_client", "error_description": "Invalid client credentials"},
                                    status_code=401)
            return {"access_token": self.token, "token_type": "Bearer", "expires_in": 3600}

        @app.post("/api/v1/catalog/1.0.0/search")
        async def search(request: Request):
            failure = await self._failure("catalog", request)
            if failure is not None:
                return failure
            if not self._authorised(request):
                return JSONResponse({"error": {"status": 401}}, status_code=401)
            body = await request.json()
            start, end = (datetime.fromisoformat(t.replace("Z", "+00:00")) for t in body["datetime"].split("/"))
            match = re.search(r"eo:cloud_cover\s*<=\s*([0-9.]+)", str(body.get("filter", "")))
            max_cloud = float(match[1]) if match else 100
            found = [i for i in self.items
                     if start <= datetime.fromisoformat(i["properties"]["datetime"].replace("Z", "+00:00")) <= end
                     and i["properties"]["eo:cloud_cover"] <= max_cloud]
            offset, limit = int(body.get("next") or 0), min(int(body.get("limit", 100)), self.page_size)
            page = found[offset:offset + limit]
            context = {"limit": limit, "returned": len(page)}
            if offset + limit < len(found):
                context["next"] = offset + limit
            return {"type": "FeatureCollection", "features": page, "context": context}

        @app.post("/api/v1/process")
        async def process(request: Request):
            failure = await self._failure("process", request)
            if failure is not None:
                return failure
            if not self._authorised(request):
                return JSONResponse({"error": {"status": 401}}, status_code=401)
            body = await request.json()
            return Response(self._tiff(body), media_type="image/tiff")

        return app

    def _tiff(self, body: dict) -> bytes:
        west, south, east, north = body["input"]["bounds"]["bbox"]
        epsg = int(body["input"]["bounds"]["properties"]["crs"].rsplit("/", 1)[-1])
        width, height = body["output"]["width"], body["output"]["height"]
        self.process_sizes.append((width, height))
        day = body["input"]["data"][0]["dataFilter"]["timeRange"]["from"][:10]
        self.evalscripts.append(body["evalscript"])
        names = re.findall(r'"(\w+)"', re.search(r"bands:\s*\[([^\]]*)\]", body["evalscript"])[1])
        assert names[:len(BANDS)] == list(BANDS) and set(names[len(BANDS):]) <= {"CLP", "CLM", "dataMask"}, names
        count = int(re.search(r"output:\s*{[^}]*bands:\s*(\d+)", body["evalscript"])[1])
        res = (east - west) / width
        centers = west + res * (np.arange(width) + 0.5)
        data = np.empty((count, height, width), np.uint16)
        for i in range(1, 8):
            data[i - 1] = expected_value(i, centers)[None, :]
        data[7] = 9 if day in self.cloudy_days else 4
        clp, clm = expected_clouds(centers, day in self.hazy_days)
        for i, name in enumerate(names[len(BANDS):count], start=len(BANDS)):
            data[i] = (clp if name == "CLP" else clm)[None, :]
        profile = {"driver": "GTiff", "width": width, "height": height, "count": count, "dtype": "uint16",
                   "crs": f"EPSG:{epsg}", "transform": from_bounds(west, south, east, north, width, height)}
        with MemoryFile() as mem:
            with mem.open(**profile) as dst:
                dst.write(data)
            return mem.read()


def item(item_id: str, when: str, cloud: float, bounds: tuple[float, float, float, float]) -> dict:
    """A STAC item as the Catalog API returns it (geometry in EPSG:4326)."""
    w, s, e, n = bounds
    return {"type": "Feature", "id": item_id, "stac_version": "1.0.0",
            "geometry": {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]},
            "properties": {"datetime": when, "eo:cloud_cover": cloud}, "bbox": [w, s, e, n]}


def wait_until(predicate, timeout: float = 10.0) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False
