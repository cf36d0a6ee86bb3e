"""Pure routing decisions: which Space (or the API) a request is for, and the path the
upstream sees. No I/O here, so every rule is unit-tested.

Git never reaches a Space: git hands the user's credentials to whatever challenges its
first request with 401, so a git request (podium.gitserver.paths, the one rule every data
plane uses) goes to the API's git server by path and is refused (404) on a Space's host."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal
from urllib.parse import unquote

from podium.errors import InvalidName
from podium.gitserver.paths import is_git_request
from podium.names import SpaceId, parse_subdomain
from podium.proxy.routes import Route
from podium.spaces.stage import Sdk

# The proxy's own endpoints inside a Space's URL space (status polling, share grants).
CONTROL_PREFIX = "/__podium/"


@dataclass(frozen=True, slots=True)
class SpaceTarget:
    """A request for a Space. ``rest`` is the raw path (with query) after the public prefix,
    always starting with "/"; ``prefix`` is the public prefix as the client spelled it
    ("" when routed by host)."""

    by: Literal["host", "path"]
    lookup: str  # the subdomain (by host) or SpaceId.key (by path)
    rest: str
    prefix: str

    @property
    def control(self) -> str | None:
        """The proxy endpoint name for /__podium/{name} requests, else None."""
        path = self.rest.split("?", 1)[0]
        return path[len(CONTROL_PREFIX):] if path.startswith(CONTROL_PREFIX) else None


@dataclass(frozen=True, slots=True)
class Redirect:
    location: str


@dataclass(frozen=True, slots=True)
class ToApi:
    pass


@dataclass(frozen=True, slots=True)
class GitOnSpaceHost:
    """A git request on a Space's own host: answered 404 by the proxy, never forwarded."""

    subdomain: str


Target = SpaceTarget | Redirect | ToApi | GitOnSpaceHost

# Every request asks about its Host, and a few hosts make most requests.
_subdomain = lru_cache(maxsize=4096)(parse_subdomain)


def resolve(host: str, raw_path: str, domain: str) -> Target:
    """Route one request. ``raw_path`` is the path as sent (percent-encoding kept) plus
    "?query" when there is one."""
    subdomain = _subdomain(host, domain) if host else None
    git = is_git_request(raw_path)
    if subdomain is not None:
        return GitOnSpaceHost(subdomain) if git else SpaceTarget("host", subdomain,
                                                                 raw_path or "/", "")
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
    prefix = "/".join(parts[:4])
    if len(parts) == 4:
        return Redirect(prefix + "/" + sep + query)
    rest = "/" + parts[4]
    return SpaceTarget("path", space_id.key, rest + sep + query, prefix)


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
    Other SDKs see the path below the prefix, and X-Forwarded-Prefix tells them the rest.
    """
    canonical = route.prefix
    rest = target.rest
    if target.by == "host" and route.sdk in (Sdk.STREAMLIT, Sdk.GRADIO):
        rest = _strip_canonical(rest, canonical)
    if route.sdk == Sdk.STREAMLIT:
        return canonical + rest
    return rest
