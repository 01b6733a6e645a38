"""The doors people use: the FastAPI app (settings, dependencies, collections, routers) and the ``forestmon``
command line (``api.cli``)."""
