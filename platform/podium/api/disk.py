"""Disk use per Space for admins (podium.controller.diskuse): JSON for scripts, the same
numbers as the dashboard's /settings/disk page."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from podium.controller.diskuse import platform_disk

from .deps import OptionalUser, PlatformDep

router = APIRouter(prefix="/api/admin", tags=["admin"])


@router.get("/disk")
def disk(platform: PlatformDep, principal: OptionalUser) -> dict[str, Any]:
    return platform_disk(platform, principal).as_json()
