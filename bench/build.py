"""Build times of the gradio-hello template, printed as JSON.

    .venv/bin/python bench/build.py [--no-cold] [--base]

cold_s: a build with no layer cache at all (downloads the SDK); first_build_s: a new
Space whose SDK layer another Space already built; code_only_rebuild_s: after editing
app.py; add_requirement_rebuild_s: after adding one small requirement. --base also times
rebuilding the base image from the cached debootstrap tarball. Target: code-only < 3 s.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

from podium.bridges import ensure_isolated_network
from podium.builder.base_image import ensure_base_image
from podium.builder.build import BuiltImage, build_space_image
from podium.builder.engine import docker_client
from podium.config import Settings
from podium.names import SpaceId
from podium.resources import templates_dir
from podium.spaces.stage import BuildPhase

HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
SMALL_REQUIREMENT = "tomli-w==1.0.0"
CODE_ONLY_TARGET_S = 3.0


def _quiet(phase: BuildPhase, line: str) -> None:
    if line.startswith("build failed"):
        print(f"[{phase.value}] {line}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-cold", action="store_true", help="skip the no-cache build")
    parser.add_argument("--base", action="store_true", help="also time the base image")
    args = parser.parse_args()

    env = Settings()
    with tempfile.TemporaryDirectory(prefix="podium-bench-") as tmp:
        root = Path(tmp)
        settings = env.model_copy(update={
            "data_dir": root / "data",
            "ca_bundle": env.ca_bundle or (HOST_CA if HOST_CA.is_file() else None),
        })
        client = docker_client()
        # What the build job does first: the RUN steps' firewalled bridge.
        ensure_isolated_network(client, settings.build_network)
        out: dict[str, object] = {"template": "gradio-hello"}
        if args.base:
            started = time.monotonic()
            # data_dir is the real one so the cached debootstrap tarball is used.
            ensure_base_image(env.model_copy(update={"ca_bundle": settings.ca_bundle}), client,
                              force=True, log=lambda _line: None)
            out["base_image_from_cached_rootfs_s"] = round(time.monotonic() - started, 2)
        else:
            ensure_base_image(settings, client, log=lambda _line: None)

        src = root / "src"
        shutil.copytree(templates_dir(settings) / "gradio-hello", src)
        made: list[BuiltImage] = []

        def build(sid: SpaceId, commit: str, **kw: bool) -> BuiltImage:
            image = build_space_image(settings, client, sid, src, commit, _quiet, **kw)
            made.append(image)
            return image

        def new_space(name: str) -> SpaceId:
            return SpaceId("bench", f"{name}-{uuid.uuid4().hex[:8]}")

        try:
            if not args.no_cold:
                cold = build(new_space("cold"), "0" * 40, no_cache=True)
                out["cold_s"] = round(cold.duration_s, 2)
            sid = new_space("warm")
            first = build(sid, "1" * 40)
            app = src / "app.py"
            app.write_text(app.read_text() + "\n# a code-only change\n")
            code = build(sid, "2" * 40)
            with (src / "requirements.txt").open("a") as reqs:
                reqs.write(f"\n{SMALL_REQUIREMENT}\n")
            dep = build(sid, "3" * 40)
            out.update({
                "first_build_s": round(first.duration_s, 2),
                "first_build_cached_layers": first.cached_layers,
                "code_only_rebuild_s": round(code.duration_s, 2),
                "code_only_cached_layers": code.cached_layers,
                "add_requirement_rebuild_s": round(dep.duration_s, 2),
                "added_requirement": SMALL_REQUIREMENT,
                "code_only_target_s": CODE_ONLY_TARGET_S,
                "code_only_meets_target": code.duration_s < CODE_ONLY_TARGET_S,
            })
        finally:
            for image in made:
                # noprune keeps the layers: they are the cache the next build reuses.
                client.images.remove(image.ref, force=True, noprune=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
