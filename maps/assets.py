"""Vendored web assets: the JS/CSS our folium maps, the rangers' app and the API docs load, copied from npm into
``data/web/vendor`` (offline).

Re-vendor (after a folium upgrade changes the versions it expects) with ``python -m maps.assets``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import folium
from branca.element import Element

from data import data_path

WEB_DIR = data_path("web")
VENDOR_DIR = WEB_DIR / "vendor"


@dataclass(frozen=True)
class Library:
    """One vendored npm package: which of its files we copy and which folium resources they stand in for."""

    name: str  # folder under vendor/
    version: str
    files: tuple[str, ...]  # paths inside the npm package; copied without their leading "dist/"
    licence: str  # licence file inside the npm package, copied beside the files
    resources: dict[str, str]  # folium resource name (default_js/default_css) -> file under vendor/<name>/
    # (file, text, replacement): outside URLs a package's code would fetch, cut at vendoring time (the README lists
    # them), so the copy never reaches for the network
    patches: tuple[tuple[str, str, str], ...] = ()

    def target(self, path: str) -> str:
        """Where a package file lands under ``vendor/<name>/``."""
        return path.removeprefix("dist/")


LIBRARIES: tuple[Library, ...] = (
    Library(
        name="leaflet",
        version="1.9.3",
        files=(
            "dist/leaflet.js",
            "dist/leaflet.css",
            # referenced by leaflet.css: layer-control icon, default marker icon
            "dist/images/layers.png",
            "dist/images/layers-2x.png",
            "dist/images/marker-icon.png",
            "dist/images/marker-icon-2x.png",
            "dist/images/marker-shadow.png",
        ),
        licence="LICENSE",
        resources={"leaflet": "leaflet.js", "leaflet_css": "leaflet.css"},
    ),
    # folium's own templates call jQuery for folium.Popup, GeoJson(embed=False) and Map.keep_in_front.
    Library(
        name="jquery",
        version="3.7.1",
        files=("dist/jquery.min.js",),
        licence="LICENSE.txt",
        resources={"jquery": "jquery.min.js"},
    ),
    # The API's interactive documentation at /docs (FastAPI's Swagger UI page, pointed at these copies).
    Library(
        name="swagger-ui-dist",
        version="5.35.0",
        files=("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"),
        licence="LICENSE",
        resources={},
    ),
    # The API's reference documentation at /redoc: ReDoc's standalone bundle (no inline script needed). Not 3.x:
    # its bundle sends telemetry to redocly.com. 2.x draws its sidebar logo from their CDN: that image gets an
    # empty source (ReDoc hides an image that fails to load).
    Library(
        name="redoc",
        version="2.5.4",
        files=("bundles/redoc.standalone.js",),
        licence="LICENSE",
        resources={},
        patches=(("bundles/redoc.standalone.js", 'src:"https://cdn.redoc.ly/redoc/logo-mini.svg"', 'src:""'),),
    ),
    # The rangers' app at /app/: an ES module build whose worker is a sibling file (same origin, so the CSP holds).
    Library(
        name="maplibre-gl",
        version="6.20.0",
        files=("dist/maplibre-gl.mjs", "dist/maplibre-gl-worker.mjs", "dist/maplibre-gl.css"),
        licence="LICENSE.txt",
        resources={},
    ),
)

# folium.Map defaults we leave out: Bootstrap styling and the icon fonts of folium.Icon (awesome-markers),
# none of which our maps use. localize() refuses maps that hold a folium.Icon.
UNUSED_MAP_RESOURCES = frozenset(
    {
        "bootstrap",
        "bootstrap_css",
        "glyphicons_css",
        "awesome_markers",
        "awesome_markers_css",
        "awesome_markers_font_css",
        "awesome_rotate_css",
    }
)

LOCAL_RESOURCES: dict[str, str] = {
    name: f"{lib.name}/{file}" for lib in LIBRARIES for name, file in lib.resources.items()
}


def folium_expected_versions() -> dict[str, str]:
    """Versions of our libraries that folium's own CDN links name (e.g. ``leaflet@1.9.3``), to catch drift."""
    found: dict[str, str] = {}
    for _, url in folium.Map.default_js:
        for lib in LIBRARIES:
            match = re.search(rf"{lib.name}[@-](\d+\.\d+\.\d+)", url)
            if match:
                found[lib.name] = match.group(1)
    return found


