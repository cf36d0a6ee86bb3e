"""Build one commit of a Space into an image: load its config, pick a build pack, render the
Dockerfile, stream the engine's build with phases, and explain failures."""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import docker

from podium.builder import constraints, incremental, wheelhouse
from podium.builder.context import prepare_own_context, prepare_sdk_context, repo_files
from podium.builder.engine import BuildStream, build_limits, stream_build
from podium.builder.packs import PACKS, BuildPack, RenderContext, pick_pack
from podium.builder.packs.base import (
    BUILD_DIR,
    IMAGE_FILES,
    PACKAGES_FILE,
    PRE_REQUIREMENTS_FILE,
    REQUIREMENTS_FILE,
)
from podium.builder.progress import PhaseTracker, failure_reason, step_phases
from podium.builder.sdk import SdkChoice, choose_sdk
from podium.config import Settings
from podium.errors import BuildError, ServiceUnavailable
from podium.names import SpaceId
from podium.resources import runners_dir
from podium.spaces.config import SpaceConfig, load_space_config
from podium.spaces.stage import BuildPhase, Sdk

# Image tags are the commit's first 12 hex digits: unique in practice, short in listings.
COMMIT_TAG_LEN = 12

BuildLog = Callable[[BuildPhase, str], None]


@dataclass(frozen=True)
class BuiltImage:
    ref: str
    image_id: str
    sdk: Sdk
    app_port: int
    duration_s: float
    cached_layers: int


def _phased(tracker: PhaseTracker, log: BuildLog) -> Callable[[str], None]:
    """The engine's output lines into the log, each under the phase its step belongs to,
    with a marker line where a new phase begins."""

    def on_line(line: str) -> None:
        if tracker.feed(line):
            log(tracker.phase, f"--- {tracker.phase.value} ---")
        log(tracker.phase, line)

    return on_line


def build_space_image(
    settings: Settings, client: docker.DockerClient, space_id: SpaceId, source_dir: Path,
    commit: str, log: BuildLog, *, no_cache: bool = False,
    cancel: threading.Event | None = None,
) -> BuiltImage:
    """Build ``source_dir`` (a checkout of ``commit``) as ``space_id.image_ref(commit[:12])``.

    Raises ConfigError/NoAppFile for a bad README, BuildError (BuildCancelled,
    BuildTimeout) for a failed build, ServiceUnavailable when the engine or the base
    image is missing. Every output line has gone through ``log`` before it returns.
    """
    started = time.monotonic()
    config = _read_config(settings, source_dir, commit, log)
    files = repo_files(source_dir)
    pack = pick_pack(config, files)
    runners = runners_dir(settings)
    sdk = choose_sdk(pack, config, runners, source_dir, log)
    if not pack.own_context:
        _require_base_image(client, settings.base_image)
    ref = space_id.image_ref(commit[:COMMIT_TAG_LEN])
    render_ctx = _render_context(settings, space_id, commit, config, files, pack, sdk,
                                 source_dir)
    render_ctx, wheels, deps = _dependencies(settings, client, space_id, pack, sdk,
                                             source_dir, render_ctx, log, fresh=no_cache)
    dockerfile = pack.render(render_ctx)
    tmp_root = settings.data_dir / "tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tmp_root, prefix="build-") as tmp:
        context_dir = Path(tmp)
        log(BuildPhase.CLONE, f"preparing the build context ({len(files)} files, "
            f"{pack.sdk.value} build pack)")
        dockerfile_path = _write_context(
            settings, pack, source_dir, context_dir, dockerfile, runners, sdk,
        )
        if wheels.uv is not None:
            _stage_dependencies(settings, wheels, deps, context_dir / BUILD_DIR / "deps")
        tracker = PhaseTracker(step_phases(dockerfile))
        log(BuildPhase.CLONE, f"building {ref}")
        result = stream_build(
            client, on_line=_phased(tracker, log), timeout=settings.build_timeout, cancel=cancel,
            path=str(context_dir), dockerfile=dockerfile_path, tag=ref, nocache=no_cache,
            buildargs=_build_args(settings), container_limits=build_limits(settings),
            # The caller made this bridge and put it behind the host firewall: RUN steps
            # reach the internet (the package index), not this host's own ports.
            network_mode=settings.build_network,
            # SDK packs write the labels into their Dockerfile (one step); a Space's own
            # Dockerfile gets them from the API, which appends one LABEL step per label.
            labels=render_ctx.labels if pack.own_context else None,
        )
    image_id = _image_or_failure(result, tracker, log)
    duration = time.monotonic() - started
    log(BuildPhase.EXPORT, f"built {ref} in {duration:.1f} s "
        f"({tracker.cached_layers} layers from cache)")
    return BuiltImage(
        ref=ref, image_id=image_id, sdk=pack.sdk, app_port=config.app_port,
        duration_s=duration, cached_layers=tracker.cached_layers,
    )


