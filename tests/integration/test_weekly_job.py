"""``forestmon weekly`` through the CLI on both backends: the chain from a watched folder to e-mails received by a
real SMTP server and signed webhooks, the run record (CLI and API), idempotency per week, the lock."""

from __future__ import annotations

import io
import json
from datetime import date

from click.testing import CliRunner
from fastapi.testclient import TestClient
from pypdf import PdfReader
from weeklykit import UNIT, WEEK, SmtpServer, WebhookReceiver, job_env, watched_folder

from api.app import create_app
from api.cli import cli
from api.settings import Settings
from geo.query import Query
from geo.store import jobs, open_store
from geo.workflow import subscriptions as subs

SECRET = "s3cret-for-the-test-receiver-0123456789"


def run(env, *args, code=0):
    result = CliRunner().invoke(cli, [str(a) for a in args], env=env)
    assert result.exit_code == code, (result.output, result.exception)
    return result.output


def test_the_week_arrives_by_email_and_webhook_once(backend_url, tmp_path):
    watch = watched_folder(tmp_path / "inbox")
    with SmtpServer() as smtp, WebhookReceiver(SECRET) as hook:
        env = job_env(tmp_path / "d", backend_url, watch, smtp.port)
        run(env, "subscriptions", "add", "--email", "tinh@example.vn")
        run(env, "subscriptions", "add", "--email", "ranger@example.org", "--unit", UNIT, "--lang", "en")
        run(env, "subscriptions", "add", "--webhook", hook.url, "--secret", SECRET, "--lang", "en")
        out = run(env, "weekly", "--week", WEEK)
        assert "2 scene(s) catalogued" in out and "3 sent, 0 failed" in out

        mails = {m["To"]: m for m in smtp.mailbox.messages}
        assert sorted(mails) == ["ranger@example.org", "tinh@example.vn"]
        vi, en = mails["tinh@example.vn"], mails["ranger@example.org"]
        assert vi["Subject"] == f"[forestmon] Báo cáo biến động rừng tuần {WEEK} – Lâm Đồng"
        assert en["Subject"] == f"[forestmon] Weekly forest change report {WEEK} – Huyện Đam Rông"
        vi_text = vi.get_body(("plain",)).get_content()
        assert "(2024-03-04 đến 2024-03-10) cho Lâm Đồng: 1 cảnh báo mới, 4,0 ha" in vi_text
        assert "1 new alert(s), 4.0 ha" in en.get_body(("plain",)).get_content()
        assert [a.get_filename() for a in vi.iter_attachments()] == [f"{WEEK}.html", f"{WEEK}.pdf"]
        assert [a.get_filename() for a in en.iter_attachments()] == [f"{WEEK}_{UNIT}.en.html", f"{WEEK}_{UNIT}.en.pdf"]
        for mail in (vi, en):
            assert "<html" in mail.get_body(("html",)).get_content()
        # the PDFs open, and their text holds the place names with their diacritics and the week's figures
        pdf = {m["To"]: next(a for a in m.iter_attachments() if a.get_filename().endswith(".pdf")) for m in (vi, en)}
        vi_pdf = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf["tinh@example.vn"].get_content()))
                          .pages)
        en_pdf = " ".join(page.extract_text() for page in
                          PdfReader(io.BytesIO(pdf["ranger@example.org"].get_content())).pages)
        assert "Lâm Đồng" in vi_pdf and "Huyện Đam Rông" in vi_pdf and "4,00" in vi_pdf, vi_pdf[:600]
        assert "Huyện Đam Rông" in en_pdf and "4.00" in en_pdf, en_pdf[:600]

        # the webhook's body, signed (the receiver refuses a bad signature with 401)
        assert [r["valid"] for r in hook.requests] == [True]
        payload = hook.accepted[0]
        assert payload["week"] == WEEK and payload["alerts"] == 1 and payload["area_ha"] == 4.0
        assert payload["files"] == [{"name": f"{WEEK}.en.html", "url": None}, {"name": f"{WEEK}.en.pdf", "url": None}]

        # the figures are the store's: the week's alerts in the unit
        with open_store(backend_url) as store:
            week_alerts = store.query_alerts(Query(start=date(2024, 3, 4), end=date(2024, 3, 10),
                                                   filters={"district_id": (UNIT,)}))
            assert len(week_alerts) == 1 and week_alerts["area_ha"].sum() == 4.0
            assert [d["status"] for d in subs.deliveries(store, WEEK)] == ["sent"] * 3

        # again: the week is done, nothing is sent twice
        out = run(env, "weekly", "--week", WEEK)
        assert "already done by run 1" in out
        out = run(env, "weekly", "--week", WEEK, "--force")
        assert "0 sent, 0 failed, 3 already delivered" in out
        assert len(smtp.mailbox.messages) == 2 and len(hook.accepted) == 1

        # an operator forces a resend of one subscription
        run(env, "subscriptions", "resend", "--week", WEEK, "--id", "1")
        out = run(env, "weekly", "--week", WEEK, "--force")
        assert "1 sent, 0 failed, 2 already delivered" in out
        assert [m["To"] for m in smtp.mailbox.messages].count("tinh@example.vn") == 2

        # the record: CLI and API
        listing = run(env, "runs")
        assert "run 3  weekly 2024-W10  ok" in listing and "ingest   ok" in listing
        runs = json.loads(run(env, "runs", "1", "--json"))
        assert [s["step"] for s in runs[0]["steps"]] == ["ingest", "detect", "assign", "report", "deliver"]
        assert runs[0]["steps"][1]["counts"]["alerts"] == 1 and runs[0]["steps"][0]["seconds"] >= 0
        with TestClient(create_app(Settings(data_dir=tmp_path / "d", store_url=backend_url))) as c:
            api_runs = c.get("/runs").json()["runs"]
            assert [r["id"] for r in api_runs] == [3, 2, 1] and api_runs[2]["steps"][4]["counts"]["sent"] == 3
            assert c.get("/runs/1").json()["status"] == "ok"
            missing = c.get("/runs/99", headers={"Accept-Language": "vi"})
            assert missing.status_code == 404 and missing.json()["detail"].startswith("Không tìm thấy")
            assert c.get("/runs/99?lang=en").json()["detail"] == "no run with id 99"
            assert c.get("/runs?bogus=1").status_code == 400


