"""A Docker engine for the container tests: the one that answers, or one these tests start and stop.

Started engines are Debian's `docker.io` (installed with apt when missing) with their own data root, exec
root and socket, so they never meet a system daemon or another engineer's. The data root lives in a cache
folder that outlasts the run: images and build layers stay, so the next run is warm. A lock on that folder
keeps two test sessions from running daemons on the same data root at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CACHE = Path(os.environ.get("MOTIVNET_IMAGE_TEST_CACHE", "/var/cache/motivnet-image-test"))
APT_PACKAGES = {"dockerd": "docker.io", "debootstrap": "debootstrap"}
START_SECONDS = 60
LOCK_SECONDS = 1800


class EngineError(RuntimeError):
    """A docker command that failed; the message holds its output."""


@dataclass(frozen=True)
class Engine:
    """A docker client bound to one daemon (by DOCKER_HOST)."""

    docker: str
    host: str

    @property
    def env(self) -> dict[str, str]:
        """The classic builder: every engine since 20.10 has it, and it needs no frontend image from Hub."""
        return {**os.environ, "DOCKER_BUILDKIT": "0", **({"DOCKER_HOST": self.host} if self.host else {})}

    def run(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [self.docker, *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and done.returncode != 0:
            raise EngineError(f"docker {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
        return done

    def out(self, *args: str, timeout: float = 120) -> str:
        return self.run(*args, timeout=timeout).stdout.strip()

    def answers(self) -> bool:
        try:
            return self.run("version", timeout=10, check=False).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def server_version(self) -> str:
        return self.out("version", "--format", "{{.Server.Version}}")


def install_missing(programs: dict[str, str] = APT_PACKAGES) -> None:
    """apt-get install the Debian packages whose programs are not on PATH (waiting for another apt)."""
    missing = sorted({package for program, package in programs.items() if not shutil.which(program)})
    if not missing:
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    apt = ["apt-get", "-o", "DPkg::Lock::Timeout=600", "-q", "-y"]
    install = [*apt, "install", "--no-install-recommends", *missing]
    if subprocess.run(install, env=env, capture_output=True, timeout=900).returncode != 0:
        subprocess.run([*apt, "update"], env=env, capture_output=True, timeout=300, check=True)
        subprocess.run(install, env=env, check=True, timeout=900)


@contextlib.contextmanager
def cache_lock() -> Iterator[None]:
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "lock", "w") as lock:
        deadline = time.monotonic() + LOCK_SECONDS
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{CACHE / 'lock'}: another container test held it {LOCK_SECONDS} s") from None
                time.sleep(1)
        yield


@contextlib.contextmanager
def own_daemon() -> Iterator[Engine]:
    """dockerd on a private socket; overlay2, no iptables rules, no default bridge (compose and the tests
    make their own networks; published ports go through docker-proxy). Stopped, with its containers, after."""
    install_missing()
    stop_leftover_daemons(str(CACHE / "docker"))
    run_dir = Path(tempfile.mkdtemp(prefix="motivnet-dockerd-"))  # short: containerd's socket path is limited
    engine = Engine(docker=shutil.which("docker", path="/usr/bin") or "docker", host=f"unix://{run_dir}/docker.sock")
    command = ["dockerd", "--data-root", str(CACHE / "docker"), "--exec-root", str(run_dir / "exec")]
    command += ["--host", engine.host, "--pidfile", str(run_dir / "dockerd.pid"), "--storage-driver", "overlay2"]
    command += ["--iptables=false", "--ip-masq=false", "--bridge=none"]
    log = (CACHE / "dockerd.log").open("w")
    daemon = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + START_SECONDS
        while not engine.answers():
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise EngineError(f"dockerd did not start; see {CACHE / 'dockerd.log'}")
            time.sleep(0.2)
        yield engine
    finally:
        daemon.send_signal(signal.SIGTERM)  # dockerd stops its containers and its containerd
        try:
            daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait(timeout=30)
        log.close()
        remove_run_dir(run_dir)


def stop_leftover_daemons(data_root: str) -> None:
    """A run killed before its clean-up (a timeout, SIGKILL) leaves its dockerd holding our data root, and a
    second daemon on the same root fails; we hold the cache lock, so any such daemon is a leftover."""
    leftovers = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"dockerd") and data_root.encode() in argv:
            leftovers.append(int(cmdline.parent.name))
    for pid in leftovers:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while any(Path(f"/proc/{pid}").exists() for pid in leftovers) and time.monotonic() < deadline:
        time.sleep(0.2)


def remove_run_dir(run_dir: Path) -> None:
    """dockerd leaves its network namespace file mounted under the exec root; unmount, then delete."""
    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(f"{run_dir}/")), reverse=True):
        subprocess.run(["umount", mount], check=True, timeout=30)
    shutil.rmtree(run_dir)


@contextlib.contextmanager
def docker_engine() -> Iterator[Engine]:
    """The daemon that DOCKER_HOST (or the default socket) names if it answers, else one of our own."""
    existing = Engine(docker=shutil.which("docker") or "docker", host=os.environ.get("DOCKER_HOST", ""))
    if shutil.which("docker") and existing.answers():
        with cache_lock():
            yield existing
        return
    with cache_lock(), own_daemon() as engine:
        yield engine
