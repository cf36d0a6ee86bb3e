"""The builder against the real Docker engine and PyPI (through the host CA bundle).

SDK layers are shared across the session: the templates' sdk_versions are used, and Space
images are removed with noprune so the layers under them stay cached for the next test.
"""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import httpx
import pytest

from podium.bridges import ensure_isolated_network
from podium.builder.build import BuiltImage, build_space_image
from podium.builder.engine import BuildCancelled, BuildTimeout
from podium.builder.progress import STEP_RE
from podium.config import Settings
from podium.errors import BuildError
from podium.names import SpaceId
from podium.resources import templates_dir
from podium.spaces.stage import BuildPhase
from tests.conftest import require

HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
# How long an app may take to answer after its container starts (a readiness deadline,
# not a speed assertion).
READY_S = 90


@pytest.fixture(scope="module")
def own_base(docker_client: docker.DockerClient, base_image: str) -> Iterator[str]:
    """The base image under this module's own tag: other sessions on the same engine may
    rebuild or untag the shared one meanwhile. Same image id, so layers stay shared."""
    ref = f"podium-test/builder-base:{uuid.uuid4().hex[:12]}"
    docker_client.images.get(base_image).tag(ref)
    yield ref
    docker_client.images.remove(ref, noprune=True)


@pytest.fixture
def build_settings(
    tmp_path: Path, own_base: str, docker_client: docker.DockerClient,
) -> Settings:
    env = Settings()
    bundle = env.ca_bundle or (HOST_CA if HOST_CA.is_file() else None)
    require(bundle is not None and bundle.is_file(),
            "builds reach PyPI only with a CA bundle (PODIUM_CA_BUNDLE or the host's)")
    settings = Settings(data_dir=tmp_path / "data", base_image=own_base, ca_bundle=bundle,
                        build_timeout=900)
    # What the build job does before calling the builder: the RUN steps' isolated bridge.
    ensure_isolated_network(docker_client, settings.build_network)
    return settings


@pytest.fixture
def images(docker_client: docker.DockerClient) -> Iterator[list[str]]:
    """Refs to remove after the test (noprune: their layers are the session's cache)."""
    refs: list[str] = []
    yield refs
    for ref in refs:
        try:
            docker_client.images.remove(ref, force=True, noprune=True)
        except docker.errors.ImageNotFound:
            pass


class Log:
    def __init__(self) -> None:
        self.lines: list[tuple[BuildPhase, str]] = []

    def __call__(self, phase: BuildPhase, line: str) -> None:
        self.lines.append((phase, line))

    def text(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def phases(self) -> list[BuildPhase]:
        out: list[BuildPhase] = []
        for phase, _ in self.lines:
            if not out or out[-1] is not phase:
                out.append(phase)
        return out


def space(prefix: str) -> SpaceId:
    return SpaceId("test", f"{prefix}-{uuid.uuid4().hex[:10]}")


def checkout(tmp_path: Path, template: str) -> Path:
    source = templates_dir() / template
    require(source.is_dir(), f"template {template} is missing")
    dest = tmp_path / "src"
    shutil.copytree(source, dest)
    return dest


def build(settings: Settings, client: docker.DockerClient, images: list[str], sid: SpaceId,
          src: Path, commit: str, log: Log | None = None, **kw: object) -> BuiltImage:
    result = build_space_image(settings, client, sid, src, commit, log or Log(), **kw)  # type: ignore[arg-type]
    images.append(result.ref)
    return result


def serve(client: docker.DockerClient, image: BuiltImage, path: str,
          environment: dict[str, str] | None = None,
          seen: list[str] | None = None) -> httpx.Response:
    """Run the image briefly and GET ``path`` once the app answers (its log into ``seen``)."""
    container = client.containers.run(
        image.ref, detach=True, ports={f"{image.app_port}/tcp": ("127.0.0.1", None)},
        name=f"podium-test-{uuid.uuid4().hex[:12]}", environment=environment,
    )
    try:
        container.reload()
        port = container.ports[f"{image.app_port}/tcp"][0]["HostPort"]
        deadline = time.monotonic() + READY_S
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)
                if response.status_code < 500:
                    if seen is not None:
                        seen.append(container.logs().decode(errors="replace"))
                    return response
            except httpx.TransportError:
                pass
            container.reload()
            if container.status == "exited" or time.monotonic() > deadline:
                logs = container.logs(tail=20).decode(errors="replace")
                pytest.fail(f"{image.ref} did not answer on {path}:\n{logs}")
            time.sleep(0.5)
    finally:
        container.remove(force=True)


