"""Share-link grants can be revoked before they expire; other grants cannot be (they are
short-lived and tied to an owner's session)."""

from __future__ import annotations

import asyncio

from starlette.requests import HTTPConnection

from podium.grants import GrantSigner
from podium.proxy.access import COOKIE, GrantPolicy
from podium.routes import Route

ROUTE = Route(space_key="alice/demo", subdomain="alice-demo", owner="alice", name="demo",
              upstream="http://10.0.0.2:7860", sdk="gradio", stage="RUNNING", private=True)


def _conn(token: str) -> HTTPConnection:
    scope = {"type": "http", "headers": [(b"cookie", f"{COOKIE}={token}".encode())]}
    return HTTPConnection(scope)


def _authorize(policy: GrantPolicy, token: str) -> bool | object:
    return asyncio.run(policy.authorize(_conn(token), ROUTE))


def test_a_revoked_share_grant_is_refused_and_others_still_pass() -> None:
    signer = GrantSigner(b"k" * 32)
    revoked: set[tuple[str, str]] = set()

    async def is_revoked(space_key: str, subject: str) -> bool:
        return (space_key, subject) in revoked

    policy = GrantPolicy(signer, revoked=is_revoked)
    share = signer.issue("alice/demo", "share:shr_ab12", ttl=3600)
    owner = signer.issue("alice/demo", "alice", ttl=3600)
    assert _authorize(policy, share) is True
    revoked.add(("alice/demo", "share:shr_ab12"))
    assert _authorize(policy, share) is False
    # A revocation marker for a share subject does not touch the owner's grant.
    revoked.add(("alice/demo", "alice"))
    assert _authorize(policy, owner) is True


def test_a_grant_for_another_space_is_refused() -> None:
    signer = GrantSigner(b"k" * 32)
    policy = GrantPolicy(signer)
    assert _authorize(policy, signer.issue("bob/other", "share:x", ttl=60)) is False
