"""The weekly change report: right figures for the week, self-contained HTML, Vietnamese by default."""

from __future__ import annotations

import base64
import io
import re
import warnings
from datetime import date, datetime, timedelta, timezone
from html.parser import HTMLParser

import geopandas as gpd
import numpy as np
import pytest
import shapely
from matplotlib.image import imread

from geo.errors import InvalidInputError
from geo.region import Region, load_region
from maps.report import MAX_ALERT_ROWS, STRINGS, build_report, parse_week
from maps.styles import CONFIDENCE_COLOURS

DEMO = (108.30, 12.01, 108.40, 12.10)  # west, south, east, north: the demo area near Đà Lạt
LAC_DUONG, DA_LAT = "Huyện Lạc Dương", "Thành phố Đà Lạt"
GENERATED = datetime(2024, 3, 18, 7, 30, tzinfo=timezone(timedelta(hours=7)))

# 2024-W11 runs Monday 11 March to Sunday 17 March 2024.
# id, status, confidence, first detected, area (ha), district, lon, lat of the lower-left corner
ROWS = [
    ("W11-mon", "new", "low", "2024-03-11", 1.25, LAC_DUONG, 108.32, 12.03),  # first day of the week
    ("W11-thu", "confirmed", "high", "2024-03-14", 5.5, LAC_DUONG, 108.35, 12.05),
    ("W11-sun", "in_field", "highest", "2024-03-17", 12.5, DA_LAT, 108.44, 11.94),  # last day
    ("W11-sun2", "new", "high", "2024-03-17", 0.75, DA_LAT, 108.45, 11.95),
    ("W10-sun", "new", "low", "2024-03-10", 2.0, LAC_DUONG, 108.36, 12.06),  # previous week
    ("W12-mon", "new", "high", "2024-03-18", 3.0, LAC_DUONG, 108.37, 12.07),  # next week
    ("W01-tue", "confirmed", "highest", "2024-01-02", 4.0, DA_LAT, 108.46, 11.93),  # earlier this year
    ("W11-dismissed", "dismissed", "high", "2024-03-12", 7.0, LAC_DUONG, 108.38, 12.08),  # a false alarm
    ("2023-W52", "confirmed", "low", "2023-12-31", 1.0, DA_LAT, 108.43, 11.92),  # last year
]
WEEK_IDS = ["W11-sun", "W11-thu", "W11-mon", "W11-sun2"]  # largest first


def _alerts(rows: list[tuple] = ROWS) -> gpd.GeoDataFrame:
    columns = ["id", "status", "confidence", "first_detected", "area_ha", "district", "x", "y"]
    data = {c: [r[i] for r in rows] for i, c in enumerate(columns)}
    corners = zip(data.pop("x"), data.pop("y"), strict=True)
    geoms = [shapely.box(x, y, x + 0.002, y + 0.002) for x, y in corners]
    gdf = gpd.GeoDataFrame(data, geometry=geoms, crs=4326)
    gdf["confirmed"] = ""
    gdf["centroid_lon"] = [g.centroid.x for g in geoms]
    gdf["centroid_lat"] = [g.centroid.y for g in geoms]
    return gdf


class _Tables(HTMLParser):
    """Every <table> of a page as header cells and body rows of cell texts; also every src= and href=."""

    def __init__(self, html: str):
        super().__init__()
        self.tables: list[dict[str, list]] = []
        self.links: list[str] = []
        self._cell: list[str] | None = None
        self._part = "body"
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.links += [v for k, v in attrs if k in ("src", "href") and v is not None]
        if tag == "table":
            self.tables.append({"head": [], "body": []})
        elif tag in ("thead", "tbody"):
            self._part = tag[1:]
        elif tag == "tr" and self._part == "body":
            self.tables[-1]["body"].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            text = " ".join("".join(self._cell).split())
            if self._part == "head":
                self.tables[-1]["head"].append(text)
            else:
                self.tables[-1]["body"][-1].append(text)
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _table(html: str, header: str) -> list[list[str]]:
    """The body rows of the table with a header cell ``header``."""
    for table in _Tables(html).tables:
        if header in table["head"]:
            return table["body"]
    raise AssertionError(f"no table with header {header!r}")


def _png(html: str) -> bytes:
    match = re.search(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert match, "no embedded PNG"
    return base64.b64decode(match[1])


@pytest.fixture(scope="module")
def region() -> Region:
    return load_region()


@pytest.fixture(scope="module")
def report(region: Region) -> str:
    return build_report(region, _alerts(), "2024-W11", demo_bounds=DEMO, generated_at=GENERATED)


# --- parse_week -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "monday", "sunday"), [
    ("2024-W01", date(2024, 1, 1), date(2024, 1, 7)),
    ("2024-W11", date(2024, 3, 11), date(2024, 3, 17)),
    ("2020-W53", date(2020, 12, 28), date(2021, 1, 3)),  # 2020 has 53 ISO weeks
    ("2025-W01", date(2024, 12, 30), date(2025, 1, 5)),  # week 1 may start in December
    (" 2024-w11 ", date(2024, 3, 11), date(2024, 3, 17)),
])
def test_parse_week_known_answers(text: str, monday: date, sunday: date) -> None:
    assert parse_week(text) == (monday, sunday)