def test_gradio_template_builds_runs_and_rebuilds_from_cache(
    build_settings: Settings, docker_client: docker.DockerClient, images: list[str],
    tmp_path: Path,
) -> None:
    sid, src = space("gradio"), checkout(tmp_path, "gradio-hello")
    log = Log()
    first = build(build_settings, docker_client, images, sid, src, "1" * 40, log)
    assert first.ref == sid.image_ref("1" * 12)
    image = docker_client.images.get(first.ref)
    labels = image.labels
    assert labels["podium.space"] == str(sid) and labels["podium.commit"] == "1" * 40
    assert labels["podium.sdk"] == "gradio" and labels["podium.app_port"] == "7860"
    assert image.attrs["Config"]["User"] == "user"
    assert "7860/tcp" in image.attrs["Config"]["ExposedPorts"]
    assert not any("ca.crt" in env for env in image.attrs["Config"]["Env"])
    assert log.phases() == [BuildPhase.CLONE, BuildPhase.SDK, BuildPhase.DEPENDENCIES,
                            BuildPhase.CODE, BuildPhase.EXPORT]
    assert serve(docker_client, first, "/").status_code == 200

    log = Log()
    again = build(build_settings, docker_client, images, sid, src, "1" * 40, log)
    # The same requirements reuse the first build's dependency layer (builder/incremental),
    # and every step after that FROM came from cache. (Not necessarily the same image id:
    # other builds on the engine may have made an identical chain the cache picks instead.)
    assert "dependencies: requirements unchanged: reusing" in log.text()
    steps = sum(1 for _, line in log.lines if STEP_RE.match(line))
    assert again.cached_layers == steps - 1

    # A change no build on this engine has seen: a shared layer cache would otherwise reuse
    # the code layer of an identical edit made elsewhere (e2e makes the same Hello→Hi edit).
    app = src / "app.py"
    app.write_text(app.read_text().replace("Hello,", "Hi,") + f"# {uuid.uuid4().hex}\n")
    code_only = build(build_settings, docker_client, images, sid, src, "2" * 40)
    # Only the code COPY and the commit LABEL ran.
    assert code_only.cached_layers == steps - 3
    assert code_only.image_id != first.image_id


def test_streamlit_template_answers_its_health_check(
    build_settings: Settings, docker_client: docker.DockerClient, images: list[str],
    tmp_path: Path,
) -> None:
    src = checkout(tmp_path, "streamlit-hello")
    built = build(build_settings, docker_client, images, space("streamlit"), src, "3" * 40)
    assert built.app_port == 8501
    assert serve(docker_client, built, "/_stcore/health").text.strip() == "ok"


def test_an_old_streamlit_pin_runs_with_its_constraints(
    build_settings: Settings, docker_client: docker.DockerClient, images: list[str],
    tmp_path: Path,
) -> None:
    src = checkout(tmp_path, "streamlit-hello")
    readme = src / "README.md"
    text = readme.read_text()
    require("sdk_version:" in text, "streamlit-hello has no sdk_version line")
    readme.write_text("\n".join(
        "sdk_version: 1.25.0" if line.startswith("sdk_version:") else line
        for line in text.splitlines()) + "\n")
    (src / "app.py").write_text("import streamlit as st\nst.write('old pin')\n")
    log = Log()
    built = build(build_settings, docker_client, images, space("oldst"), src, "4" * 40, log)
    # runners/streamlit/constraints/before-1.29.txt kept numpy below 2 in the image (asked of
    # the image itself: the build log has no pip output when the layers come from cache).
    probe = "import numpy, streamlit; print(numpy.__version__, streamlit.__version__)"
    out = docker_client.containers.run(
        built.ref, ["python", "-c", probe], remove=True, entrypoint=[],
    ).decode().split()
    assert out[0].startswith("1.") and out[1] == "1.25.0", out
    assert serve(docker_client, built, "/_stcore/health").text.strip() == "ok"


