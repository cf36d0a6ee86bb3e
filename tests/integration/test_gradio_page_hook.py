"""Issue 13 item 5, the Gradio runner's image files against the real Gradio: loaded from their
.pth as the image's site-packages loads them, the hook keeps SPACE_ID out of the config the
browser gets (and nothing else changes); install.py writes the <gradio-app> entry where
Gradio's /assets route serves it. The e2e test (tests/e2e/test_no_outside_host.py) shows
the browser side."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

IMAGE = REPO_ROOT / "runners" / "gradio" / "image"
PROBE = """
import json, os, site, sys
site.addsitedir(sys.argv[1])  # runs podium_gradio.pth, as site-packages does at start
import gradio as gr
demo = gr.Interface(lambda x: x, "text", "text")
print(json.dumps({"config": demo.get_config_file()["space_id"], "attr": demo.space_id,
                  "env": os.environ["SPACE_ID"], "version": demo.config["version"]}))
"""


def _probe(site_dir: Path) -> dict:
    env = {**os.environ, "SYSTEM": "spaces", "SPACE_ID": "alice/demo",
           "GRADIO_ANALYTICS_ENABLED": "False"}
    out = subprocess.run([sys.executable, "-c", PROBE, str(site_dir)], env=env, check=True,
                         capture_output=True, text=True, timeout=300)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_page_config_names_no_space_but_the_app_keeps_its_environment(
    tmp_path: Path,
) -> None:
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    assert _probe(site_dir)["config"] == "alice/demo"  # what Gradio does on its own
    for name in ("podium_gradio.py", "podium_gradio.pth"):
        shutil.copy(IMAGE / name, site_dir / name)
    seen = _probe(site_dir)
    assert seen["config"] is None
    assert seen["attr"] == "alice/demo" and seen["env"] == "alice/demo"


def test_install_writes_the_embed_entry_beside_the_assets_it_imports(tmp_path: Path) -> None:
    """install.py run against a copy of Gradio's front-end folder layout."""
    import gradio

    frontend = Path(gradio.__file__).parent / "templates" / "frontend"
    entry = (frontend / "gradio.js").read_text()
    fake = tmp_path / "pkg" / "gradio"
    (fake / "templates" / "frontend" / "assets").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "templates" / "frontend" / "gradio.js").write_text(entry)
    purelib = tmp_path / "purelib"
    purelib.mkdir()
    script = (f"import sysconfig, runpy, sys; sys.path.insert(0, {str(tmp_path / 'pkg')!r});"
              f"sysconfig.get_paths = lambda: {{'purelib': {str(purelib)!r}}};"
              f"runpy.run_path({str(IMAGE / 'install.py')!r}, run_name='__main__')")
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    written = (fake / "templates" / "frontend" / "assets" / "gradio.js").read_text()
    target = written.split('"./', 1)[1].split('"', 1)[0]
    assert (frontend / "assets" / target).is_file(), written  # resolves inside assets/
    assert sorted(p.name for p in purelib.iterdir()) == ["podium_gradio.pth",
                                                         "podium_gradio.py"]
