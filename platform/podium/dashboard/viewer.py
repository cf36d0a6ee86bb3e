"""Who is looking at a page: the signed-in user from the session cookie, or None."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from podium.api.auth import principal_from_request
from podium.api.deps import PlatformDep
from podium.controller.access import Principal


def _viewer(request: Request, platform: PlatformDep) -> Principal | None:
    principal = principal_from_request(platform, request, page=True)
    request.state.viewer = principal  # for error pages rendered after the handler failed
    return principal


Viewer = Annotated[Principal | None, Depends(_viewer)]
