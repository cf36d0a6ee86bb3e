"""Share links of a Space (owner side) and the visit of one (``/share/{owner}/{name}/{token}``,
anyone holding the link), which redirects through the proxy's grant endpoint."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.responses import RedirectResponse

from podium.controller import sharing
from podium.store import get_space, list_share_links

from .deps import PlatformDep, SpaceIdDep, WritableSpace, WritingUser
from .schemas import Ok, RowId, ShareIn, ShareOut

router = APIRouter(tags=["share"])
LINKS = "/api/spaces/{owner}/{name}/share-links"


@router.get(LINKS)
def list_links(space: WritableSpace, platform: PlatformDep) -> list[ShareOut]:
    with platform.db.session() as session:
        return [ShareOut.of(link)
                for link in list_share_links(session, get_space(session, space.space_id))]


@router.post(LINKS, status_code=201)
def create_link(
    body: ShareIn, space: WritableSpace, platform: PlatformDep, principal: WritingUser,
) -> ShareOut:
    """A new link. Its ``url`` is in this answer only: Podium keeps just a hash of it."""
    url, link = sharing.create_link(platform, space.space_id, principal.username,
                                    expires_in_s=body.expires_in_s, max_views=body.max_views)
    return ShareOut.of(link, url)


@router.delete(LINKS + "/{link_id}")
def revoke_link(link_id: RowId, space: WritableSpace, platform: PlatformDep) -> Ok:
    sharing.revoke_link(platform, space.space_id, link_id)
    return Ok()


@router.get("/share/{owner}/{name}/{token}", response_class=RedirectResponse,
            status_code=303)
def visit(
    space_id: SpaceIdDep, token: Annotated[str, PathParam(max_length=200)],
    platform: PlatformDep,
) -> str:
    """Count a view and send the browser on to the Space with an access grant; 403 for a
    revoked, expired or used-up link."""
    return sharing.visit(platform, space_id, token)
