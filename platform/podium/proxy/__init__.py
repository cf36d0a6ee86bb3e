"""The data plane: the single public door. Routes Space traffic by host or path to the
Space's container (HTTP streaming, SSE, websockets), wakes sleeping Spaces and forwards
everything else to the API process. ``create_proxy_app`` builds the ASGI app; ``serve``
runs it."""
