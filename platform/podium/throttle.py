"""Password-guessing brakes: failed password checks counted in Redis per account and per
client address (the ``limits`` library's moving window), so every API process, and the git
server inside it, share one count. Only failures are counted: a person who signs in right
never uses up anything."""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerSecond
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

from podium import keys
from podium.config import Settings
from podium.errors import TooManyRequests

KEY_PREFIX = keys.LOGIN_FAILURES


class PasswordThrottle:
    """``check`` before verifying a password (a locked caller learns nothing, right or
    wrong), ``failed`` after a wrong one."""

    def __init__(self, settings: Settings) -> None:
        window = settings.login_failure_window
        self._account = RateLimitItemPerSecond(settings.login_account_failures, window)
        self._address = RateLimitItemPerSecond(settings.login_address_failures, window)
        self._limiter = MovingWindowRateLimiter(
            RedisStorage(settings.redis_url, key_prefix=KEY_PREFIX))

    def _limits(self, username: str, address: str) -> list[tuple[RateLimitItemPerSecond, str]]:
        # Names are case-insensitive, so "Admin" and "admin" share one count.
        return [(self._account, f"account:{username.lower()}"),
                (self._address, f"address:{address}")]

    def check(self, username: str, address: str) -> None:
        """Raises TooManyRequests while either count is at its limit."""
        for item, key in self._limits(username, address):
            if not self._limiter.test(item, key):
                reset = self._limiter.get_window_stats(item, key).reset_time
                wait = math.ceil(reset - time.time())
                raise TooManyRequests(
                    "too many failed sign-in attempts"
                    + (" for this account" if key.startswith("account:") else
                       " from your address"),
                    retry_after=wait,
                    hint=f"wait {max(1, wait)} s and try again, or use an API token",
                )

    def failed(self, username: str, address: str) -> None:
        for item, key in self._limits(username, address):
            self._limiter.hit(item, key)
