"""A Space's /data on the Docker engine: the host directory of its quota image (see
``storage``), or, with PODIUM_SPACE_DATA_QUOTA=0, a named Docker volume as before quotas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import docker
import docker.errors

from podium.errors import ServiceUnavailable
from podium.names import SpaceId
from podium.scheduler.base import KEY_LABEL, ROLE_LABEL
from podium.scheduler.spec import RunSpec
from podium.scheduler.storage import Storage

SPACE_UID = "1000"
SCOPE_LABEL = "podium.scope"


class DataVolumes:
    def __init__(self, client: docker.DockerClient, storage: Storage, scope: str) -> None:
        self.client = client
        self.storage = storage
        self.scope = scope

    def source(self, spec: RunSpec, image: Any) -> str:
        """What is bound at /data: the Space's quota image when there is a quota (filled
        once from the named volume earlier versions used), else the named volume."""
        if not self.storage.data_quota:
            return self._ensure_volume(spec, image)
        fresh = not self.storage.has_data(spec.space_id)
        target = self.storage.data_mount(spec.space_id, int(SPACE_UID))
        if fresh:
            self._migrate(spec, image, target)
        return str(target)

    def remove(self, space_id: SpaceId) -> None:
        self.storage.remove_data(space_id)
        try:
            self.client.volumes.get(space_id.data_volume(self.scope)).remove(force=True)
        except docker.errors.NotFound:
            pass

    def _migrate(self, spec: RunSpec, image: Any, target: Path) -> None:
        name = spec.space_id.data_volume(self.scope)
        try:
            self.client.volumes.get(name)
        except docker.errors.NotFound:
            return
        try:
            self.client.containers.run(
                image.id, entrypoint=["cp", "-a", "/old/.", "/data/"], command=[],
                user="0", cap_drop=["ALL"], cap_add=["CHOWN", "DAC_OVERRIDE", "FOWNER"],
                network_mode="none", remove=True, labels={ROLE_LABEL: "volume-init"},
                volumes={name: {"bind": "/old", "mode": "ro"},
                         str(target): {"bind": "/data", "mode": "rw"}},
            )
        except docker.errors.DockerException as exc:
            self.storage.remove_data(spec.space_id)  # retried whole on the next start
            raise ServiceUnavailable(
                f"could not copy the /data volume of {spec.space_id} into its quota: {exc}"
            ) from exc

    def _ensure_volume(self, spec: RunSpec, image: Any) -> str:
        name = spec.space_id.data_volume(self.scope)
        try:
            self.client.volumes.get(name)
            return name
        except docker.errors.NotFound:
            pass
        self.client.volumes.create(
            name, labels={ROLE_LABEL: "data", KEY_LABEL: spec.key, SCOPE_LABEL: self.scope})
        # A fresh volume is root-owned; hand it to the app's uid once, with only CHOWN.
        try:
            self.client.containers.run(
                image.id,
                entrypoint=["chown", f"{SPACE_UID}:{SPACE_UID}", "/data"],
                command=[],
                user="0",
                cap_drop=["ALL"],
                cap_add=["CHOWN"],
                network_mode="none",
                volumes={name: {"bind": "/data", "mode": "rw"}},
                remove=True,
                labels={ROLE_LABEL: "volume-init"},
            )
        except docker.errors.DockerException as exc:
            self.remove(spec.space_id)
            raise ServiceUnavailable(
                f"could not prepare /data for {spec.space_id}: {exc}",
                hint="the image needs a 'chown' binary (coreutils)",
            ) from exc
        return name
