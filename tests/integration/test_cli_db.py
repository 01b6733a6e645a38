"""``forestmon db upgrade|status`` on both backends, and a clear one-line error for an unreachable database."""

from __future__ import annotations

from click.testing import CliRunner

from api.cli import cli
from geo.store.schema import MIGRATIONS


def test_db_upgrade_then_status_lists_every_migration(backend_url, tmp_path):
    env = {"FORESTMON_DATABASE_URL": backend_url}
    result = CliRunner().invoke(cli, ["db", "upgrade", "--data-dir", str(tmp_path)], env=env)
    assert result.exit_code == 0, result.output
    assert "schema up to date" in result.output
    status = CliRunner().invoke(cli, ["db", "status"], env=env)
    assert status.output.split() == list(MIGRATIONS)


def test_unreachable_database_is_a_config_error_naming_it():
    result = CliRunner().invoke(cli, ["db", "upgrade"],
                                env={"FORESTMON_DATABASE_URL": "postgresql://u:secret@127.0.0.1:1/x"})
    assert result.exit_code != 0
    assert "cannot connect to the PostGIS store postgresql://u:***@127.0.0.1:1/x" in str(result.exception)
    assert "secret" not in str(result.exception)
