"""Vendored web assets: the JS/CSS the rangers' app, the OGC pages' map and the API docs load, copied from npm into
``data/web/vendor`` (offline), each with its licence and version.

Re-vendor (after changing a version here) with ``python -m maps.assets``.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from data import data_path

WEB_DIR = data_path("web")
VENDOR_DIR = WEB_DIR / "vendor"


@dataclass(frozen=True)
class Library:
    """One vendored npm package: which of its files we copy, and its licence file."""

    name: str  # folder under vendor/
    version: str
    files: tuple[str, ...]  # paths inside the npm package; copied without their leading "dist/"
    licence: str  # licence file inside the npm package, copied beside the files
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
    ),
    # The API's interactive documentation at /docs (FastAPI's Swagger UI page, pointed at these copies).
    Library(
        name="swagger-ui-dist",
        version="5.35.0",
        files=("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"),
        licence="LICENSE",
    ),
    # The API's reference documentation at /redoc: ReDoc's standalone bundle (no inline script needed). Not 3.x:
    # its bundle sends telemetry to redocly.com. 2.x draws its sidebar logo from their CDN: that image gets an
    # empty source (ReDoc hides an image that fails to load).
    Library(
        name="redoc",
        version="2.5.4",
        files=("bundles/redoc.standalone.js",),
        licence="LICENSE",
        patches=(("bundles/redoc.standalone.js", 'src:"https://cdn.redoc.ly/redoc/logo-mini.svg"', 'src:""'),),
    ),
    # The rangers' app at /: an ES module build whose worker is a sibling file (same origin, so the CSP holds).
    Library(
        name="maplibre-gl",
        version="6.20.0",
        files=("dist/maplibre-gl.mjs", "dist/maplibre-gl-worker.mjs", "dist/maplibre-gl.css"),
        licence="LICENSE.txt",
    ),
)

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
    for path in vendor():
        print(path)
