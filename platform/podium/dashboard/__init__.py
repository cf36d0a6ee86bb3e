"""The web dashboard: server-rendered Jinja2 pages (gallery, profile, Space page with app,
files, logs and settings, new Space, tokens) whose actions call the JSON API from small
vanilla scripts. ``dashboard_router(settings, platform)`` is included last by the API."""

from .routes import dashboard_router

__all__ = ["dashboard_router"]
