"""Starter Spaces for "New Space" and `podium create --template`."""

from __future__ import annotations

from fastapi import APIRouter

from podium.controller.templates import list_templates

from .deps import PlatformDep
from .schemas import TemplateOut

router = APIRouter(prefix="/api/templates", tags=["templates"])


@router.get("")
def templates(platform: PlatformDep) -> list[TemplateOut]:
    return [
        TemplateOut(name=t.name, title=t.config.title, emoji=t.config.emoji, sdk=t.config.sdk,
                    short_description=t.config.short_description)
        for t in list_templates(platform.settings)
    ]
