"""Which browser requests may use the dashboard's session cookie.

Spaces are served on sibling subdomains of the dashboard ({owner}-{name}.{domain}): the
same *site*, so SameSite=Lax sends the cookie with a Space page's fetch() and form posts.
The browser's own request metadata tells them apart: ``Sec-Fetch-Site`` (every current
browser) and ``Origin`` (every browser on non-GET requests). A request that carries
neither is not from a browser (CLI, huggingface_hub, git, curl) and cannot be forged by a
web page; this is the rule of Go's ``http.CrossOriginProtection``.
"""

from __future__ import annotations

from fastapi import Request

from podium.config import Settings
from podium.errors import Forbidden

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# "none": typed in the address bar, a bookmark; "same-origin": the dashboard's own pages.
FIRST_PARTY_SITES = frozenset({"same-origin", "none"})


def dashboard_origins(settings: Settings) -> frozenset[str]:
    extra = (o.strip().rstrip("/").lower() for o in settings.dashboard_extra_origins)
    return frozenset({settings.public_base_url.lower(), *(o for o in extra if o)})


def _foreign_origin(request: Request, settings: Settings) -> str | None:
    """The origin (or site) the request came from when that is not the dashboard."""
    origin = request.headers.get("origin")
    if origin is not None and origin.rstrip("/").lower() not in dashboard_origins(settings):
        return origin  # includes "null": sandboxed frames, opaque origins
    site = request.headers.get("sec-fetch-site")
    if site is not None and site.lower() not in FIRST_PARTY_SITES:
        return origin or f"a {site} page"
    return None


def _top_level_page_visit(request: Request) -> bool:
    """A link followed to a dashboard page: the page is shown to the browser, never to the
    page that linked it, and dashboard pages change nothing."""
    return (request.method in ("GET", "HEAD")
            and request.headers.get("sec-fetch-mode") == "navigate"
            and request.headers.get("sec-fetch-dest") == "document")


def session_cookie_allowed(request: Request, settings: Settings, *, page: bool = False) -> bool:
    """False for requests made by another origin (a Space): their cookie is ignored, for
    every method, so a Space's script is anonymous to the API. ``page``: a dashboard page,
    which a top-level visit from elsewhere still shows signed in."""
    if _foreign_origin(request, settings) is None:
        return True
    return page and _top_level_page_visit(request)


def refuse_cross_origin_changes(request: Request) -> None:
    """Every state-changing request from another origin is refused unless it authenticates
    with a token (which a web page cannot borrow): this covers cookie-authenticated
    changes (CSRF), login (signing a victim into the attacker's account) and logout."""
    if request.method in SAFE_METHODS or request.headers.get("authorization"):
        return
    settings: Settings = request.app.state.settings
    foreign = _foreign_origin(request, settings)
    if foreign is not None:
        raise Forbidden(
            f"cross-origin request refused: {request.method} {request.url.path} came from "
            f"{foreign}, not from the dashboard at {settings.public_base_url}",
            hint="use the dashboard itself, or an API token in the Authorization header",
        )
