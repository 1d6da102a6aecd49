"""The Open Inference Protocol driven by Triton's own client, `tritonclient`, over REST and gRPC, against a real
server process: the calls a Triton or KServe user makes. Answers must equal `/predict`'s for the same photos.

(KServe's own Python client, the `kserve` package, is left out: kserve 0.21.0 brings its whole model server,
67 packages with kubernetes, pandas, FastAPI, uvicorn and cryptography, for the same REST and gRPC calls.)
"""

from __future__ import annotations

import base64
import queue
import re
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from grpc_health.v1 import health_pb2, health_pb2_grpc
from PIL import Image
from tritonclient.utils import InferenceServerException

from bench.server_process import ServerProcess
from tests.held_server import Gate
from tests.photos import photo_paths

pytestmark = [pytest.mark.server, pytest.mark.slow]

MODEL = "motivnet-tiny"


def key() -> dict[str, str]:
    """A fresh header dict each call: tritonclient adds its own headers to the dict it is given."""
    return {"authorization": "Bearer k1"}


OCTETS = {"content-type": "application/octet-stream"}
PHOTOS = ("multi_face.jpg", "single_face.jpg")


class Served:
    """The server and a client of each protocol, holding the key."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.grpc_address = f"127.0.0.1:{grpc_port(server)}"
        self.http = triton_http.InferenceServerClient(server.url.removeprefix("http://"), network_timeout=300)
        self.grpc = triton_grpc.InferenceServerClient(self.grpc_address)

    def predict(self, image: bytes, **params: str) -> list[dict]:
        response = httpx.post(
            f"{self.server.url}/predict", content=image, params=params, headers=OCTETS | key(), timeout=300
        )
        assert response.status_code == 200, response.text
        return response.json()["results"][0]["faces"]


def grpc_port(server: ServerProcess) -> int:
    match = re.search(r"gRPC \(Open Inference Protocol\) listening on \S+:(\d+)", server.output())
    assert match, server.output()
    return int(match.group(1))


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    settings = {"MOTIVNET_WARMUP": "false", "MOTIVNET_GRPC_PORT": "0", "MOTIVNET_API_KEYS": "k1"}
    with ServerProcess(env=settings) as server:
        server.wait_ready()
        yield Served(server)


def image_input(module, image: bytes, *, binary: bool = True):
    tensor = module.InferInput("IMAGE", [1], "BYTES")
    if binary:
        tensor.set_data_from_numpy(np.array([image], dtype=np.object_))
    else:  # JSON cannot hold raw bytes: the file goes base64-encoded
        tensor.set_data_from_numpy(np.array([base64.b64encode(image)], dtype=np.object_), binary_data=False)
    return tensor


def assert_equal_to_predict(result, faces: list[dict]) -> None:
    labels = [label if isinstance(label, str) else label.decode() for label in result.as_numpy("LABEL")]
    assert labels == [face["label"] for face in faces]  # JSON gives text, binary data bytes
    expected = np.array([list(face["probabilities"].values()) for face in faces], dtype=np.float32)
    np.testing.assert_allclose(result.as_numpy("PROBABILITIES"), expected, atol=1e-5)
    if all(face["box"] for face in faces):  # detect=false: no box in /predict, the whole image here
        np.testing.assert_allclose(result.as_numpy("BOX"), [face["box"] for face in faces], atol=0.01)
    assert result.as_numpy("IMAGE_INDEX").tolist() == [0] * len(faces)


@pytest.mark.parametrize("binary", [True, False])
def test_rest_photos_equal_predict(served: Served, binary: bool):
    assert served.http.is_server_ready()
    for name in PHOTOS:
        image = photo_paths()[name].read_bytes()
        outputs = [triton_http.InferRequestedOutput(o, binary_data=binary) for o in ("LABEL", "PROBABILITIES", "BOX")]
        outputs.append(triton_http.InferRequestedOutput("IMAGE_INDEX", binary_data=binary))
        result = served.http.infer(
            MODEL, [image_input(triton_http, image, binary=binary)], outputs=outputs, headers=key()
        )
        assert_equal_to_predict(result, served.predict(image))


def test_grpc_photos_equal_predict(served: Served):
    assert served.grpc.is_server_ready()
    for name in PHOTOS:
        image = photo_paths()[name].read_bytes()
        result = served.grpc.infer(MODEL, [image_input(triton_grpc, image)], headers=key())
        assert_equal_to_predict(result, served.predict(image))
    whole = served.grpc.infer(MODEL, [image_input(triton_grpc, image)], headers=key(), parameters={"detect": False})
    assert_equal_to_predict(whole, served.predict(image, detect="false"))
    width, height = Image.open(photo_paths()[name]).size
    assert whole.as_numpy("BOX").tolist() == [[0, 0, width, height]]
    best = served.grpc.infer(MODEL, [image_input(triton_grpc, image)], headers=key(), parameters={"max_faces": 1})
    assert best.as_numpy("PROBABILITIES").shape == (1, 7)


@pytest.mark.parametrize("datatype", ["UINT8", "FP32"])
def test_face_tensors_equal_predict_on_the_same_pixels(served: Served, datatype: str, tmp_path: Path):
    """A face already in the model's input size: the same answer as `/predict?detect=false` on it as a PNG."""
    metadata = served.grpc.get_model_metadata(MODEL, headers=key(), as_json=True)
    height, width = (int(dim) for dim in metadata["inputs"][1]["shape"][2:])
    face = Image.open(photo_paths()["single_face.jpg"]).convert("RGB").resize((width, height))
    face.save(tmp_path / "face.png")
    pixels = np.asarray(face).transpose(2, 0, 1)[None].astype(np.uint8 if datatype == "UINT8" else np.float32)
    expected = served.predict((tmp_path / "face.png").read_bytes(), detect="false")
    for module, client in ((triton_http, served.http), (triton_grpc, served.grpc)):
        tensor = module.InferInput("FACE", list(pixels.shape), datatype)
        tensor.set_data_from_numpy(pixels)
        result = client.infer(MODEL, [tensor], headers=key())
        want = [list(expected[0]["probabilities"].values())]
        np.testing.assert_allclose(result.as_numpy("PROBABILITIES"), want, atol=1e-5)


