"""Smart-HTTP git for Spaces: `git push http://USER:TOKEN@HOST/spaces/OWNER/NAME main`.

Wraps `git http-backend`; bare repositories live under ``settings.repos_dir``; hooks enforce
the size limit and hand default-branch pushes to ``settings.push_handler``."""

from .app import create_git_app, is_git_path
from .auth import GitAccess, GitPrincipal
from .repo import (
    TreeEntry,
    ensure_repo,
    export_commit,
    head_commit,
    import_from_url,
    init_from_template,
    read_file,
    read_tree,
    repo_exists,
)

__all__ = [
    "GitAccess",
    "GitPrincipal",
    "TreeEntry",
    "create_git_app",
    "ensure_repo",
    "export_commit",
    "head_commit",
    "import_from_url",
    "init_from_template",
    "is_git_path",
    "read_file",
    "read_tree",
    "repo_exists",
]
