"""Access grants for private Spaces: a short HMAC-signed token naming the Space, the subject
and an expiry. The controller issues them (a share-link visit, a member's "open" button) and
the proxy verifies them (podium.proxy.access) without a database round trip. Below both: the
controller never imports the proxy.

Revocation is by expiry (keep grants short), by rotating the key, or, for share-link grants,
by the route table's revocation marker (podium.routes.RouteTable.revoke_grants).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from podium.config import Settings

# Subject prefix of grants issued for share-link visits ("share:<link prefix>").
SHARE_SUBJECT = "share:"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class Grant:
    space_key: str
    subject: str
    expires: float


class GrantSigner:
    """Issues (API side) and verifies (proxy side) access grants."""

    def __init__(self, key: bytes) -> None:
        # A key of its own, so a grant can never be confused with another HMAC Podium makes.
        self._key = hmac.new(key, b"podium proxy access grant v1", hashlib.sha256).digest()

    @classmethod
    def from_settings(cls, settings: Settings) -> GrantSigner:
        """From the platform secret (PODIUM_SECRET_KEY, first of a rotation list, else
        data_dir/secret.key). Without either, a per-process key: grants then only live as
        long as this proxy, which fails safe (private Spaces stay closed)."""
        if settings.secret_keys:
            return cls(settings.secret_keys[0].encode())
        path = settings.secret_key_file
        if path.is_file():
            return cls(path.read_bytes().strip())
        return cls(secrets.token_bytes(32))

    def issue(self, space_key: str, subject: str, ttl: float, now: float | None = None) -> str:
        now = time.time() if now is None else now
        payload = json.dumps(
            {"s": space_key, "u": subject, "e": round(now + ttl)}, separators=(",", ":")
        ).encode()
        return f"{_b64(payload)}.{_b64(self._sign(payload))}"

    def verify(self, token: str, space_key: str, now: float | None = None) -> Grant | None:
        now = time.time() if now is None else now
        try:
            body, sig = token.split(".", 1)
            payload = _unb64(body)
            if not hmac.compare_digest(_unb64(sig), self._sign(payload)):
                return None
            data = json.loads(payload)
            grant = Grant(str(data["s"]), str(data["u"]), float(data["e"]))
        except (ValueError, KeyError, TypeError):
            return None
        if grant.space_key != space_key or grant.expires < now:
            return None
        return grant

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()