def _render_context(
    settings: Settings, space_id: SpaceId, commit: str, config: SpaceConfig,
    files: frozenset[str], pack: BuildPack, sdk: SdkChoice, source_dir: Path,
) -> RenderContext:
    """Everything the pack's Dockerfile template is rendered from, but the dependency
    cache's and the incremental layer's part (:func:`_with_dependencies`)."""
    return RenderContext(
        config=config, files=files, runners=runners_dir(settings),
        base_image=settings.base_image, sdk_version=sdk.version,
        has_ca_bundle=_ca_bundle(settings) is not None, index_url=bool(settings.index_url),
        extra_index_url=bool(settings.extra_index_url), source_dir=source_dir,
        rewritten=frozenset(sdk.rewritten),
        labels=_labels(space_id, commit, pack.sdk, sdk.version, config.app_port),
        egress_allow=settings.egress_allow,
    )


def _requirements(pack: BuildPack, files: frozenset[str], source_dir: Path,
                  sdk: SdkChoice, name: str = REQUIREMENTS_FILE) -> bytes | None:
    """A dependency file as the build installs it (sdk.py's rewrite, else the Space's)."""
    if name not in files:
        return None
    return sdk.rewritten.get(name) or (source_dir / name).read_bytes()


def _dependencies(
    settings: Settings, client: docker.DockerClient, space_id: SpaceId, pack: BuildPack,
    sdk: SdkChoice, source_dir: Path, ctx: RenderContext, log: BuildLog, *, fresh: bool,
) -> tuple[RenderContext, wheelhouse.Wheels, incremental.Plan | None]:
    """The dependency steps' path (said in one log line), the cache's wheels for it, and
    the render context with both. ``fresh`` (a factory rebuild, without the engine's
    cache) always installs in full."""
    deps = _dependency_plan(settings, client, space_id, pack, sdk, source_dir, ctx, fresh)
    if deps is not None:
        log(BuildPhase.CLONE, f"dependencies: {deps.note}")
    wheels = _cached_wheels(settings, client, pack, ctx.files, source_dir, sdk, deps, log)
    return _with_dependencies(settings, ctx, wheels, deps), wheels, deps


def _dependency_plan(
    settings: Settings, client: docker.DockerClient, space_id: SpaceId, pack: BuildPack,
    sdk: SdkChoice, source_dir: Path, ctx: RenderContext, fresh: bool,
) -> incremental.Plan | None:
    """Which path the dependency steps take (builder/incremental.py), for SDK packs. The
    key is taken from the steps as a requirements file would be installed, whether or not
    this commit has one (a first requirements.txt then builds on the layer without)."""
    if not pack.installs_sdk:
        return None
    probe = replace(ctx, files=ctx.files | {REQUIREMENTS_FILE},
                    wheels=settings.dependency_cache)
    inputs = dict(_extra_files(settings, pack, ctx.runners, sdk.version))
    for name in (PACKAGES_FILE, PRE_REQUIREMENTS_FILE):
        data = _requirements(pack, ctx.files, source_dir, sdk, name)
        if data is not None:
            inputs[name] = data
    inputs["uv"] = wheelhouse.UV_REQUIREMENT.encode()
    key = incremental.dependency_key(
        client.images.get(settings.base_image).id, pack.render(probe), inputs,
        (settings.index_url or "", settings.extra_index_url or ""))
    raw = _requirements(pack, ctx.files, source_dir, sdk) or b""
    return incremental.plan(client, space_id, pack.sdk.value, key,
                            raw.decode(errors="replace"), settings.incremental_dependencies,
                            fresh=fresh)


