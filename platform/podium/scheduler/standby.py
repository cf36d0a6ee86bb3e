"""Warm standby, the engine side (issue 14 goal 1): a container started from a Space's
current image whose runner (runners/base/standby.py) has already imported the SDK and waits,
frozen, for the next commit's code. A code-only push then skips the seconds a new container
spends importing Gradio: the new image's app folder is copied in and the app runs in the
warm interpreter. The scheduler side (when to make, use or drop one) is ``scheduler/warm``.

What runs must be what a container of the new image would run. The standby's *fingerprint*
(``STANDBY_LABEL``) is a hash of everything it was created with -- every run option (user,
capabilities, limits, network, cgroup parent, /data, hostname, the environment including the
secrets), the image's configuration (command, environment, working directory, user) and its
layers below the code layer -- and a deploy uses it only when the new image and spec give
the same hash: deps, a README setting that reaches the image, a variable, a secret or a limit
changed means a new container. The code itself comes from the new image (a created, never
started container of it), not from git, so it is byte for byte what the image holds.

Single host only: the Swarm backend keeps ``can_standby = False``.
"""

from __future__ import annotations

import hashlib
import io
import json
import secrets
import tarfile
import time
from collections.abc import Callable
from typing import Any, Protocol

import docker
import docker.errors
from docker.models.containers import Container

from podium.config import Settings
from podium.errors import ServiceUnavailable
from podium.resources import runners_dir
from podium.scheduler.base import (
    COMMIT_LABEL,
    ROLE_LABEL,
    ROLE_SPACE,
    STANDBY_LABEL,
    Instance,
)
from podium.scheduler.spec import RunSpec
from podium.scheduler.volumes import SCOPE_LABEL, SPACE_UID, DataVolumes


class DockerBackend(Protocol):
    """What a standby uses of ``scheduler.docker.DockerBackend`` (named here so this module
    does not import the one that builds on it)."""

    settings: Settings
    client: docker.DockerClient
    scope: str
    volumes: DataVolumes
    _network_ready: bool

    def ensure_network(self) -> None: ...
    def _image(self, ref: str) -> Any: ...
    def _run_options(self, spec: RunSpec, image: Any, data: str) -> dict[str, Any]: ...
    def _instance(self, container: Container) -> Instance: ...
    def launch(self, spec: RunSpec, name: str, options: dict[str, Any],
               before_start: Callable[[Container], None] | None = None) -> Container: ...

# Where the runner and the next code live inside the container (runners/base/standby.py).
STAGE = "/podium-standby"
READY_LINE = "podium-standby: ready"
SDKS = ("gradio", "streamlit")
# The image configuration keys that do not change what runs: labels (the commit's), the
# builder's own bookkeeping.
_CONFIG_IGNORED = ("Labels", "Image", "Hostname", "Domainname")
READY_POLL_S = 0.2


def supported_cmd(cmd: list[str] | None, entrypoint: list[str] | None) -> bool:
    """Commands the runner can run warm: ``python APP`` (Gradio) and ``streamlit run``."""
    if entrypoint or not cmd:
        return False
    return (cmd[0] == "python" and len(cmd) == 2) or cmd[:2] == ["streamlit", "run"]


def fingerprint(backend: DockerBackend, spec: RunSpec) -> str | None:
    """The hash a standby for ``spec`` carries; None when no standby can serve it."""
    if spec.sdk not in SDKS:
        return None
    image = backend._image(spec.image)
    config = dict(image.attrs.get("Config") or {})
    if not supported_cmd(config.get("Cmd"), config.get("Entrypoint")):
        return None
    for key in _CONFIG_IGNORED:
        config.pop(key, None)
    layers = list((image.attrs.get("RootFS") or {}).get("Layers") or [])
    options = backend._run_options(spec, image, backend.volumes.source(spec, image))
    options.pop("labels")
    options.pop("log_config")
    facts = {"config": config, "below_code": layers[:-1], "options": options,
             "sdk": spec.sdk, "port": spec.app_port}
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()


def _runner_archive(backend: DockerBackend) -> bytes:
    """STAGE (owned by the Space's user: the runner moves code out of it) and the runner."""
    script = (runners_dir(backend.settings) / "base" / "standby.py").read_bytes()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        folder = tarfile.TarInfo(STAGE.strip("/"))
        folder.type, folder.mode = tarfile.DIRTYPE, 0o755
        folder.uid = folder.gid = int(SPACE_UID)
        tar.addfile(folder)
        member = tarfile.TarInfo(f"{STAGE.strip('/')}/standby.py")
        member.size, member.mode = len(script), 0o644
        tar.addfile(member, io.BytesIO(script))
    return out.getvalue()


