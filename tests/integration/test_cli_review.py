"""The CLI for accounts, cases, planting lots, assignment and targets, on both backends, with known answers."""

from __future__ import annotations

import json

import geopandas as gpd
from click.testing import CliRunner
from shapely.geometry import box

from api.cli import cli
from api.users import authenticate
from geo.workflow.planting import list_lots


def run(url: str, *args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), env={"FORESTMON_DATABASE_URL": url}, input=input)


def test_users_add_list_disable(store):
    r = run(store.url, "users", "add", "an", "--role", "ranger", "--units", "675,676", input="secret-pass\n" * 2)
    assert r.exit_code == 0, r.output
    assert "added an (ranger; units 675,676)" in r.output
    assert authenticate(store, "an", "secret-pass").units == ("675", "676")
    r = run(store.url, "users", "add", "an", "--role", "viewer", "--password", "another-pass")
    assert r.exit_code != 0 and "user 'an' already exists" in str(r.exception)
    r = run(store.url, "users", "add", "Bad Name", "--role", "viewer", "--password", "another-pass")
    assert r.exit_code != 0 and "username" in str(r.exception)
    assert run(store.url, "users", "list").output.split("\n")[0].split("\t")[:4] == ["an", "ranger", "675,676",
                                                                                    "active"]
    assert run(store.url, "users", "disable", "an").exit_code == 0
    assert "\tdisabled\t" in run(store.url, "users", "list").output
    r = run(store.url, "users", "disable", "nobody")
    assert r.exit_code != 0 and "no user 'nobody'" in str(r.exception)


def test_assign_then_cases_import_and_targets(store, tmp_path):
    run(store.url, "users", "add", "an", "--role", "ranger", "--units", "675", "--password", "secret-pass")
    r = run(store.url, "assign")
    assert r.exit_code == 0 and "assigned 3 alerts" in r.output and "an: 3" in r.output
    cases_csv = tmp_path / "cases.csv"
    cases_csv.write_text("number,opened,violation_type,area_ha,timber_m3\n"
                         "A-1,2023-03-01,illegal_logging,2.5,10\nA-2,2023-05-01,fire,1.5,\n"
                         "B-1,2024-02-01,illegal_clearing,1.0,3.5\n", encoding="utf-8")
    r = run(store.url, "cases", "import", str(cases_csv))
    assert r.exit_code == 0 and "3 cases added, 0 updated" in r.output
    assert "0 cases added, 3 updated" in run(store.url, "cases", "import", str(cases_csv)).output
    r = run(store.url, "targets", "--year", "2024", "--as-of", "2024-12-31", "--json")
    v = json.loads(r.output)["violations"]
    assert (v["cases"]["baseline"], v["cases"]["target"], v["cases"]["current"]) == (2, 1.6, 1)
    assert (v["damaged_area_ha"]["target"], v["damaged_timber_m3"]["current"]) == (3.2, 3.5)
    assert v["cases"]["on_track"] is True and v["damaged_timber_m3"]["on_track"] is True
    text = run(store.url, "targets", "--year", "2024", "--as-of", "2024-12-31", "--lang", "en").output
    assert "Violation cases\t2\t1.60\t1\t1\tyes" in text
    r = run(store.url, "targets", "--year", "2031")
    assert r.exit_code != 0 and "no targets for 2031" in str(r.exception)


def test_bad_case_csv_names_the_line_and_adds_nothing(store, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("number,opened,violation_type\nA-1,2023-03-01,illegal_logging\nA-2,2023-02-30,fire\n",
                   encoding="utf-8")
    r = run(store.url, "cases", "import", str(bad))
    assert r.exit_code != 0 and "CSV line 3: opened: '2023-02-30' is not a date" in str(r.exception)
    with store.reading() as tx:
        assert tx.scalar("SELECT count(*) AS n FROM cases") == 0


def test_planting_lots_import_with_areas_in_hectares(store, tmp_path):
    # Two lots drawn in UTM 48N: 100 m x 100 m (1 ha) and 200 m x 150 m (3 ha).
    lots = gpd.GeoDataFrame(
        {"lot_id": ["L1", "L2"], "planted": ["2024-05-02", "2024-07-15"], "species": ["Pinus kesiya", "Acacia"],
         "trees": [1600, 4800], "programme": ["replanting", "new plantation"]},
        geometry=[box(860000, 1335000, 860100, 1335100), box(861000, 1335000, 861200, 1335150)], crs=32648)
    path = tmp_path / "lots.geojson"
    lots.to_crs(4326).to_file(path)
    r = run(store.url, "planting", "import", str(path))
    assert r.exit_code == 0 and "2 lots added" in r.output
    stored = list_lots(store, 2024)
    assert list(stored["lot_id"]) == ["L1", "L2"]
    assert stored["area_ha"].round(3).tolist() == [1.0, 3.0]
    assert stored.geometry.iloc[1].geom_type == "MultiPolygon"
    csv_path = tmp_path / "lots.csv"
    csv_path.write_text(f"lot_id,planted,trees,wkt\nL3,2024-08-01,500,\"{lots.to_crs(4326).geometry[0].wkt}\"\n",
                        encoding="utf-8")
    assert "1 lots added" in run(store.url, "planting", "import", str(csv_path)).output
    t = json.loads(run(store.url, "targets", "--year", "2024", "--as-of", "2024-12-31", "--json").output)
    assert t["afforestation"]["new_plantation_ha"]["current"] == 5.0
    # lots of no scattered-tree programme are plantation forest: their trees are told, not counted as scattered
    assert t["afforestation"]["trees_planted"]["current"] == 0
    assert t["afforestation"]["trees_planted"]["in_plantation_lots"] == 6900
    # no scene in the catalogue: 5 ha registered, none confirmed from imagery, all of it without data
    space = t["afforestation_status"]
    assert (space["registered_ha"], space["confirmed_ha"], space["area_by_status"]["no_data"]) == (5.0, 0.0, 5.0)
    text = run(store.url, "targets", "--year", "2024", "--as-of", "2024-12-31", "--lang", "vi").output
    assert "đăng ký 5 ha, xác nhận 0 ha trên chỉ tiêu 617.70 ha" in text
    assert "chưa có ảnh 5" in text and "trồng rừng tập trung 6,900" in text
    bad = tmp_path / "bad.csv"
    bad.write_text("lot_id,planted\nL9,2024-01-01\n", encoding="utf-8")
    r = run(store.url, "planting", "import", str(bad))
    assert r.exit_code != 0 and "needs a 'wkt' column" in str(r.exception)
