"""Schema migrations, one ordered folder per backend: ``geopackage/`` and ``postgis/``.

How to add one: put ``NNNN_what.sql`` in BOTH folders (same name, each in its backend's dialect). Migrations run
in name order, each in its own transaction, and are recorded by name in the table ``schema_migrations`` — so two
branches adding different names both apply after a merge. Never edit a migration that has been released; add a
new one. They run on ``forestmon db upgrade`` and whenever a store is opened.

A new alert column: add it to ``geo.alerts.ALERT_COLUMNS`` (the detector writes it, ``sync_alerts`` copies it) or
beside ``REVIEW_COLUMNS`` AND add it with ``ALTER TABLE alerts ADD COLUMN`` in both folders. The GeoPackage's
layers are created from the frozen ``BASELINE_ALERT_COLUMNS`` (migration 0001), never from the current list.
"""
