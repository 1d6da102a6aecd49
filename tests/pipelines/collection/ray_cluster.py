"""A real multi-node Ray cluster on this machine, for the tests: a head and worker nodes, each started by its
own `ray start` as separate processes, all inside private network, PID and mount namespaces.

Why namespaces: in the network namespace only `lo` exists, so Ray binds 127.0.0.1 and nothing leaves the
machine or meets another test's ports; in the PID namespace (with its own /proc) `ray stop --force` sees only
this cluster's processes, and killing the namespace's first process ends every process in it, so nothing
outlives the test even when it fails. Commands run in the namespaces through `nsenter`; the test reads the
namespaced processes from the host's /proc (the raylet of each node, the actors under it).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

PORT = 6380
OBJECT_STORE_BYTES = 100_000_000
"""Ray's smallest object store is 75 MB; the tests' frames need a few MB."""


def wait_for(check, what: str, timeout: float = 60.0, every: float = 0.02):
    """Polls `check` until it returns something true, failing with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


class RayCluster:
    """`start()` the namespaces and the head; `add_worker()` per worker node; `run(...)` a command there;
    `stop()` always (in a `finally`)."""

    def __init__(self, env: dict[str, str], temp: Path) -> None:
        self.env = env
        self.temp = temp
        self.workers: list[int] = []
        """Each worker node's raylet, as a host PID, in the order they were added."""
        self._holder: subprocess.Popen[bytes] | None = None
        self._init = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{PORT}"

    def start(self) -> None:
        script = "ip link set lo up && touch lo-up && exec sleep infinity"
        self._holder = subprocess.Popen(
            ["unshare", "--net", "--pid", "--fork", "--mount", "--mount-proc", "bash", "-c", script], cwd=self.temp
        )
        wait_for(lambda: (self.temp / "lo-up").exists(), "the namespaces' loopback")
        self._init = wait_for(lambda: self._child_of(self._holder.pid), "the namespaces' first process")
        # the head only drives (no CPUs for tasks or actors), so the actors run on the worker nodes a test kills
        common = ["--num-cpus", "0", "--object-store-memory", str(OBJECT_STORE_BYTES), "--disable-usage-stats"]
        self.run(["ray", "start", "--head", "--port", str(PORT), "--include-dashboard=false", *common], check=True)

    def add_worker(self, cpus: int) -> int:
        """A worker node; returns its raylet's host PID (told apart from the others' by appearing now)."""
        before = set(self.raylets())
        options = ["--num-cpus", str(cpus), "--object-store-memory", str(OBJECT_STORE_BYTES)]
        self.run(["ray", "start", "--address", self.address, *options, "--disable-usage-stats"], check=True)
        raylet = wait_for(lambda: sorted(set(self.raylets()) - before), "the new node's raylet")[0]
        self.workers.append(raylet)
        return raylet

    def run(self, args: Sequence[str], *, check: bool = False, timeout: float = 240) -> subprocess.CompletedProcess:
        return subprocess.run(
            self._enter(args), env=self.env, capture_output=True, text=True, timeout=timeout, check=check
        )

    def popen(self, args: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as handle:
            return subprocess.Popen(self._enter(args), env=self.env, stdout=handle, stderr=subprocess.STDOUT)

    def raylets(self) -> list[int]:
        return [pid for pid in self._inside() if "/raylet " in command_line(pid) + " "]

    def busy_actor_under(self, raylet: int) -> int:
        """A classifying actor on that node while it is in a call (its process title says so), or 0."""
        for pid in self._inside():
            title = command_line(pid)
            if "Classifier" in title and ".submit" in title and self._descends(pid, raylet):
                return pid
        return 0

    def stop(self) -> None:
        """`ray stop --force` inside, then the namespaces' first process: the kernel ends whatever is left."""
        try:
            if self._init:
                self.run(["ray", "stop", "--force"], timeout=60)
        finally:
            if self._init:
                os.kill(self._init, signal.SIGKILL)
            if self._holder is not None:
                self._holder.wait(timeout=30)

    def _enter(self, args: Sequence[str]) -> list[str]:
        return ["nsenter", "-t", str(self._init), "--net", "--pid", "--mount", "--", *args]

    def _inside(self) -> list[int]:
        return [pid for pid in _pids() if pid != self._init and self._descends(pid, self._init)]

    @staticmethod
    def _descends(pid: int, ancestor: int) -> bool:
        while pid > 1:
            pid = _parent(pid)
            if pid == ancestor:
                return True
        return False

    @staticmethod
    def _child_of(pid: int) -> int:
        return next((child for child in _pids() if _parent(child) == pid), 0)
