"""Schema migrations, one ordered folder per backend: ``geopackage/`` and ``postgis/``.

How to add one: put ``NNNN_what.sql`` in BOTH folders (same name, each in its backend's dialect). Migrations run
in name order, each in its own transaction, and are recorded by name in the table ``schema_migrations`` — so two
branches adding different names both apply after a merge. Never edit a migration that has been released; add a
new one. They run on ``forestmon db upgrade`` and whenever a store is opened.
"""
