"""Benchmark: ingest of a synthetic full Sentinel-2 tile onto the grid, against merely reading the same files.

    python tests/benchmarks/bench_ingest.py [--workdir DIR] [--size 10980] [--input DIR]

Writes B02 B03 B04 B08 at 10 m (size x size) and B8A B11 B12 SCL at 20 m as tiled, DEFLATE-compressed GeoTIFFs
(one file per band, as a converted SAFE), then in separate processes: (1) reads every pixel of every file with
rasterio, block row by block row; (2) runs ``ingest_local`` on the folder over the tile's whole footprint (one
thread per core); (3) encodes the written tiles again from memory with the ingest's own COG writer, the part
of (2) no reading or resampling change can remove. Prints the times, the ratio ingest/read (target <= 2.0),
peak RSS (target <= 3 GB), and the CPU seconds of each step with their ratios to the read: the reference is
single-threaded and the ingest uses every core, so the wall-clock ratio also depends on how many cores other
work left free (printed: the cores other processes kept busy during the ingest). ``--input DIR`` keeps the
generated files there and reuses them on the next run (``--size 5490`` is a quarter tile, for quick runs).
Not part of the test suite: it needs ~2 GB of disk and several minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin
from scipy import ndimage

X0, Y0 = 799980.0, 1400040.0          # a Sentinel-2 MGRS tile corner in UTM 48N, over Lâm Đồng
CRS = "EPSG:32648"
TEN_M = ("B02", "B03", "B04", "B08")
TWENTY_M = ("B8A", "B11", "B12", "SCL")
MEAN = {"B02": 300, "B03": 550, "B04": 400, "B08": 2900, "B8A": 3000, "B11": 1700, "B12": 800}


def generate(folder: Path, size: int) -> None:
    """Textured reflectance (smooth fields plus noise, like land cover) and SCL with cloud patches."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for band in TEN_M + TWENTY_M:
        n, res = (size, 10) if band in TEN_M else (size // 2, 20)
        path = folder / f"T48PZU_20240105T032109_{band}_{res}m.tif"
        if path.exists():
            continue
        profile = {"driver": "GTiff", "width": n, "height": n, "count": 1, "dtype": "uint8" if band == "SCL" else
                   "uint16", "crs": CRS, "transform": from_origin(X0, Y0, res, res), "tiled": True,
                   "blockxsize": 512, "blockysize": 512, "compress": "DEFLATE", "nodata": 0}
        with rasterio.open(path, "w", **profile) as dst:
            for row in range(0, n, 1024):
                h = min(1024, n - row)
                coarse = ndimage.zoom(rng.standard_normal((h // 32 + 2, n // 32 + 2)), 32, order=1)[:h, :n]
                if band == "SCL":
                    data = np.where(coarse > 1.2, 9, np.where(coarse < -1.5, 3, 4)).astype(np.uint8)
                else:
                    data = MEAN[band] * (1 + 0.3 * coarse) + rng.normal(0, 40, (h, n))
                    data = np.clip(data, 1, 10000).astype(np.uint16)
                dst.write(data, 1, window=rasterio.windows.Window(0, row, n, h))


def read_all(folder: Path) -> dict:
    """The reference: every pixel of every input file read with rasterio, block row by block row."""
    start, cpu = time.perf_counter(), time.process_time()
    total = 0
    for path in sorted(folder.glob("*.tif")):
        with rasterio.open(path) as src:
            for row in range(0, src.height, 512):
                h = min(512, src.height - row)
                total += int(src.read(1, window=rasterio.windows.Window(0, row, src.width, h)).size)
    return {"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu, "pixels": total,
            "peak_rss_mb": _peak_mb()}


def ingest(folder: Path, out: Path) -> dict:
    from pyproj import Transformer
    from shapely.geometry import box

    from geo.region import load_region
    from geo.store import open_store
    from ingest.catalogue import ingest_local

    with rasterio.open(next(folder.glob("*_B04_*.tif"))) as src:
        bounds = Transformer.from_crs(CRS, 4326, always_xy=True).transform_bounds(*src.bounds)
    store = open_store(out / "store.gpkg")
    start, cpu = time.perf_counter(), time.process_time()
    result = ingest_local([folder], store, load_region("lamdong"), out / "ard", area=box(*bounds))
    seconds = time.perf_counter() - start
    assert not result.failed, result.failed
    return {"seconds": seconds, "cpu_seconds": time.process_time() - cpu, "tiles": result.tiles_written,
            "peak_rss_mb": _peak_mb()}


def encode(ard_dir: Path) -> dict:
    """The floor inside the ingest: the written tiles' COGs (one 8-band 10 m COG, or a 10 m and a 20 m COG with a
    VRT, see ``ingest/ard.py``), read back into memory (not timed), encoded again by the ingest's own COG writer
    (same bands, resolution, overviews and compression): no reading, resampling or bookkeeping."""
    from geo.grid import Grid
    from ingest.ard import write_cog

    seconds = cpu = 0.0
    for path in sorted(ard_dir.glob("*/*.tif")):
        with rasterio.open(path) as src:
            layers, tags, names = list(src.read()), src.tags(), src.descriptions
            grid = Grid(src.crs, src.transform, src.width, src.height)
        start, cpu_start = time.perf_counter(), time.process_time()
        write_cog(path.with_name("encoded.tmp.tif"), layers, grid, tags, names,
                  overview_px=256 if path.name.endswith(".20m.tif") else 512)
        seconds, cpu = seconds + time.perf_counter() - start, cpu + time.process_time() - cpu_start
        path.with_name("encoded.tmp.tif").unlink()
    return {"seconds": seconds, "cpu_seconds": cpu, "peak_rss_mb": _peak_mb()}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _busy_seconds() -> float:
    """CPU seconds all processes of the machine have used since boot (Linux)."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")     # all but idle and iowait


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _child(step: str, *args: str) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--step", step, *args], capture_output=True, text=True,
                          check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None, help="where to put the input and output files")
    parser.add_argument("--size", type=int, default=10980, help="10 m tile side in pixels (10980 = a full tile)")
    parser.add_argument("--input", type=Path, default=None, help="keep (and reuse) the generated input files here")
    parser.add_argument("--step", choices=["read", "ingest", "encode"], help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step == "read":
        print(json.dumps(read_all(args.workdir)))
        return
    if args.step == "ingest":
        print(json.dumps(ingest(args.workdir, args.out)))
        return
    if args.step == "encode":
        print(json.dumps(encode(args.workdir)))
        return
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        folder = args.input or Path(tmp) / "input"
        print(f"generating a {args.size} x {args.size} Sentinel-2 tile (7 bands + SCL) in {folder} ...", flush=True)
        generate(folder, args.size)
        read_all(folder)   # warm the page cache so both timings read from memory alike
        reference = _child("read", "--workdir", str(folder))
        busy, children, start = _busy_seconds(), _children_cpu(), time.perf_counter()
        run = _child("ingest", "--workdir", str(folder), "--out", str(Path(tmp) / "out"))
        others = (_busy_seconds() - busy - (_children_cpu() - children)) / (time.perf_counter() - start)
        floor = _child("encode", "--workdir", str(Path(tmp) / "out" / "ard"))
        ratio = run["seconds"] / reference["seconds"]
        print(f"{os.cpu_count()} cores; other processes kept {max(others, 0):.1f} of them busy during the ingest")
        print(f"read with rasterio: {reference['seconds']:.1f} s (CPU {reference['cpu_seconds']:.1f} s), "
              f"peak RSS {reference['peak_rss_mb']:.0f} MB")
        print(f"ingest onto grid:   {run['seconds']:.1f} s (CPU {run['cpu_seconds']:.1f} s, {run['tiles']} tiles), "
              f"peak RSS {run['peak_rss_mb']:.0f} MB")
        print(f"encoding its output alone: {floor['seconds']:.1f} s (CPU {floor['cpu_seconds']:.1f} s), "
              f"CPU ratio encode/read = {floor['cpu_seconds'] / reference['cpu_seconds']:.2f}")
        print(f"CPU ratio ingest/read = {run['cpu_seconds'] / reference['cpu_seconds']:.2f}")
        print(f"ratio ingest/read = {ratio:.2f} (target <= 2.0); peak RSS {run['peak_rss_mb'] / 1024:.2f} GB "
              "(target <= 3 GB)")


if __name__ == "__main__":
    main()
