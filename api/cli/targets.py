"""``forestmon targets``, ``forestmon cases import`` and ``forestmon planting import``: the province's targets and
the registers that feed them; ``forestmon assign``: assign new alerts to the rangers of their units."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import click

from api.cli.options import data_dir_option, lang_option, region_option, settings_from
from geo.region import load_region
from geo.store import open_store
from geo.workflow import cases as case_register
from geo.workflow import planting, review
from geo.workflow import targets as progress
from geo.workflow.review import SystemActor

LABELS = {
    "vi": {"cases": "Số vụ vi phạm", "damaged_area_ha": "Diện tích thiệt hại (ha)",
           "damaged_timber_m3": "Khối lượng gỗ thiệt hại (m³)", "new_plantation_ha": "Trồng rừng mới (ha)",
           "trees_planted": "Cây trồng phân tán (cây)", "head": "Chỉ tiêu năm {year} (so với {base}), đến {as_of}",
           "cols": ("Chỉ tiêu", "Năm gốc", "Mục tiêu", "Hiện tại", "Dự báo", "Đạt"), "yes": "có", "no": "không",
           "candidates": "Điểm đề xuất trồng lại (cảnh báo đã xác nhận): {n}"},
    "en": {"cases": "Violation cases", "damaged_area_ha": "Damaged area (ha)",
           "damaged_timber_m3": "Damaged timber (m³)", "new_plantation_ha": "New plantation (ha)",
           "trees_planted": "Trees planted", "head": "{year} targets (against {base}), as of {as_of}",
           "cols": ("Indicator", "Baseline", "Target", "Current", "Projected", "On track"), "yes": "yes", "no": "no",
           "candidates": "Candidate replanting sites (confirmed alerts): {n}"},
}


def _fmt(value) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


@click.command()
@click.option("--year", type=int, default=None, help="Target year (default: this year).")
@click.option("--as-of", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Count up to this day.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@data_dir_option
@region_option
@lang_option
def targets(year, as_of, as_json, data_dir, region, lang) -> None:
    """Progress against the year's targets: violations against the baseline year, and afforestation."""
    settings = settings_from(data_dir=data_dir, region=region)
    day = as_of.date() if as_of else date.today()
    with open_store(settings.store) as store:
        result = progress.progress(store, load_region(settings.region), year or day.year, day)
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    t = LABELS[lang or settings.lang]
    click.echo(t["head"].format(year=result["year"], base=result["baseline_year"], as_of=result["as_of"]))
    click.echo("\t".join(t["cols"]))
    for name, row in {**result["violations"], **result["afforestation"]}.items():
        click.echo("\t".join([t.get(name, name), _fmt(row.get("baseline")), _fmt(row["target"]), _fmt(row["current"]),
                              _fmt(row["projected"]), t["yes"] if row["on_track"] else t["no"]]))
    click.echo(t["candidates"].format(n=len(result["replanting_candidates"])))


@click.group()
def cases() -> None:
    """Violation cases."""


@cases.command(name="import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@data_dir_option
def import_cases(csv_file: Path, data_dir) -> None:
    """Import historical cases from CSV (columns: number, opened, violation_type, area_ha, timber_m3, outcome,
    fine_amount, district_id, note); re-importing updates cases by number."""
    try:
        text = csv_file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise click.ClickException(f"{csv_file}: not UTF-8 text") from None
    with open_store(settings_from(data_dir=data_dir).store) as store:
        counts = case_register.import_cases_csv(store, text, SystemActor(username="import"))
    click.echo(f"{csv_file.name}: {counts['inserted']} cases added, {counts['updated']} updated")


@click.group(name="planting")
def planting_group() -> None:
    """The register of planting lots."""


@planting_group.command(name="import")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@data_dir_option
@region_option
def import_lots(path: Path, data_dir, region) -> None:
    """Import planting lots (GeoPackage, GeoJSON, Shapefile, or CSV with a wkt column): lot_id, planted, species,
    trees, programme; areas computed in hectares in the region's grid CRS."""
    settings = settings_from(data_dir=data_dir, region=region)
    with open_store(settings.store) as store:
        counts = planting.import_lots(store, path, load_region(settings.region).grid_crs)
    click.echo(f"{path.name}: {counts['inserted']} lots added, {counts['updated']} updated")


@click.command()
@data_dir_option
def assign(data_dir) -> None:
    """Assign new alerts to the active rangers of their admin units, highest priority first."""
    with open_store(settings_from(data_dir=data_dir).store) as store:
        counts = review.auto_assign(store)
    click.echo(f"assigned {sum(counts.values())} alerts" + "".join(f"\n  {u}: {n}" for u, n in counts.items()))
