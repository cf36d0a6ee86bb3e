"""Dashboard sessions kept server-side in Redis, so logging out, changing a password or
disabling a user ends them at once (a signed cookie stayed valid until it expired).

The cookie holds 32 random bytes; Redis holds only their sha256 (a copy of Redis yields no
usable cookie) mapped to the user id, plus one set per user of its sessions' hashes for
"end every session of this user"."""

from __future__ import annotations

import hashlib
import secrets

import redis

from podium import keys

_session_key = keys.sessions.session
_user_key = keys.sessions.user


def _digest(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()


class SessionStore:
    def __init__(self, conn: redis.Redis, ttl_s: int) -> None:
        self._redis = conn
        self.ttl_s = ttl_s

    def issue(self, user_id: int) -> str:
        cookie = secrets.token_urlsafe(32)
        digest = _digest(cookie)
        with self._redis.pipeline() as pipe:
            pipe.set(_session_key(digest), user_id, ex=self.ttl_s)
            pipe.sadd(_user_key(user_id), digest)
            # The index lives as long as the newest session it lists.
            pipe.expire(_user_key(user_id), self.ttl_s)
            pipe.execute()
        return cookie

    def user_id(self, cookie: str) -> int | None:
        if not cookie or len(cookie) > 200:
            return None
        value = self._redis.get(_session_key(_digest(cookie)))
        return int(value) if value is not None else None

    def revoke(self, cookie: str) -> None:
        digest = _digest(cookie)
        user_id = self.user_id(cookie)
        with self._redis.pipeline() as pipe:
            pipe.delete(_session_key(digest))
            if user_id is not None:
                pipe.srem(_user_key(user_id), digest)
            pipe.execute()

    def revoke_user(self, user_id: int) -> int:
        """Ends every session of the user; returns how many there were."""
        digests = [d.decode() for d in self._redis.smembers(_user_key(user_id))]
        with self._redis.pipeline() as pipe:
            for digest in digests:
                pipe.delete(_session_key(digest))
            pipe.delete(_user_key(user_id))
            results = pipe.execute()
        return sum(results[:-1])
