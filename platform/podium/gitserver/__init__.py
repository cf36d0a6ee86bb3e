"""Smart-HTTP git for Spaces: `git push http://USER:TOKEN@HOST/spaces/OWNER/NAME main`.

Wraps `git http-backend`; bare repositories live under ``settings.repos_dir``; hooks enforce
the size limit and hand default-branch pushes to ``settings.push_handler``.

The names below are imported on first use (PEP 562): every push runs a hook process that
imports ``podium.gitserver.hook``, and loading the ASGI app (Starlette) for it cost ~0.3 s
per hook, twice per push.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "create_git_app": ".app", "is_git_path": ".paths", "is_git_request": ".paths",
    "GitAccess": ".auth", "GitPrincipal": ".auth",
    "TreeEntry": ".repo", "ensure_repo": ".repo", "export_commit": ".repo",
    "head_commit": ".repo", "import_from_url": ".importer", "init_from_template": ".repo",
    "read_file": ".repo", "read_tree": ".repo", "repo_exists": ".repo",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)
