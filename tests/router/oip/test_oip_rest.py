"""`/v2` over the app itself: the protocol's JSON and binary bodies, its error shape and statuses, API keys,
and the limits `/predict` has. The real clients drive a real server in test_oip_clients.py."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from tests.router.conftest import serving, tiny_settings

pytestmark = [pytest.mark.anyio, pytest.mark.slow]  # each test loads an app (5-20 s on 2 busy cores)
MODEL = "/v2/models/motivnet-tiny"


def image_request(*images: bytes, **parameters: object) -> dict:
    encoded = [base64.b64encode(image).decode() for image in images]
    document: dict = {"inputs": [{"name": "IMAGE", "datatype": "BYTES", "shape": [len(images)], "data": encoded}]}
    return document | ({"parameters": parameters} if parameters else {})


def binary_body(document: dict, *chunks: bytes) -> tuple[bytes, dict[str, str]]:
    header = json.dumps(document).encode()
    return header + b"".join(chunks), {"inference-header-content-length": str(len(header))}


def error_of(response, status: int) -> str:
    """The protocol's error shape: one string."""
    assert response.status_code == status, response.text
    assert isinstance(response.json()["error"], str)
    return response.json()["error"]


async def test_metadata_health_and_readiness():
    async with serving(tiny_settings()) as client:
        assert (await client.get("/v2/health/live")).json() == {"live": True}
        assert (await client.get("/v2/health/ready")).json() == {"ready": True}
        assert (await client.get("/v2")).json()["extensions"] == ["binary_tensor_data"]
        metadata = (await client.get(MODEL)).json()
        assert metadata["name"] == "motivnet-tiny"
        assert {tensor["name"] for tensor in metadata["inputs"]} == {"IMAGE", "FACE"}
        assert (await client.get(f"{MODEL}/versions/1/ready")).json()["ready"] is True
        assert "unknown" in error_of(await client.get("/v2/models/unknown"), 404)
        error_of(await client.get(f"{MODEL}/versions/7"), 404)


async def test_json_image_and_binary_outputs(face_png):
    async with serving(tiny_settings()) as client:
        document = image_request(face_png.read_bytes(), detect=False)
        answer = (await client.post(f"{MODEL}/infer", json=document | {"id": "r1"})).json()
        assert answer["id"] == "r1"
        outputs = {output["name"]: output for output in answer["outputs"]}
        assert outputs["IMAGE_INDEX"]["data"] == [0]
        assert outputs["PROBABILITIES"]["shape"] == [1, 7]
        asked = document | {"outputs": [{"name": "PROBABILITIES", "parameters": {"binary_data": True}}]}
        binary = await client.post(f"{MODEL}/infer", json=asked)
        length = int(binary.headers["inference-header-content-length"])
        header = json.loads(binary.content[:length])
        assert header["outputs"][0]["parameters"]["binary_data_size"] == 7 * 4
        values = np.frombuffer(binary.content[length:], dtype="<f4")
        np.testing.assert_allclose(values, outputs["PROBABILITIES"]["data"], atol=1e-5)  # another forward


async def test_binary_face_tensor_in_the_models_input_size():
    async with serving(tiny_settings()) as client:
        height, width = (await client.get(MODEL)).json()["inputs"][1]["shape"][2:]
        faces = np.full((2, 3, height, width), 128, dtype=np.uint8)
        entry = {"name": "FACE", "datatype": "UINT8", "shape": list(faces.shape)}
        entry["parameters"] = {"binary_data_size": faces.nbytes}
        body, headers = binary_body({"inputs": [entry]}, faces.tobytes())
        answer = (await client.post(f"{MODEL}/infer", content=body, headers=headers)).json()
        assert [output["name"] for output in answer["outputs"]] == ["PROBABILITIES"]
        rows = np.asarray(answer["outputs"][0]["data"]).reshape(2, 7)
        np.testing.assert_allclose(rows.sum(axis=1), 1.0, rtol=1e-5)
        np.testing.assert_allclose(rows[0], rows[1], atol=1e-6)
        wrong = {"name": "FACE", "datatype": "UINT8", "shape": [1, 3, 8, 8], "data": [0] * 192}
        assert "shape [N, 3," in error_of(await client.post(f"{MODEL}/infer", json={"inputs": [wrong]}), 400)


