"""Helpers for the review workflow tests: users of every role, logging in, photos with EXIF GPS."""

from __future__ import annotations

import io

from fastapi.testclient import TestClient
from PIL import Image

PASSWORD = "correct-horse-9"
USERS = {  # username -> (role, units)
    "admin": ("admin", ()),
    "an": ("ranger", ("675",)),        # covers Lạc Dương, the district of the sample alerts
    "binh": ("ranger", ("673",)),      # another district
    "planner": ("planner", ()),
    "viewer": ("viewer", ()),
}


def login(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    r = client.post("/auth/token", data={"username": username, "password": password})
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "bearer"
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def jpeg_with_gps(lat: float, lon: float, taken: str = "2024:06:14 09:30:00") -> bytes:
    """A small JPEG whose EXIF says where and when it was taken (degrees, minutes, seconds)."""
    def dms(value: float) -> tuple[float, float, float]:
        d = int(value)
        m = int((value - d) * 60)
        return (float(d), float(m), round((value - d - m / 60) * 3600, 4))

    exif = Image.Exif()
    exif.get_ifd(0x8825).update({1: "N" if lat >= 0 else "S", 2: dms(abs(lat)), 3: "E" if lon >= 0 else "W",
                                 4: dms(abs(lon))})
    exif.get_ifd(0x8769)[0x9003] = taken
    buf = io.BytesIO()
    Image.new("RGB", (48, 32), (40, 120, 40)).save(buf, "JPEG", exif=exif)
    return buf.getvalue()
