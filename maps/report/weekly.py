"""A week's reports on disk: the province's and one per admin unit in force that week (the 2024 districts before
1 July 2025, the 2025 communes from then on), each as HTML and PDF, and a manifest listing them.

Files in the reports folder, per week ``W`` and language (Vietnamese without a suffix, ``.en`` for English):
``W.html``/``W.pdf`` the province, ``W_UNIT.html``/``W_UNIT.pdf`` each unit (``UNIT`` its official code), and
``W.json`` (``W.en.json``) the manifest ``reports_for_week`` reads: what delivery attaches.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path

from geo.errors import ConfigError, InvalidInputError
from geo.region import Region
from geo.store import Store
from geo.workflow.targets import progress as target_progress
from maps.report.build import build_report, parse_week
from maps.report.figure import Bounds
from maps.report.pdf import write_pdf

_SAFE = re.compile(r"[^\w-]")


@dataclass(frozen=True)
class ReportFile:
    """One report of a week: its unit (None for the province), level, language and files."""

    week: str
    unit_id: str | None
    unit_name: str
    level: str  # "province", or the unit kind of the boundaries ("district", "commune")
    lang: str
    html: Path
    pdf: Path


def _suffix(lang: str) -> str:
    return "" if lang == "vi" else f".{lang}"


def report_stem(week: str, unit_id: str | None, lang: str) -> str:
    """The file name (without extension) of a week's report of a unit (None: the province) in ``lang``."""
    unit = "" if unit_id is None else "_" + _SAFE.sub("-", str(unit_id))
    return f"{week}{unit}{_suffix(lang)}"


def manifest_path(reports_dir: Path, week: str, lang: str) -> Path:
    return Path(reports_dir) / f"{week}{_suffix(lang)}.json"


def reports_for_week(reports_dir: Path, week: str, lang: str | None = None) -> list[ReportFile]:
    """The reports written for ``week`` (in ``lang``, or every language), province first: unit id, name, level,
    language, HTML and PDF paths."""
    monday, _ = parse_week(week)
    iso = monday.isocalendar()
    week = f"{iso.year}-W{iso.week:02d}"
    paths = [manifest_path(reports_dir, week, lang)] if lang else sorted(Path(reports_dir).glob(f"{week}*.json"))
    out = []
    for path in paths:
        if not path.is_file():
            continue
        for item in json.loads(path.read_text(encoding="utf-8"))["reports"]:
            out.append(ReportFile(**{**item, "html": Path(reports_dir) / item["html"],
                                     "pdf": Path(reports_dir) / item["pdf"]}))
    return out


def cloud_free_share(store: Store, monday: date, sunday: date) -> tuple[dict[str, float] | None, float | None]:
    """The share seen cloud-free in the week: per unit name and for the whole area, from the newest detection run
    whose scenes all fall in that week (forest-weighted); without one, the whole area's share from the catalogue
    (each grid tile's best clear share among the week's scenes, tiles never seen that week counting 0)."""
    start, end = (monday - timedelta(days=6)).isoformat(), sunday.isoformat()
    for run in store.runs():
        if run["first_scene"] and start <= run["first_scene"] and run["last_scene"] <= end:
            per_unit = {c["unit"]: c["observed_share"] for c in run["coverage"]}
            forest = sum(c["forest_ha"] or 0 for c in run["coverage"])
            seen = sum((c["forest_ha"] or 0) * (c["observed_share"] or 0) for c in run["coverage"])
            return per_unit, (seen / forest if forest else None)
    scenes = store.scenes("ok")
    tiles = {s["tile"] for s in scenes}
    best: dict[str, float] = {}
    for s in scenes:
        if monday.isoformat() <= str(s["acquired"])[:10] <= sunday.isoformat():
            best[s["tile"]] = max(best.get(s["tile"], 0.0), float(s["valid_fraction"] or 0))
    if not tiles:
        return None, None
    return None, sum(best.values()) / len(tiles)


def imagery_years(store: Store, week: int, before: int) -> list[int]:
    """Years before ``before`` whose catalogue holds imagery of ISO ``week`` (the years a week is compared with)."""
    from maps.report.compare import same_week

    days = sorted(str(s["acquired"])[:10] for s in store.scenes("ok"))
    if not days:
        return []
    years = []
    for year in range(int(days[0][:4]), before):
        monday, sunday = same_week(year, week)
        if any(monday.isoformat() <= d <= sunday.isoformat() for d in days):
            years.append(year)
    return years


def write_week_reports(store: Store, region: Region, reports_dir: Path, week: str, *, lang: str = "vi",
                       units: Iterable[str] | None = None, demo_bounds: Bounds | None = None,
                       on_report: Callable[[int, int], None] | None = None) -> list[ReportFile]:
    """Build and write the province's report of ``week`` and the reports of its admin units (all of them, or the
    ``units`` ids given), each as HTML and PDF, and the week's manifest; returns what was written."""
    monday, sunday = parse_week(week)
    iso = monday.isocalendar()
    week = f"{iso.year}-W{iso.week:02d}"
    version = region.admin_version(monday)
    all_units = region.units(monday)
    ids = list(all_units["id"].astype(str))
    wanted = ids if units is None else [str(u) for u in units]
    unknown = [u for u in wanted if u not in ids]
    if unknown:
        raise InvalidInputError(f"no admin unit {', '.join(unknown)} in the {version.unit_kind}s in force in {week}")
    alerts = store.query_alerts()
    synthetic = any("SYNTHETIC" in (s["sensor"] or "").upper() for s in store.scenes("ok"))
    observed, cloud_free = cloud_free_share(store, monday, sunday)
    try:  # the case and planting registers' figures up to the end of the week, when the profile has targets
        progress = target_progress(store, region, iso.year, sunday)
    except ConfigError:
        progress = None
    common = {"lang": lang, "synthetic": synthetic, "observed": observed, "cloud_free": cloud_free,
              "past_years": imagery_years(store, iso.week, iso.year)}
    links = {u: report_stem(week, u, lang) + ".html" for u in wanted}
    names = dict(zip(ids, all_units["name"], strict=True))
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    written = []
    todo = [None, *wanted]
    for i, unit in enumerate(todo):
        html = build_report(region, alerts, week, unit=unit, demo_bounds=demo_bounds,
                            unit_links=links if unit is None else None, progress=progress, **common)
        stem = report_stem(week, unit, lang)
        path = reports_dir / f"{stem}.html"
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(html, encoding="utf-8")
        tmp.replace(path)
        write_pdf(html, reports_dir / f"{stem}.pdf")
        written.append(ReportFile(week, unit, region.title if unit is None else names[unit],
                                  "province" if unit is None else version.unit_kind, lang, path,
                                  reports_dir / f"{stem}.pdf"))
        if on_report:
            on_report(i + 1, len(todo))
    manifest = {"week": week, "start": monday.isoformat(), "end": sunday.isoformat(), "lang": lang,
                "boundaries": version.file.stem,
                "reports": [{**asdict(r), "html": r.html.name, "pdf": r.pdf.name} for r in written]}
    target = manifest_path(reports_dir, week, lang)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(target)
    return written
