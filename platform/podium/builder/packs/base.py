"""The build pack contract, in the manner of repo2docker (buildpacks/base.py): ``detect``
finds the app a pack would serve in a repository without front matter, ``accepts`` says
whether a pack builds a Space whose config names its SDK, ``render`` returns the Dockerfile
text for it."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import jinja2

from podium.spaces.detect import Repo
from podium.spaces.stage import Sdk

# Inside the build context: the Space's files go under APP_DIR, the files Podium adds
# (rendered Dockerfile, CA bundle, constraints) under BUILD_DIR, so neither can clobber
# the other and the code COPY never picks up Podium's files.
APP_DIR = "app"
BUILD_DIR = ".podium"
# runners/<sdk>/IMAGE_FILES/ holds files a runner adds to the image; they reach the
# context as BUILD_DIR/IMAGE_FILES/.
IMAGE_FILES = "image"
# Files a Space may add that install things, in the order they are installed.
PACKAGES_FILE = "packages.txt"
PRE_REQUIREMENTS_FILE = "pre-requirements.txt"
REQUIREMENTS_FILE = "requirements.txt"


class SpaceConfigLike(Protocol):
    """What packs read from podium.spaces.config.SpaceConfig."""

    @property
    def sdk(self) -> Sdk: ...
    @property
    def sdk_version(self) -> str | None: ...
    @property
    def app_file(self) -> str: ...
    @property
    def app_port(self) -> int: ...


@dataclass(frozen=True)
class RenderContext:
    """Everything a pack needs to write a Dockerfile; built by podium.builder.build."""

    config: SpaceConfigLike
    files: frozenset[str]
    runners: Path
    base_image: str
    sdk_version: str = ""
    has_ca_bundle: bool = False
    index_url: bool = False
    extra_index_url: bool = False
    # The checkout, for packs that read a file from it (the docker pack's Dockerfile).
    source_dir: Path | None = None
    # Dependency files Podium rewrote into BUILD_DIR (podium.builder.sdk drops lines that
    # contradict sdk_version); the Dockerfile copies those instead of the Space's.
    rewritten: frozenset[str] = frozenset()
    # podium.space, podium.commit, ... put on the image's last layer.
    labels: dict[str, str] = field(default_factory=dict)
    # Settings.egress_allow: registries on private networks an admin opened (docker pack).
    egress_allow: str = ""
    # BUILD_DIR/deps holds wheels/ (the requirements' wheels from the shared dependency
    # cache) and uv, which installs them without the index (builder/wheelhouse.py); uv is
    # left out when the layer built on holds it.
    wheels: bool = False
    # The incremental dependency layer (builder/incremental.py): the image id of this
    # Space's previous dependency layer to build on (None: from the base image), whether
    # the install step runs on it (False: requirements unchanged, it is reused as it is),
    # and the podium.deps label the dependency steps end with ("" = none).
    deps_from: str | None = None
    deps_install: bool = True
    deps_label: str = ""

    def has(self, name: str) -> bool:
        return name in self.files


class BuildPack:
    """Base class. Subclasses set ``sdk`` and usually only the template name."""

    sdk: Sdk
    # Jinja template under runners/, None for packs that do not render one.
    template: str | None = None
    # Whether this pack installs an SDK from PyPI pinned to sdk_version.
    installs_sdk: bool = False
    # Whether the build context is the repository itself (else APP_DIR + BUILD_DIR).
    own_context: bool = False
    # The module a Python SDK's app imports: how ``detect`` recognises its app file.
    imports: str | None = None

    def detect(self, repo: Repo) -> str | None:
        """The app file of a repository without front matter, if this pack serves it: for
        a Python SDK, the repository's entry file when it imports this SDK."""
        entry = repo.python_entry() if self.imports else None
        return entry[0] if entry is not None and entry[1] == self.imports else None

    def accepts(self, config: SpaceConfigLike, files: Collection[str]) -> bool:
        return config.sdk == self.sdk

    def render(self, context: RenderContext) -> str:
        if self.template is None:
            raise NotImplementedError(f"{type(self).__name__} has no template")
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(context.runners)),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
            autoescape=False,  # noqa: S701 - Dockerfile text, values go through tojson
        )
        config = context.config
        return env.get_template(self.template).render(
            ctx=context,
            sdk=self.sdk.value,
            sdk_version=context.sdk_version,
            app_file=config.app_file,
            app_dir=_app_dir(config.app_file),
            app_port=config.app_port,
            app_root=f"/home/user/{APP_DIR}",
            build_dir=BUILD_DIR,
            image_files=f"{BUILD_DIR}/{IMAGE_FILES}",
            src=APP_DIR,
            packages=context.has(PACKAGES_FILE),
            pre_requirements=context.has(PRE_REQUIREMENTS_FILE),
            requirements=context.has(REQUIREMENTS_FILE),
            # Where each dependency file is copied from: the Space's, or Podium's rewrite.
            from_dir={name: BUILD_DIR if name in context.rewritten else APP_DIR
                      for name in (PRE_REQUIREMENTS_FILE, REQUIREMENTS_FILE)},
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} sdk={self.sdk.value}>"


def _app_dir(app_file: str) -> str:
    parent = str(Path(app_file).parent)
    return "" if parent == "." else parent
