"""The weekly report's build: check the inputs, choose the week's, previous week's and year's alerts, and fill
the page template (``maps/templates/report.html``) with the tables, the figure and the notes on methods.

No external URL of any kind: the figure is a data URI.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta, timezone

import geopandas as gpd
import pandas as pd

from geo.errors import ConfigError, InvalidInputError
from geo.region import Region
from maps.report.compare import frequency, same_week
from maps.report.figure import Bounds, figure_png
from maps.report.tables import (
    alert_table,
    between,
    category_rows,
    comparison_text,
    detected_text,
    district_rows,
    prepare,
    summary_rows,
    tally,
    targets_table,
)
from maps.report.text import count, day, number
from maps.strings import page_strings
from maps.templating import TEMPLATES

VN_TZ = timezone(timedelta(hours=7), "GMT+7")  # Indochina Time, no daylight saving
STRINGS = page_strings("report")
MOSTLY_CLOUDY = 0.5  # a week whose cloud-free share is below this is reported as mostly cloudy

_WEEK = re.compile(r"(\d{4})-[Ww](\d{2})")


def parse_week(text: str) -> tuple[date, date]:
    """Monday and Sunday of an ISO week written ``YYYY-Www`` (e.g. ``2024-W11``)."""
    match = _WEEK.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise InvalidInputError(f"invalid week {text!r}: expected an ISO week as YYYY-Www, e.g. 2024-W11")
    year, week = int(match[1]), int(match[2])
    try:
        monday = date.fromisocalendar(year, week, 1)
    except ValueError:
        weeks = date(year, 12, 28).isocalendar().week  # 28 December is always in the year's last week
        raise InvalidInputError(f"invalid week {text!r}: ISO year {year} has weeks 01 to {weeks}") from None
    return monday, monday + timedelta(days=6)


def _check_observed(observed: Mapping[str, float] | None) -> dict[str, float] | None:
    if observed is None:
        return None
    out = {}
    for name, share in observed.items():
        if share is None or (isinstance(share, float) and math.isnan(share)):
            continue
        if not 0 <= float(share) <= 1:
            raise InvalidInputError(f"observed share for {name!r} is {share!r}: expected a fraction 0 to 1")
        out[str(name)] = float(share)
    return out


def _check_bounds(bounds: Bounds | None) -> Bounds | None:
    if bounds is None:
        return None
    try:
        west, south, east, north = (float(v) for v in bounds)
    except (TypeError, ValueError):
        raise InvalidInputError(f"demo_bounds {bounds!r}: expected (west, south, east, north)") from None
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise InvalidInputError(f"demo_bounds {bounds!r}: expected west < east, south < north in lon/lat")
    return west, south, east, north


def _boundaries_day(region: Region, day: date) -> date | None:
    """``day`` when the region profile has admin boundaries valid on it, else None (its newest boundaries)."""
    try:
        region.admin_version(day)
    except ConfigError:
        return None
    return day


def _methods(region: Region, boundaries_day: date | None, n_dismissed: int, n_undated: int, has_observed: bool,
             t: dict) -> list[str]:
    """The footnotes: confidence levels, dates, areas, what was left out, boundaries' source."""
    crs = region.grid_crs
    out = [t["m_levels"], t["m_dates"], t["m_area"].format(crs=crs.name, epsg=crs.to_epsg()), t["m_frequency"],
           t["m_cloud"].format(pct=number(100 * MOSTLY_CLOUDY, 0, "vi" if t["decimal"] == "," else "en"))]
    if n_dismissed:
        out.append(t["m_dismissed"].format(n=n_dismissed))
    if n_undated:
        out.append(t["m_undated"].format(n=n_undated))
    if has_observed:
        out.append(t["m_observed"])
    source = region.admin_version(boundaries_day).source
    if source:
        out.append(t["m_boundaries"].format(source=source))
    return out


def _cloud_note(share: float | None, n: int, t: dict, lang: str) -> tuple[str, bool]:
    """What the week's cloud-free share says about its alert count, and whether it is a warning (mostly cloudy)."""
    if share is None:
        return t["cloud_unknown"], False
    pct = number(100 * share, 0, lang)
    if share < MOSTLY_CLOUDY:
        return t["cloudy_none" if n == 0 else "cloudy_some"].format(pct=pct), True
    return t["cloud_clear"].format(pct=pct), False


