"""What people look at: the web map, imagery renderings, reports."""
