"""A PostgreSQL database with PostGIS for tests and benchmarks, created on first use (the server must be up)."""

from __future__ import annotations


def ensure_postgis_database(url: str) -> None:
    """Create the database ``url`` names when it does not exist, and the postgis extension in it."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    try:
        psycopg.connect(url, connect_timeout=10).close()
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            raise
        with psycopg.connect(make_conninfo(url, dbname="postgres"), autocommit=True) as admin:
            try:
                admin.execute(f'CREATE DATABASE "{conninfo_to_dict(url)["dbname"]}"')
            except psycopg.errors.DuplicateDatabase:
                pass  # a parallel test worker created it first
    with psycopg.connect(url, autocommit=True) as conn:
        # One worker at a time: two concurrent CREATE EXTENSION IF NOT EXISTS can both try to create it.
        conn.execute("SELECT pg_advisory_lock(7301)")
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        finally:
            conn.execute("SELECT pg_advisory_unlock(7301)")