def build_report(
    region: Region,
    alerts: gpd.GeoDataFrame | None,
    week: str,
    *,
    unit: str | None = None,
    lang: str = "vi",
    synthetic: bool = False,
    demo_bounds: Bounds | None = None,
    observed: Mapping[str, float] | None = None,
    cloud_free: float | None = None,
    past_years: Sequence[int] = (),
    unit_links: Mapping[str, str] | None = None,
    generated_at: datetime | None = None,
    progress: Mapping | None = None,
) -> str:
    """The weekly change report of ``region`` (or of its admin ``unit``, an id of the boundaries in force that
    week) for ISO ``week`` as one self-contained HTML document.

    ``observed``: share of forest seen cloud-free per unit name; ``cloud_free``: that share for the whole report
    area (the unit's own figure wins when ``observed`` has it); ``past_years``: earlier years whose catalogue holds
    imagery of the same week, compared with this one; ``unit_links``: the unit reports' file names by unit id, for
    the province's list of units; ``progress``: the year's figures from ``geo.workflow.targets.progress``.
    """
    if lang not in STRINGS:
        raise InvalidInputError(f"unknown language {lang!r}; choose from {', '.join(STRINGS)}")
    t = STRINGS[lang]
    monday, sunday = parse_week(week)
    iso_year, iso_week, _ = monday.isocalendar()
    week_id = f"{iso_year}-W{iso_week:02d}"
    observed = _check_observed(observed)
    demo_bounds = _check_bounds(demo_bounds)
    generated_at = generated_at or datetime.now(VN_TZ)
    if generated_at.tzinfo is not None:
        generated_at = generated_at.astimezone(VN_TZ)

    boundaries_day = _boundaries_day(region, monday)
    version = region.admin_version(boundaries_day)
    units = region.units(boundaries_day)
    outline = region.province(boundaries_day)
    gdf, n_undated = prepare(alerts, region, units, t)
    province = t["province"].format(name=region.title)
    title_place, unit_name = province, None
    if unit is not None:
        chosen = units[units["id"].astype(str) == str(unit)]
        if chosen.empty:
            raise InvalidInputError(f"no admin unit {unit!r} in the boundaries in force in week {week_id} "
                                    f"({version.unit_kind}s valid from {version.valid_from})")
        unit_name = str(chosen["name"].iloc[0])
        title_place = f"{unit_name} – {province}"
        gdf = gdf[gdf["unit_id"] == str(unit)]
        units, outline = chosen.reset_index(drop=True), chosen.reset_index(drop=True)
        if observed is not None and unit_name in observed:
            cloud_free = observed[unit_name]
    ytd_start = date.fromisocalendar(iso_year, 1, 1)  # year to date = ISO weeks 1..W: the weeks add up
    dismissed = gdf["dismissed"].astype(bool)
    n_dismissed = len(between(gdf.loc[dismissed], ytd_start, sunday))
    gdf = gdf.loc[~dismissed]  # false alarms, by the rangers' review
    this = between(gdf, monday, sunday)
    prev = between(gdf, monday - timedelta(days=7), sunday - timedelta(days=7))
    ytd = between(gdf, ytd_start, sunday)
    older = gdf[gdf["day"] < pd.Timestamp(monday)]
    tw, tp, ty = tally(this), tally(prev), tally(ytd)
    past = {year: len(between(gdf, *same_week(year, iso_week))) for year in sorted(past_years) if year < iso_year}
    freq = frequency(tw["total"][0], past)
    cloud, cloudy = _cloud_note(cloud_free, tw["total"][0], t, lang)

    lead = t["lead"].format(
        week=week_id, start=day(monday, lang), end=day(sunday, lang),
        n=count(tw["total"][0], t, new=True), ha=number(tw["total"][1], 2, lang),
        hh=number(tw["high"][0] + tw["highest"][0], 0, lang),
        pn=count(tp["total"][0], t), pha=number(tp["total"][1], 2, lang),
        yn=count(ty["total"][0], t), yha=number(ty["total"][1], 2, lang))
    columns, rows, more = alert_table(this, t, lang)
    for column in columns:  # the alert's unit is named by the level of the week's boundaries
        if column["key"] == "district":
            column["label"] = t["unit"].get(version.unit_kind, t["district"])
    strings = t if unit is None else {**t, "panel_province": unit_name}
    png = figure_png(units, outline, this, older, demo_bounds if unit is None else None, synthetic, strings)
    spans = region.admin_versions and _boundaries_day(region, sunday) and region.admin_version(sunday) != version
    kind = version.unit_kind
    return TEMPLATES.get_template("report.html").render(
        lang=lang, t=t, synthetic=synthetic, week=week_id, province=title_place,
        level=t["kinds"].get(kind, kind) if unit is not None else t["kinds"]["province"],
        week_label=t["week"].format(week=week_id), start=day(monday, lang), end=day(sunday, lang),
        generated=generated_at.strftime("%d/%m/%Y %H:%M" if lang == "vi" else "%Y-%m-%d %H:%M")
        + (" (GMT+7)" if generated_at.tzinfo is not None else ""),
        lead=lead, summary=summary_rows(tw, tp, ty, t, lang), cloud=cloud, cloudy=cloudy,
        comparison=comparison_text(freq, week_id, t, lang),
        ytd_range=t["ytd_range"].format(w=iso_week, year=iso_year, start=day(ytd_start, lang),
                                        end=day(sunday, lang)),
        spans=t["spans"].format(day=day(region.admin_version(sunday).valid_from, lang)) if spans else "",
        figure="data:image/png;base64," + base64.b64encode(png).decode("ascii"),
        categories=category_rows(this, t, lang),
        by_unit=t["by_unit"].get(kind, t["by_district"]), unit_label=t["unit"].get(kind, t["district"]),
        districts=district_rows(this, units, observed, t, lang, unit_links) if unit is None else [],
        has_observed=observed is not None,
        alert_columns=columns, alerts=rows, more=t["more"].format(n=more) if more else "",
        targets=targets_table(region, iso_year, ytd, (ytd_start, sunday), t, lang, progress)
        if unit is None else None,
        detected=detected_text(ytd, (ytd_start, sunday), t, lang),
        methods=_methods(region, boundaries_day, n_dismissed, n_undated, observed is not None, t),
    )
