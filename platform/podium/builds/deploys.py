"""Deploy requests: how a finished build hands its image over to the scheduler process.

The build job ends when the image is built (builder never launches); it leaves a request
here and the scheduler process's deployer starts the container (launcher never builds).

One Redis hash, one field per Space, holding the request of its latest successful build:
- a newer build's request replaces an older one still waiting, so only the latest deploys;
- the request stays until a deployer has run it (``done``), so neither a scheduler that is
  down when the build ends nor one killed mid-deploy loses it: the next one picks it up;
- ``done`` removes only the request it ran, never one a newer build wrote meanwhile.

A request replaced before it ran ends its build's log stream (``builds.logs``): nothing
will start that build, and a follower must not wait for a ``ready`` that never comes.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass

import redis

from podium.keys import builds as keys
from podium.spaces.stage import BuildStatus

from .logs import write_terminal

log = logging.getLogger(__name__)

KEY = keys.DEPLOYS
NUDGE_KEY = keys.DEPLOY_NUDGE
# Nudges kept while no scheduler pops them: one wakes the loop, which then runs every
# pending request; more than a few carry nothing.
NUDGES_KEPT = 8

# Set the Space's request, returning the one it replaces.
_PUT = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return old
"""

# Delete the Space's field only while it still holds the request for ``build_id``.
_DONE = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if raw and cjson.decode(raw)['build_id'] == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""


@dataclass(frozen=True, slots=True)
class DeployRequest:
    space: str
    build_id: str
    image: str
    app_port: int
    sdk: str
    commit: str
    requested_at: float

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | bytes) -> DeployRequest:
        return cls(**json.loads(raw))


class DeployRequests:
    def __init__(self, conn: redis.Redis, key: str = KEY) -> None:
        self.conn = conn
        self.key = key
        self._done = conn.register_script(_DONE)
        self._put = conn.register_script(_PUT)

    def put(
        self, space: str, build_id: str, image: str, app_port: int, sdk: str, commit: str,
    ) -> DeployRequest:
        request = DeployRequest(space, build_id, image, app_port, sdk, commit, time.time())
        old = self._put(keys=[self.key], args=[space, request.to_json()])
        try:
            replaced = json.loads(old)["build_id"] if old else None
        except (ValueError, TypeError, KeyError):
            replaced = None
        if replaced and replaced != build_id:
            write_terminal(self.conn, replaced, BuildStatus.SUCCEEDED,
                           f"replaced by build {build_id} before it started")
        return request

    def get(self, space: str) -> DeployRequest | None:
        raw = self.conn.hget(self.key, space)
        if not raw:
            return None
        try:
            return DeployRequest.from_json(raw)
        except (ValueError, TypeError):
            # Written by another version: drop it rather than retry it forever.
            log.error("dropping an unreadable deploy request for %s: %r", space, raw)
            self.conn.hdel(self.key, space)
            return None

    def pending(self) -> list[str]:
        """Spaces with a request waiting (or being run), oldest request first."""
        order = []
        for field, raw in self.conn.hgetall(self.key).items():
            try:
                at = float(json.loads(raw)["requested_at"])
            except (ValueError, TypeError, KeyError):
                at = 0.0  # get() drops it
            order.append((at, field.decode() if isinstance(field, bytes) else field))
        return [space for _, space in sorted(order)]

    def nudge(self) -> None:
        """Wake the scheduler loop now (``scheduler.loop`` blocks on ``NUDGE_KEY`` beside
        the wake requests): called once a request can run, so it starts without a poll."""
        pipe = self.conn.pipeline(transaction=False)
        pipe.lpush(NUDGE_KEY, "1")
        pipe.ltrim(NUDGE_KEY, 0, NUDGES_KEPT - 1)
        pipe.execute()

    def done(self, request: DeployRequest) -> bool:
        """Forget ``request`` once run (or dropped); False when a newer one replaced it."""
        return bool(self._done(keys=[self.key], args=[request.space, request.build_id]))