def test_a_webhook_answering_500_twice_gets_the_report_once(backend_url, tmp_path):
    watch = watched_folder(tmp_path / "inbox")
    with SmtpServer() as smtp, WebhookReceiver(SECRET, answers=(500, 500)) as hook, \
            WebhookReceiver(SECRET, answers=(404,)) as gone:
        env = job_env(tmp_path / "d", backend_url, watch, smtp.port)
        run(env, "subscriptions", "add", "--webhook", hook.url, "--secret", SECRET)
        run(env, "subscriptions", "add", "--webhook", gone.url, "--secret", SECRET)
        out = run(env, "weekly", "--week", WEEK, code=4)  # done, one delivery failed
        assert "1 sent, 1 failed" in out and "HTTP 404" in out
        assert [r["status"] for r in hook.requests] == [500, 500, 200] and len(hook.accepted) == 1
        assert len(gone.requests) == 1  # a 4xx is not retried
        with open_store(backend_url) as store:
            log = {d["subscription_id"]: d for d in subs.deliveries(store, WEEK)}
            assert (log[1]["status"], log[1]["attempts"]) == ("sent", 3)
            assert log[2]["status"] == "failed" and "404" in log[2]["error"]
            assert jobs.list_runs(store)[0]["status"] == "partial"
        # the next run tries the failed one again, not the delivered one
        out = run(env, "weekly", "--week", WEEK)
        assert "1 sent, 0 failed, 1 already delivered" in out
        assert len(hook.accepted) == 1 and len(gone.accepted) == 1


def test_one_run_at_a_time_and_stale_locks(backend_url, tmp_path):
    watch = watched_folder(tmp_path / "inbox")
    env = job_env(tmp_path / "d", backend_url, watch, 1)
    with open_store(backend_url) as store:
        live = jobs.Holder.this_process()  # a live process holds the lock: the job says so and exits 3
        jobs.acquire_lock(store, "weekly", live, stale_after=3600)
        out = run(env, "weekly", "--week", WEEK, code=3)
        assert "already running" in out and str(live) in out
        assert jobs.list_runs(store) == []
        jobs.release_lock(store, "weekly", live)
        # a holder gone from this machine (no such process) leaves a stale lock: taken over
        jobs.acquire_lock(store, "weekly", jobs.Holder(live.host, 2**22 + 12345), stale_after=3600)
        out = run(env, "weekly", "--week", WEEK)
        assert "took over the lock of a stale run" in out and "process gone" in out
        with store.reading() as tx:
            assert tx.fetch("SELECT * FROM job_locks") == []


def test_no_source_configured_goes_on_with_the_catalogue(backend_url, tmp_path):
    env = job_env(tmp_path / "d", backend_url, tmp_path, 1)
    env["FORESTMON_WATCH_DIR"] = ""
    out = run(env, "weekly", "--week", WEEK)
    assert "no imagery source configured" in out and "0 scene(s) the catalogue holds" in out
    assert "the catalogue holds no scene" in out
    bad = CliRunner().invoke(cli, ["weekly", "--week", "2024-W99"], env=env)
    assert bad.exit_code == 1 and "2024-W99" in str(bad.exception)
