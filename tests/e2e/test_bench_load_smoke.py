"""A short run of the load benchmark (tests/benchmarks/bench_load.py) on the demo's data: 5 s at 10 requests a
second against ``forestmon serve --workers 2`` on the GeoPackage. Checks the benchmark runs end to end and the
server answers every request of the mix without an error (the latency targets are for the full run)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def test_the_load_benchmark_runs_and_every_request_succeeds(demo_run, tmp_path):
    assert demo_run["proc"].returncode == 0, demo_run["proc"].stderr[-2000:]
    bench = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_load.py"
    proc = subprocess.run([sys.executable, str(bench), "--rate", "10", "--duration", "5", "--warmup", "0",
                           "--backends", "gpkg", "--workers", "2", "--no-single", "--review-every", "1",
                           "--demo-dir", str(demo_run["data_dir"]), "--work-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    measured = re.findall(r"workers=2: (\d+) requests, (\d+) errors, p50", proc.stdout)
    assert measured and int(measured[0][0]) >= 50 and measured[0][1] == "0", proc.stdout + proc.stderr[-2000:]
    assert "review" in proc.stdout and "imagery tile" in proc.stdout
