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
            admin.execute(f'CREATE DATABASE "{conninfo_to_dict(url)["dbname"]}"')
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
