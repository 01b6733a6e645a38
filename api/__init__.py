"""The service and the command line: FastAPI app, routers, settings, and the `forestmon` CLI that wires it all."""
