"""The single public door. Routes Space traffic by host or path to the Space's container
(HTTP streaming, SSE, websockets), wakes sleeping Spaces and forwards everything else to
the API process. ``create_proxy_app`` builds the Python proxy (ASGI); ``serve`` runs the
data plane Settings.proxy_data_plane names (``plane/``: nginx in front of the Python proxy,
or the Python proxy alone)."""

from typing import Any

__all__ = ["create_proxy_app", "serve"]


def __getattr__(name: str) -> Any:
    # Lazy: the scheduler imports podium.proxy.routes and must not pull in the HTTP stack.
    if name == "create_proxy_app":
        from podium.proxy.app import create_proxy_app

        return create_proxy_app
    if name == "serve":
        from podium.proxy.server import serve

        return serve
    raise AttributeError(name)
