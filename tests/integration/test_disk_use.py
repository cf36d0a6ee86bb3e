"""Disk use per Space for admins, and what `podium gc` says it reclaimed, on the real Docker
engine: images built here in a Space's repository, a real /data quota image (loop-mounted),
a repository and LFS objects on disk; the JSON route and the dashboard page through the real
API app, refused to everyone else."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import httpx
import pytest
import redis

from podium.builds.retention import collect
from podium.cli.server import gc_summary
from podium.controller.diskuse import human_bytes
from podium.names import SpaceId
from podium.scheduler.storage import Storage
from podium.store import Database, create_space
from tests.conftest import build_image, release_quota_mounts, require
from tests.integration.api_helpers import ADMIN_PASSWORD, PASSWORD, ServedApp, api_settings
from tests.integration.test_api_git import token_for

pytestmark = pytest.mark.redis
MB = 1_000_000


def dockerfile(base: str, unique: str, shared_mb: int, own_mb: int) -> dict[str, str]:
    """An image with a ``shared_mb`` layer (the same for every image of one base and size:
    the legacy builder's cache reuses it) and a layer of its own."""
    lines = [f"FROM {base}"]
    if shared_mb:
        lines.append(f"RUN head -c {shared_mb * MB} /dev/zero > /tmp/shared")
    lines.append(f"RUN head -c {own_mb * MB} /dev/urandom > /tmp/own && echo {unique}")
    return {"Dockerfile": "\n".join(lines) + "\n"}


@pytest.fixture
def spaces(docker_client: docker.DockerClient) -> Iterator[list[SpaceId]]:
    made: list[SpaceId] = []
    yield made
    for space_id in made:
        for image in docker_client.images.list(name=space_id.image_repository()):
            for tag in image.tags:
                docker_client.images.remove(tag, force=True)


def test_admin_disk_view_and_gc_report(
    tmp_path: Path, redis_url: str, redis_conn: redis.Redis, docker_client: docker.DockerClient,
    base_image: str, spaces: list[SpaceId],
) -> None:
    require(os.geteuid() == 0, "quota images are loop-mounted: needs root")
    run = uuid.uuid4().hex[:8]
    one, two = SpaceId("alice", f"disk-{run}"), SpaceId("bob", f"disk-{run}")
    spaces += [one, two]
    settings = api_settings(tmp_path, redis_url, instance=f"disk-{run}",
                            space_data_quota="64m", image_retention=0)
    db = Database(settings)
    db.migrate()
    with db.session() as session:
        create_space(session, one, sdk="docker")
        create_space(session, two, sdk="docker")
    # alice/one: A (own 8 MB layer), then B and C sharing a 20 MB layer; bob/two: none.
    refs = []
    for tag, shared, own in (("a", 0, 8), ("b", 20, 1), ("c", 20, 1)):
        refs.append(build_image(docker_client, one.image_ref(tag),
                                dockerfile(base_image, f"{run}-{tag}", shared, own)))
        time.sleep(1.1)  # "Created" has whole seconds: newest first must be C, B, A
    # Its /data: the quota image, mounted, 3 MB written.
    storage = Storage(settings, settings.instance)
    target = storage.data_mount(one, os.getuid())
    try:
        (target / "blob").write_bytes(os.urandom(3 * MB))
        os.sync()
        # Its repository and LFS objects.
        git_dir = one.repo_path(settings.repos_dir)
        (git_dir / "objects").mkdir(parents=True)
        (git_dir / "objects" / "pack").write_bytes(b"x" * 1000)
        (git_dir / "lfs" / "objects" / "ab" / "cd").mkdir(parents=True)
        (git_dir / "lfs" / "objects" / "ab" / "cd" / ("abcd" + "0" * 60)).write_bytes(
            b"y" * 5000)
        _check_views(settings, one, two, refs)
    finally:
        release_quota_mounts(settings.data_dir)

    # `podium gc` with retention 0 keeps C (the newest) and removes A and B: A's 8 MB layer
    # is freed; B's 20 MB layer is not (C uses it) although B is listed with it.
    listed = {ref: docker_client.images.get(ref).attrs["Size"] for ref in refs}
    reclaimed = collect(settings, db, docker_client)
    db.dispose()
    # Besides A and B, only dangling Space images (none of this test's) may be listed.
    assert set(refs[:2]) <= set(reclaimed.images) and refs[2] not in reclaimed.images
    assert all(r in refs[:2] or r.startswith("sha256:") for r in reclaimed.images)
    assert reclaimed.image_bytes == listed[refs[0]] + listed[refs[1]]
    # The engine-wide df delta: at least A's own layer (other work on a shared engine can
    # only add to it by removing images), and far less than what the two images list.
    assert reclaimed.bytes >= 8 * MB, reclaimed
    assert reclaimed.image_bytes - reclaimed.bytes >= 20 * MB, reclaimed
    line = gc_summary(reclaimed)
    assert line.startswith(f"reclaimed {human_bytes(reclaimed.bytes)} on disk (docker system "
                           f"df, before - after); removed {len(reclaimed.images)} images "
                           "listed at "), line
    assert f"{human_bytes(reclaimed.image_bytes)} together" in line


def test_gc_removes_the_dangling_space_images_and_no_other_softwares(
    tmp_path: Path, redis_url: str, docker_client: docker.DockerClient, base_image: str,
) -> None:
    """The engine is shared (compose.yaml mounts the host's): an image of other software
    that lost its tag is not Podium's to remove; a Space image a rebuild untagged is."""
    run = uuid.uuid4().hex[:8]
    space_id = SpaceId("alice", f"gc-{run}")
    foreign = f"podium-test-foreign/{run}:x"
    space_ref = space_id.image_ref("x")
    made: dict[str, str] = {}
    for ref, label in ((foreign, ""), (space_ref, f"LABEL podium.space={space_id}\n")):
        for version in (1, 2):  # the second build takes the tag: the first is dangling
            build_image(docker_client, ref, {"Dockerfile": (
                f"FROM {base_image}\n{label}RUN echo {run}-{version} > /tmp/version\n")})
            made.setdefault(ref, str(docker_client.images.get(ref).id))
    try:
        settings = api_settings(tmp_path, redis_url, instance=f"gc-{run}")
        db = Database(settings)
        db.migrate()
        reclaimed = collect(settings, db, docker_client)
        db.dispose()
        assert made[space_ref] in reclaimed.images
        with pytest.raises(docker.errors.ImageNotFound):
            docker_client.images.get(made[space_ref])
        assert made[foreign] not in reclaimed.images
        assert docker_client.images.get(made[foreign]).tags == []  # still there, untagged
        assert docker_client.images.get(space_ref) and docker_client.images.get(foreign)
    finally:
        for ref in (foreign, space_ref, made[foreign]):
            try:
                docker_client.images.remove(ref, force=True)
            except docker.errors.ImageNotFound:
                pass


def _check_views(settings, one: SpaceId, two: SpaceId, refs: list[str]) -> None:  # type: ignore[no-untyped-def]
    with ServedApp(settings) as server:
        admin = token_for(server.url, "admin", ADMIN_PASSWORD)
        with httpx.Client(base_url=server.url,
                          headers={"Authorization": f"Bearer {admin}"}) as http:
            assert http.post("/api/users", json={"username": "alice",
                                                 "password": PASSWORD}).status_code == 201
            report = http.get("/api/admin/disk").json()
            page = http.get("/settings/disk")
        rows = {row["space"]: row for row in report["spaces"]}
        mine = rows[str(one)]
        assert [i["ref"] for i in mine["images"]] == list(reversed(refs))
        assert all(i["size_bytes"] > 8 * MB for i in mine["images"])
        assert mine["data"]["kind"] == "quota image"
        assert mine["data"]["quota_bytes"] == 64 * 1024 * 1024
        assert 3 * MB <= mine["data"]["allocated_bytes"] < 64 * MB
        assert 3 * MB <= mine["data"]["used_bytes"] < 64 * MB
        assert (mine["repository_bytes"], mine["lfs_bytes"]) == (1000, 5000)
        assert rows[str(two)]["images"] == [] and rows[str(two)]["data"]["kind"] == "none"
        assert report["spaces"][0]["space"] == str(one)  # the biggest first
        assert report["engine_image_bytes"] > 0
        assert page.status_code == 200 and f'data-space="{one}"' in page.text
        # Everyone else: the API refuses, the page is missing (or asks to sign in).
        alice = token_for(server.url, "alice", PASSWORD)
        assert httpx.get(f"{server.url}/api/admin/disk",
                         headers={"Authorization": f"Bearer {alice}"}).status_code == 403
        assert httpx.get(f"{server.url}/api/admin/disk").status_code == 401
        with httpx.Client(base_url=server.url) as browser:
            browser.post("/api/login", json={"username": "alice", "password": PASSWORD})
            assert browser.get("/settings/disk").status_code == 404
        anonymous = httpx.get(f"{server.url}/settings/disk", follow_redirects=False)
        assert anonymous.status_code == 303 and "/login" in anonymous.headers["location"]
