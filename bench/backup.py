"""Backup and restore of a platform with 20 Spaces, timed as an operator lives it, printed as
one JSON document (progress on stderr):

- backup_s: `podium backup FILE` while platform A runs (and with --with-data), as the
  command reports it; *_wall_s adds the interpreter's start;
- restore_s: `podium restore FILE` (with /data) into an empty data dir B;
- serve_all_s: from starting platform B (`start_platform`, as `podium up`) until every Space
  answers 200 with its own page through B's proxy: the worker's catch-up pass rebuilds each
  Space from its restored repository (images are not in a backup) and the scheduler deploys
  it. A's Space images are removed before B starts, as on a fresh machine; the base image's
  layers stay (they are the offline base image every machine has).

The Spaces are static (the cheapest build: the base image plus the files), one commit each.

    .venv/bin/python bench/backup.py [--spaces 20] [--timeout 1800]

Bounded: every wait has a timeout; both platforms are stopped and every container, volume,
mount and Space image of this run removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import docker
import httpx

from podium.builder.engine import docker_client
from podium.config import Settings
from podium.names import SpaceId
from podium.scheduler.storage import detach, mounted_from, unmount
from podium.services.redis_server import free_port
from podium.services.up import Started, start_platform

README = "---\ntitle: Bench {i}\nsdk: static\n---\n"


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def settings_for(data_dir: Path, label: str) -> Settings:
    return Settings(data_dir=data_dir, redis_url="", database_url="", public_port=free_port(),
                    api_port=free_port(), admin_password="bench-admin-password",
                    instance=f"{label}-{uuid.uuid4().hex[:8]}")


def podium(settings: Settings, *args: str) -> tuple[float, float]:
    """(wall seconds of the command, interpreter start included; the seconds it reports
    for its own work)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PODIUM_")}
    env.update(settings.to_env())
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "podium", *args], env=env, capture_output=True,
                          text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"podium {args[0]} failed: {done.stderr}")
    say(done.stderr.strip())
    reported = re.search(r" in ([0-9.]+) s", done.stderr)
    assert reported is not None, done.stderr
    return round(time.monotonic() - started, 2), float(reported.group(1))


def token_for(settings: Settings) -> str:
    from podium.controller.platform import Platform
    from podium.store import create_token, get_user

    platform = Platform(settings)
    try:
        with platform.db.session() as session:
            return create_token(session, get_user(session, settings.admin_user), "bench")[0]
    finally:
        platform.close()


def create_spaces(settings: Settings, token: str, names: list[str], work: Path) -> None:
    base = f"http://127.0.0.1:{settings.public_port}"
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"},
                      timeout=60) as api:
        for i, name in enumerate(names):
            made = api.post("/api/spaces", json={"name": name, "sdk": "static"})
            made.raise_for_status()
            repo = work / name
            repo.mkdir(parents=True)
            (repo / "README.md").write_text(README.format(i=i))
            (repo / "index.html").write_text(f"<p>{name}</p>\n")
            git = ["git", "-C", str(repo), "-c", "user.name=b", "-c", "user.email=b@x"]
            subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
            subprocess.run([*git, "add", "-A"], check=True)
            subprocess.run([*git, "commit", "-q", "-m", "bench"], check=True)
            url = f"http://admin:{token}@127.0.0.1:{settings.public_port}/spaces/admin/{name}"
            subprocess.run([*git, "push", "-q", url, "HEAD:main"], check=True,
                           capture_output=True)


def serving(settings: Settings, name: str) -> bool:
    host = f"{SpaceId('admin', name).hostname(settings.domain)}:{settings.public_port}"
    try:
        answer = httpx.get(f"http://127.0.0.1:{settings.public_port}/", headers={"Host": host},
                           timeout=10)
    except httpx.HTTPError:
        return False
    return answer.status_code == 200 and f"<p>{name}</p>" in answer.text


def wait_all(settings: Settings, names: list[str], timeout: float, started: float) -> float:
    pending = set(names)
    while pending:
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"not serving after {timeout:.0f} s: {sorted(pending)}")
        pending = {name for name in pending if not serving(settings, name)}
        time.sleep(0.5)
    return time.monotonic() - started


def retire(one: Started, client: docker.DockerClient) -> None:
    one.stop()
    label = {"label": f"podium.scope={one.settings.instance}"}
    for container in client.containers.list(all=True, filters=label):
        container.remove(force=True)
    for volume in client.volumes.list(filters=label):
        volume.remove(force=True)
    for target, image in mounted_from(one.settings.data_dir).items():
        unmount(target)
        detach(image)


def remove_images(client: docker.DockerClient, names: list[str]) -> int:
    removed = 0
    for name in names:
        for image in client.images.list(name=SpaceId("admin", name).image_repository()):
            client.images.remove(image.id, force=True)
            removed += 1
    return removed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spaces", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    run = uuid.uuid4().hex[:6]
    names = [f"bk{run}-{i:02d}" for i in range(args.spaces)]
    client = docker_client()
    result: dict = {"spaces": args.spaces, "sdk": "static", "load_start": load()}
    platforms: list[Started] = []
    with tempfile.TemporaryDirectory(prefix="podium-bench-backup-") as tmp:
        root = Path(tmp)
        try:
            a = start_platform(settings_for(root / "a", "bench-a"), demo=False, say=say)
            platforms.append(a)
            token = token_for(a.settings)
            started = time.monotonic()
            create_spaces(a.settings, token, names, root / "work")
            result["a_serve_all_s"] = round(wait_all(a.settings, names, args.timeout, started), 2)
            say(f"A: {args.spaces} Spaces serving after {result['a_serve_all_s']} s")
            result["load_before_backup"] = load()
            result["backup_wall_s"], result["backup_s"] = podium(
                a.settings, "backup", str(root / "plain.tar"))
            result["backup_bytes"] = (root / "plain.tar").stat().st_size
            data = root / "with-data.tar"
            result["backup_with_data_wall_s"], result["backup_with_data_s"] = podium(
                a.settings, "backup", str(data), "--with-data")
            result["backup_with_data_bytes"] = data.stat().st_size
            platforms.remove(a)
            retire(a, client)
            result["images_removed_before_restore"] = remove_images(client, names)
            b_settings = settings_for(root / "b", "bench-b")
            result["load_before_restore"] = load()
            result["restore_wall_s"], result["restore_s"] = podium(
                b_settings, "restore", str(data))
            started = time.monotonic()
            b = start_platform(b_settings, demo=False, say=say)
            platforms.append(b)
            result["b_start_s"] = round(time.monotonic() - started, 2)
            result["serve_all_s"] = round(wait_all(b.settings, names, args.timeout, started), 2)
            result["load_end"] = load()
        finally:
            for one in platforms:
                retire(one, client)
            remove_images(client, names)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