def _versions(client: docker.DockerClient, ref: str, probe: str) -> list[str]:
    return client.containers.run(
        ref, ["python", "-c", probe], remove=True, entrypoint=[],
    ).decode().split()


def test_a_streamlit_pin_in_requirements_is_built_when_readme_has_no_sdk_version(
    build_settings: Settings, docker_client: docker.DockerClient, images: list[str],
    tmp_path: Path,
) -> None:
    """Issue 13 item 6: on main this failed with pip's "The user requested (constraint)
    streamlit==1.67.0" against the requirements line."""
    src = checkout(tmp_path, "streamlit-hello")
    readme = src / "README.md"
    readme.write_text("".join(line for line in readme.read_text().splitlines(keepends=True)
                              if not line.startswith("sdk_version:")))
    (src / "requirements.txt").write_text("streamlit==1.25.0\n")
    log = Log()
    built = build(build_settings, docker_client, images, space("stpin"), src, "6" * 40, log)
    assert "using streamlit 1.25.0, pinned in requirements.txt line 1" in log.text()
    probe = "import numpy, streamlit; print(numpy.__version__, streamlit.__version__)"
    out = _versions(docker_client, built.ref, probe)
    assert out[0].startswith("1.") and out[1] == "1.25.0", out  # old-pin constraints too


def test_readme_sdk_version_wins_and_gradio_images_have_the_spaces_package(
    build_settings: Settings, docker_client: docker.DockerClient, images: list[str],
    tmp_path: Path,
) -> None:
    """Issue 13 items 4 and 6: a contradicting gradio line no longer fails the build, and
    `import spaces` works, so Gradio under SYSTEM=spaces stops logging that it is missing."""
    src = checkout(tmp_path, "gradio-hello")
    (src / "requirements.txt").write_text("gradio==5.0.0\n")
    (src / "app.py").write_text(
        "import spaces\nimport gradio as gr\n\n\n@spaces.GPU\ndef hi(name):\n"
        "    return 'hi ' + name\n\n\ngr.Interface(hi, 'text', 'text').launch()\n")
    log = Log()
    built = build(build_settings, docker_client, images, space("grpin"), src, "7" * 40, log)
    assert "sdk_version 6.31.0 in README.md wins over 'gradio==5.0.0'" in log.text()
    out = _versions(docker_client, built.ref,
                    "import spaces, gradio; print(gradio.__version__, spaces.__name__)")
    assert out == ["6.31.0", "spaces"], out
    logs: list[str] = []
    env = {"SYSTEM": "spaces", "SPACE_ID": "alice/grpin"}
    config = serve(docker_client, built, "/config", env, logs)
    assert "spaces package is required" not in logs[0], logs[0]
    # Item 5: the page config names no Space (else the front end calls huggingface.co),
    # and the image serves the <gradio-app> entry of its own Gradio for the embed snippet.
    assert config.status_code == 200 and config.json()["space_id"] is None, config.text[:300]
    entry = serve(docker_client, built, "/assets/gradio.js", env)
    assert entry.status_code == 200 and 'import("./index-' in entry.text, entry.text


