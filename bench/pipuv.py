"""pip vs uv for a Space's requirements, side by side in one run, printed as JSON.

Each case runs in a fresh container from the base image on the build bridge (as a build's
RUN step does), `numpy pandas matplotlib` then `+ scipy` (issue 14's overlapping-deps case):

- pip-index:      today's step: `pip install` from the index, no cache (PIP_NO_CACHE_DIR);
- pip-wheels:     `pip install --no-index` from a local folder of the wheels;
- pip-wheels-nc:  the same with --no-compile (pip writes .pyc files by default);
- uv-wheels:      `uv pip install --no-index --compile-bytecode` from the same folder;
- uv-wheels-nc:   the same without bytecode (uv's default).

The wheel folder is filled once before the rounds, as the platform's wheel cache is.

    PODIUM_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt .venv/bin/python bench/pipuv.py \
        [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import docker

from podium.bridges import ensure_isolated_network
from podium.config import Settings

FIRST = "numpy pandas matplotlib"
SECOND = FIRST + " scipy"
UV = "uv==0.13.9"
WHEELS = "/wheels"
TIMED = 'python3 -c "import time; print(time.time())"'
CASES = {
    "pip-index": "pip install -q {pkgs}",
    "pip-wheels": f"pip install -q --no-index --find-links {WHEELS} {{pkgs}}",
    "pip-wheels-nc": f"pip install -q --no-compile --no-index --find-links {WHEELS} {{pkgs}}",
    "uv-wheels": f"/tmp/uv/bin/uv pip install -q --no-cache --compile-bytecode --no-index "
                 f"--find-links {WHEELS} --python $VIRTUAL_ENV/bin/python {{pkgs}}",
    "uv-wheels-nc": f"/tmp/uv/bin/uv pip install -q --no-cache --no-index "
                    f"--find-links {WHEELS} --python $VIRTUAL_ENV/bin/python {{pkgs}}",
}


def run(client: docker.DockerClient, settings: Settings, script: str,
        wheels: Path, ca: Path | None) -> str:
    volumes = {str(wheels): {"bind": WHEELS, "mode": "rw"}}
    env = {}
    if ca is not None:
        volumes[str(ca)] = {"bind": "/tmp/ca.crt", "mode": "ro"}
        env = {"PIP_CERT": "/tmp/ca.crt", "SSL_CERT_FILE": "/tmp/ca.crt"}
    out = client.containers.run(settings.base_image, ["bash", "-ec", script], remove=True,
                                network=settings.build_network, volumes=volumes,
                                environment=env)
    return out.decode()


def one_round(client: docker.DockerClient, settings: Settings, case: str,
              wheels: Path, ca: Path | None) -> dict[str, float]:
    """Install FIRST, then SECOND on top (the changed requirements.txt), timing each."""
    setup = (f"pip install -q --no-index --find-links {WHEELS} --target /tmp/uv {UV}"
             if case.startswith("uv") else "true")
    cmd = CASES[case]
    script = (f"{setup}; a=$({TIMED}); {cmd.format(pkgs=FIRST)}; b=$({TIMED}); "
              f"{cmd.format(pkgs=SECOND)}; c=$({TIMED}); echo $a $b $c")
    a, b, c = (float(x) for x in run(client, settings, script, wheels, ca).split()[-3:])
    return {"first_s": round(b - a, 2), "plus_scipy_s": round(c - b, 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    settings = Settings()
    client = docker.from_env()
    ensure_isolated_network(client, settings.build_network)
    ca = settings.ca_bundle
    with tempfile.TemporaryDirectory(prefix="podium-pipuv-") as tmp:
        wheels = Path(tmp)
        os.chown(wheels, 1000, 1000)
        started = time.monotonic()
        run(client, settings, f"pip download -q --only-binary=:all: -d {WHEELS} "
            f"{SECOND} {UV}", wheels, ca)
        fill_s = time.monotonic() - started
        results: dict[str, Any] = {c: [] for c in CASES}
        for _ in range(args.rounds):
            for case in CASES:  # interleaved: load drifts over the run
                results[case].append(one_round(client, settings, case, wheels, ca))
                print(case, results[case][-1], file=sys.stderr)
    summary = {
        case: {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
        for case, rounds in results.items()
    }
    print(json.dumps({
        "bench": "pipuv", "rounds": args.rounds, "loadavg": os.getloadavg(),
        "cpus": os.cpu_count(), "wheel_download_s": round(fill_s, 2),
        "median": summary, "rounds_detail": results,
    }, indent=2))


if __name__ == "__main__":
    main()
