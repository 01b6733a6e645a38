"""``/reports/`` lists the weekly reports the data directory holds (JSON by default, an HTML page with
``f=html``), newest week first, each with a URL that serves it; behind the read rule like the reports themselves."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from reviewkit import PASSWORD, login

from api.app import create_app
from api.settings import Settings
from api.users import add_user


def _write_reports(settings: Settings) -> None:
    folder = settings.paths.reports
    folder.mkdir(parents=True)
    for name in ("2024-W11.html", "2024-W02.html", "special.html"):
        (folder / name).write_text(f"<html><body>{name}</body></html>", encoding="utf-8")
    (folder / "notes.txt").write_text("not a report")


@pytest.fixture
def settings(store, tmp_path):
    s = Settings(data_dir=tmp_path, store_url=store.url)
    _write_reports(s)
    return s


def test_reports_are_listed_newest_week_first_with_working_urls(settings):
    with TestClient(create_app(settings)) as c:
        r = c.get("/reports/")
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
        reports = r.json()["reports"]
        assert [x["file"] for x in reports] == ["2024-W11.html", "2024-W02.html", "special.html"]
        assert reports[0] | {"url": None} == {"week": "2024-W11", "start": "2024-03-11", "end": "2024-03-17",
                                              "file": "2024-W11.html", "url": None, "unit_id": None,
                                              "unit_name": None, "level": None, "lang": None, "pdf": None}
        assert reports[2]["week"] is None
        for item in reports:
            page = c.get(item["url"])
            assert page.status_code == 200 and item["file"] in page.text

        html = c.get("/reports/", params={"f": "html"})
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
        assert "Các báo cáo hằng tuần" in html.text and 'href="http://testserver/reports/2024-W11.html"' in html.text
        assert "script-src" in html.headers["content-security-policy"]
        assert "Weekly reports" in c.get("/reports/", params={"f": "html", "lang": "en"}).text


def test_an_empty_data_directory_lists_no_report(store, tmp_path):
    with TestClient(create_app(Settings(data_dir=tmp_path, store_url=store.url))) as c:
        assert c.get("/reports/").json() == {"reports": []}
        assert "Chưa có báo cáo nào" in c.get("/reports/?f=html").text


def test_the_list_follows_the_read_rule(store, tmp_path):
    closed = Settings(data_dir=tmp_path, store_url=store.url, public_reads=False)
    _write_reports(closed)
    add_user(store, "viewer", PASSWORD, "viewer", [])
    with TestClient(create_app(closed)) as c:
        for path in ("/reports/", "/reports/?f=html", "/reports/2024-W11.html"):
            r = c.get(path)
            assert r.status_code == 401 and r.json()["code"] == "login_required", path
        r = c.get("/reports/", headers=login(c, "viewer"))
        assert r.status_code == 200 and len(r.json()["reports"]) == 3
