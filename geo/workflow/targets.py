"""Progress against a year's targets (read from the region profile): violations (cases, damaged area, timber)
against the baseline year with the projection at the current pace, and afforestation (hectares and trees planted).
"""

from __future__ import annotations

from datetime import date

from geo.region import Region
from geo.store import Store
from geo.workflow.lot_growth import STATUSES, lots_growth
from geo.workflow.planting import is_scattered

# Indicator -> (target key in the profile, SQL aggregate over the year's cases, unit).
VIOLATION_INDICATORS = {
    "cases": ("cases_change", "count(*)", "cases"),
    "damaged_area_ha": ("damaged_area_change", "coalesce(sum(area_ha), 0)", "ha"),
    "damaged_timber_m3": ("damaged_timber_change", "coalesce(sum(timber_m3), 0)", "m³"),
}
# Afforestation: plantation lots count in hectares, scattered-tree lots in trees (``planting.is_scattered``).
AFFORESTATION_INDICATORS = {"new_plantation_ha": "ha", "trees_planted": "trees"}
REPLANTING_CAUSES = ("illegal_clearing", "illegal_logging", "farming_encroachment", "fire")


def _year_range(year: int) -> list[str]:
    return [f"{year:04d}-01-01", f"{year:04d}-12-31"]


def pace(year: int, as_of: date) -> tuple[date, float]:
    """The day progress is counted to (clipped to the year) and the fraction of the year elapsed by then."""
    start, end = date(year, 1, 1), date(year, 12, 31)
    day = min(max(as_of, start), end)
    return day, ((day - start).days + 1) / ((end - start).days + 1)


def progress(store: Store, region: Region, year: int, as_of: date | None = None) -> dict:
    """Targets for ``year`` and where the province stands on ``as_of`` (default today); raises ConfigError when
    the region has no targets file for that year."""
    targets = region.targets(year)
    baseline_year = int(targets.get("baseline_year", year - 1))
    day, fraction = pace(year, as_of or date.today())
    out: dict = {"year": year, "baseline_year": baseline_year, "as_of": day.isoformat(),
                 "fraction_of_year": round(fraction, 4), "source": targets.get("source", ""),
                 "violations": {}, "afforestation": {}, "replanting_candidates": []}
    with store.reading() as tx:
        for name, (key, aggregate, unit) in VIOLATION_INDICATORS.items():
            change = targets.get("violations", {}).get(key)
            if change is None:
                continue
            baseline = float(tx.scalar(f"SELECT {aggregate} AS v FROM cases WHERE opened >= ? AND opened <= ?",
                                       _year_range(baseline_year)) or 0)
            baseline_cases = int(tx.scalar("SELECT count(*) AS v FROM cases WHERE opened >= ? AND opened <= ?",
                                           _year_range(baseline_year)) or 0)
            current = float(tx.scalar(f"SELECT {aggregate} AS v FROM cases WHERE opened >= ? AND opened <= ?",
                                      _year_range(year)) or 0)
            target = baseline * (1 + change)
            projected = current / fraction
            missing = baseline_cases == 0  # no case of the baseline year in the register: nothing to measure against
            out["violations"][name] = {
                "unit": unit, "baseline": round(baseline, 4), "change_target": change,
                "target": None if missing else round(target, 4), "baseline_missing": missing,
                "current": round(current, 4), "projected": round(projected, 4),
                "change_projected": round(projected / baseline - 1, 4) if baseline else None,
                "on_track": None if missing else projected <= target,
            }
        lots = tx.fetch("SELECT programme, area_ha, trees FROM planting_lots WHERE planted >= ? AND planted <= ?",
                        _year_range(year))
        scattered = [lot for lot in lots if is_scattered(lot["programme"])]
        plantation = [lot for lot in lots if not is_scattered(lot["programme"])]
        current_of = {"new_plantation_ha": sum(float(lot["area_ha"] or 0) for lot in plantation),
                      "trees_planted": float(sum(int(lot["trees"] or 0) for lot in scattered))}
        by_kind = {kind: {"lots": len(group), "ha": sum(float(lot["area_ha"] or 0) for lot in group),
                          "trees": sum(int(lot["trees"] or 0) for lot in group)}
                   for kind, group in (("plantation", plantation), ("scattered", scattered))}
        for name, unit in AFFORESTATION_INDICATORS.items():
            target = targets.get("afforestation", {}).get(name)
            if target is None:
                continue
            current = current_of[name]
            out["afforestation"][name] = {
                "unit": unit, "target": target, "current": round(current, 4),
                "fraction_done": round(current / target, 4) if target else None,
                "projected": round(current / fraction, 4), "on_track": current / fraction >= target,
                "by_programme": {k: round(v["ha"] if unit == "ha" else v["trees"], 4) for k, v in by_kind.items()},
            }
        if "trees_planted" in out["afforestation"]:  # trees of plantation lots: told, not counted as scattered
            out["afforestation"]["trees_planted"]["in_plantation_lots"] = sum(int(lot["trees"] or 0)
                                                                              for lot in plantation)
        marks = ", ".join("?" for _ in REPLANTING_CAUSES)
        out["replanting_candidates"] = tx.fetch(
            f"SELECT id AS alert_id, area_ha, district_id, district, cause, centroid_lon, centroid_lat, case_id "
            f"FROM alerts WHERE status = 'confirmed' AND cause IN ({marks}) ORDER BY area_ha DESC, id",
            REPLANTING_CAUSES)
    out["afforestation_status"] = afforestation_status(store, year, as_of or date.today(),
                                                       targets.get("afforestation", {}).get("new_plantation_ha"))
    if "new_plantation_ha" in out["afforestation"]:
        row, status = out["afforestation"]["new_plantation_ha"], out["afforestation_status"]
        row.update(registered=status["registered_ha"], confirmed=status["confirmed_ha"],
                   fraction_confirmed=status["fraction_confirmed"])
    return out


def afforestation_status(store: Store, year: int, as_of: date, target_ha: float | None) -> dict:
    """The year's plantation lots checked from space on ``as_of``: the area registered beside the area confirmed
    from imagery (status ``established``, ``geo.workflow.lot_growth``), plantation area by status, and trees
    by programme (plantation lots vs scattered trees, ``planting.is_scattered``)."""
    lots = lots_growth(store, as_of, year=year)["lots"]
    plantation = [lot for lot in lots if not is_scattered(lot["programme"])]
    scattered = [lot for lot in lots if is_scattered(lot["programme"])]
    by_status = {s: round(sum(float(lot["area_ha"] or 0) for lot in plantation if lot["status"] == s), 4)
                 for s in STATUSES}
    registered = round(sum(float(lot["area_ha"] or 0) for lot in plantation), 4)
    confirmed = by_status["established"]
    return {
        "as_of": as_of.isoformat(), "target_ha": target_ha, "registered_ha": registered, "confirmed_ha": confirmed,
        "fraction_registered": round(registered / target_ha, 6) if target_ha else None,
        "fraction_confirmed": round(confirmed / target_ha, 6) if target_ha else None,
        "area_by_status": by_status,
        "lots_by_status": {s: sum(1 for lot in plantation if lot["status"] == s) for s in STATUSES},
        "trees_by_programme": {"plantation": sum(lot["trees"] or 0 for lot in plantation),
                               "scattered": sum(lot["trees"] or 0 for lot in scattered)},
        "lots": {"plantation": len(plantation), "scattered": len(scattered)},
        "source": "planting_lots (register); status from the analysis-ready scenes' NDVI since planting",
    }
