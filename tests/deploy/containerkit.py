"""Running the service image: one container at a time, on a test network, its port published on loopback."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from deploykit import load_yaml
from enginekit import Engine

PORT = 8000
HEALTHY_SECONDS = 120
NETWORK = "motivnet-image-test"


def cpu_environment() -> dict[str, str]:
    """The settings docker-compose.cpu.yml gives the service: the bundled CPU model, float32."""
    return dict(load_yaml("docker-compose.cpu.yml")["services"]["motivnet"]["environment"])


@dataclass(frozen=True)
class Container:
    engine: Engine
    id: str

    def inspect(self) -> dict:
        return json.loads(self.engine.out("inspect", self.id))[0]

    def logs(self) -> str:
        done = self.engine.run("logs", self.id, check=False)
        return done.stdout + done.stderr

    @property
    def url(self) -> str:
        (binding,) = self.inspect()["NetworkSettings"]["Ports"][f"{PORT}/tcp"]
        return f"http://127.0.0.1:{binding['HostPort']}"

    def process_uid(self) -> int:
        """The real uid of the container's main process, read from its /proc/1/status."""
        status = self.engine.out("exec", self.id, "cat", "/proc/1/status")
        (uid_line,) = [line for line in status.splitlines() if line.startswith("Uid:")]
        return int(uid_line.split()[1])

    def wait_ready(self, seconds: float = HEALTHY_SECONDS) -> None:
        """Until GET /health/ready answers 200 (polled far more often than Docker's probe runs)."""
        deadline = time.monotonic() + seconds
        while not self._ready():
            if not self.inspect()["State"]["Running"] or time.monotonic() > deadline:
                raise AssertionError(f"never ready:\n{self.logs()}")
            time.sleep(0.1)

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health/ready", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    def wait_healthy(self, seconds: float = HEALTHY_SECONDS) -> float:
        """Seconds until Docker's own health status is `healthy`; fails on `unhealthy` or an exit."""
        start, deadline = time.monotonic(), time.monotonic() + seconds
        while True:
            state = self.inspect()["State"]
            status = state.get("Health", {}).get("Status")
            if status == "healthy":
                return time.monotonic() - start
            if status == "unhealthy" or not state["Running"] or time.monotonic() > deadline:
                raise AssertionError(f"container {status or state['Status']}:\n{self.logs()}")
            time.sleep(0.5)


@contextlib.contextmanager
def running(engine: Engine, image: str, name: str, env: dict[str, str]) -> Iterator[Container]:
    """`docker run -d` with `env`, port 8000 published on a free loopback port; removed afterwards."""
    engine.run("rm", "--force", name, check=False)
    argv = ["run", "--detach", "--name", name, "--network", NETWORK, "--publish", f"127.0.0.1::{PORT}"]
    for key, value in env.items():
        argv += ["--env", f"{key}={value}"]
    container = Container(engine, engine.out(*argv, image))
    try:
        yield container
    finally:
        engine.run("rm", "--force", container.id, check=False)


@contextlib.contextmanager
def own_network(engine: Engine) -> Iterator[str]:
    """A bridge network of our own (the daemon may have no default bridge)."""
    engine.run("network", "rm", NETWORK, check=False)
    engine.run("network", "create", NETWORK)
    try:
        yield NETWORK
    finally:
        engine.run("network", "rm", NETWORK, check=False)


def metric(url: str, name: str) -> float:
    """One unlabelled sample of the service's /metrics."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    (line,) = [line for line in text.splitlines() if line.startswith(f"{name} ")]
    return float(line.split()[1])


def post_photo(url: str, photo: Path, timeout: float = 60) -> httpx.Response:
    files = [("file", (photo.name, photo.read_bytes(), "image/jpeg"))]
    return httpx.post(f"{url}/predict", files=files, timeout=timeout)
