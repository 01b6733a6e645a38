"""The science and the domain: indices, cloud masks, baselines, change detection, polygons, areas, targets, the store."""
