"""The shared dependency cache cannot be poisoned (issue 14 item 3, SECURITY.md).

Two attacking Spaces build first on the same engine, build bridge and data dir:
- a Docker Space whose RUN steps (arbitrary code, as a Space's sdist setup.py would run)
  write a poisoned ``six`` wheel everywhere a cache could be: the wheel folder a build gets,
  the platform's wheelhouse path, pip's and uv's caches;
- a Gradio Space whose requirements.txt tries to steer the cache's fill to its own poisoned
  wheel (``--find-links``, ``six @ file://...``, another index), the wheel in its repo.
Then a victim Space needing ``six==1.17.0`` builds from the cache, and must get the wheel
PyPI publishes: its sha256 is checked against PyPI's index (PEP 691 JSON), and the installed module
against the wheel's.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import shutil
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import docker
import httpx
import pytest

from podium.bridges import ensure_isolated_network
from podium.builder.build import build_space_image
from podium.builder.wheelhouse import cache_dir
from podium.config import Settings
from podium.errors import BuildError
from podium.names import SpaceId
from podium.resources import templates_dir
from podium.spaces.stage import BuildPhase
from tests.conftest import require

pytestmark = [pytest.mark.docker]

HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
SIX = "six-1.17.0-py2.py3-none-any.whl"


def poisoned_wheel() -> bytes:
    """A valid wheel named like six 1.17.0 whose module says it is poisoned."""
    info = "six-1.17.0.dist-info"
    files = {
        "six.py": "POISONED = True\nprint('POISONED six')\n",
        f"{info}/METADATA": "Metadata-Version: 2.1\nName: six\nVersion: 1.17.0\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: evil\nRoot-Is-Purelib: true\n"
                         "Tag: py2-none-any\nTag: py3-none-any\n",
    }
    files[f"{info}/RECORD"] = "".join(f"{name},,\n" for name in [*files, f"{info}/RECORD"])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buf.getvalue()


@pytest.fixture
def build_settings(
    tmp_path: Path, docker_client: docker.DockerClient, base_image: str,
) -> Iterator[Settings]:
    env = Settings()
    bundle = env.ca_bundle or (HOST_CA if HOST_CA.is_file() else None)
    require(bundle is not None and bundle.is_file(),
            "builds reach PyPI only with a CA bundle (PODIUM_CA_BUNDLE or the host's)")
    ref = f"podium-test/cache-base:{uuid.uuid4().hex[:12]}"
    docker_client.images.get(base_image).tag(ref)
    settings = Settings(data_dir=tmp_path / "data", base_image=ref, ca_bundle=bundle,
                        build_timeout=900)
    settings.ensure_dirs()
    ensure_isolated_network(docker_client, settings.build_network)
    yield settings
    docker_client.images.remove(ref, noprune=True)


def template(tmp_path: Path, name: str) -> Path:
    source = templates_dir() / "gradio-hello"
    require(source.is_dir(), "template gradio-hello is missing")
    dest = tmp_path / name
    shutil.copytree(source, dest)
    return dest


def test_one_spaces_build_cannot_poison_the_cache_another_installs_from(
    build_settings: Settings, docker_client: docker.DockerClient, tmp_path: Path,
) -> None:
    settings = build_settings
    poison = poisoned_wheel()
    built: list[str] = []
    lines: list[str] = []

    def log(_phase: BuildPhase, line: str) -> None:
        lines.append(line)

    def build(name: str, src: Path) -> None:
        image = build_space_image(settings, docker_client, SpaceId("attack", name), src,
                                  uuid.uuid4().hex + "0" * 8, log)
        built.append(image.ref)

    try:
        # 1. Arbitrary code in a build's RUN steps.
        docker_space = tmp_path / "docker-space"
        docker_space.mkdir()
        (docker_space / "README.md").write_text("---\ntitle: a\nsdk: docker\n---\n")
        (docker_space / SIX).write_bytes(poison)
        targets = " ".join([
            "/tmp/podium/wheels", "/wheels", str(cache_dir(settings)),
            "/home/user/.cache/pip", "/home/user/.cache/uv", "/root/.cache/pip",
        ])
        (docker_space / "Dockerfile").write_text(
            f"FROM {settings.base_image}\nCOPY {SIX} /tmp/{SIX}\nUSER root\n"
            f"RUN for d in {targets}; do mkdir -p $d && cp /tmp/{SIX} $d/{SIX}; done; "
            "ls -la /tmp/podium/wheels\n")
        build("docker-attacker", docker_space)

        # 2. requirements.txt lines steering the fill to the Space's own wheel.
        steering = template(tmp_path, "steering")
        (steering / "poison").mkdir()
        (steering / "poison" / SIX).write_bytes(poison)
        (steering / "requirements.txt").write_text("\n".join([
            "--find-links ./poison", "--find-links /home/user/app/poison",
            f"-f file://{steering}/poison",
            f"six @ file:///home/user/app/poison/{SIX}",
            "--extra-index-url http://127.0.0.1:9/simple", "six==1.17.0", "",
        ]))
        with contextlib.suppress(BuildError):  # its own build may fail: not our concern
            build("steering-attacker", steering)

        # 3. The victim.
        lines.clear()
        victim = template(tmp_path, "victim")
        # A line of its own: its install step runs now, never an earlier run's layer.
        (victim / "requirements.txt").write_text(f"# {uuid.uuid4().hex}\nsix==1.17.0\n")
        build("victim", victim)
        out = docker_client.containers.run(
            built[-1], ["python", "-c", "import hashlib, importlib.metadata as m, six; "
                        "print(m.distribution('six').read_text('INSTALLER').strip()); "
                        "print(hashlib.sha256(open(six.__file__, 'rb').read()).hexdigest())"],
            remove=True, network_mode="none",
        ).decode().split()
    finally:
        for ref in built:
            docker_client.images.remove(ref, force=True, noprune=True)
    text = "\n".join(lines)
    assert "dependency cache:" in text
    assert not any(x.startswith("podium: the dependency cache does not hold") for x in lines)

    cached = cache_dir(settings) / SIX
    assert cached.is_file() and cached.read_bytes() != poison
    published = httpx.get(  # the index's own JSON page (PEP 691), as pip reads it
        "https://pypi.org/simple/six/", timeout=30, verify=str(settings.ca_bundle),
        headers={"accept": "application/vnd.pypi.simple.v1+json"}).json()
    digests = {f["filename"]: f["hashes"]["sha256"] for f in published["files"]}
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == digests[SIX]

    with zipfile.ZipFile(cached) as archive:
        genuine = hashlib.sha256(archive.read("six.py")).hexdigest()
    assert out[-2:] == ["uv", genuine]  # installed by uv from the cache, the genuine file


def _imports(client: docker.DockerClient, ref: str, modules: list[str]) -> list[bool]:
    code = ("import importlib.util as u, sys; "
            "print(' '.join(str(u.find_spec(m) is not None) for m in sys.argv[1:]))")
    out = client.containers.run(ref, ["python", "-c", code, *modules], remove=True,
                                network_mode="none").decode().split()
    return [word == "True" for word in out]


def test_added_requirements_build_on_the_spaces_own_layer_and_removed_ones_start_fresh(
    build_settings: Settings, docker_client: docker.DockerClient, tmp_path: Path,
) -> None:
    """Issue 14 goal 3 (builder/incremental.py): adding a line installs only it on the
    Space's previous dependency layer; the same lines again reuse that layer as it is; a
    removed line installs everything afresh, so the removed package is gone. Another Space
    never builds on these layers, even with this Space's image tagged into its own
    repository (SECURITY.md)."""
    settings, client = build_settings, docker_client
    src = template(tmp_path, "incr")
    space = SpaceId("incr", uuid.uuid4().hex[:8])
    built: list[str] = []
    notes: list[str] = []

    def build(requirements: str, sid: SpaceId = space) -> str:
        (src / "requirements.txt").write_text(requirements)
        lines: list[str] = []
        image = build_space_image(settings, client, sid, src, uuid.uuid4().hex + "0" * 8,
                                  lambda _p, line: lines.append(line))
        built.append(image.ref)
        notes.append(next(x for x in lines if x.startswith("dependencies: ")))
        return image.ref

    try:
        build("tabulate==0.9.0\n")
        both = build("tabulate==0.9.0\ntoolz==1.0.0\n")
        (src / "app.py").write_text((src / "app.py").read_text() + "\n# a code change\n")
        again = build("# a comment\ntabulate==0.9.0\ntoolz==1.0.0\n")
        fresh = build("toolz==1.0.0\n")
        other = SpaceId("incr", f"other-{uuid.uuid4().hex[:8]}")
        planted = other.image_ref("planted")
        client.images.get(again).tag(planted)
        built.append(planted)
        build("tabulate==0.9.0\ntoolz==1.0.0\nsix\n", other)
        assert _imports(client, both, ["tabulate", "toolz", "gradio"]) == [True] * 3
        assert _imports(client, again, ["tabulate", "toolz"]) == [True, True]
        assert _imports(client, fresh, ["tabulate", "toolz"]) == [False, True]
        first_layer = next(entry["Id"] for entry in client.api.history(built[0])
                           if "LABEL podium.deps=" in entry["CreatedBy"])
        assert first_layer in [entry["Id"] for entry in client.api.history(both)]
    finally:
        for ref in built:
            client.images.remove(ref, force=True, noprune=True)
    assert notes[0].startswith("dependencies: full install (no previous image")
    assert notes[1].startswith("dependencies: incremental install of 1 added requirement")
    assert notes[2].startswith("dependencies: requirements unchanged: reusing")
    assert notes[3].startswith("dependencies: full install (requirements.txt changed or "
                               "removed 'tabulate==0.9.0')")
    assert notes[4].startswith("dependencies: full install (no previous image")