def _with_dependencies(
    settings: Settings, ctx: RenderContext, wheels: wheelhouse.Wheels,
    deps: incremental.Plan | None,
) -> RenderContext:
    """The context with the dependency cache's wheels and the incremental layer's path."""
    ctx = replace(ctx, wheels=wheels.uv is not None)
    if deps is None:
        return ctx
    record = deps.record(tuple(p.name for p in wheels.files), uv=wheels.uv is not None)
    label = record.encode() if record and settings.incremental_dependencies > 0 else ""
    if deps.base is None:
        return replace(ctx, deps_label=label)
    return replace(ctx, deps_from=deps.base, deps_install=not deps.reuse,
                   deps_label="" if deps.reuse else label)


def _stage_dependencies(
    settings: Settings, wheels: wheelhouse.Wheels, deps: incremental.Plan | None,
    dest: Path,
) -> None:
    """What the template's one wheels COPY takes: the wheels, and uv unless the layer this
    build stands on already holds it."""
    held = deps is not None and deps.base is not None and deps.previous is not None \
        and deps.previous.uv
    wheelhouse.stage(settings, wheels, dest, uv=not held)


def _cached_wheels(
    settings: Settings, client: docker.DockerClient, pack: BuildPack, files: frozenset[str],
    source_dir: Path, sdk: SdkChoice, deps: incremental.Plan | None, log: BuildLog,
) -> wheelhouse.Wheels:
    """The wheels of the Space's requirements from the shared dependency cache (filled
    first by a platform step: builder/wheelhouse.py), if it is on and they have any. On
    the incremental path only the added lines are filled (what the previous layer installed
    is not resolved again) and wheels that layer already holds are left out."""
    raw = _requirements(pack, files, source_dir, sdk)
    if not (settings.dependency_cache and pack.installs_sdk and raw is not None):
        return wheelhouse.Wheels((), None)
    if deps is not None and deps.reuse:
        return wheelhouse.Wheels((), None)
    text = raw.decode(errors="replace")
    if deps is not None and deps.added:
        text = "\n".join(deps.added) + "\n"
    chosen = constraints.select(runners_dir(settings), pack.sdk, sdk.version)
    wheels = wheelhouse.fill(settings, client, text, chosen.text(),
                             lambda line: log(BuildPhase.CLONE, line))
    if deps is not None and deps.previous is not None and deps.added:
        held = set(deps.previous.wheels)
        wheels = wheelhouse.Wheels(tuple(p for p in wheels.files if p.name not in held),
                                   wheels.uv)
    return wheels


def _read_config(
    settings: Settings, source_dir: Path, commit: str, log: BuildLog,
) -> SpaceConfig:
    """The Space's README configuration, its warnings said in the build log."""
    log(BuildPhase.CLONE, f"reading the Space's configuration at {commit[:COMMIT_TAG_LEN]}")
    config = load_space_config(source_dir, PACKS)
    for warning in config.warnings:
        log(BuildPhase.CLONE, f"warning: {warning}")
    asked = config.requested_startup_timeout
    if asked is not None and settings.startup_timeout_for(asked) < asked:
        log(BuildPhase.CLONE, f"warning: startup_duration_timeout is {asked}s but this "
            f"platform allows at most {settings.max_startup_timeout}s: the app gets that long "
            "to start")
    return config


