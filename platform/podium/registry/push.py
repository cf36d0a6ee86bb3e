"""Pushing a built image to the registry and naming it by digest, so every node runs exactly
the bytes that were built (a tag can move; a digest cannot)."""

from __future__ import annotations

import json
import logging
from typing import Any

import docker
import docker.errors

from podium.errors import BuildError

log = logging.getLogger(__name__)


def push_image(
    client: docker.DockerClient, image: str, push_to: str, pull_from: str, repository: str,
    tag: str = "latest",
) -> str:
    """Tag ``image`` as ``push_to/repository`` and push it; returns the reference nodes pull,
    ``pull_from/repository@sha256:...``. ``push_to`` and ``pull_from`` name the same registry
    as the build host and the nodes reach it (they differ only on the one-machine cluster,
    where the build engine pushes through loopback)."""
    target = f"{push_to}/{repository}"
    local = client.images.get(image)
    named = f"{target}:{tag}" in local.tags  # e.g. a base image named after the registry
    local.tag(target, tag=tag)
    digest = ""
    try:
        for line in client.api.push(target, tag=tag, stream=True, decode=True):
            digest = _digest_of(line) or digest
    finally:
        # The registry's name is only the push's handle: left on the build host, it would
        # keep every image alive after retention removed the Space's own tag (a disk leak
        # per build on a cluster's workers). Nodes pull by digest, never by this tag.
        if not named:
            _untag(client, f"{target}:{tag}")
    if not digest:
        raise BuildError(f"the registry at {push_to} returned no digest for {repository}")
    return digest_reference(pull_from, repository, digest)


def _untag(client: docker.DockerClient, name: str) -> None:
    try:
        client.images.remove(name, noprune=True)
    except docker.errors.APIError as exc:  # never hides the push's own outcome
        log.warning("could not remove the tag %s after its push: %s", name, exc)


def _digest_of(line: dict[str, Any]) -> str:
    if line.get("error"):
        raise BuildError(f"pushing the image failed: {line['error']}")
    aux = line.get("aux") or {}
    return str(aux.get("Digest", "")) if isinstance(aux, dict) else ""


def digest_reference(registry: str, repository: str, digest: str) -> str:
    if not digest.startswith("sha256:"):
        raise BuildError(f"not an image digest: {json.dumps(digest)}")
    return f"{registry}/{repository}@{digest}"
