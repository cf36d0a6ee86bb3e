"""Maps the PodiumError hierarchy to HTTP responses: the one place that knows status codes."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from podium.errors import PodiumError, Unauthorized


async def podium_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PodiumError)
    headers = exc.http_headers()
    # huggingface_hub shows this header as the server's reason (ASCII only in a header).
    flat = " ".join(exc.message.split())  # no CR/LF or other control bytes in a header
    headers["X-Error-Message"] = "".join(c if " " <= c <= "~" else "?" for c in flat)[:500]
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = 'Bearer realm="Podium"'
    return JSONResponse(exc.to_dict(), status_code=exc.http_status, headers=headers)


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's request validation in the same {error, message, hint} shape, so clients
    (CLI, dashboard) read one error format; the field list stays under "detail"."""
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {}
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
    message = f"{where}: {first.get('msg', 'invalid value')}" if where else "invalid request"
    body = {"error": "invalid_request", "message": message,
            "detail": jsonable_encoder(errors, exclude={"input", "ctx", "url"})}
    return JSONResponse(body, status_code=422)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(PodiumError, podium_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
