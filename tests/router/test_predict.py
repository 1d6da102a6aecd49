"""POST /predict with real images through the real app, on the tiny model."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.conftest import encode
from tests.router.conftest import serving, tiny_settings

pytestmark = pytest.mark.anyio
WHOLE = {"detect": "false"}


def _probabilities(face: dict, labels: list[str]) -> list[float]:
    return [face["probabilities"][label] for label in labels]


async def test_multipart_reproduces_reference(face_png, expected):
    async with serving(tiny_settings()) as client:
        response = await client.post(
            "/predict", params=WHOLE, files={"file": ("face.png", face_png.read_bytes(), "image/png")}
        )
    assert response.status_code == 200
    answer = response.json()
    assert answer["model"] == "motivnet-tiny"
    [result] = answer["results"]
    [face] = result["faces"]
    assert result["filename"] == "face.png"
    assert face["box"] is None
    assert face["score"] is None
    assert face["landmarks"] is None
    assert face["label"] == expected["expected_label"]
    assert np.allclose(_probabilities(face, expected["labels"]), expected["expected_probabilities"], atol=2e-3)


async def test_raw_body_reproduces_reference(face_png, expected):
    async with serving(tiny_settings()) as client:
        response = await client.post(
            "/predict", params=WHOLE, content=face_png.read_bytes(), headers={"content-type": "image/png"}
        )
    assert response.status_code == 200
    [result] = response.json()["results"]
    assert result["filename"] is None
    assert np.allclose(
        _probabilities(result["faces"][0], expected["labels"]), expected["expected_probabilities"], atol=2e-3
    )


async def test_several_files_answer_in_upload_order(photo_variants, expected_for, expected):
    names = ["top", "face", "left"]
    files = [("file", (f"{name}.png", encode(photo_variants[name]), "image/png")) for name in names]
    async with serving(tiny_settings()) as client:
        response = await client.post("/predict", params=WHOLE, files=files)
    results = response.json()["results"]
    assert [r["filename"] for r in results] == [f"{name}.png" for name in names]
    for name, result in zip(names, results):
        wanted = expected_for(photo_variants[name])
        assert np.allclose(_probabilities(result["faces"][0], expected["labels"]), wanted, atol=1e-5), name


@pytest.mark.parametrize(("fmt", "params"), [("JPEG", {"quality": 95}), ("WEBP", {}), ("BMP", {}), ("TIFF", {})])
async def test_each_allowed_format_is_accepted(face_image, fmt, params):
    async with serving(tiny_settings()) as client:
        response = await client.post("/predict", files={"file": ("x", encode(face_image, fmt, **params), "image/*")})
    assert response.status_code == 200, response.text


async def test_gif_uses_first_frame(face_image, photo_variants, expected_for, expected):
    frames = [face_image.quantize(), photo_variants["flipped"].quantize()]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    async with serving(tiny_settings()) as client:
        response = await client.post("/predict", params=WHOLE, content=data, headers={"content-type": "image/gif"})
    got = _probabilities(response.json()["results"][0]["faces"][0], expected["labels"])
    assert np.allclose(got, expected_for(frames[0]), atol=1e-5)


async def test_exif_orientation_is_applied(face_image, expected_for, expected):
    """A phone picture stored sideways with orientation 6 must read like the upright picture."""
    stored = face_image.rotate(90, expand=True)
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(stored, "JPEG", quality=100, exif=exif.tobytes())
    async with serving(tiny_settings()) as client:
        response = await client.post("/predict", params=WHOLE, content=data, headers={"content-type": "image/jpeg"})
    got = _probabilities(response.json()["results"][0]["faces"][0], expected["labels"])
    upright = expected_for(face_image)
    sideways = expected_for(stored)
    assert np.abs(np.subtract(got, upright)).max() < np.abs(np.subtract(got, sideways)).max()
    assert np.allclose(got, upright, atol=2e-2)


async def test_models_endpoint_describes_the_model(expected):
    async with serving(tiny_settings(max_queue_size=9)) as client:
        [model] = (await client.get("/v1/models")).json()["models"]
    assert model["name"] == "motivnet-tiny"
    assert model["labels"] == expected["labels"]
    assert model["checkpoint_sha256"] == expected["checkpoint_sha256"]
    assert model["device"] == "cpu"
    assert model["dtype"] == "float32"
    assert model["parameters"] > 0
    assert model["architecture"]["embed_dim"] == 64
    assert model["detector"] == "retinaface-mobilenet"
    assert model["batching"]["max_batch_size"] == 4
    assert model["batching"]["max_queue_size"] == 9


async def test_openapi_documents_predict():
    async with serving(tiny_settings()) as client:
        spec = (await client.get("/openapi.json")).json()
    operation = spec["paths"]["/predict"]["post"]
    assert "multipart/form-data" in operation["requestBody"]["content"]
    assert {"200", "413", "415", "503"} <= set(operation["responses"])


async def test_timing_headers_say_where_the_time_went(face_png):
    async with serving(tiny_settings()) as client:
        detected = await client.post("/predict", content=face_png.read_bytes(), headers={"content-type": "image/png"})
        whole = await client.post(
            "/predict", params=WHOLE, content=face_png.read_bytes(), headers={"content-type": "image/png"}
        )
    for response in (detected, whole):
        names = ("detection", "queue", "inference", "total")
        times = {name: float(response.headers[f"x-{name}-time"]) for name in names}
        assert times["inference"] > 0
        assert times["total"] >= times["detection"] + times["queue"] + times["inference"]
    assert float(detected.headers["x-detection-time"]) > 0
    assert float(whole.headers["x-detection-time"]) == 0