MALFORMED = [
    (b"{not json", "not valid JSON"),
    (b"[]", "must be a JSON object"),
    (b'{"inputs": []}', "exactly one input"),
    (b'{"inputs": [{"name": "IMAGE", "datatype": "BYTES", "shape": [1], "data": ["%%%"]}]}', "base64"),
    (b'{"inputs": [{"name": "IMAGE", "datatype": "FP32", "shape": [1], "data": [1.0]}]}', "must be BYTES"),
    (b'{"inputs": [{"name": "IMAGE", "datatype": "BYTES", "shape": "x", "data": []}]}', "list of integers"),
    (b'{"inputs": [{"name": "FACE", "datatype": "UINT8", "shape": [1], "data": [300]}]}', "UINT8"),
]


async def test_malformed_requests_are_400_in_the_protocols_shape():
    async with serving(tiny_settings()) as client:
        for body, says in MALFORMED:
            response = await client.post(f"{MODEL}/infer", content=body, headers={"content-type": "application/json"})
            assert says in error_of(response, 400), body


async def test_binary_sizes_must_add_up(face_png):
    image = face_png.read_bytes()
    raw = len(image).to_bytes(4, "little") + image
    entry = {"name": "IMAGE", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": len(raw) + 1}}
    async with serving(tiny_settings()) as client:
        body, headers = binary_body({"inputs": [entry]}, raw)
        assert "exceeds" in error_of(await client.post(f"{MODEL}/infer", content=body, headers=headers), 400)
        entry["parameters"]["binary_data_size"] = len(raw) - 1
        body, headers = binary_body({"inputs": [entry]}, raw)
        error_of(await client.post(f"{MODEL}/infer", content=body, headers=headers), 400)
        headers["inference-header-content-length"] = str(len(body) + 1)
        error_of(await client.post(f"{MODEL}/infer", content=body, headers=headers), 400)


async def test_limits_and_parameters_are_predicts(face_png):
    image = face_png.read_bytes()
    settings = tiny_settings(max_files_per_request=2, max_upload_bytes=2 * len(image))
    async with serving(settings) as client:
        many = await client.post(f"{MODEL}/infer", json=image_request(b"a", b"b", b"c"))
        assert "max_files_per_request" in error_of(many, 413)
        error_of(await client.post(f"{MODEL}/infer", json=image_request(image, image)), 413)  # base64 is 4/3 bigger
        error_of(await client.post(f"{MODEL}/infer", json=image_request(b"not an image")), 415)
        assert "max_faces" in error_of(await client.post(f"{MODEL}/infer", json=image_request(image, max_faces=0)), 400)
        assert "bool" in error_of(await client.post(f"{MODEL}/infer", json=image_request(image, detect="no")), 400)
        unknown = image_request(image) | {"outputs": [{"name": "SCORE"}]}
        assert "SCORE" in error_of(await client.post(f"{MODEL}/infer", json=unknown), 400)


async def test_api_keys_guard_v2_but_not_its_health_probes(face_png):
    async with serving(tiny_settings(api_keys="alpha")) as client:
        assert (await client.get("/v2/health/ready")).status_code == 200
        assert "API key" in error_of(await client.get(MODEL), 401)
        error_of(await client.post(f"{MODEL}/infer", json=image_request(face_png.read_bytes())), 401)
        allowed = await client.get(MODEL, headers={"authorization": "Bearer alpha"})
        assert allowed.status_code == 200


async def test_infer_requests_are_counted_under_one_label(face_png):
    async with serving(tiny_settings()) as client:
        await client.post(f"{MODEL}/infer", json=image_request(face_png.read_bytes()))
        await client.post("/v2/models/other/infer", json=image_request(face_png.read_bytes()))
        metrics = (await client.get("/metrics")).text
        assert 'motivnet_requests_total{endpoint="/v2/models/{name}/infer",status="200"} 1.0' in metrics
        assert 'motivnet_requests_total{endpoint="/v2/models/{name}/infer",status="404"} 1.0' in metrics
