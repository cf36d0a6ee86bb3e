"""Maps the PodiumError hierarchy to HTTP responses: the one place that knows status codes."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from podium.errors import PodiumError, Unauthorized


async def podium_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PodiumError)
    headers = {}
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = 'Bearer realm="Podium"'
    return JSONResponse(exc.to_dict(), status_code=exc.http_status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(PodiumError, podium_error_handler)
