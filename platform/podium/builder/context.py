"""The build context sent to the engine: a copy of the checkout (without .git) plus the
files Podium adds. Files are hard-linked where the file system allows, so a repository with
large files costs no second copy on disk."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from podium.builder.packs.base import APP_DIR, BUILD_DIR

DOCKERIGNORE = ".dockerignore"


def repo_files(source_dir: Path) -> frozenset[str]:
    """Repository-relative POSIX paths of the regular files in a checkout (no .git)."""
    out: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(source_dir):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        rel = Path(dirpath).relative_to(source_dir)
        for name in filenames:
            path = Path(dirpath) / name
            if path.is_file() and not path.is_symlink():
                out.add((rel / name).as_posix())
    return frozenset(out)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError:
        shutil.copy2(src, dst, follow_symlinks=False)


def copy_checkout(source_dir: Path, dest: Path) -> None:
    # symlinks=True keeps links as links: a link pointing outside the repository must not
    # pull host files into the image.
    shutil.copytree(source_dir, dest, symlinks=True, copy_function=_link_or_copy,
                    ignore=shutil.ignore_patterns(".git"), dirs_exist_ok=True)


def prepare_sdk_context(
    source_dir: Path, context_dir: Path, *, dockerfile: str, extra: dict[str, bytes],
) -> str:
    """Lay out APP_DIR (the Space) + BUILD_DIR (Podium's files); return the Dockerfile path
    relative to the context."""
    copy_checkout(source_dir, context_dir / APP_DIR)
    build = context_dir / BUILD_DIR
    build.mkdir()
    (build / "Dockerfile").write_text(dockerfile)
    for name, data in extra.items():
        (build / name).parent.mkdir(parents=True, exist_ok=True)
        (build / name).write_bytes(data)
    # The user's own .dockerignore is for their Dockerfile, which this pack does not use.
    (context_dir / DOCKERIGNORE).write_text(f"{APP_DIR}/.git\n{APP_DIR}/{DOCKERIGNORE}\n")
    return f"{BUILD_DIR}/Dockerfile"


def prepare_own_context(source_dir: Path, context_dir: Path) -> str:
    """The repository as its own context (docker Spaces), .git always left out."""
    copy_checkout(source_dir, context_dir)
    ignore = context_dir / DOCKERIGNORE
    # Replace a hard link with a fresh file before appending: the checkout must not change.
    existing = ignore.read_text(errors="replace") if ignore.is_file() else ""
    ignore.unlink(missing_ok=True)
    ignore.write_text(existing.rstrip("\n") + "\n.git\n")
    return "Dockerfile"
