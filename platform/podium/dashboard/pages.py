"""Rendering: the Jinja2 environment (autoescape always on), the security headers every page
carries, static asset URLs with a content hash for caching, and HTML error pages."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Coroutine
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from podium import __version__
from podium.config import Settings
from podium.errors import InvalidName, NotFound, PodiumError, Unauthorized

from . import views

HERE = Path(__file__).resolve().parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"
STATIC_PREFIX = "/static/dashboard/"


def avatar_tone(name: str) -> int:
    """A stable colour (0-7) for a user's initial, so each person looks the same everywhere."""
    return hashlib.sha256(name.lower().encode()).digest()[0] % 8


class Pages:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES_DIR), autoescape=True, trim_blocks=True,
            lstrip_blocks=True, undefined=StrictUndefined,
        )
        self.env.globals.update(
            static=self.static_url, avatar_tone=avatar_tone, version=__version__,
            public_base_url=settings.public_base_url, stage_labels=self.stage_labels,
        )

    @cached_property
    def stage_labels(self) -> dict[str, list[str]]:
        """Stage → [label, tone], handed to the JavaScript that updates badges live."""
        return {s.value: [label, views.stage_tone(s)] for s, label in views.STAGE_LABELS.items()}

    @cached_property
    def _asset_versions(self) -> dict[str, str]:
        return {
            p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:10]
            for p in STATIC_DIR.iterdir() if p.is_file()
        }

    def static_url(self, name: str) -> str:
        return f"{STATIC_PREFIX}{name}?v={self._asset_versions.get(name, __version__)}"

    def static_path(self, name: str) -> Path:
        # Only the files shipped in static/ by name: no paths, so nothing else is reachable.
        if name not in self._asset_versions:
            raise NotFound(f"no static file {name!r}")
        return STATIC_DIR / name

    def content_security_policy(self) -> str:
        s = self.settings
        spaces = s.public_origin(f"*.{s.domain}")
        # Scripts and styles only from our own files: user text that slipped into markup
        # could still not run. Apps are framed from their own origin.
        return (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self'; frame-src 'self' {spaces}; object-src 'none'; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
        )

    def render(
        self, name: str, *, status: int = 200, headers: dict[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        html = self.env.get_template(name).render(**context)
        response = HTMLResponse(html, status_code=status, headers=headers)
        response.headers["Content-Security-Policy"] = self.content_security_policy()
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        # Pages show who is signed in and private data: never from a shared cache.
        response.headers["Cache-Control"] = "private, no-cache"
        return response

    def error(self, request: Request, exc: PodiumError) -> Response:
        if isinstance(exc, Unauthorized):
            return login_redirect(request)
        status = exc.http_status
        if isinstance(exc, InvalidName):  # a path that names nothing, e.g. /favicon.ico
            status = 404
        return self.render(
            "error.html", status=status, viewer=getattr(request.state, "viewer", None),
            error=exc, status_code=status,
        )

    def route_class(self) -> type[APIRoute]:
        pages = self

        class PageRoute(APIRoute):
            """Errors on a page become an HTML page (or a sign-in redirect), not JSON."""

            def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
                handler = super().get_route_handler()

                async def page_handler(request: Request) -> Response:
                    try:
                        return await handler(request)
                    except PodiumError as exc:
                        return pages.error(request, exc)

                return page_handler

        return PageRoute


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)
