"""A ``docker-registry`` child process (Debian's package of distribution 2.8) with its blobs
in the data dir, for a single-manager cluster where no registry exists yet."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

import jinja2

from podium.children import die_with_parent, end
from podium.errors import ServiceUnavailable

_TEMPLATE = Path(__file__).with_name("config.yml.j2")


class RegistryServer:
    """Serves the registry API over plain HTTP on each of ``addresses`` ("host:port"): one
    process per address over the same storage, as distribution scales out. Nodes list the
    cluster address as an insecure registry, while the build host pushes through a loopback
    address, which Docker treats as insecure by default, so its engine's configuration stays
    as it is (README "Run on a cluster" says when to put TLS in front instead)."""

    def __init__(self, root: Path, addresses: list[str], *, outlive_parent: bool = False):
        self.root = root
        self.addresses = addresses
        # A registry started by a command that returns (./dev cluster up) must not get the
        # SIGTERM its children are otherwise sent when their parent dies.
        self.outlive_parent = outlive_parent
        self.processes: list[subprocess.Popen[bytes]] = []

    def render(self, index: int, address: str) -> Path:
        text = jinja2.Template(_TEMPLATE.read_text()).render(
            root=self.root / "storage", addr=address,
        )
        config = self.root / f"config-{index}.yml"
        config.write_text(text)
        return config

    def start(self, timeout: float = 15.0) -> list[str]:
        binary = shutil.which("docker-registry")
        if binary is None:
            raise ServiceUnavailable(
                "docker-registry is not installed",
                hint="apt-get install docker-registry, or set PODIUM_REGISTRY",
            )
        self.root.mkdir(parents=True, exist_ok=True)
        log = (self.root / "registry.log").open("ab")
        for index, address in enumerate(self.addresses):
            self.processes.append(subprocess.Popen(
                [binary, "serve", str(self.render(index, address))], stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=None if self.outlive_parent else die_with_parent(),
                start_new_session=self.outlive_parent,
            ))
        deadline = time.monotonic() + timeout
        waiting = list(zip(self.addresses, self.processes, strict=True))
        while waiting and time.monotonic() < deadline:
            if any(process.poll() is not None for _, process in waiting):
                self.stop()
                raise ServiceUnavailable(
                    f"docker-registry exited at start; see {self.root / 'registry.log'}")
            waiting = [(a, p) for a, p in waiting if not answers(a)]
            time.sleep(0.05)
        if waiting:
            self.stop()
            raise ServiceUnavailable(f"docker-registry did not answer on {waiting[0][0]}")
        return self.addresses

    def stop(self) -> None:
        for process in self.processes:
            end(process)
        self.processes = []

    def __enter__(self) -> RegistryServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def answers(address: str) -> bool:
    """Does a registry answer the API's version check at ``address``?"""
    try:
        with urllib.request.urlopen(f"http://{address}/v2/", timeout=1) as reply:
            return bool(reply.status == 200)
    except (urllib.error.URLError, OSError):
        return False
