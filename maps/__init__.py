"""What people look at: the web map and its vendored assets, imagery and vector tiles, colours and styles,
the texts in Vietnamese and English, and the weekly report."""
