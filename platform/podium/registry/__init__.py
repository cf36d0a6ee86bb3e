"""The image registry Spaces' images travel through on a cluster: build workers push each
image (``push``), the nodes pull it by digest. ``RegistryServer`` runs Debian's
``docker-registry`` (distribution 2.8) for a single-manager setup; an existing registry is
named by ``PODIUM_REGISTRY`` instead."""

from podium.registry.push import digest_reference, push_image
from podium.registry.server import RegistryServer

__all__ = ["RegistryServer", "digest_reference", "push_image"]
