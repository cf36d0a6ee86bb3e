"""Pushing a built image to the registry and naming it by digest, so every node runs exactly
the bytes that were built (a tag can move; a digest cannot)."""

from __future__ import annotations

import json
from typing import Any

import docker

from podium.errors import BuildError


def push_image(
    client: docker.DockerClient, image: str, push_to: str, pull_from: str, repository: str,
    tag: str = "latest",
) -> str:
    """Tag ``image`` as ``push_to/repository`` and push it; returns the reference nodes pull,
    ``pull_from/repository@sha256:...``. ``push_to`` and ``pull_from`` name the same registry
    as the build host and the nodes reach it (they differ only on the one-machine cluster,
    where the build engine pushes through loopback)."""
    target = f"{push_to}/{repository}"
    client.images.get(image).tag(target, tag=tag)
    digest = ""
    for line in client.api.push(target, tag=tag, stream=True, decode=True):
        digest = _digest_of(line) or digest
    if not digest:
        raise BuildError(f"the registry at {push_to} returned no digest for {repository}")
    return digest_reference(pull_from, repository, digest)


def _digest_of(line: dict[str, Any]) -> str:
    if line.get("error"):
        raise BuildError(f"pushing the image failed: {line['error']}")
    aux = line.get("aux") or {}
    return str(aux.get("Digest", "")) if isinstance(aux, dict) else ""


def digest_reference(registry: str, repository: str, digest: str) -> str:
    if not digest.startswith("sha256:"):
        raise BuildError(f"not an image digest: {json.dumps(digest)}")
    return f"{registry}/{repository}@{digest}"
