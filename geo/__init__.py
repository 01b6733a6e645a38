"""The science and the domain: indices, cloud masks, change detection, polygons, areas, targets, the store."""