@pytest.mark.parametrize("text", ["2024-W60", "2024-11", "abc", "2021-W53", "2024-W00", "2024-W1", "2024W11",
                                  "", "2024-W11-1", None, 202411])
def test_parse_week_rejects_malformed_weeks_naming_them(text: object) -> None:
    with pytest.raises(InvalidInputError) as err:
        parse_week(text)  # type: ignore[arg-type]
    assert repr(text) in str(err.value)


def test_parse_week_says_how_many_weeks_the_year_has() -> None:
    with pytest.raises(InvalidInputError, match="2021 has weeks 01 to 52"):
        parse_week("2021-W53")


# --- figures --------------------------------------------------------------------------------------------


def test_summary_counts_and_hectares_for_the_week(report: str) -> None:
    rows = _table(report, "Tuần này")
    # level | this week n, ha | previous week n, ha | change n, ha | year to date n, ha
    assert rows == [
        ["thấp", "1", "1,25", "1", "2,00", "0", "−0,75", "2", "3,25"],
        ["cao", "2", "6,25", "0", "0,00", "+2", "+6,25", "2", "6,25"],
        ["rất cao", "1", "12,50", "0", "0,00", "+1", "+12,50", "2", "16,50"],
        ["Tổng", "4", "20,00", "1", "2,00", "+3", "+18,00", "6", "26,00"],
    ]
    assert ("hệ thống phát hiện 4 cảnh báo mới, tổng diện tích 20,00 ha, trong đó 3 cảnh báo có độ tin cậy "
            "cao hoặc rất cao. Tuần trước: 1 cảnh báo, 2,00 ha. Từ đầu năm: 6 cảnh báo, 26,00 ha.") in report
    assert "các tuần 1–11 năm 2024 (01/01/2024 – 17/03/2024)" in report


def test_alerts_outside_the_week_or_dismissed_are_left_out(report: str) -> None:
    rows = _table(report, "Mã cảnh báo")
    assert [r[1] for r in rows] == WEEK_IDS
    for left_out in ("W10-sun", "W12-mon", "W01-tue", "W11-dismissed", "2023-W52"):
        assert left_out not in report
    assert "Cảnh báo đã bị kiểm lâm bác bỏ không được tính (từ đầu năm: 1 cảnh báo)." in report


def test_alert_table_rows(report: str) -> None:
    rows = _table(report, "Mã cảnh báo")
    assert rows[0] == ["1", "W11-sun", "17/03/2024", "rất cao", "12,50", DA_LAT, "đang kiểm tra thực địa",
                       "11,94100", "108,44100"]
    assert rows[2][:6] == ["3", "W11-mon", "11/03/2024", "thấp", "1,25", LAC_DUONG]


def test_by_district_table(report: str) -> None:
    rows = _table(report, "Huyện/thành phố")
    # district | new alerts | ha | high + highest; largest area first, then every other district, then the total
    assert len(rows) == 12 + 1 and all(r[1:] == ["0", "0,00", "0"] for r in rows[2:-1])
    assert rows[:2] + rows[-1:] == [
        [DA_LAT, "2", "13,25", "2"],
        [LAC_DUONG, "2", "6,75", "1"],
        ["Tổng", "4", "20,00", "3"],
    ]


def test_observed_share_tells_no_alerts_from_not_seen(region: Region) -> None:
    observed = {LAC_DUONG: 0.8, "Huyện Đam Rông": 0.0, "Huyện Di Linh": 0.955}
    html = build_report(region, _alerts(), "2024-W11", observed=observed)
    rows = _table(html, "Huyện/thành phố")
    assert len(rows) == 12 + 1  # every district is listed; those with neither alerts nor a figure left out below
    assert [r for r in rows if r[1] != "0" or r[4] != "—"] == [
        [DA_LAT, "2", "13,25", "2", "—"],  # alerts, but no observation figure
        [LAC_DUONG, "2", "6,75", "1", "80%"],
        ["Huyện Đam Rông", "0", "0,00", "0", "0%"],  # not seen at all: no alerts says nothing
        ["Huyện Di Linh", "0", "0,00", "0", "96%"],
        ["Tổng", "4", "20,00", "3", ""],
    ]
    assert "Rừng quan sát được không mây" in html
    with pytest.raises(InvalidInputError, match="Huyện Di Linh"):
        build_report(region, _alerts(), "2024-W11", observed={"Huyện Di Linh": 95.5})


