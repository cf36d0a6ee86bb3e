"""Pure routing decisions: which Space (or the API) a request is for, and the path the
upstream sees. No I/O here, so every rule is unit-tested.

A Space's code runs only on its own host, ``{owner}-{name}.{domain}``: never on the origin
that holds the dashboard's session (issue 10 item 2). There the session cookie would go
with the Space's own fetch('/api/tokens'), Origin and all, and nothing could tell the
Space's script from the dashboard's. So a path URL ``/spaces/{owner}/{name}/…`` on any
other host is only a redirect to the same path and query on the Space's host, on every data
plane (the nginx planes hand path URLs to the Python proxy, which answers this way).

Git never reaches a Space (item 1): git hands the user's credentials to whatever challenges
its first request with 401, so a git request (podium.gitserver.paths, the one rule every
data plane uses) goes to the API's git server by path and is refused (404) on a Space's
host. It is decided before the path-URL redirect.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote

from podium.config import Settings
from podium.errors import InvalidName
from podium.gitserver.paths import is_git_request
from podium.names import SpaceId, parse_subdomain
from podium.proxy.routes import Route
from podium.spaces.stage import Sdk

# The proxy's own endpoints inside a Space's URL space (status polling, share grants).
CONTROL_PREFIX = "/__podium/"


@dataclass(frozen=True, slots=True)
class SpaceTarget:
    """A request for a Space, on its own host. ``rest`` is the raw path (with query), always
    starting with "/"."""

    lookup: str  # the subdomain
    rest: str

    @property
    def control(self) -> str | None:
        """The proxy endpoint name for /__podium/{name} requests, else None."""
        path = self.rest.split("?", 1)[0]
        return path[len(CONTROL_PREFIX):] if path.startswith(CONTROL_PREFIX) else None


@dataclass(frozen=True, slots=True)
class ToSpaceHost:
    """A path URL: redirect to ``rest`` (path and query, starting with "/") on the Space's
    own host (``space_origin``)."""

    space_id: SpaceId
    rest: str


@dataclass(frozen=True, slots=True)
class ToApi:
    pass


@dataclass(frozen=True, slots=True)
class GitOnSpaceHost:
    """A git request on a Space's own host: answered 404 by the proxy, never forwarded."""

    subdomain: str


Target = SpaceTarget | ToSpaceHost | ToApi | GitOnSpaceHost

# Every request asks about its Host, and a few hosts make most requests.
_subdomain = lru_cache(maxsize=4096)(parse_subdomain)


def resolve(host: str, raw_path: str, domain: str) -> Target:
    """Route one request. ``raw_path`` is the path as sent (percent-encoding kept) plus
    "?query" when there is one."""
    subdomain = _subdomain(host, domain) if host else None
    git = is_git_request(raw_path)
    if subdomain is not None:
        return GitOnSpaceHost(subdomain) if git else SpaceTarget(subdomain, raw_path or "/")
    if git:
        return ToApi()  # the git server, or the API's 404
    path, sep, query = raw_path.partition("?")
    parts = path.split("/", 4)  # "", "spaces", owner, name, rest
    if len(parts) < 4 or parts[1] != "spaces":
        return ToApi()
    owner, name = unquote(parts[2]), unquote(parts[3])
    if name.lower().endswith(".git"):
        return ToApi()
    try:
        space_id = SpaceId(owner, name)
    except InvalidName:
        return ToApi()
    rest = "/" + parts[4] if len(parts) == 5 else "/"
    return ToSpaceHost(space_id, rest + sep + query)


def space_origin(settings: Settings, space_id: SpaceId) -> str:
    """``{scheme}://{owner}-{name}.{domain}[:port]`` (Settings.space_origin)."""
    return settings.space_origin(space_id)


def _strip_canonical(rest: str, canonical: str) -> str:
    """``rest`` without a leading canonical prefix (any case), for URLs an app built with
    its root path while being reached by host."""
    n = len(canonical)
    if rest[:n].lower() == canonical and (len(rest) == n or rest[n] in "/?"):
        tail = rest[n:]
        return tail if tail.startswith("/") else "/" + tail
    return rest


def upstream_path(target: SpaceTarget, route: Route) -> str:
    """The raw path (with query) to request from the Space's container.

    Streamlit serves under the canonical prefix (fixed at start): the proxy always sends it.
    Gradio serves at "/" and builds URLs with the canonical prefix: the proxy strips it.
    Other SDKs see the path as sent.
    """
    canonical = route.prefix
    rest = target.rest
    if route.sdk in (Sdk.STREAMLIT, Sdk.GRADIO):
        rest = _strip_canonical(rest, canonical)
    if route.sdk == Sdk.STREAMLIT:
        return canonical + rest
    return rest
