"""The science and the domain: the grid and its tiles, regions and versioned admin units, indices, cloud masks,
the scene reader, the data directory's layout, detection (``geo.detect``), the store (``geo.store``) and the
workflow that follows an alert (``geo.workflow``: review, cases, planting, targets, planning, exports)."""
