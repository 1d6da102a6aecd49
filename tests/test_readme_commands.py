"""Every command the README shows is run by a test: its first requests here, against a real server started
with `make serve`'s own command; the rest by the test named for it in `EXERCISED_BY`. A command added to the
README without a test fails `test_every_readme_command_is_exercised`."""

from __future__ import annotations

import ast
import contextlib
import io
import json
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from bench.server_process import ServerProcess
from tests.clips import group_clip
from tests.conftest import ROOT
from tests.photos import photo_paths

README = ROOT / "README.md"
README_URL = "http://127.0.0.1:8000"
COMMAND_SECONDS = 120

# Deploy commands need Docker, a GPU or a cluster: each is exercised by the test named, which holds the fragment.
EXERCISED_BY = {
    "cp .env.example .env && cp ~/Downloads/MotivNet.pth model_store/motivnet/": (
        "tests/deploy/test_deploy_compose.py",
        '"--env-file", str(REPO / ".env.example")',
    ),
    "docker compose up -d --build --wait": (  # no GPU here: its file is checked by `docker compose config`
        "tests/deploy/test_deploy_compose.py",
        '[["docker-compose.yml"], ["docker-compose.yml", "docker-compose.cpu.yml"]]',
    ),
    "docker compose -f docker-compose.yml -f docker-compose.cpu.yml up -d --build --wait": (
        "tests/deploy/test_compose_stack.py",
        '"up", "--detach", "--no-build", "--wait"',
    ),
    "docker compose --profile monitoring up -d": ("tests/deploy/test_deploy_compose.py", '"--profile", "monitoring"'),
    "kubectl apply -k deploy/k8s": ("tests/deploy/test_deploy_k8s.py", "def test_kustomization_lists_every_manifest"),
}


def readme_blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README.read_text(), re.MULTILINE | re.DOTALL)


def readme_commands() -> list[str]:
    """Each command line of the README's shell blocks, without its comment."""
    lines = (line.split("  #")[0].strip() for block in readme_blocks("bash") for line in block.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def make_recipe(target: str) -> list[str]:
    """The commands `make TARGET` runs once the venv exists, with `python` for the venv's interpreter."""
    command = ["make", "--no-print-directory", "-n", "-o", ".venv/.installed", target, "PY=python"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=COMMAND_SECONDS, check=True)
    return result.stdout.splitlines()


def test_the_readme_fits_in_8_kib() -> None:
    assert len(README.read_bytes()) <= 8192


def test_every_readme_command_is_exercised() -> None:
    requests = {line for line in readme_commands() if line.startswith("curl ")}
    assert len(requests) >= 3, "the README's first requests moved; update test_the_first_requests_answer"
    assert set(readme_commands()) == {"make serve", "make test", *requests, *EXERCISED_BY}
    for command, (path, fragment) in EXERCISED_BY.items():
        assert fragment in (ROOT / path).read_text(), f"{path} no longer exercises {command}"


def test_make_serve_and_make_test_run_the_tested_commands() -> None:
    """`make serve` is fetch-weights (run before every `make test`) then the server the next test starts."""
    assert make_recipe("serve") == ["python -m motivnet_serve fetch-weights", "python -m motivnet_serve serve"]
    test = make_recipe("test")
    assert test[0] == "python -m motivnet_serve fetch-weights"
    assert "-m pytest" in test[-1]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files the README's requests name: face.jpg, group.jpg, interview.mp4."""
    folder = tmp_path_factory.mktemp("readme")
    photos = photo_paths()
    Image.open(ROOT / "tests" / "fixtures" / "reference" / "face.png").convert("RGB").save(folder / "face.jpg")
    Image.open(photos["multi_face.jpg"]).convert("RGB").save(folder / "group.jpg")
    (folder / "interview.mp4").write_bytes(group_clip(seconds=1.0))
    return folder


@pytest.fixture(scope="module")
def server(bundled_weights: Path) -> Iterator[ServerProcess]:  # noqa: ARG001 - the server needs the weights in place
    """`python -m motivnet_serve serve`, as `make serve` runs it, on a free port with the tiny model."""
    with ServerProcess() as process:
        process.wait_ready()
        yield process


def run_request(line: str, server: ServerProcess, folder: Path) -> str:
    argv = shlex.split(line.replace(README_URL, server.url))
    result = subprocess.run(argv, cwd=folder, capture_output=True, text=True, timeout=COMMAND_SECONDS, check=True)
    return result.stdout


def request_path(line: str) -> str:
    """Which endpoint a README request calls: the path after the host, without its query."""
    return line.split(README_URL, 1)[1].split("?")[0].strip("'")


@pytest.mark.server
def test_the_first_requests_answer(server: ServerProcess, files: Path) -> None:
    requests = [line for line in readme_commands() if line.startswith("curl ")]
    answers = {request_path(line): run_request(line, server, files) for line in requests}
    photos = json.loads(answers["/predict"])
    assert [result["filename"] for result in photos["results"]] == ["face.jpg", "group.jpg"]
    assert len(photos["results"][1]["faces"]) >= 2
    video = [json.loads(line) for line in answers["/v1/video"].splitlines()]
    assert "summary" in video[-1]
    assert video[-1]["summary"]["frames"] == len(video) - 1
    assert json.loads(answers["/health/ready"]) == {"status": "ready"}
    assert len(json.loads(answers["/v1/models"])["models"][0]["labels"]) == 7


@pytest.mark.server
def test_the_stream_example_answers(server: ServerProcess, files: Path) -> None:
    (example,) = readme_blocks("python")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(example.replace(README_URL, server.url), {"jpeg_bytes": (files / "group.jpg").read_bytes()})
    reply = ast.literal_eval(printed.getvalue().strip())
    assert reply["frame"] == 0
    assert len(reply["faces"]) == 1
    assert reply["latency_ms"] > 0
