"""A Space's commit fetched from the platform's git server over smart HTTP: what a build
worker on another host (``Settings.build_source_url``) gets instead of ``export_commit``,
the same files with Git LFS objects in place of their pointers.

The credential is a one-build ticket (tickets.py), given to git as an HTTP header through
``GIT_CONFIG_*`` variables (not on its command line, where ``ps`` shows it, and never in a
config file): the fetched repository sits beside the export, not in it, so neither the
ticket nor the history reaches the build context."""

from __future__ import annotations

from pathlib import Path

import httpx

from podium.errors import ServiceUnavailable
from podium.names import SpaceId

from .git import GitCommandFailed, check_rev, run_git
from .lfsstore import LfsStore, Pointer, pointers_below
from .repo import extract_commit
from .tickets import basic_header

# One fetch of one commit (depth 1); rq's own timeout backs the whole build.
FETCH_TIMEOUT_S = 600
LFS_JSON = "application/vnd.git-lfs+json"
# Objects asked for in one batch request (git-lfs asks for 100 at a time too).
LFS_BATCH = 100
_CHUNK = 1 << 20


def repo_url(base_url: str, space_id: SpaceId) -> str:
    return f"{base_url.rstrip('/')}/spaces/{space_id.owner}/{space_id.name}.git"


def fetch_commit(
    base_url: str, space_id: SpaceId, commit: str, ticket: str, dest: Path, work: Path,
) -> str:
    """Fetch ``commit`` (a sha or a branch) of ``space_id`` from the platform at
    ``base_url`` into a bare repository under ``work`` and write its files into ``dest``,
    LFS objects downloaded; returns the full sha. ``work`` must not be inside ``dest``."""
    url = repo_url(base_url, space_id)
    git_dir = work / "fetch.git"
    header = basic_header(ticket)
    env = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader",
           "GIT_CONFIG_VALUE_0": f"Authorization: {header}"}
    run_git(["init", "--quiet", "--bare", str(git_dir)])
    fetched = run_git(["fetch", "--quiet", "--depth=1", "--no-tags", url, check_rev(commit)],
                      git_dir=git_dir, env=env, timeout=FETCH_TIMEOUT_S, check=False)
    if fetched.returncode != 0:
        err = fetched.stderr.decode(errors="replace").strip()
        raise ServiceUnavailable(
            f"fetching {space_id} at {commit[:12]} from {base_url} failed: {err}",
            hint="check PODIUM_BUILD_SOURCE_URL: the platform's URL as this worker reaches it",
        )
    sha = run_git(["rev-parse", "--verify", "FETCH_HEAD^{commit}"], git_dir=git_dir)
    full = sha.stdout.decode().strip()
    extract_commit(git_dir, full, dest)
    store = LfsStore(git_dir)
    pointers = sorted(pointers_below(dest), key=lambda p: p.oid)
    for start in range(0, len(pointers), LFS_BATCH):
        _download(url, pointers[start:start + LFS_BATCH], header, store)
    store.smudge_tree(dest)  # a pointer the server had no object for fails here, by name
    return full


def _download(url: str, pointers: list[Pointer], header: str, store: LfsStore) -> None:
    """Fetch the objects the batch API offers into ``store``; the ones it does not are
    left for ``smudge_tree`` to name."""
    body = {"operation": "download", "transfers": ["basic"],
            "objects": [{"oid": p.oid, "size": p.size} for p in pointers]}
    wanted = {p.oid: p.size for p in pointers}
    with httpx.Client(timeout=FETCH_TIMEOUT_S, headers={"Authorization": header}) as client:
        answer = client.post(f"{url}/info/lfs/objects/batch", json=body,
                             headers={"Accept": LFS_JSON, "Content-Type": LFS_JSON})
        if answer.status_code != 200:
            raise ServiceUnavailable(
                f"the LFS batch request for {url} answered {answer.status_code}: "
                f"{answer.text[:200]}")
        for obj in answer.json().get("objects") or []:
            action = (obj.get("actions") or {}).get("download")
            oid = obj.get("oid")
            if action is None or oid not in wanted:
                continue
            _fetch_object(client, action, oid, wanted[oid], store)


def _fetch_object(client: httpx.Client, action: dict[str, object], oid: str, size: int,
                  store: LfsStore) -> None:
    """One object streamed into ``store``, kept only if it hashes to ``oid`` and is
    ``size`` long (the checks of an upload: ``LfsStore.incoming``)."""
    headers = action.get("header")
    with store.incoming(oid, limit=size) as incoming, client.stream(
        "GET", str(action["href"]), headers=headers if isinstance(headers, dict) else None,
    ) as reply:
        if reply.status_code != 200:
            raise GitCommandFailed(f"LFS object {oid[:12]} answered {reply.status_code}")
        for chunk in reply.iter_bytes(_CHUNK):
            incoming.write(chunk)
        incoming.keep(size)