def test_a_docker_space_builds_its_own_dockerfile(
    build_settings: Settings, docker_client: docker.DockerClient, images: list[str],
    tmp_path: Path, own_base: str,
) -> None:
    src = tmp_path / "src"
    (src / "site").mkdir(parents=True)
    (src / "README.md").write_text("---\ntitle: raw\nsdk: docker\napp_port: 9000\n---\n")
    (src / "site" / "index.html").write_text("<h1>docker space</h1>\n")
    (src / "Dockerfile").write_text(
        f"FROM {own_base}\nCOPY --chown=1000 . /home/user/app\n"
        'CMD ["python3", "-m", "http.server", "9000", "--directory", "site"]\n'
    )
    (src / ".git").mkdir()  # must never reach the image
    (src / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    built = build(build_settings, docker_client, images, space("docker"), src, "5" * 40)
    assert built.app_port == 9000 and built.sdk.value == "docker"
    assert docker_client.images.get(built.ref).labels["podium.app_port"] == "9000"
    assert "docker space" in serve(docker_client, built, "/").text
    listing = docker_client.containers.run(built.ref, ["ls", "-a", "/home/user/app"],
                                           remove=True).decode()
    assert ".git" not in listing.split() and "Dockerfile" in listing.split()


def test_a_static_space_is_served_from_its_app_folder(
    build_settings: Settings, docker_client: docker.DockerClient, images: list[str],
    tmp_path: Path,
) -> None:
    src = tmp_path / "src"
    (src / "public").mkdir(parents=True)
    (src / "README.md").write_text(
        "---\ntitle: s\nsdk: static\napp_file: public/index.html\n---\n")
    (src / "public" / "index.html").write_text("<p>static space</p>\n")
    built = build(build_settings, docker_client, images, space("static"), src, "6" * 40)
    assert "static space" in serve(docker_client, built, "/").text


def test_a_missing_requirement_fails_with_pips_reason(
    build_settings: Settings, docker_client: docker.DockerClient, images: list[str],
    tmp_path: Path,
) -> None:
    src = checkout(tmp_path, "gradio-hello")
    (src / "requirements.txt").write_text("nonexistent-pkg-xyz==1.0\n")
    log = Log()
    with pytest.raises(BuildError) as caught:
        build(build_settings, docker_client, images, space("badreq"), src, "7" * 40, log)
    message = caught.value.message
    assert "nonexistent-pkg-xyz==1.0" in message and "requirements.txt" in message
    assert "could not find a version" in message
    assert "No matching distribution found for nonexistent-pkg-xyz" in log.text()
    assert len(message.splitlines()) <= 2


def _no_container_runs(client: docker.DockerClient, marker: str) -> bool:
    for container in client.containers.list(all=True):
        if marker in " ".join(container.attrs.get("Config", {}).get("Cmd") or []):
            return False
    return True


def _sleeping_space(tmp_path: Path, base_image: str, marker: str) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "README.md").write_text("---\ntitle: slow\nsdk: docker\n---\n")
    (src / "Dockerfile").write_text(f"FROM {base_image}\nRUN echo {marker} && sleep 600\n")
    return src


def test_timeout_aborts_the_build_and_its_container(
    build_settings: Settings, docker_client: docker.DockerClient, images: list[str],
    tmp_path: Path, own_base: str,
) -> None:
    marker = f"podium-timeout-{uuid.uuid4().hex}"
    src = _sleeping_space(tmp_path, own_base, marker)
    settings = build_settings.model_copy(update={"build_timeout": 3})
    log = Log()
    with pytest.raises(BuildTimeout, match="timed out after 3 s"):
        build(settings, docker_client, images, space("slow"), src, "8" * 40, log)
    assert marker in log.text()  # it was inside the RUN step when stopped
    _wait_gone(docker_client, marker)


def test_cancel_event_aborts_a_running_build(
    build_settings: Settings, docker_client: docker.DockerClient, images: list[str],
    tmp_path: Path, own_base: str,
) -> None:
    marker = f"podium-cancel-{uuid.uuid4().hex}"
    src = _sleeping_space(tmp_path, own_base, marker)
    cancel = threading.Event()
    log = Log()

    def cancel_when_running(phase: BuildPhase, line: str) -> None:
        log(phase, line)
        if line.strip() == marker:
            cancel.set()

    with pytest.raises(BuildCancelled):
        build_space_image(build_settings, docker_client, space("cancel"), src, "9" * 40,
                          cancel_when_running, cancel=cancel)
    _wait_gone(docker_client, marker)


def _wait_gone(client: docker.DockerClient, marker: str) -> None:
    # The daemon stops the step asynchronously once the client has gone.
    deadline = time.monotonic() + 30
    while not _no_container_runs(client, marker):
        if time.monotonic() > deadline:
            pytest.fail(f"the build container running {marker} was left behind")
        time.sleep(0.5)