def test_district_found_from_geometry_when_missing(region: Region) -> None:
    alerts = _alerts().drop(columns=["district"])
    rows = _table(build_report(region, alerts, "2024-W11"), "Huyện/thành phố")
    assert [r[:3] for r in rows[:2]] == [[DA_LAT, "2", "13,25"], [LAC_DUONG, "2", "6,75"]]


def test_alerts_in_another_crs_and_without_area_are_measured(region: Region) -> None:
    alerts = _alerts().drop(columns=["area_ha"]).to_crs(32648)
    rows = _table(build_report(region, alerts, "2024-W11"), "Tuần này")
    n, ha = rows[-1][1], float(rows[-1][2].replace(",", "."))
    box_ha = shapely.box(108.32, 12.03, 108.322, 12.032)
    expected = gpd.GeoSeries([box_ha], crs=4326).to_crs(32648).area.iloc[0] / 10_000
    assert n == "4" and ha == pytest.approx(4 * expected, rel=0.01)


def test_thousands_and_decimals_per_language(region: Region) -> None:
    big = [("big", "new", "high", "2024-03-12", 1234.5, LAC_DUONG, 108.33, 12.04)]
    assert "1.234,50" in build_report(region, _alerts(big), "2024-W11")
    assert "1,234.50" in build_report(region, _alerts(big), "2024-W11", lang="en")


def test_alert_table_is_capped(region: Region) -> None:
    n = MAX_ALERT_ROWS + 7
    rows = [(f"a{i:03d}", "new", "low", "2024-03-13", 1 + i / 100, LAC_DUONG, 108.31 + i / 1000, 12.04)
            for i in range(n)]
    html = build_report(region, _alerts(rows), "2024-W11")
    table = _table(html, "Mã cảnh báo")
    assert len(table) == MAX_ALERT_ROWS and table[0][1] == f"a{n - 1:03d}"  # largest first
    assert "… và 7 cảnh báo khác" in html
    assert _table(html, "Tuần này")[-1][1] == str(n)  # the summary still counts them all


# --- the document ---------------------------------------------------------------------------------------


def test_self_contained_no_url_of_any_kind(report: str) -> None:
    assert report.startswith('<!DOCTYPE html>\n<html lang="vi">')
    assert '<meta charset="utf-8">' in report
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", report)
    assert "http" not in report and "//" not in text  # nor protocol-relative URLs
    assert "<script" not in report and "@import" not in report and "url(" not in report
    assert all(link.startswith("data:") for link in _Tables(report).links)
    assert b"http" not in _png(report)  # not even matplotlib's name in the PNG metadata


def test_figure_is_an_embedded_png_with_the_alerts_drawn(report: str) -> None:
    png = _png(report)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    pixels = (imread(io.BytesIO(png))[..., :3] * 255).round()
    for level, colour in CONFIDENCE_COLOURS.items():
        rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(pixels - rgb).max(axis=-1) <= 2).sum() > 20, level  # markers and legend swatch


def test_figure_renders_vietnamese_without_missing_glyphs(region: Region) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        build_report(region, _alerts(), "2024-W11", demo_bounds=DEMO, synthetic=True)
    assert [str(w.message) for w in caught if "glyph" in str(w.message).lower()] == []


def test_vietnamese_by_default(report: str) -> None:
    for text in ("Báo cáo biến động rừng hằng tuần – tỉnh Lâm Đồng", "Tuần 2024-W11",
                 "11/03/2024 – 17/03/2024", "Lập lúc: 18/03/2024 07:30 (GMT+7)", "Tóm tắt",
                 "Theo huyện, thành phố", "Bản đồ", "Chỉ tiêu năm 2024", "Phương pháp và ghi chú",
                 "Độ tin cậy", "rất cao",
                 "WGS 84 / UTM zone 48N (EPSG:32648)"):
        assert text in report, text
    assert "Dữ liệu mô phỏng" not in report
    assert "This week" not in report


def test_targets_2024(report: str) -> None:
    rows = _table(report, "Chỉ tiêu")
    assert rows == [
        ["Số vụ vi phạm pháp luật về lâm nghiệp", "giảm 20% so với năm 2023", "chưa có dữ liệu"],
        ["Diện tích rừng bị thiệt hại", "giảm 20% so với năm 2023", "chưa có dữ liệu"],
        ["Khối lượng gỗ bị thiệt hại", "giảm 20% so với năm 2023", "chưa có dữ liệu"],
        ["Diện tích trồng rừng mới", "617,7 ha", "chưa có dữ liệu"],
        ["Số cây trồng phân tán", "13,65 triệu cây", "chưa có dữ liệu"],
    ]
    assert "kết quả xác minh của kiểm lâm" in report
    # satellite-detected loss so far this year, as context, not as violations
    assert ("diện tích mất rừng phát hiện qua ảnh vệ tinh từ đầu năm (01/01/2024 – 17/03/2024): 26,00 ha "
            "(6 cảnh báo), trong đó kiểm lâm đã xác nhận 9,50 ha. Đây là diện tích mất rừng phát hiện được, "
            "không phải số liệu vi phạm.") in report