def _write_context(
    settings: Settings, pack: BuildPack, source_dir: Path, context_dir: Path,
    dockerfile: str, runners: Path, sdk: SdkChoice,
) -> str:
    """Fill ``context_dir`` for ``pack``; returns the Dockerfile's path inside it."""
    if pack.own_context:
        return prepare_own_context(source_dir, context_dir)
    return prepare_sdk_context(
        source_dir, context_dir, dockerfile=dockerfile,
        extra=_extra_files(settings, pack, runners, sdk.version) | sdk.rewritten,
    )


def _image_or_failure(result: BuildStream, tracker: PhaseTracker, log: BuildLog) -> str:
    """The built image's id, or BuildError with the failing step's explanation."""
    if result.error or not result.image_id:
        reason = failure_reason(
            tracker.instruction, tracker.step_lines, result.error or "no image was produced",
        )
        log(tracker.phase, f"build failed: {reason}")
        raise BuildError(reason, hint=_hint(reason))
    return result.image_id


def _require_base_image(client: docker.DockerClient, ref: str) -> None:
    try:
        client.images.get(ref)
    except docker.errors.ImageNotFound:
        raise ServiceUnavailable(
            f"the base image {ref} does not exist on this Docker engine",
            hint="run `podium base-image build` (./dev up does it)",
        ) from None


def _ca_bundle(settings: Settings) -> Path | None:
    bundle = settings.ca_bundle
    if bundle is None:
        return None
    if not bundle.is_file():
        raise ServiceUnavailable(f"PODIUM_CA_BUNDLE {bundle} is not a file",
                                 hint="point it at a PEM bundle or unset it")
    return bundle


def _extra_files(
    settings: Settings, pack: BuildPack, runners: Path, sdk_version: str,
) -> dict[str, bytes]:
    extra: dict[str, bytes] = {}
    bundle = _ca_bundle(settings)
    if bundle is not None:
        extra["ca.crt"] = bundle.read_bytes()
    if pack.installs_sdk:
        chosen = constraints.select(runners, pack.sdk, sdk_version)
        extra["sdk.txt"] = chosen.sdk_requirements().encode()
        extra["constraints.txt"] = chosen.text().encode()
    # Files the SDK's runner adds to the image (runners/<sdk>/image/, e.g. what keeps
    # Gradio's pages from calling huggingface.co); its Dockerfile template copies them.
    image_files = runners / pack.sdk.value / IMAGE_FILES
    if image_files.is_dir():
        for path in sorted(image_files.iterdir()):
            if path.is_file():
                extra[f"{IMAGE_FILES}/{path.name}"] = path.read_bytes()
    return extra


def _build_args(settings: Settings) -> dict[str, str]:
    args = {}
    if settings.index_url:
        args["PIP_INDEX_URL"] = settings.index_url
    if settings.extra_index_url:
        args["PIP_EXTRA_INDEX_URL"] = settings.extra_index_url
    return args


def _labels(
    space_id: SpaceId, commit: str, sdk: Sdk, sdk_version: str, app_port: int,
) -> dict[str, str]:
    return {
        "podium.space": str(space_id), "podium.commit": commit, "podium.sdk": sdk.value,
        "podium.sdk_version": sdk_version, "podium.app_port": str(app_port),
    }


def _hint(reason: str) -> str | None:
    if "from requirements.txt" in reason or "from pre-requirements.txt" in reason:
        return "fix the named line in requirements.txt (check the package name and version)"
    if "from packages.txt" in reason:
        return "packages.txt lists Debian bookworm package names, one per line"
    if "sdk_version" in reason or "conflicting" in reason:
        return ("set sdk_version in README.md to the SDK version your requirements need "
                "(or pin it there as gradio==X / streamlit==X and leave sdk_version out), "
                "or loosen the conflicting pins")
    return None
