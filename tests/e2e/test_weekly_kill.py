"""The weekly job killed with SIGKILL from outside, then run again, on both backends: killed after an e-mail was
handed to the SMTP server and before the delivery was recorded, the re-run sends no second e-mail; killed
mid-ingest, the re-run completes with every scene catalogued and detected once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from weeklykit import WEEK, SmtpServer, job_env, wait_for, watched_folder

from api.cli import cli
from geo.store import jobs, open_store
from geo.workflow import subscriptions as subs

FORESTMON = str(Path(sys.executable).with_name("forestmon"))


def start_job(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([FORESTMON, "weekly", "--week", WEEK], env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def rerun(env: dict[str, str]) -> str:
    result = CliRunner().invoke(cli, ["weekly", "--week", WEEK], env=env)
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_killed_after_sending_and_before_recording_sends_no_second_email(backend_url, tmp_path):
    watch = watched_folder(tmp_path / "inbox")
    with SmtpServer() as smtp:
        env = job_env(tmp_path / "d", backend_url, watch, smtp.port)
        with open_store(backend_url) as store:
            subs.add_subscription(store, email="tinh@example.vn")
        smtp.mailbox.hold = True  # the message arrives; the server's "250 OK" waits
        job = start_job(env)
        try:
            assert smtp.mailbox.received.wait(180), "the job sent no e-mail"
        finally:
            job.send_signal(signal.SIGKILL)
            job.wait(30)
        smtp.mailbox.hold = False
        assert job.returncode == -signal.SIGKILL
        with open_store(backend_url) as store:
            assert [d["status"] for d in subs.deliveries(store, WEEK)] == ["sending"]
            assert jobs.list_runs(store)[0]["status"] == "running"

        out = rerun(env)
        assert "took over the lock of a stale run" in out
        assert "0 sent, 0 failed, 1 already delivered" in out
        assert len(smtp.mailbox.messages) == 1
        with open_store(backend_url) as store:
            second, first = jobs.list_runs(store)
            assert second["status"] == "ok"
            assert first["status"] == "failed" and f"resumed by run {second['id']}" in first["error"]
            assert [s["status"] for s in first["steps"]][-1] == "failed"  # deliver, interrupted


def test_killed_mid_ingest_completes_on_rerun_without_duplicates(backend_url, tmp_path):
    watch = watched_folder(tmp_path / "inbox", extra=40)
    files = sorted(watch.glob("*.tif"))
    env = job_env(tmp_path / "d", backend_url, watch, 1)
    with open_store(backend_url) as store:
        job = start_job(env)
        try:
            done = wait_for(lambda: 0 < len(store.scenes()) < len(files) and len(store.scenes()), 180,
                            "the first scenes to be catalogued", interval=0.02)
        finally:
            job.send_signal(signal.SIGKILL)
            job.wait(30)
        assert 0 < done < len(files)
        out = rerun(env)
        assert "ingest:" in out and "week 2024-W10 done" in out
        scenes = store.scenes()
        assert len(scenes) == len({s["id"] for s in scenes}) == len(files)
        assert all(s["status"] == "ok" and s["processed"] for s in scenes)
        assert sum(r["scenes"] for r in store.runs()) == len(files)  # each scene detected once
        assert [r["status"] for r in jobs.list_runs(store)] == ["ok", "failed"]
    assert len(list((tmp_path / "d" / "ard").rglob("*.tif"))) == len(files)
