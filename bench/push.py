"""Push to live, through the whole platform: from ``git push`` at the public port to the first
200 of the new version through the proxy, with the stage timeline of every push, printed as
one JSON document (progress on stderr).

The platform is started the way tests/e2e start it (``start_platform``: embedded Redis, api,
worker, proxy and scheduler processes, a unique ``instance``, free ports, demo=True so
admin/hello, the gradio-hello template, is built and deployed). Three kinds of push:

- code:  admin/hello with a changed description string in app.py (a code-only push: the SDK
         and requirements layers are cached);
- deps:  admin/hello with requirements.txt = ``--deps`` + ``--extra`` and a per-round
         comment (a changed requirements file: pip runs again), after an untimed push of
         ``--deps`` to another Space (admin/bench-deps) so those packages were installed on
         this host before (what a shared dependency cache can reuse);
- dev:   dev mode on for admin/hello (untimed rebuild), then code-only pushes copied into the
         running container and reloaded by Gradio (``same_container`` says none was started);
- cold:  a new Space's first push of gradio-hello (created through the API; the SDK layer
         of the same sdk_version exists, as on any host that runs Gradio Spaces).

Each push is split into stages (seconds after ``git push`` was started): see
bench/push_platform.py.

Also measured once: ``import gradio`` inside the Space's image (``docker run``, no network),
the floor of any new container's start.

    PODIUM_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt .venv/bin/python bench/push.py \
        [--rounds 5] [--deps-rounds 2] [--cold-rounds 3] [--deps "numpy pandas matplotlib"] \
        [--extra scipy] [--kinds code,dev,deps,cold] [--no-cpu-weight] [--standby on|off|both]

Bounded: every wait has a timeout; the platform's processes are stopped and every container
of this run's instance removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import docker

from podium.config import Settings
from podium.names import SpaceId
from podium.proxy.testing import localhost_resolver
from podium.spaces.stage import Stage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (  # noqa: E402 - the sibling module
    EngineEvents,
    machine_load,
    parser_for,
    platform_settings,
    record_failure,
    say,
    stop_platform,
    terminate,
)
from push_platform import (  # noqa: E402 - the sibling module
    MARK,
    PUSH_TIMEOUT_S,
    ROOT,
    Bench,
    Watcher,
    attempt,
    summarize,
)


def hook_costs(root: Path, rounds: int) -> dict[str, Any]:
    """What one hook process costs, side by side: the hook as it runs now (relay.py, the
    standard library only) against what the hooks imported before (Settings for
    pre-receive, the controller for post-receive's in-process push handler)."""
    git_dir = root / "hook-repo"
    (git_dir / "objects").mkdir(parents=True, exist_ok=True)
    env = {"PATH": "/usr/bin:/bin", "GIT_DIR": str(git_dir),
           "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    relay_env = {**env, "PODIUM_HOOK_URL": "http://127.0.0.1:9/x", "PODIUM_HOOK_TICKET": "1.x",
                 "PODIUM_REPO_MAX_BYTES": str(1 << 30)}
    cases = {
        "pre_receive_relay": (relay_env, "import sys; from podium.gitserver.relay import run; "
                              "sys.exit(run(['pre-receive']))"),
        "pre_receive_in_process": (env, "import sys; from podium.gitserver.hook import main; "
                                   "sys.exit(main(['pre-receive']))"),
        "post_receive_relay_imports": (env, "import podium.gitserver.relay"),
        "post_receive_in_process_imports": (env, "import podium.gitserver.hook, "
                                            "podium.controller.push"),
    }
    out: dict[str, Any] = {}
    for _ in range(rounds):
        for name, (case_env, code) in cases.items():
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], env=case_env, check=False,
                           capture_output=True, timeout=120)
            out.setdefault(name, []).append(round(time.perf_counter() - t0, 3))
    return {name: {"median_s": statistics.median(v), "runs_s": v} for name, v in out.items()}


def run_code(bench: Bench, space: SpaceId, work: Path, rounds: int, watcher: Watcher,
             events: EngineEvents) -> list[dict[str, Any]]:
    runs = []
    app = work / "app.py"
    text = app.read_text()
    for i in range(rounds):
        bench.wait_settled(space, watcher)
        marker = f"{MARK}-code-{i}-{secrets.token_hex(3)}"
        app.write_text(text.replace('"Type a name and press Submit."', repr(marker)))
        run = attempt(bench, space, work, marker, watcher, events)
        say(f"code {i + 1}/{rounds}: {run.get('total_s')} s {run.get('split', run)}")
        runs.append(run)
    app.write_text(text)
    return runs


