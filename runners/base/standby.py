"""Warm standby runner (podium.scheduler.standby): copied into a standby container, which the
scheduler starts from a Space's current image after a deploy, with the image's own command
as arguments.

    python /podium-standby/standby.py SDK -- CMD...

Started fresh, it imports the SDK (the seconds a new container spends before the app runs),
says ``podium-standby: ready`` and waits (the scheduler then freezes it: no CPU). A code-only
push puts the new image's app folder in STAGE/next and the deploy's facts in STAGE/go; the
runner swaps the app folder's contents for it and runs CMD in this warm interpreter, as
``python app.py`` or ``streamlit run`` would.

Restarted later (a crash, the engine's restart, a resume), the swapped code is still in the
container's writable layer: LIVE exists and CMD is exec'd at once, the new code and nothing
else. A swap cut off half way is finished first (its steps leave markers), so a restart never
waits for code nor runs the old one.
"""

from __future__ import annotations

import os
import runpy
import shutil
import sys
import time

STAGE = "/podium-standby"
NEXT = f"{STAGE}/next"
GO = f"{STAGE}/go"
CLEARED = f"{STAGE}/cleared"
LIVE = f"{STAGE}/live"
POLL_S = 0.01


def warm(sdk: str) -> None:
    """Import what the app's first lines import anyway: the SDK and its heavy parts."""
    if sdk == "gradio":
        import gradio  # noqa: F401
    elif sdk == "streamlit":
        import streamlit  # noqa: F401
        import streamlit.web.bootstrap  # noqa: F401
        import streamlit.web.cli  # noqa: F401


def swap(app_dir: str) -> None:
    """Replace the app folder's contents (the previous commit's code) with NEXT's. Each step
    leaves a marker, so a restart in the middle finishes it instead of mixing the two."""
    if not os.path.exists(CLEARED):
        for name in os.listdir(app_dir):
            path = os.path.join(app_dir, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        open(CLEARED, "w").close()
    if os.path.isdir(NEXT):
        for name in os.listdir(NEXT):
            shutil.move(os.path.join(NEXT, name), os.path.join(app_dir, name))
        os.rmdir(NEXT)
    os.replace(GO, LIVE)


def run(cmd: list[str]) -> None:
    """Run the image's command in this interpreter (its imports are warm)."""
    if os.path.basename(cmd[0]).startswith("python") and len(cmd) >= 2:
        path = cmd[1]
        sys.argv = cmd[1:]
        sys.path[0] = os.path.dirname(os.path.abspath(path))
        runpy.run_path(path, run_name="__main__")
        return
    if cmd[0] == "streamlit":
        from streamlit.web.cli import main

        sys.argv = cmd
        sys.exit(main())
    os.execvp(cmd[0], cmd)  # nothing warm to reuse: exactly the image's command


def main() -> None:
    sdk, sep, *cmd = sys.argv[1:]
    if sep != "--" or not cmd:
        sys.exit("usage: standby.py SDK -- CMD...")
    app_dir = os.getcwd()
    if os.path.exists(LIVE):  # restarted after it took its code: the image's command
        os.execvp(cmd[0], cmd)
    if not os.path.exists(GO):
        warm(sdk)
        print("podium-standby: ready", flush=True)
        while not os.path.exists(GO):
            time.sleep(POLL_S)
    swap(app_dir)
    print("podium-standby: running the new code", flush=True)
    run(cmd)


if __name__ == "__main__":
    main()