def start(backend: DockerBackend, spec: RunSpec) -> Instance | None:
    """Create and start a standby for ``spec`` (None when none can serve it). It carries the
    Space's labels, so delete, deep sleep and a deploy's retirement remove it like any of
    the Space's containers, but no commit: it has none until a deploy gives it one."""
    fit = fingerprint(backend, spec)
    if fit is None:
        return None
    if not backend._network_ready:
        backend.ensure_network()
    image = backend._image(spec.image)
    options = backend._run_options(spec, image, backend.volumes.source(spec, image))
    options["labels"][COMMIT_LABEL] = ""
    options["labels"][STANDBY_LABEL] = fit
    cmd = list(image.attrs["Config"]["Cmd"])
    options["command"] = ["python", f"{STAGE}/standby.py", spec.sdk, "--", *cmd]
    runner = _runner_archive(backend)

    def put_runner(container: Container) -> None:
        if not container.put_archive("/", runner):
            raise ServiceUnavailable("the engine refused the standby's runner")

    name = spec.space_id.container_name(f"standby-{secrets.token_hex(3)}")
    return backend._instance(backend.launch(spec, name, options, before_start=put_runner))


def wait_ready(backend: DockerBackend, instance: Instance, timeout: float) -> bool:
    """Until the runner printed READY_LINE (its SDK is imported), or it stopped."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            container = backend.client.containers.get(instance.id)
            if container.status != "running":
                return False
            if READY_LINE.encode() in container.logs(tail=20):
                return True
        except docker.errors.DockerException:
            return False
        time.sleep(READY_POLL_S)
    return False


def _code_archive(backend: DockerBackend, spec: RunSpec) -> bytes:
    """The new image's app folder as STAGE/next, then STAGE/go (the deploy's facts): the
    runner starts the swap once go exists, so it comes last."""
    image = backend._image(spec.image)
    workdir = (image.attrs.get("Config") or {}).get("WorkingDir") or "/home/user/app"
    scratch = backend.client.api.create_container(
        spec.image, command=["true"], network_disabled=True,
        labels={SCOPE_LABEL: backend.scope})  # never started: only read
    try:
        stream, _stat = backend.client.api.get_archive(scratch["Id"], workdir)
        source = b"".join(stream)
    finally:
        backend.client.api.remove_container(scratch["Id"], force=True, v=True)
    out = io.BytesIO()
    next_dir = f"{STAGE.strip('/')}/next"
    with (tarfile.open(fileobj=io.BytesIO(source)) as src,
          tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar):
        for member in src.getmembers():
            _top, _sep, rest = member.name.partition("/")
            data = src.extractfile(member) if member.isfile() else None
            member.name = f"{next_dir}/{rest}" if rest else next_dir
            tar.addfile(member, data)
        facts = json.dumps({"image": spec.image, "commit": spec.commit}).encode()
        go = tarfile.TarInfo(f"{STAGE.strip('/')}/go")
        go.size, go.mode, go.mtime = len(facts), 0o644, int(time.time())
        go.uid = go.gid = int(SPACE_UID)
        tar.addfile(go, io.BytesIO(facts))
    return out.getvalue()


def promote(backend: DockerBackend, instance: Instance, spec: RunSpec) -> Instance:
    """Hand the standby ``spec``'s code; its runner swaps it in and runs the app."""
    archive = _code_archive(backend, spec)
    try:
        container = backend.client.containers.get(instance.id)
        if not container.put_archive("/", archive):
            raise ServiceUnavailable("the engine refused the code for the standby")
        if container.status == "paused":
            container.unpause()
        container.reload()
    except docker.errors.DockerException as exc:
        raise ServiceUnavailable(f"the standby of {spec.space_id} failed: {exc}") from exc
    return backend._instance(container)


def origin(backend: DockerBackend, instance: Instance) -> tuple[str, str] | None:
    """(image, commit) a promoted standby runs: what its deploy wrote in STAGE/live."""
    try:
        stream, _stat = backend.client.api.get_archive(instance.id, f"{STAGE}/live")
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = tar.getmembers()[0]
            raw = tar.extractfile(member)
            facts: dict[str, Any] = json.loads(raw.read() if raw else b"{}")
        return str(facts["image"]), str(facts["commit"])
    except (docker.errors.DockerException, tarfile.TarError, KeyError, IndexError,
            ValueError):
        return None


class WarmStandby:
    """The ``Backend`` standby methods for ``DockerBackend`` (a base class of it)."""

    can_standby = True

    def standby_fit(self, spec: RunSpec) -> str | None:
        return fingerprint(self._docker(), spec)

    def start_standby(self, spec: RunSpec) -> Instance | None:
        return start(self._docker(), spec)

    def wait_standby(self, instance: Instance, timeout: float) -> bool:
        return wait_ready(self._docker(), instance, timeout)

    def promote_standby(self, instance: Instance, spec: RunSpec) -> Instance:
        return promote(self._docker(), instance, spec)

    def standby_origin(self, instance: Instance) -> tuple[str, str] | None:
        return origin(self._docker(), instance)

    def standby_instances(self) -> list[Instance]:
        """One listing filtered by the engine (a sweep every idle check stays cheap)."""
        backend = self._docker()
        labels = [f"{ROLE_LABEL}={ROLE_SPACE}", f"{SCOPE_LABEL}={backend.scope}",
                  STANDBY_LABEL]
        found = []
        for summary in backend.client.api.containers(all=True, filters={"label": labels}):
            try:
                found.append(backend._instance(backend.client.containers.get(summary["Id"])))
            except (docker.errors.NotFound, KeyError, ValueError):
                continue  # gone meanwhile, or labels tampered with
        return found

    def _docker(self) -> DockerBackend:
        return self  # type: ignore[return-value]