def test_keys_and_errors_in_each_protocols_terms(served: Served):
    image = photo_paths()["single_face.jpg"].read_bytes()
    cases = [
        ({"model_name": MODEL, "inputs": [image_input(triton_http, image)]}, "401", "API key"),
        ({"model_name": "other", "inputs": [image_input(triton_http, image)], "headers": key()}, "404", "other"),
        (
            {"model_name": MODEL, "inputs": [image_input(triton_http, b"junk")], "headers": key()},
            "415",
            "IMAGE element 0",
        ),
    ]
    for call, status, says in cases:
        with pytest.raises(InferenceServerException, match=says) as caught:
            served.http.infer(**call)
        assert caught.value.status() == status
    codes = [
        ({"model_name": MODEL, "inputs": [image_input(triton_grpc, image)]}, "StatusCode.UNAUTHENTICATED"),
        (
            {"model_name": "other", "inputs": [image_input(triton_grpc, image)], "headers": key()},
            "StatusCode.NOT_FOUND",
        ),
        (
            {"model_name": MODEL, "inputs": [image_input(triton_grpc, b"junk")], "headers": key()},
            "StatusCode.INVALID_ARGUMENT",
        ),
    ]
    for call, code in codes:
        with pytest.raises(InferenceServerException) as caught:
            served.grpc.infer(**call)
        assert caught.value.status() == code
    assert served.grpc.is_server_live(), "the probes need no key"


def test_stream_answers_every_frame_in_order(served: Served):
    frames = [photo_paths()[name].read_bytes() for name in (*PHOTOS, "coffee.png")]
    answers: queue.Queue = queue.Queue()
    served.grpc.start_stream(callback=lambda result, error: answers.put((result, error)), headers=key())
    try:
        for index, frame in enumerate(frames):
            served.grpc.async_stream_infer(MODEL, [image_input(triton_grpc, frame)], request_id=str(index))
        served.grpc.async_stream_infer("other", [image_input(triton_grpc, frames[0])], request_id="bad")
        received = [answers.get(timeout=300) for _ in range(len(frames) + 1)]
    finally:
        served.grpc.stop_stream()
    assert [result.get_response().id for result, _ in received[:-1]] == ["0", "1", "2"]
    assert [len(result.as_numpy("LABEL")) for result, _ in received[:-1]] == [5, 1, 0]
    assert received[-1][0] is None
    assert "other" in str(received[-1][1])
    assert served.server.metric("motivnet_requests_total", 'endpoint="grpc ModelStreamInfer",status="200"') >= 3