def _walk(element: Element) -> Iterator[Element]:
    yield element
    for child in element._children.values():
        yield from _walk(child)


def localize(m: folium.Map, static_url: str = "/static") -> None:
    """Point the JS/CSS links of ``m`` and its children at ``{static_url}/vendor/...``.

    Call it once the map is built, just before rendering. Links we have no copy of raise ValueError
    rather than silently reaching for a CDN.
    """
    base = static_url.rstrip("/") + "/vendor"
    for element in _walk(m):
        if isinstance(element, folium.Icon):
            raise ValueError(
                "folium.Icon needs Leaflet.awesome-markers and Font Awesome, which are not vendored; "
                "use folium.DivIcon or a CircleMarker"
            )
        for attr in ("default_js", "default_css"):
            links = getattr(element, attr, None)
            if not links:
                continue
            kept: list[tuple[str, str]] = []
            for name, url in links:
                if name in LOCAL_RESOURCES:
                    kept.append((name, f"{base}/{LOCAL_RESOURCES[name]}"))
                elif not (isinstance(element, folium.Map) and name in UNUSED_MAP_RESOURCES):
                    raise ValueError(
                        f"{type(element).__name__} needs {name!r} ({url}), which is not vendored; "
                        "add it to maps/assets.py LIBRARIES"
                    )
            setattr(element, attr, kept)  # instance attribute: folium's class-level lists stay untouched


def vendor(dest: Path = VENDOR_DIR) -> list[Path]:
    """Fetch LIBRARIES with ``npm pack`` (which checks the registry's integrity hash) and copy their files."""
    written: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp:
        for lib in LIBRARIES:
            spec = f"{lib.name}@{lib.version}"
            out = subprocess.run(
                ["npm", "pack", spec, "--silent", "--pack-destination", tmp],
                check=True, capture_output=True, text=True,
            )
            tgz = Path(tmp) / out.stdout.strip().splitlines()[-1]
            unpacked = Path(tmp) / lib.name
            with tarfile.open(tgz) as tar:
                tar.extractall(unpacked, filter="data")
            package = unpacked / "package"
            libdir = dest / lib.name
            if libdir.exists():
                shutil.rmtree(libdir)
            for path in (*lib.files, lib.licence):
                target = libdir / lib.target(path)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(package / path, target)
                written.append(target)
            for path, text, replacement in lib.patches:
                target = libdir / lib.target(path)
                code = target.read_text(encoding="utf-8")
                if code.count(text) != 1:
                    raise ValueError(f"{lib.name}@{lib.version}: {path} holds {text!r} not once; review the patch")
                target.write_text(code.replace(text, replacement), encoding="utf-8")
    readme = dest / "README.md"
    readme.write_text(
        "# Vendored web assets\n\nCopied from the npm registry by `python -m maps.assets`; do not edit.\n\n"
        + "".join(f"- `{lib.name}/`: npm `{lib.name}@{lib.version}`, licence in `{lib.name}/{lib.licence}`\n"
                  + "".join(f"  - patched: in `{path}`, `{text}` became `{new}`\n" for path, text, new in lib.patches)
                  for lib in LIBRARIES),
        encoding="utf-8",
    )
    written.append(readme)
    return written


if __name__ == "__main__":
    expected = folium_expected_versions()
    for lib in LIBRARIES:
        if expected.get(lib.name, lib.version) != lib.version:
            print(f"warning: folium links {lib.name} {expected[lib.name]}, we vendor {lib.version}",
                  file=sys.stderr)
    for path in vendor():
        print(path)
