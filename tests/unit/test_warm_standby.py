"""When a deploy runs in the Space's warm standby (scheduler/warm.py), with fakes for the
backend and the records: only a standby still alive whose fingerprint equals the new spec's
(only the code layer changed) serves; anything else drops it and starts a new container,
saying which path in one line. The engine side is tested for real in
tests/e2e/test_dev_mode.py."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from podium.config import Settings
from podium.errors import ServiceUnavailable
from podium.names import SpaceId
from podium.scheduler import warm
from podium.scheduler.base import Instance
from podium.scheduler.records import Desired, SpaceRecord
from podium.scheduler.spec import RunSpec
from podium.scheduler.standby import supported_cmd

SPACE = SpaceId("alice", "demo")


def standby(fit: str = "fit-1", *, frozen: bool = True) -> Instance:
    return Instance(id="sb", name="podium-alice--demo-standby-abc", space=str(SPACE),
                    space_key=SPACE.key, commit="", app_port=7860, sdk="gradio", created=1.0,
                    running=not frozen, frozen=frozen, standby=fit)


def spec(sdk: str = "gradio", **env: str) -> RunSpec:
    return RunSpec(space_id=SPACE, image="img:new", app_port=7860, sdk=sdk, commit="c" * 40,
                   env=dict(env))


@dataclass
class FakeBackend:
    fit: str | None = "fit-1"
    waiting: Instance | None = None
    can_standby: bool = True
    promote_fails: bool = False
    removed: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)

    def refresh(self, instance_id: str) -> Instance | None:
        return self.waiting if self.waiting and self.waiting.id == instance_id else None

    def standby_fit(self, _spec: RunSpec) -> str | None:
        return self.fit

    def remove(self, instance: Instance) -> None:
        self.removed.append(instance.id)

    def start(self, _spec: RunSpec) -> Instance:
        self.calls.append("start")
        return standby("", frozen=False)

    def promote_standby(self, instance: Instance, _spec: RunSpec) -> Instance:
        self.calls.append("promote")
        if self.promote_fails:
            raise ServiceUnavailable("the engine refused the code")
        return instance


@dataclass
class FakeRecords:
    note: str | None = None

    def take_standby(self, _key: str) -> str | None:
        note, self.note = self.note, None
        return note


@dataclass
class FakeScheduler:
    backend: FakeBackend
    records: FakeRecords
    settings: Settings = field(default_factory=lambda: Settings(standby_window=600))

    @contextmanager
    def locked(self, _key: str, wait: float | None = None) -> Iterator[bool]:
        yield True


def deploy_with(backend: FakeBackend, note: str | None) -> tuple[list[str], FakeBackend]:
    lines: list[str] = []
    sched = FakeScheduler(backend, FakeRecords(note))
    warm.choose_start(sched, spec(), lines.append)(spec())  # type: ignore[arg-type]
    return lines, backend


def test_a_code_only_change_runs_in_the_waiting_standby() -> None:
    lines, backend = deploy_with(FakeBackend(waiting=standby()), "sb")
    assert lines == [warm.PATH_STANDBY]
    assert backend.calls == ["promote"] and backend.removed == []


def test_changed_dependencies_or_settings_drop_the_standby_for_a_new_container() -> None:
    lines, backend = deploy_with(FakeBackend(fit="fit-2", waiting=standby("fit-1")), "sb")
    assert lines == [f"{warm.PATH_NEW} (dependencies, image settings, variables, secrets "
                     "or limits changed)"]
    assert backend.calls == ["start"] and backend.removed == ["sb"]


def test_no_standby_a_dead_one_or_an_sdk_without_one_take_the_normal_path() -> None:
    lines, backend = deploy_with(FakeBackend(waiting=None), None)
    assert lines == [f"{warm.PATH_NEW} (no warm standby waiting)"]
    dead = standby()
    dead.frozen = False  # exited: neither running nor frozen
    lines, backend = deploy_with(FakeBackend(waiting=dead), "sb")
    assert lines == [f"{warm.PATH_NEW} (the warm standby is gone)"]
    assert backend.removed == ["sb"]
    lines, backend = deploy_with(FakeBackend(fit=None, waiting=standby()), "sb")
    assert lines == [f"{warm.PATH_NEW} (no warm standby for this SDK or command)"]
    assert backend.calls == ["start"]


def test_a_backend_without_standby_or_the_setting_off_always_starts_new() -> None:
    lines, backend = deploy_with(FakeBackend(can_standby=False, waiting=standby()), "sb")
    assert lines == [warm.PATH_NEW] and backend.calls == ["start"]
    sched = FakeScheduler(FakeBackend(waiting=standby()), FakeRecords("sb"),
                          Settings(standby_window=0))
    assert not warm.enabled(sched)  # type: ignore[arg-type]


def test_a_standby_that_fails_to_take_the_code_falls_back_to_a_new_container() -> None:
    lines, backend = deploy_with(FakeBackend(waiting=standby(), promote_fails=True), "sb")
    assert backend.calls == ["promote", "start"] and backend.removed == ["sb"]


def test_only_a_space_pushed_again_within_the_window_and_not_in_dev_mode_gets_one() -> None:
    sched = FakeScheduler(FakeBackend(), FakeRecords())
    now = 10_000.0
    recent = SpaceRecord(spec(), Desired.RUNNING, "old", now - 60)
    stale = SpaceRecord(spec(), Desired.RUNNING, "old", now - 3600)
    assert warm.wanted(sched, spec(), recent, now)  # type: ignore[arg-type]
    assert not warm.wanted(sched, spec(), None, now)  # type: ignore[arg-type]  # first push
    assert not warm.wanted(sched, spec(), stale, now)  # type: ignore[arg-type]
    dev = spec(GRADIO_WATCH_DIRS="/home/user/app")
    assert not warm.wanted(sched, dev, recent, now)  # type: ignore[arg-type]
    assert not warm.wanted(sched, spec("docker"), recent, now)  # type: ignore[arg-type]


def test_the_runner_runs_only_the_commands_it_can_run_warm() -> None:
    assert supported_cmd(["python", "app.py"], None)
    assert supported_cmd(["streamlit", "run", "app.py", "--server.port", "8501"], None)
    assert not supported_cmd(["python", "app.py"], ["/entrypoint.sh"])
    assert not supported_cmd(["uvicorn", "main:app"], None)
    assert not supported_cmd(None, None)


@dataclass
class FakeImage:
    attrs: dict


@dataclass
class FakeVolumes:
    def source(self, _spec: RunSpec, _image: FakeImage) -> str:
        return "/srv/data/alice--demo"


@dataclass
class FakeDocker:
    """What ``standby.fingerprint`` reads of a DockerBackend: the image and run options."""

    images: dict[str, FakeImage]
    volumes: FakeVolumes = field(default_factory=FakeVolumes)

    def _image(self, ref: str) -> FakeImage:
        return self.images[ref]

    def _run_options(self, spec: RunSpec, _image: FakeImage, data: str) -> dict:
        return {"environment": spec.container_env(), "mem_limit": spec.memory,
                "volumes": {data: "/data"}, "labels": {"podium.commit": spec.commit},
                "log_config": object()}


def image(layers: list[str], cmd: list[str] | None = None, commit: str = "a") -> FakeImage:
    return FakeImage({"Config": {"Cmd": cmd or ["python", "app.py"], "Env": ["HOME=/h"],
                                 "WorkingDir": "/home/user/app",
                                 "Labels": {"org.opencontainers.image.revision": commit}},
                      "RootFS": {"Layers": layers}})


def test_the_fingerprint_changes_with_anything_but_the_code_layer_and_the_commit() -> None:
    from podium.scheduler.standby import fingerprint

    engine = FakeDocker({
        "old": image(["base", "sdk", "code-1"], commit="a"),
        "code": image(["base", "sdk", "code-2"], commit="b"),
        "deps": image(["base", "sdk+scipy", "code-2"]),
        "cmd": image(["base", "sdk", "code-2"], ["python", "other.py"]),
    })

    def fit(ref: str, **changes: object) -> str | None:
        run = spec()
        run.image = ref
        for key, value in changes.items():
            setattr(run, key, value)
        return fingerprint(engine, run)  # type: ignore[arg-type]

    assert fit("old") == fit("code", commit="d" * 40)  # a code-only push
    assert fit("old") != fit("deps")
    assert fit("old") != fit("cmd")
    assert fit("old") != fit("code", secrets={"TOKEN": "new"})  # never stale secrets
    assert fit("old") != fit("code", env={"A_VARIABLE": "1"})
    assert fit("old") != fit("code", memory="4g")
    assert fit("old", sdk="docker") is None


def test_the_sweep_removes_only_standbys_no_note_or_record_names() -> None:
    waiting, orphan, promoted = standby(), standby(), standby(frozen=False)
    waiting.id, orphan.id, promoted.id = "waiting", "orphan", "promoted"

    @dataclass
    class Records(FakeRecords):
        def standby(self, _key: str) -> str | None:
            return "waiting"

        def get(self, _key: str) -> SpaceRecord:
            return SpaceRecord(spec(), Desired.RUNNING, "promoted", 1.0)

    backend = FakeBackend()
    backend.standby_instances = lambda: [waiting, orphan, promoted]  # type: ignore[attr-defined]
    sched = FakeScheduler(backend, Records())
    assert warm.sweep(sched) == [SPACE.key]  # type: ignore[arg-type]
    assert backend.removed == ["orphan"]