def test_standard_health_service_says_serving(served: Served):
    with grpc.insecure_channel(served.grpc_address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "inference.GRPCInferenceService"):
            answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=60)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING


def withdrawn(server: ServerProcess) -> float:
    """Faces dropped from the queue before the model: their call was cancelled, or its deadline passed."""
    return sum(server.metric("motivnet_rejected_total", f'reason="{reason}"') for reason in ("cancelled", "timeout"))


def until(condition, timeout_s: float = 120) -> None:
    """Polls a condition the server makes true; the timeout guards a stall, it is no timing margin."""
    give_up = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < give_up, "condition never became true"
        time.sleep(0.01)


def test_a_passed_deadline_or_a_cancelled_call_withdraws_its_face(tmp_path: Path):
    """While one batch is held at the gate, a call whose gRPC deadline passes, and then a call the client
    cancels, leave the queue without reaching the model; the held call and a later one are answered."""
    gate = Gate(tmp_path)
    image = photo_paths()["single_face.jpg"].read_bytes()
    try:
        with ServerProcess(module="tests.held_server", env={**gate.env, "MOTIVNET_GRPC_PORT": "0"}) as server:
            server.wait_ready()
            client = triton_grpc.InferenceServerClient(f"127.0.0.1:{grpc_port(server)}")
            held: queue.Queue = queue.Queue()
            client.async_infer(MODEL, [image_input(triton_grpc, image)], lambda **answer: held.put(answer["error"]))
            assert gate.wait_batch() == 1
            with pytest.raises(InferenceServerException) as caught:
                client.infer(MODEL, [image_input(triton_grpc, image)], client_timeout=2)
            assert caught.value.status() == "StatusCode.DEADLINE_EXCEEDED"
            until(lambda: withdrawn(server) == 1)
            call = client.async_infer(MODEL, [image_input(triton_grpc, image)], lambda **_: None)
            until(lambda: server.metric("motivnet_queue_depth") == 1)
            call.cancel()
            until(lambda: withdrawn(server) == 2)
            gate.release(b"gg")
            assert held.get(timeout=300) is None
            answer = client.infer(MODEL, [image_input(triton_grpc, image)], client_timeout=300)
            assert answer.as_numpy("PROBABILITIES").shape == (1, 7)
            assert server.metric("motivnet_faces_total") == 2
    finally:
        gate.close()


def test_sigterm_drains_grpc_calls_then_stops_the_grpc_server(tmp_path: Path):
    """A call queued when SIGTERM arrives is answered; meanwhile health says NOT_SERVING and new calls are
    refused as UNAVAILABLE; the gRPC server stops with the process."""
    gate = Gate(tmp_path)
    image = photo_paths()["single_face.jpg"].read_bytes()
    try:
        with ServerProcess(module="tests.held_server", env={**gate.env, "MOTIVNET_GRPC_PORT": "0"}) as server:
            server.wait_ready()
            address = f"127.0.0.1:{grpc_port(server)}"
            client = triton_grpc.InferenceServerClient(address)
            held: queue.Queue = queue.Queue()
            client.async_infer(MODEL, [image_input(triton_grpc, image)], lambda **answer: held.put(answer))
            assert gate.wait_batch() == 1
            server.terminate()
            with grpc.insecure_channel(address) as channel:
                health = health_pb2_grpc.HealthStub(channel)
                not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
                until(lambda: health.Check(health_pb2.HealthCheckRequest(), timeout=60).status == not_serving)
            with pytest.raises(InferenceServerException) as caught:
                client.infer(MODEL, [image_input(triton_grpc, image)], client_timeout=60)
            assert caught.value.status() == "StatusCode.UNAVAILABLE"
            gate.release(b"g")
            answer = held.get(timeout=300)
            assert answer["error"] is None
            assert answer["result"].as_numpy("PROBABILITIES").shape == (1, 7)
            server.process.wait(timeout=120)
            assert "queue drained" in server.stop()
    finally:
        gate.close()
