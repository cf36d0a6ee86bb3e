"""Podium's one change to Gradio at run time: the page it serves names no Space id.

Under SYSTEM=spaces Gradio puts SPACE_ID into the page's config, and its front end then
treats the page as a huggingface.co Space: opened as a top-level page it draws the Hub's
Space header, loading fonts from fonts.googleapis.com and the Space's card from
https://huggingface.co/api/spaces/<id> (leaking the name, failing on a closed network); an
API page shows `Client("<id>")`, which would call the Hub too. The app itself keeps
SYSTEM, SPACE_ID and SPACE_HOST in its environment, and Gradio's server keeps acting as on
Spaces; only the config handed to browsers says "not a Hub Space".

Loaded by podium_gradio.pth at interpreter start, it waits for gradio.blocks to be
imported (importing Gradio here would slow every Python process of the image) and wraps
Blocks.get_config_file once it exists. Any failure leaves Gradio as it was.
"""

from __future__ import annotations

import functools
import sys
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

TARGET = "gradio.blocks"
MARK = "_podium_no_space_id"


def _patch(module: ModuleType) -> None:
    blocks = getattr(module, "Blocks", None)
    original = getattr(blocks, "get_config_file", None)
    if original is None or getattr(original, MARK, False):
        return

    @functools.wraps(original)
    def get_config_file(self: Any, *args: Any, **kwargs: Any) -> Any:
        config = original(self, *args, **kwargs)
        if isinstance(config, dict) and config.get("space_id"):
            config["space_id"] = None
        return config

    setattr(get_config_file, MARK, True)
    blocks.get_config_file = get_config_file  # type: ignore[union-attr]


class _AfterGradioBlocks(MetaPathFinder):
    """Finds gradio.blocks with the other finders, then patches it once it has run."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> ModuleSpec | None:
        if name != TARGET:
            return None
        # The import system is iterating sys.meta_path right now: ask the others directly
        # rather than editing the list under it.
        others = [f for f in sys.meta_path if f is not self and hasattr(f, "find_spec")]
        spec = next((s for f in others for s in [f.find_spec(name, path, target)]
                     if s is not None), None)
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        run = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run(module)
            try:
                _patch(module)
            except Exception as exc:  # noqa: BLE001 - never break the app over this
                print(f"podium: page config left as is: {exc!r}", file=sys.stderr)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


if TARGET in sys.modules:
    _patch(sys.modules[TARGET])
else:
    sys.meta_path.insert(0, _AfterGradioBlocks())
