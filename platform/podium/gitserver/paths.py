"""Which requests are git's. One definition for every door: the API dispatches to the git
server with ``is_git_path``, and every proxy data plane keeps what ``is_git_request``
matches away from Spaces (podium.proxy.routing in Python; nginx's ``$podium_git`` map,
rendered from ``GIT_REQUEST`` by podium.proxy.plane.nginxconf, for both nginx planes).

Why it matters: git sends the user's credentials to whatever answers ``401`` to its first
request, so a Space that saw a git request could collect them."""

from __future__ import annotations

import re

# The smart-HTTP endpoints below a repository URL (the git server routes exactly these).
ENDPOINTS = ("info/refs", "git-upload-pack", "git-receive-pack")
assert all(re.fullmatch(r"[a-z/-]+", e) for e in ENDPOINTS)  # no escaping, in any regex

# Matched, case-insensitively, against the request target as sent (path and query, still
# percent-encoded): nginx's $request_uri, the proxy's raw path. Enough, because git builds
# every request as "{the URL it was given}/{endpoint}", so the endpoint is always literal at
# the end of the path, or of the query when that URL had one ("/x?a=1/info/refs&service=").
# Git LFS talks to "{url}.git/info/lfs/...". Dumb-HTTP paths (HEAD, objects/...) need no
# rule: git asks for them only after info/refs, which this keeps from every Space.
GIT_REQUEST = (
    "/(?:" + "|".join(ENDPOINTS) + ")/?(?:[?&]|$)"
    "|/info/lfs(?:[/?&]|$)"
)
_GIT_REQUEST = re.compile(GIT_REQUEST, re.IGNORECASE)

_GIT_PATH = re.compile(
    r"^/spaces/[^/]+/[^/]+/(?:" + "|".join(ENDPOINTS) + r"|info/lfs/objects/[^/]+)$"
)


def is_git_request(target: str) -> bool:
    """Whether a request (raw path plus "?query") is git's: never for a Space."""
    return _GIT_REQUEST.search(target) is not None


def is_git_path(path: str) -> bool:
    """Whether a request path is one the git server serves (``/spaces/{o}/{n}[.git]/…``)."""
    return _GIT_PATH.match(path) is not None
