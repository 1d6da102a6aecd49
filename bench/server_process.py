"""A real `python -m motivnet_serve serve` on a free loopback port, for benchmarks and for tests that need real
sockets and signals."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
TINY_DIR = ROOT / "model_store" / "motivnet-tiny"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def poll_until(ready: Callable[[], bool], process: subprocess.Popen, seconds: float, exited: Callable[[], str]) -> None:
    """Deadline-guarded polling of a starting server until `ready()`; a connection refused means not yet,
    and a process that exits first fails with `exited()`'s message."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(exited())
        try:
            if ready():
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"the server was not ready within {seconds:g} s")


class PeerProcess:
    """The LitServe peer (`bench/peer.py`) on a free loopback port, in its own process group: LitServe starts
    worker processes of its own, and `stop` ends them all."""

    def __init__(self, *options: str, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "bench.peer", "--port", str(self.port), *options]
        self._log = log_path.open("w")
        self.process = subprocess.Popen(
            command, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_ready(self, seconds: float = 300) -> None:
        """LitServe's /health answers 200 once its inference worker has run `setup`."""
        ready = lambda: httpx.get(f"{self.url}/health", timeout=1).status_code == 200  # noqa: E731
        poll_until(ready, self.process, seconds, lambda: f"LitServe exited early; see {self._log.name}")

    def __enter__(self) -> PeerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self._log.close()


class ServerProcess:
    """Starts the CLI server (the tiny model on the CPU unless `options` say otherwise, e.g. --model-dir X
    --device cuda --max-batch-size 1); its output goes to `log_path`, or to a temporary file that `stop()`
    returns. `env` adds variables (e.g. MOTIVNET_* settings); `module` lets tests start it through a harness
    (tests/held_server.py); `root` serves another revision's source tree (`bench/revisions.py`).

    The server binds port 0 and `wait_listening` reads the port the kernel gave it from the server's own
    "Uvicorn running on" line: a port picked here and bound there later could be taken in between by another
    process on a shared machine, and the test would then talk to someone else's server."""

    def __init__(
        self,
        *options: str,
        log_path: Path | None = None,
        module: str = "motivnet_serve",
        env: dict[str, str] | None = None,
        root: Path = ROOT,
    ) -> None:
        self.port = 0
        self.url = ""
        command = [sys.executable, "-m", module, "serve", "--model-dir", str(TINY_DIR), "--device", "cpu"]
        command += ["--port", "0", *options]
        self._owns_log = log_path is None
        self._printed = ""
        self._log = log_path.open("w") if log_path else tempfile.NamedTemporaryFile("w", suffix=".log")
        environment = (
            {**os.environ, **(env or {})} if root == ROOT else {**os.environ, **(env or {}), "PYTHONPATH": str(root)}
        )
        self.process = subprocess.Popen(
            command, cwd=root, stdout=self._log, stderr=subprocess.STDOUT, text=True, env=environment
        )

    def output(self) -> str:
        """What the server has printed so far."""
        return Path(self._log.name).read_text()

    def _bound_port(self) -> bool:
        """True once the server has logged the port it bound; only whole lines count (a line is written in
        one piece, but a read can land in the middle of one)."""
        whole = self.output().rpartition("\n")[0]
        if match := re.search(r"Uvicorn running on http://[^\s:]+:(\d+)", whole):
            self.port = int(match.group(1))
            self.url = f"http://127.0.0.1:{self.port}"
        return bool(match)

    def wait_listening(self, seconds: float = 300) -> None:
        """Until the server has bound its port and answers on it (`--log-level` must be info or lower)."""
        exited = lambda: f"server exited early:\n{self.stop()}"  # noqa: E731
        poll_until(self._bound_port, self.process, seconds, exited)
        listening = lambda: httpx.get(f"{self.url}/health/live", timeout=1) is not None  # noqa: E731
        poll_until(listening, self.process, seconds, exited)

    def wait_ready(self, seconds: float = 300) -> None:
        self.wait_listening(seconds)
        deadline = time.monotonic() + seconds
        while httpx.get(f"{self.url}/health/ready", timeout=5).status_code != 200:
            if time.monotonic() > deadline:
                raise AssertionError("server never became ready")
            time.sleep(0.05)

    def metric(self, name: str, labels: str = "") -> float:
        """One sample of /metrics, e.g. metric("motivnet_rejected_total", 'reason="cancelled"')."""
        text = httpx.get(f"{self.url}/metrics", timeout=5).text
        pattern = rf"^{re.escape(name)}(\{{{re.escape(labels)}\}})? (\S+)$" if labels else rf"^{re.escape(name)} (\S+)$"
        match = re.search(pattern, text, re.MULTILINE)
        assert match, f"{name}{{{labels}}} not in /metrics"
        return float(match.group(match.lastindex))

    def peak_rss_bytes(self) -> int:
        """The server process's high-water resident memory (Linux VmHWM)."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE).group(1)) * 1024

    def cpu_seconds(self) -> float:
        """CPU time the server process has used so far, all its threads, user and system (Linux /proc)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def terminate(self) -> None:
        self.process.send_signal(signal.SIGTERM)

    def stop(self) -> str:
        """Kill if still running; returns what the server printed (empty when it went to `log_path`)."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)
        if not self._log.closed:
            self._printed = self.output() if self._owns_log else ""
            self._log.close()  # a temporary log goes with it, so what it held is kept for later calls
        return self._printed

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
