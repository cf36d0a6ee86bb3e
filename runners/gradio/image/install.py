"""Run once in the image's SDK layer, after Gradio is installed.

1. Puts podium_gradio.py and its .pth into the environment's site-packages (see there why).
2. Writes assets/gradio.js: the entry of Gradio's <gradio-app> web component, which the
   wheel ships as templates/frontend/gradio.js but no route serves. Under assets/ the
   Space's own Gradio server serves it (at /assets/gradio.js), so the dashboard's embed
   snippet loads the front end of exactly the Space's Gradio version from the Space's host,
   instead of from Gradio's CDN. Its relative import is rewritten for the new folder.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import sysconfig
from pathlib import Path

HERE = Path(__file__).resolve().parent


def install_hook() -> None:
    site = Path(sysconfig.get_paths()["purelib"])
    for name in ("podium_gradio.py", "podium_gradio.pth"):
        shutil.copyfile(HERE / name, site / name)


def write_embed_entry() -> None:
    spec = importlib.util.find_spec("gradio")
    if spec is None or spec.origin is None:
        sys.exit("podium: gradio is not installed")
    frontend = Path(spec.origin).parent / "templates" / "frontend"
    entry = frontend / "gradio.js"
    if not entry.is_file() or not (frontend / "assets").is_dir():
        print(f"podium: this Gradio has no {entry}; the embed snippet will not load")
        return
    (frontend / "assets" / "gradio.js").write_text(
        entry.read_text().replace('"./assets/', '"./'))


if __name__ == "__main__":
    install_hook()
    write_embed_entry()
