"""Secrets and store details never reach a response or a message: the public ``/health`` shows status, backend
kind and counts only; a store URL or connection error is redacted in every form a password can take (URL
userinfo, with an unencoded ``@`` too; ``?password=``; key=value conninfo) wherever it is shown: ``repr`` of the
store, ``/health``, ``forestmon db`` and the errors of the CLI.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import pg_schema_url

from api.cli import cli
from geo.errors import ConfigError
from geo.store import open_store, redact

SECRET = "Zq7-s3cr3t"


@pytest.mark.parametrize("text", [
    f"postgresql://u:{SECRET}@h/db",
    f"postgresql://u:{SECRET}@ss@h/db",
    f"postgresql://h/db?password={SECRET}",
    f"postgresql://u@h/db?sslmode=require&password={SECRET}",
    f"host=h password={SECRET}",
    f"host=h password='{SECRET} x' user=u",
    f"cannot connect to postgresql://u:{SECRET}@h:5432/db?options=-csearch_path%3Ds: refused",
])
def test_redact_removes_the_password_in_every_form(text):
    shown = redact(text)
    assert "s3cr3t" not in shown and "Zq7" not in shown and "***" in shown
    assert "h" in shown


def test_health_shows_status_backend_and_counts_only(app_client, store, tmp_path):
    r = app_client.get("/health")
    body = r.json()
    assert set(body) == {"status", "backend", "alerts", "scenes", "data_version"}
    assert body["status"] == "ok" and body["alerts"] == 3
    assert body["backend"] in ("geopackage", "postgis")
    for detail in (str(tmp_path), "store.gpkg", "postgres", "127.0.0.1", "5432", "forestmon_test", "search_path"):
        assert detail not in r.text


def _with_password(url: str, form: str) -> str:
    """The test database's URL (user postgres, trusted: any password connects) carrying SECRET in ``form``."""
    if form == "userinfo":
        return url.replace("postgres@", f"postgres:{SECRET}@", 1)
    return f"{url}&password={SECRET}"


@pytest.mark.parametrize("form", ["userinfo", "query"])
def test_a_store_opened_with_a_password_never_shows_it(pg_database, tmp_path, form):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings

    with pg_schema_url(pg_database) as base:
        url = _with_password(base, form)
        with open_store(url) as store:
            assert SECRET not in repr(store) and "***" in repr(store)
        assert SECRET not in repr(Settings(store_url=url))
        with TestClient(create_app(Settings(data_dir=tmp_path, store_url=url))) as client:
            assert SECRET not in client.get("/health").text
        result = CliRunner().invoke(cli, ["db", "upgrade"], env={"FORESTMON_DATABASE_URL": url})
        assert result.exit_code == 0, result.output
        assert SECRET not in result.output


@pytest.mark.parametrize("url", [
    f"postgresql://nobody:{SECRET}@127.0.0.1:5432/forestmon_test",
    f"postgresql://nobody:{SECRET}@ss@127.0.0.1:5432/forestmon_test",  # an unencoded '@' in the password
    f"postgresql://127.0.0.1:5432/no_such_db?password={SECRET}",
    f"postgresql://nobody@127.0.0.1:5432/forestmon_test?sslmode=require&password={SECRET}",
    f"host=127.0.0.1 password={SECRET}",
])
def test_connection_errors_never_show_the_password(url):
    with pytest.raises(ConfigError) as caught:
        open_store(url)
    message = str(caught.value)
    assert "s3cr3t" not in message and "Zq7" not in message and "ss@" not in message
    result = CliRunner().invoke(cli, ["db", "status"], env={"FORESTMON_DATABASE_URL": url})
    assert result.exit_code != 0 and "s3cr3t" not in str(result.exception)


def test_the_cli_error_line_is_redacted(tmp_path):
    """What the operator sees: one line on stderr from the installed command, without the password."""
    exe = Path(sys.executable).with_name("forestmon")
    url = f"postgresql://nobody:{SECRET}@ss@127.0.0.1:5432/forestmon_test"
    proc = subprocess.run([str(exe), "db", "status"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "FORESTMON_DATABASE_URL": url, "FORESTMON_DATA_DIR": str(tmp_path)})
    assert proc.returncode == 1 and proc.stderr.startswith("error: ")
    assert "s3cr3t" not in proc.stderr + proc.stdout and "%40" in proc.stderr
