"""Pluggable callables named by a setting ("package.module:function"), resolved in one way
with one error, so a typo in PODIUM_*_HANDLER reads the same wherever it is loaded."""

from __future__ import annotations

import pkgutil
from collections.abc import Callable
from typing import Any

from podium.errors import ConfigError


def load_callable(dotted: str, setting: str) -> Callable[..., Any]:
    """Resolve "package.module:function" (or "package.module.function")."""
    try:
        target = pkgutil.resolve_name(dotted)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(
            f"cannot load {setting} {dotted!r}: {exc}",
            hint=f"set PODIUM_{setting.upper()} to 'package.module:function'",
        ) from exc
    if not callable(target):
        raise ConfigError(f"{setting} {dotted!r} is not callable")
    return target  # type: ignore[no-any-return]
