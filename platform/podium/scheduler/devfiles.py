"""Dev mode's engine side (issue 14 item 2): copy a push's changed files into a Space's
running container, where the app's own reloader (Gradio's watch mode, Streamlit's
run-on-save) picks them up, instead of building and starting a new container.

The walls stay as they are: the files land as uid/gid 1000 (the Space's own user) with no
set-id bits, in the container's writable layer (so its disk quota counts them); deletes run
inside the container as uid 1000. Paths are resolved by the engine inside the container's
root, so a symlink the app made cannot send a file outside it.
"""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Sequence
from typing import Any

import docker
from docker.errors import APIError, NotFound

from podium.errors import ServiceUnavailable

SPACE_UID = 1000
# Environment that turns the SDK's reloader on (what `gradio app.py` sets before it runs
# the app; Streamlit's config as environment variables). Docker and static Spaces have none.
APP_DIR_DEFAULT = "/home/user/app"


def reload_env(sdk: str, app_file: str, app_dir: str = APP_DIR_DEFAULT) -> dict[str, str]:
    if sdk == "gradio":
        module = app_file.removesuffix(".py").replace("/", ".")
        return {
            # Gradio reloads from its source files only off Spaces: on Spaces
            # (SYSTEM=spaces) it waits for Hugging Face's own reload server instead.
            "SYSTEM": "",
            "GRADIO_WATCH_DIRS": app_dir,
            "GRADIO_WATCH_MODULE_NAME": module,
            "GRADIO_WATCH_DEMO_PATH": f"{app_dir}/{app_file}",
        }
    if sdk == "streamlit":
        return {"STREAMLIT_SERVER_RUN_ON_SAVE": "true",
                "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "poll"}
    return {}


def as_space_user(archive: bytes) -> bytes:
    """The same files, owned by the Space's user, without set-id or sticky bits."""
    out = io.BytesIO()
    now = time.time()
    with (tarfile.open(fileobj=io.BytesIO(archive)) as source,
          tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as target):
        for member in source.getmembers():
            if not (member.isfile() or member.isdir() or member.issym()):
                continue  # git archive holds nothing else; links and devices never go in
            member.uid = member.gid = SPACE_UID
            member.uname = member.gname = "user"
            member.mode &= 0o777
            # Now, not the commit's time: reloaders look for a newer modification time.
            member.mtime = now
            data = source.extractfile(member) if member.isfile() else None
            target.addfile(member, data)
    return out.getvalue()


def _container(client: docker.DockerClient, container_id: str) -> Any:
    try:
        return client.containers.get(container_id)
    except NotFound as exc:
        raise ServiceUnavailable("the running container is gone") from exc


def app_dir(client: docker.DockerClient, container_id: str) -> str:
    """Where the app's files are: the image's working directory (the repository root)."""
    container = _container(client, container_id)
    return str(container.attrs.get("Config", {}).get("WorkingDir") or APP_DIR_DEFAULT)


def put_files(client: docker.DockerClient, container_id: str, archive: bytes,
              dest: str) -> None:
    container = _container(client, container_id)
    try:
        if not container.put_archive(dest, as_space_user(archive)):
            raise ServiceUnavailable("the engine refused the files")
    except APIError as exc:
        raise ServiceUnavailable(f"copying into the container failed: {exc}") from exc


def remove_files(client: docker.DockerClient, container_id: str, paths: Sequence[str],
                 workdir: str) -> None:
    if not paths:
        return
    container = _container(client, container_id)
    try:
        result = container.exec_run(["rm", "-f", "--", *paths], user=str(SPACE_UID),
                                    workdir=workdir)
    except APIError as exc:
        raise ServiceUnavailable(f"removing files in the container failed: {exc}") from exc
    if result.exit_code != 0:
        raise ServiceUnavailable(f"removing files in the container failed: {result.output!r}")
