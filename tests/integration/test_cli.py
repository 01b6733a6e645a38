"""The ``forestmon`` command line as a whole: every command and its help, ``ingest``'s two sources in one help and
their wrong combinations refused by name, and detection followed by assignment to the rangers of the unit."""

from __future__ import annotations

from datetime import date

import click
import pytest
from click.testing import CliRunner
from conftest import write_scene
from shapely.geometry import Point

from api.cli import cli
from geo.region import load_region
from geo.store import open_store
from geo.workflow.review import queue

COMMANDS = ("demo", "ingest", "detect", "report", "serve", "db", "users", "targets", "cases", "planting", "assign",
            "export", "layers", "region", "weekly", "runs", "subscriptions")
CLEARING = (slice(10, 30), slice(20, 40))  # rows and columns of the scene at x0 = 860000, y0 = 1340000, 10 m


def invoke(*args, **kw):
    return CliRunner().invoke(cli, [str(a) for a in args], prog_name="forestmon", **kw)


def command_paths(group: click.Group = cli, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and subcommand, as the words that call it."""
    paths = []
    for name, command in group.commands.items():
        paths.append((*prefix, name))
        if isinstance(command, click.Group):
            paths.extend(command_paths(command, (*prefix, name)))
    return paths


def test_help_lists_every_command():
    result = invoke("--help")
    assert result.exit_code == 0, result.output
    listed = result.output.split("Commands:")[1].split()
    for name in COMMANDS:
        assert name in listed
    assert set(cli.commands) == set(COMMANDS)


@pytest.mark.parametrize("words", command_paths(), ids=" ".join)
def test_every_command_has_help(words):
    result = invoke(*words, "--help")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: forestmon {' '.join(words)}")


def test_ingest_help_lists_the_options_of_both_sources_under_their_source():
    result = invoke("ingest", "--help")
    assert result.exit_code == 0, result.output
    text = result.output
    for option in ("--bands", "--region", "--forest", "--start", "--end", "--max-cloud", "--area", "--endpoint",
                   "--scheduler", "--detect / --no-detect", "--data-dir"):
        assert option in text, option
    local, rest = text.split("Options for local files (PATH...):")[1].split("Options for sentinelhub:")
    sentinelhub, both = rest.split("Options for both:")
    assert "--bands" in local and "--start" not in local
    for option in ("--start", "--end", "--max-cloud", "--area", "--endpoint"):
        assert option in sentinelhub and option not in local + both
    for option in ("--region", "--forest", "--scheduler", "--data-dir"):
        assert option in both and option not in local + sentinelhub
    assert "forestmon ingest sentinelhub --start DATE --end DATE" in text


@pytest.fixture
def scenes(tmp_path):
    folder = tmp_path / "scenes"
    folder.mkdir()
    write_scene(folder / "before_20240105.tif", date(2024, 1, 5))
    write_scene(folder / "after_20240305.tif", date(2024, 3, 5), bare=CLEARING)
    return folder


@pytest.mark.parametrize(("args", "named"), [
    (["{scenes}", "--start", "2024-01-01"], "--start"),
    (["{scenes}", "--end", "2024-01-31"], "--end"),
    (["{scenes}", "--max-cloud", "50"], "--max-cloud"),
    (["{scenes}", "--area", "{scenes}/before_20240105.tif"], "--area"),
    (["{scenes}", "--endpoint", "cdse"], "--endpoint"),
    (["sentinelhub", "--bands", "B04=3,B08=4,B12=6,SCL=7", "--start", "2024-01-01", "--end", "2024-01-31"],
     "--bands"),
    (["sentinelhub"], "--start"),
    (["sentinelhub", "--end", "2024-01-31"], "--start"),
    (["sentinelhub", "--start", "2024-01-01"], "--end"),
    (["sentinelhub", "--start", "2024-02-01", "--end", "2024-01-31"], "--end"),
    (["sentinelhub", "--start", "2024-01-32", "--end", "2024-02-01"], "--start"),
    (["sentinelhub", "{scenes}", "--start", "2024-01-01", "--end", "2024-01-31"], "PATH"),
    (["{scenes}/missing.tif"], "PATH"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_wrong_ingest_combinations_are_usage_errors_naming_the_option(scenes, tmp_path, args, named):
    data_dir = tmp_path / "d"
    result = invoke("ingest", *[a.format(scenes=scenes) for a in args], "--data-dir", data_dir)
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and named in errors[0], result.output
    assert not data_dir.exists()  # refused before anything was read or written


def unit_of_the_clearing() -> str:
    """The admin unit holding the clearing that ``write_scene`` cuts at CLEARING."""
    units = load_region("lamdong").units().to_crs(32648)
    centre = Point(860000 + 10 * 30, 1340000 - 10 * 20)
    return str(units[units.contains(centre)]["id"].iloc[0])


@pytest.mark.parametrize("steps", [[["ingest", "{scenes}"]],
                                   [["ingest", "{scenes}", "--no-detect"], ["detect"]]],
                         ids=["ingest", "detect"])
def test_detection_assigns_the_new_alert_to_a_ranger_of_its_unit(scenes, tmp_path, steps):
    data_dir = tmp_path / "d"
    unit = unit_of_the_clearing()
    other = next(u for u in load_region("lamdong").units()["id"].astype(str) if u != unit)
    for name, units in (("an", unit), ("binh", other)):
        added = invoke("users", "add", name, "--role", "ranger", "--units", units, "--password", "secret-pass",
                       "--data-dir", data_dir)
        assert added.exit_code == 0, added.output
    for step in steps:
        result = invoke(*[a.format(scenes=scenes) for a in step], "--data-dir", data_dir)
        assert result.exit_code == 0, (result.output, result.exception)
    assert "processed 2 new scene(s); 1 alert(s)" in result.output and "assigned 1" in result.output
    store = open_store(data_dir / "forestmon.gpkg")
    mine = queue(store, "an")
    assert len(mine) == 1 and mine.iloc[0]["district_id"] == unit and mine.iloc[0]["status"] == "assigned"
    assert len(queue(store, "binh")) == 0
    again = invoke("detect", "--data-dir", data_dir)
    assert "processed 0 new scene(s)" in again.output and "assigned 0" in again.output
