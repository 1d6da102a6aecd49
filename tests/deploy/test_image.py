"""docker/Dockerfile built and run on a real engine: healthy by Docker's own probe, non-root, every face of a
group photo, and a `docker stop` in the middle of a burst that answers every accepted request and exits 0.

The base image is a local Debian bookworm with the CPU torch wheel (imagekit.py); the service runs the
bundled CPU model with the settings of docker-compose.cpu.yml.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from containerkit import Container, cpu_environment, metric, post_photo, running
from enginekit import Engine

from tests.heif_files import phone_copy
from tests.photos import HAND_BOXES, photo_paths

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.usefixtures("deadline")]
GROUP = "multi_face.jpg"
BURST = 8
COPIES = 4  # group photos per request: each request queues 20 faces at once, so a queue builds up
QUEUED_AT_STOP = 6  # faces waiting when `docker stop` is sent
STOP_SECONDS = 60
NANOSECONDS = 1_000_000_000
BUILD_ONLY = {"pip", "setuptools", "h5py", "pytest", "ruff"}  # build tools, the converter, the dev extra


@pytest.fixture(scope="module")
def served(
    engine: Engine,
    serve_image: str,
    network: str,  # noqa: ARG001 - the containers' network must exist first
    image_report: dict,
) -> Iterator[Container]:
    start = time.monotonic()
    with running(engine, serve_image, "motivnet-image-test", cpu_environment()) as container:
        container.wait_ready()
        image_report["ready_seconds"] = round(time.monotonic() - start, 1)
        container.wait_healthy()
        image_report["healthy_seconds"] = round(time.monotonic() - start, 1)
        yield container


def test_turns_healthy_by_dockers_own_probe(served: Container) -> None:
    assert served.inspect()["State"]["Health"]["Status"] == "healthy"
    assert httpx.get(f"{served.url}/health/ready", timeout=10).status_code == 200
    probe = served.inspect()["Config"]["Healthcheck"]
    assert probe["Test"] == ["CMD", "python", "/opt/motivnet/healthcheck.py"]
    assert probe["StartPeriod"] >= 180 * NANOSECONDS, "loading 4.6 GB and warming up takes minutes"


def test_runtime_holds_the_installed_package_and_no_build_tools(served: Container) -> None:
    code = (
        "import json, pathlib, motivnet_serve; site = pathlib.Path(motivnet_serve.__file__).parents[1]; "
        "print(json.dumps([str(site), sorted(p.name.split('-')[0] for p in site.iterdir()), "
        "pathlib.Path('/src').exists()]))"
    )
    site, installed, source_tree = json.loads(served.engine.out("exec", served.id, "python", "-c", code))
    assert site.startswith("/opt/venv/")
    assert not source_tree
    assert not set(installed) & BUILD_ONLY, "the runtime venv keeps only what serving imports"


def test_serves_as_a_non_root_user(served: Container) -> None:
    assert served.process_uid() != 0
    assert served.inspect()["Config"]["User"].split(":")[0] not in ("", "0", "root")


def test_group_photo_gets_every_face(served: Container) -> None:
    response = post_photo(served.url, photo_paths()[GROUP])
    assert response.status_code == 200, response.text
    (result,) = response.json()["results"]
    assert len(result["faces"]) == len(HAND_BOXES[GROUP])
    assert all(face["label"] and face["score"] >= 0.9 for face in result["faces"])


def test_a_heic_of_the_group_photo_gets_the_same_faces_as_its_jpeg(served: Container, tmp_path) -> None:
    """An iPhone's HEIC decodes in the image with what the pillow-heif wheel bundles (libheif, libde265)."""
    group = photo_paths()[GROUP]
    jpeg, heic = (post_photo(served.url, path) for path in (group, phone_copy(group, "HEIF", tmp_path)))
    assert heic.status_code == 200, heic.text
    labels = [[face["label"] for face in answer.json()["results"][0]["faces"]] for answer in (jpeg, heic)]
    assert len(labels[1]) == len(HAND_BOXES[GROUP])
    assert labels[1] == labels[0]


async def burst_then_stop(container: Container, body: bytes) -> list[httpx.Response | Exception]:
    """BURST requests of COPIES group photos at once; `docker stop` once QUEUED_AT_STOP faces are queued."""
    limits = httpx.Limits(max_connections=BURST)
    async with httpx.AsyncClient(base_url=container.url, timeout=STOP_SECONDS, limits=limits) as client:
        files = [("file", (GROUP, body, "image/jpeg"))] * COPIES
        posts = asyncio.gather(*[client.post("/predict", files=files) for _ in range(BURST)], return_exceptions=True)
        work = asyncio.ensure_future(posts)
        while await asyncio.to_thread(metric, container.url, "motivnet_queue_depth") < QUEUED_AT_STOP:
            assert not work.done(), "the burst finished before a queue built up"
        stop = threading.Thread(target=container.engine.run, args=("stop", "-t", str(STOP_SECONDS), container.id))
        stop.start()
        responses = await work
        await asyncio.to_thread(stop.join, STOP_SECONDS + 30)
        return responses


@pytest.mark.deadline(240)
@pytest.mark.usefixtures("network")
def test_docker_stop_answers_every_accepted_request_and_exits_0(engine: Engine, serve_image: str):
    env = {**cpu_environment(), "MOTIVNET_MAX_BATCH_SIZE": "1", "MOTIVNET_MAX_BATCH_DELAY_MS": "0"}
    with running(engine, serve_image, "motivnet-image-test-stop", env) as container:
        container.wait_healthy()
        responses = asyncio.run(burst_then_stop(container, photo_paths()[GROUP].read_bytes()))
        state = container.inspect()["State"]
        log = container.logs()
    failed = [r for r in responses if not isinstance(r, httpx.Response)]
    assert not failed, f"requests left without an answer: {failed}\n{log}"
    answered = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code != 200]
    assert len(answered) * COPIES * len(HAND_BOXES[GROUP]) >= QUEUED_AT_STOP
    assert all(r.status_code == 503 and r.json()["error"]["code"] == "not_ready" for r in refused)
    assert not state["Running"], log
    assert state["ExitCode"] == 0, log
    assert not state["OOMKilled"], log
    assert "queue drained" in log
