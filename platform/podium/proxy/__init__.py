"""The single public door. Routes Space traffic by host or path to the Space's container
(HTTP streaming, SSE, websockets), wakes sleeping Spaces and forwards everything else to
the API process. ``podium.proxy.app.create_proxy_app`` builds the Python proxy (ASGI);
``podium.proxy.server.serve`` runs the data plane Settings.proxy_data_plane names
(``plane/``: nginx-lua in front of the Python proxy, or the Python proxy alone). It reads
the route table (podium.routes), which lives below it."""