def run_dev(bench: Bench, space: SpaceId, work: Path, rounds: int, watcher: Watcher,
            events: EngineEvents) -> list[dict[str, Any]]:
    """Dev mode on (a rebuild, untimed), then code-only pushes reloaded in the container."""
    bench.wait_settled(space, watcher)
    before = bench.container_id(space)
    r = bench.api.post(f"/api/spaces/{space}/settings", json={"dev_mode": True})
    if r.status_code != 200:
        raise RuntimeError(f"dev mode: {r.status_code} {r.text[:300]}")
    deadline = time.monotonic() + PUSH_TIMEOUT_S
    while bench.container_id(space) in (before, None):
        if time.monotonic() > deadline:
            raise TimeoutError("dev mode on did not swap the container")
        time.sleep(0.5)
    bench.wait_settled(space, watcher, timeout=PUSH_TIMEOUT_S)
    app = work / "app.py"
    text = app.read_text()
    runs = []
    for i in range(rounds):
        bench.wait_settled(space, watcher)
        container = bench.container_id(space)
        marker = f"{MARK}-dev-{i}-{secrets.token_hex(3)}"
        app.write_text(text.replace('"Type a name and press Submit."', repr(marker)))
        run = attempt(bench, space, work, marker, watcher, events)
        run["same_container"] = (
            bench.container_id(space) == container)
        say(f"dev {i + 1}/{rounds}: {run.get('total_s')} s {run.get('split', run)}")
        runs.append(run)
    app.write_text(text)
    bench.api.post(f"/api/spaces/{space}/settings", json={"dev_mode": False})
    return runs


def run_deps(bench: Bench, space: SpaceId, work: Path, root: Path, args: argparse.Namespace,
             watcher: Watcher, events: EngineEvents) -> list[dict[str, Any]]:
    base = SpaceId("admin", "bench-deps")
    bench.create(base)
    base_work = bench.workdir(base, root)
    (base_work / "requirements.txt").write_text("\n".join(args.deps.split()) + "\n")
    watcher.spaces.add(base)
    say(f"untimed: {base} installs {args.deps}")
    bench.git(base_work, "add", "-A")
    bench.git(base_work, "commit", "-q", "-m", "deps")
    bench.git(base_work, "push", "-q", bench.remote(base), "HEAD:main")
    deadline = time.monotonic() + PUSH_TIMEOUT_S
    while watcher.last_value(base.key, "stage") not in (Stage.RUNNING, Stage.BUILD_ERROR,
                                                        Stage.RUNTIME_ERROR):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{base} never ran")
        time.sleep(0.5)
    bench.delete(base)
    watcher.spaces.discard(base)
    runs = []
    app = work / "app.py"
    text = app.read_text()
    for i in range(args.deps_rounds):
        bench.wait_settled(space, watcher)
        marker = f"{MARK}-deps-{i}-{secrets.token_hex(3)}"
        app.write_text(text.replace('"Type a name and press Submit."', repr(marker)))
        (work / "requirements.txt").write_text(
            "\n".join([*args.deps.split(), *args.extra.split(), f"# {marker}"]) + "\n")
        run = attempt(bench, space, work, marker, watcher, events)
        say(f"deps {i + 1}/{args.deps_rounds}: {run.get('total_s')} s {run.get('split', run)}")
        runs.append(run)
    return runs


def run_cold(bench: Bench, root: Path, rounds: int, watcher: Watcher,
             events: EngineEvents) -> list[dict[str, Any]]:
    runs = []
    for i in range(rounds):
        space = SpaceId("admin", f"cold-{i}-{secrets.token_hex(2)}")
        bench.create(space)
        watcher.spaces.add(space)
        work = bench.workdir(space, root)
        app = work / "app.py"
        marker = f"{MARK}-cold-{i}-{secrets.token_hex(3)}"
        app.write_text(app.read_text().replace('"Type a name and press Submit."', repr(marker)))
        try:
            run = attempt(bench, space, work, marker, watcher, events)
        finally:
            bench.delete(space)
            watcher.spaces.discard(space)
        say(f"cold {i + 1}/{rounds}: {run.get('total_s')} s {run.get('split', run)}")
        runs.append(run)
    return runs


