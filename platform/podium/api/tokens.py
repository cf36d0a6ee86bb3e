"""The caller's API tokens: list, create (the plaintext is shown once), revoke."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.orm import Session

from podium.controller.access import Principal
from podium.errors import Unauthorized
from podium.store import User, create_token, list_tokens, revoke_token

from .deps import CurrentUser, PlatformDep, WritingUser
from .schemas import NewToken, Ok, RowId, TokenIn, TokenOut

router = APIRouter(prefix="/api/tokens", tags=["tokens"])


def _user(session: Session, principal: Principal) -> User:
    user = session.get(User, principal.user_id)
    if user is None:  # deleted since the session or token was checked
        raise Unauthorized("this account no longer exists")
    return user


@router.get("")
def list_all(platform: PlatformDep, principal: CurrentUser) -> list[TokenOut]:
    with platform.db.session() as session:
        return [TokenOut.of(t) for t in list_tokens(session, _user(session, principal))]


@router.post("", status_code=201)
def create(body: TokenIn, platform: PlatformDep, principal: WritingUser) -> NewToken:
    with platform.db.session() as session:
        plaintext, token = create_token(session, _user(session, principal), body.name,
                                        body.scope)
        return NewToken(id=token.id, name=token.name, scope=str(token.scopes), token=plaintext)


@router.delete("/{token_id}")
def revoke(token_id: RowId, platform: PlatformDep, principal: WritingUser) -> Ok:
    with platform.db.session() as session:
        revoke_token(session, _user(session, principal), token_id)
    return Ok()
