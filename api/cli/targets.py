"""``forestmon targets``: the province's progress against the year's targets (violations, afforestation)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import click

from api.cli.options import DATE, data_dir_option, lang_option, region_option, settings_from
from geo.store import open_store
from geo.workflow.targets import progress

LABELS = {
    "vi": {"cases": "Số vụ vi phạm", "damaged_area_ha": "Diện tích thiệt hại (ha)",
           "damaged_timber_m3": "Khối lượng gỗ thiệt hại (m³)", "new_plantation_ha": "Trồng rừng mới (ha)",
           "trees_planted": "Cây trồng phân tán (cây)", "no_baseline": "chưa có số liệu năm gốc",
           "head": "Chỉ tiêu năm {year} (so với {base}), đến {as_of}",
           "cols": ("Chỉ tiêu", "Năm gốc", "Mục tiêu", "Hiện tại", "Dự báo", "Đạt"), "yes": "có", "no": "không",
           "candidates": "Điểm đề xuất trồng lại (cảnh báo đã xác nhận): {n}",
           "space": "Trồng rừng mới theo ảnh vệ tinh (đến {as_of}): đăng ký {registered} ha, xác nhận {confirmed} ha "
                    "trên chỉ tiêu {target} ha",
           "by_status": "Diện tích theo trạng thái (ha)", "trees_by": "Số cây theo chương trình",
           "statuses": {"established": "đã thành rừng", "establishing": "đang hình thành",
                        "not_yet_visible": "chưa thấy trên ảnh", "failed": "không thành", "cleared": "đã bị phá",
                        "no_data": "chưa có ảnh"},
           "programmes": {"plantation": "trồng rừng tập trung", "scattered": "cây phân tán"}},
    "en": {"cases": "Violation cases", "damaged_area_ha": "Damaged area (ha)",
           "damaged_timber_m3": "Damaged timber (m³)", "new_plantation_ha": "New plantation (ha)",
           "trees_planted": "Scattered trees planted", "no_baseline": "no baseline data",
           "head": "{year} targets (against {base}), as of {as_of}",
           "cols": ("Indicator", "Baseline", "Target", "Current", "Projected", "On track"), "yes": "yes", "no": "no",
           "candidates": "Candidate replanting sites (confirmed alerts): {n}",
           "space": "New plantation checked from space (as of {as_of}): registered {registered} ha, confirmed "
                    "{confirmed} ha against a target of {target} ha",
           "by_status": "Area by status (ha)", "trees_by": "Trees by programme",
           "statuses": {"established": "established", "establishing": "establishing",
                        "not_yet_visible": "not yet visible", "failed": "failed", "cleared": "cleared",
                        "no_data": "no imagery"},
           "programmes": {"plantation": "plantation forest", "scattered": "scattered trees"}},
}


def _fmt(value, whole: bool = False) -> str:
    """A figure for the table: whole numbers (and counts of trees) without decimals, others with two."""
    if value is None:
        return "-"
    return f"{value:,.0f}" if whole or float(value).is_integer() else f"{value:,.2f}"


@click.command()
@click.option("--year", type=int, default=None, help="Target year (default: this year).")
@click.option("--as-of", type=DATE, default=None, help="Count up to this day (default: today).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@data_dir_option
@region_option
@lang_option
def targets(year: int | None, as_of: date | None, as_json: bool, data_dir: Path | None, region: str | None,
            lang: str | None) -> None:
    """Progress against the year's targets: violations against the baseline year, and afforestation."""
    settings = settings_from(data_dir=data_dir, region=region)
    day = as_of or date.today()
    with open_store(settings.store) as store:
        result = progress(store, settings.load_region(), year or day.year, day)
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    t = LABELS[lang or settings.lang]
    click.echo(t["head"].format(year=result["year"], base=result["baseline_year"], as_of=result["as_of"]))
    click.echo("\t".join(t["cols"]))
    for name, row in {**result["violations"], **result["afforestation"]}.items():
        whole = name == "trees_planted"  # a target of 1.6 cases stays 1.60: 2 would not meet it
        track = t["no_baseline"] if row.get("baseline_missing") else t["yes"] if row["on_track"] else t["no"]
        click.echo("\t".join([t.get(name, name), _fmt(row.get("baseline"), whole), _fmt(row["target"], whole),
                              _fmt(row["current"], whole), _fmt(row["projected"], whole), track]))
    space = result.get("afforestation_status")
    if space:
        click.echo(t["space"].format(as_of=space["as_of"], registered=_fmt(space["registered_ha"]),
                                     confirmed=_fmt(space["confirmed_ha"]), target=_fmt(space["target_ha"])))
        click.echo(t["by_status"] + ": " + "; ".join(f"{t['statuses'][k]} {_fmt(v)}"
                                                       for k, v in space["area_by_status"].items()))
        click.echo(t["trees_by"] + ": " + "; ".join(f"{t['programmes'][k]} {_fmt(v, True)}"
                                                     for k, v in space["trees_by_programme"].items()))
    click.echo(t["candidates"].format(n=len(result["replanting_candidates"])))
