"""Pluggable callables named by a setting ("package.module:function"), resolved in one way
with one error, so a typo in PODIUM_*_HANDLER reads the same wherever it is loaded."""

from __future__ import annotations

import pkgutil
from collections.abc import Callable
from typing import Any

from podium.config import env_name
from podium.errors import SettingsError


def load_callable(dotted: str, setting: str) -> Callable[..., Any]:
    """Resolve "package.module:function" (or "package.module.function"), the value of the
    ``Settings`` field ``setting``."""
    try:
        target = pkgutil.resolve_name(dotted)
    except (ImportError, AttributeError, ValueError) as exc:
        raise SettingsError(
            f"cannot load {dotted!r}: {exc}", setting=env_name(setting),
            hint=f"set {env_name(setting)} to 'package.module:function'",
        ) from exc
    if not callable(target):
        raise SettingsError(f"{dotted!r} is not callable", setting=env_name(setting))
    return target  # type: ignore[no-any-return]
