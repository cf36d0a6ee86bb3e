"""Small images the benches build from in-memory files on the real engine (the benches'
twin of tests/conftest.build_image; bench/ does not import the tests)."""

from __future__ import annotations

import io
import tarfile

import docker


def build_from_files(client: docker.DockerClient, ref: str, files: dict[str, str]) -> str:
    """Build ``ref`` from ``files`` (a Dockerfile among them); returns ``ref``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    client.images.build(fileobj=buf, custom_context=True, tag=ref, rm=True)
    return ref