def measure(bench: Bench, space: SpaceId, root: Path, args: argparse.Namespace,
            results: dict[str, Any]) -> None:
    """Every kind of push asked for, on the started platform, into ``results``."""
    kinds = args.kinds.split(",")
    client, settings = bench.client, bench.settings
    with (Watcher(bench.settings, bench.platform) as watcher,
          EngineEvents(client, settings.instance) as events):
        watcher.spaces.add(space)
        t0 = time.monotonic()
        deadline = t0 + args.build_timeout
        while watcher.last_value(space.key, "stage") != Stage.RUNNING:
            if time.monotonic() > deadline:
                raise TimeoutError("the demo Space never ran")
            time.sleep(1)
        results["demo_build_and_deploy_s"] = round(time.monotonic() - t0, 1)
        work = root / "hello"
        bench.git(root, "clone", "-q", bench.remote(space), str(work))
        if "code" in kinds:
            results["code"] = summarize(run_code(bench, space, work, args.rounds,
                                                 watcher, events))
            image = bench.image_id(space)
            results["import_gradio_in_image"] = bench.import_gradio(image)
        if "dev" in kinds:
            results["dev"] = summarize(run_dev(bench, space, work, args.rounds,
                                               watcher, events))
        if "deps" in kinds:
            results["deps"] = summarize(run_deps(bench, space, work, root, args,
                                                 watcher, events))
            results["deps"]["requirements"] = [*args.deps.split(), *args.extra.split()]
        if "cold" in kinds:
            results["cold"] = summarize(run_cold(bench, root, args.cold_rounds,
                                                 watcher, events))


def parse_args() -> argparse.Namespace:
    parser = parser_for(__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="code-only pushes")
    parser.add_argument("--deps-rounds", type=int, default=2)
    parser.add_argument("--cold-rounds", type=int, default=3)
    parser.add_argument("--deps", default="numpy pandas matplotlib")
    parser.add_argument("--extra", default="scipy")
    parser.add_argument("--kinds", default="code,dev,deps,cold",
                        help="dev needs a checkout with dev mode (skipped by --kinds)")
    parser.add_argument("--label", default="", help="recorded in the JSON (e.g. the commit)")
    parser.add_argument("--build-timeout", type=float, default=1200.0)
    parser.add_argument("--standby", choices=("on", "off", "both"), default="on",
                        help="the warm standby (standby_window 900 or 0); both = two "
                        "platforms, code pushes alternating (bench/push_standby.py)")
    parser.add_argument("--no-cpu-weight", action="store_true",
                        help="run Spaces outside the low-weight cgroup (a shared machine)")
    return parser.parse_args()


def main() -> int:
    from podium.services.up import start_platform

    args = parse_args()
    kinds = args.kinds.split(",")
    signal.signal(signal.SIGTERM, terminate)
    client = docker.from_env()
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    results: dict[str, Any] = {"label": args.label, "no_cpu_weight": args.no_cpu_weight,
                               "checkout_commit": commit, "load_at_start": machine_load(),
                               "kinds": kinds}
    code = 0
    with tempfile.TemporaryDirectory(prefix="podium-push-") as tmp, localhost_resolver():
        root = Path(tmp)
        # The Spaces' low CPU weight (128 against 1024) is for a host whose other load is
        # the platform; on a shared machine other jobs starve the measured app with it
        # (minutes for `import gradio` at load 30). Off: the app runs at the default weight.
        parent = "" if args.no_cpu_weight else settings_default_parent()
        if args.standby == "both":
            return compare_standby(args, client, root, results, parent)
        settings = platform_settings(
            root / "data", space_cgroup_parent=parent,
            standby_window=900 if args.standby == "on" else 0,
        )
        results["hook_process"] = hook_costs(root, 5)
        say(f"hook processes: {results['hook_process']}")
        if kinds == ["hooks"]:
            json.dump(results, sys.stdout, indent=2)
            print()
            return 0
        say(f"starting the platform ({settings.instance}, public port {settings.public_port})")
        started = start_platform(settings, demo=True, say=lambda m: say(m))
        bench: Bench | None = None
        try:
            bench = Bench(started, client, admin_token(started.settings))
            measure(bench, started.demo, root, args, results)
        except Exception as err:
            code = 1
            record_failure(results, err, settings, "podium-push-logs-")
        finally:
            if bench is not None:
                bench.close()
            stop_platform(started, client, settings)
            client.close()
    results["load_at_end"] = machine_load()
    json.dump(results, sys.stdout, indent=2)
    print()
    return code


def compare_standby(args: argparse.Namespace, client: docker.DockerClient, root: Path,
                    results: dict[str, Any], parent: str) -> int:
    from push_standby import compare

    code = 0
    try:
        compare(args, client, root, results, parent, admin_token)
    except Exception as err:
        code = 1
        results["failed"] = repr(err)[:2000]
    results["load_at_end"] = machine_load()
    json.dump(results, sys.stdout, indent=2)
    print()
    return code


def admin_token(settings: Settings) -> str:
    """A fresh API token of the platform's admin, made in its store."""
    from podium.controller.platform import Platform
    from podium.store import create_token, get_user

    platform = Platform(settings)
    try:
        with platform.db.session() as session:
            token, _ = create_token(session, get_user(session, settings.admin_user), "bench")
    finally:
        platform.close()
    return token


def settings_default_parent() -> str:
    return str(Settings.model_fields["space_cgroup_parent"].default)


if __name__ == "__main__":
    sys.exit(main())