def test_english_on_request(region: Region) -> None:
    html = build_report(region, _alerts(), "2024-W11", lang="en", generated_at=GENERATED)
    assert html.startswith('<!DOCTYPE html>\n<html lang="en">')
    for text in ("Weekly forest change report – Lâm Đồng province", "2024-03-11 – 2024-03-17",
                 "detected 4 new alerts covering 20.00 ha", "Previous week: 1 alert, 2.00 ha",
                 "Year to date: 6 alerts, 26.00 ha", "617.7 ha", "13.65 million trees", "down 20% on 2023",
                 "no data yet", "This is detected loss, not violations", "2024-03-18 07:30 (GMT+7)"):
        assert text in html, text
    assert _table(html, "This week")[-1] == ["Total", "4", "20.00", "1", "2.00", "+3", "+18.00", "6", "26.00"]
    assert "Tóm tắt" not in html
    with pytest.raises(InvalidInputError, match="unknown language 'fr'"):
        build_report(region, _alerts(), "2024-W11", lang="fr")


def test_strings_have_the_same_keys_in_every_language() -> None:
    keys = {lang: set(strings) for lang, strings in STRINGS.items()}
    assert keys["vi"] == keys["en"]


def test_methods_say_the_confidence_rules_the_detector_applies(report: str, region: Region) -> None:
    # high: one more flag within the next 4 observations; highest: both flags seen by NBR or (NDMI where usable)
    assert "cao – có thêm ít nhất một lần quan sát bị đánh dấu trong 4 lần quan sát hợp lệ tiếp theo" in report
    assert "cả hai lần quan sát bị đánh dấu đều được chỉ số thứ hai xác nhận" in report
    assert "NBR, hoặc NDMI ở những điểm ảnh mà mọi lần quan sát dùng để học mô hình nền đều có kênh SWIR-1 (B11)" \
        in report
    english = build_report(region, _alerts(), "2024-W11", lang="en", generated_at=GENERATED)
    assert "high – at least one more flagged among the next 4 valid observations" in english
    assert "with both flagged observations confirmed by a second index" in english
    assert "NBR, or NDMI where SWIR-1 (B11) was seen in every observation the baseline learned from" in english


def test_synthetic_banner(region: Region) -> None:
    vi = build_report(region, _alerts(), "2024-W11", synthetic=True)
    en = build_report(region, _alerts(), "2024-W11", synthetic=True, lang="en")
    assert '<p class="banner">Dữ liệu mô phỏng (synthetic demo data)' in vi
    assert '<p class="banner">SYNTHETIC demo data' in en


@pytest.mark.parametrize("alerts", [None, gpd.GeoDataFrame(geometry=[], crs=4326)], ids=["none", "empty"])
def test_no_alerts_gives_a_valid_report_with_zeros(region: Region, alerts: gpd.GeoDataFrame | None) -> None:
    html = build_report(region, alerts, "2024-W11", demo_bounds=DEMO)
    assert _table(html, "Tuần này")[-1] == ["Tổng", "0", "0,00", "0", "0,00", "0", "0,00", "0", "0,00"]
    assert html.count("Không có cảnh báo mới trong tuần.") == 1  # the alert list (the district table lists zeros)
    assert "hệ thống phát hiện 0 cảnh báo mới, tổng diện tích 0,00 ha" in html
    assert _png(html).startswith(b"\x89PNG")


def test_a_year_without_targets_does_not_fail(region: Region) -> None:
    html = build_report(region, _alerts(), "2023-W52")
    assert "Chưa có chỉ tiêu cho năm 2023 trong hồ sơ vùng." in html
    assert "2023-W52" in _table(html, "Mã cảnh báo")[0]
    en = build_report(region, None, "2025-W01", lang="en")  # also past the boundaries' validity
    assert "The region profile has no targets for 2025." in en


def test_bad_demo_bounds_are_refused(region: Region) -> None:
    with pytest.raises(InvalidInputError, match="demo_bounds"):
        build_report(region, None, "2024-W11", demo_bounds=(108.4, 12.0, 108.3, 12.1))
    with pytest.raises(InvalidInputError, match="2024-W60"):
        build_report(region, None, "2024-W60")
