"""Where a redirect chosen by the request may go: this site only. One rule for the
dashboard's post-login ``next`` and the proxy's grant endpoint on a Space's host."""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["safe_next"]


def safe_next(target: str | None, default: str = "/") -> str:
    """A post-login redirect that stays on this site: an absolute path, never //host, a
    scheme or a backslash. Browsers drop tabs and newlines from URLs and read a backslash
    as "/", so "/<tab>/evil" would become "//evil": a control character or space refuses
    the target."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return default
    if any(ch <= " " or ch == "\x7f" or ch == "\\" for ch in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target
