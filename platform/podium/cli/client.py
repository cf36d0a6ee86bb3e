"""Client commands: talk to a running Podium over its HTTP API (never to the store)."""

from __future__ import annotations
