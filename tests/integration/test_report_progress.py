"""The weekly report's targets table shows the case and planting registers' figures when it has them."""

from __future__ import annotations

from datetime import date

from geo.region import load_region
from geo.workflow.cases import import_cases_csv
from geo.workflow.review import SystemActor
from geo.workflow.targets import progress
from maps.report import build_report

CSV = ("number,opened,violation_type,area_ha,timber_m3\nA-1,2023-03-01,illegal_logging,2.5,10\n"
       "A-2,2023-05-01,fire,1.5,\nB-1,2024-02-01,illegal_clearing,1.0,3.5\n")


def test_report_targets_show_register_figures(store):
    import_cases_csv(store, CSV, SystemActor())
    region = load_region("lamdong")
    figures = progress(store, region, 2024, date(2024, 6, 30))
    html = build_report(region, store.query_alerts(), "2024-W26", lang="en", progress=figures)
    # 1 case so far; 182 of 366 days gone -> 2.0 projected for the year; 2 cases in 2023.
    assert "1 (full-year projection 2.0; 2023: 2)" in html
    assert "0 (0.0% of target)" in html
    assert "confirmed from imagery 0.00 ha (0.0% of target)" in html  # no lot: nothing confirmed
    vi = build_report(region, store.query_alerts(), "2024-W26", lang="vi", progress=figures)
    assert "1 (dự báo cả năm 2,0; năm 2023: 2)" in vi
    assert "no data yet" in build_report(region, store.query_alerts(), "2024-W26", lang="en")
