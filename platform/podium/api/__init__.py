"""The HTTP API (FastAPI): routes per resource, Spaces-compatible paths under /api/spaces."""
