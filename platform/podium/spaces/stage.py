"""Space runtime stages, named as Hugging Face Spaces names them. Shared by the store, API,
logs and dashboard."""

from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    NO_APP_FILE = "NO_APP_FILE"
    CONFIG_ERROR = "CONFIG_ERROR"
    BUILDING = "BUILDING"
    BUILD_ERROR = "BUILD_ERROR"
    APP_STARTING = "APP_STARTING"
    RUNNING = "RUNNING"
    RUNNING_BUILDING = "RUNNING_BUILDING"
    RUNNING_APP_STARTING = "RUNNING_APP_STARTING"
    RUNTIME_ERROR = "RUNTIME_ERROR"
    SLEEPING = "SLEEPING"
    PAUSED = "PAUSED"
    STOPPED = "STOPPED"
    DELETING = "DELETING"

    @property
    def is_serving(self) -> bool:
        """A version of the app answers requests in this stage."""
        return self in {Stage.RUNNING, Stage.RUNNING_BUILDING, Stage.RUNNING_APP_STARTING}

    @property
    def is_error(self) -> bool:
        return self in {
            Stage.NO_APP_FILE, Stage.CONFIG_ERROR, Stage.BUILD_ERROR, Stage.RUNTIME_ERROR,
        }


class BuildStatus(StrEnum):
    QUEUED = "QUEUED"
    BUILDING = "BUILDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    SUPERSEDED = "SUPERSEDED"
    CANCELLED = "CANCELLED"

    @property
    def is_final(self) -> bool:
        return self not in {BuildStatus.QUEUED, BuildStatus.BUILDING}


class BuildPhase(StrEnum):
    """Phases a build log line belongs to, in order. ``launching`` is the deploy's (written
    by the scheduler process once the image is built): the stream follows a push until its
    app answers (``ready``) or fails to start."""

    CLONE = "clone"
    DEPENDENCIES = "dependencies"
    SDK = "sdk"
    CODE = "code"
    EXPORT = "export"
    LAUNCHING = "launching"


class Sdk(StrEnum):
    GRADIO = "gradio"
    STREAMLIT = "streamlit"
    DOCKER = "docker"
    STATIC = "static"
