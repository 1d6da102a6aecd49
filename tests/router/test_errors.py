"""Every client mistake gets its 4xx JSON error, and the server keeps serving afterwards."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path

import httpx
import pytest
import torch

from motivnet_serve.router.app import create_app
from tests.conftest import TINY_DIR, encode
from tests.router.conftest import serving, tiny_settings

pytestmark = pytest.mark.anyio
PNG = {"content-type": "image/png"}


def _assert_error(response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]["message"]


async def _still_serving(client, face_png) -> None:
    response = await client.post("/predict", content=face_png.read_bytes(), headers={"content-type": "image/png"})
    assert response.status_code == 200
    assert (await client.get("/health/ready")).status_code == 200


async def test_bad_inputs_each_get_their_error(face_png, face_image):
    png = face_png.read_bytes()
    cases = [
        ({"files": {"other": ("a.png", png, "image/png")}}, 400, "no_image"),
        ({"content": b"", "headers": {"content-type": "image/png"}}, 400, "no_image"),
        ({"content": b"hello", "headers": {"content-type": "text/plain"}}, 415, "unsupported_image"),
        ({"content": b"%PDF-1.4 not an image", "headers": {"content-type": "image/png"}}, 415, "unsupported_image"),
        ({"files": {"file": ("a.txt", b"plain words", "text/plain")}}, 415, "unsupported_image"),
        ({"content": png[: len(png) // 2], "headers": {"content-type": "image/png"}}, 422, "corrupt_image"),
        (
            {"content": encode(face_image, "JPEG")[:3000], "headers": {"content-type": "image/jpeg"}},
            422,
            "corrupt_image",
        ),
        (
            {"content": b"--x\r\nbroken", "headers": {"content-type": "multipart/form-data; boundary=x"}},
            400,
            "no_image",
        ),
    ]
    async with serving(tiny_settings()) as client:
        for request, status, code in cases:
            _assert_error(await client.post("/predict", **request), status, code)
        _assert_error(await client.post("/predict?detect=perhaps", content=png), 422, "invalid_request")
        _assert_error(await client.get("/nowhere"), 404, "not_found")
        _assert_error(await client.get("/predict"), 405, "method_not_allowed")
        await _still_serving(client, face_png)


async def test_too_many_pixels_is_refused_before_decoding(face_png):
    async with serving(tiny_settings(max_image_pixels=100_000)) as client:
        response = await client.post("/predict", content=face_png.read_bytes(), headers={"content-type": "image/png"})
        _assert_error(response, 413, "image_too_large")
        assert "512x512" in response.json()["error"]["message"]


async def test_body_too_large_by_declared_length(face_png):
    async with serving(tiny_settings(max_upload_bytes=100_000)) as client:
        response = await client.post("/predict", files={"file": ("f.png", face_png.read_bytes(), "image/png")})
        _assert_error(response, 413, "upload_too_large")


async def test_body_too_large_while_streaming(face_png):
    """No Content-Length: the limit must still hold as the chunks arrive."""
    data = face_png.read_bytes()

    async def chunks():
        for start in range(0, len(data), 16_384):
            yield data[start : start + 16_384]

    async with serving(tiny_settings(max_upload_bytes=100_000)) as client:
        response = await client.post("/predict", content=chunks(), headers={"content-type": "image/png"})
        _assert_error(response, 413, "upload_too_large")
        assert (await client.get("/health/ready")).status_code == 200


async def test_too_many_files(face_png):
    files = [("file", (f"{i}.png", face_png.read_bytes(), "image/png")) for i in range(3)]
    async with serving(tiny_settings(max_files_per_request=2)) as client:
        _assert_error(await client.post("/predict", files=files), 413, "too_many_files")
        await _still_serving(client, face_png)


async def test_one_bad_file_among_good_names_it(face_png):
    files = [("file", ("good.png", face_png.read_bytes(), "image/png")), ("file", ("bad.png", b"junk", "image/png"))]
    async with serving(tiny_settings()) as client:
        response = await client.post("/predict", files=files)
        _assert_error(response, 415, "unsupported_image")
        assert "bad.png" in response.json()["error"]["message"]


async def test_multipart_without_a_boundary_is_bad_request(face_png):
    async with serving(tiny_settings()) as client:
        response = await client.post("/predict", content=b"--x\r\n", headers={"content-type": "multipart/form-data"})
        _assert_error(response, 400, "bad_request")
        await _still_serving(client, face_png)


def _tiny_copy(folder: Path, state: dict[str, torch.Tensor] | bytes) -> Path:
    """The tiny model's folder with another checkpoint in it."""
    folder.mkdir()
    shutil.copy(TINY_DIR / "model.json", folder / "model.json")
    checkpoint = folder / json.loads((TINY_DIR / "model.json").read_text())["checkpoint"]
    if isinstance(state, bytes):
        checkpoint.write_bytes(state)
    else:
        torch.save(state, checkpoint)
    return folder


async def test_non_finite_output_is_inference_failed(tmp_path, face_png):
    state = torch.load(TINY_DIR / "tiny_motivnet.pth", weights_only=True)
    bias = next(key for key in state if key.endswith("duplicate_pooling_bias"))
    state[bias] = torch.full_like(state[bias], float("nan"))
    async with serving(tiny_settings(model_dir=str(_tiny_copy(tmp_path / "nan", state)))) as client:
        response = await client.post("/predict?detect=false", content=face_png.read_bytes(), headers=PNG)
        _assert_error(response, 422, "inference_failed")
        assert "non-finite" in response.json()["error"]["message"]


async def test_a_model_that_fails_to_load_says_so_on_ready_and_predict(tmp_path, face_png):
    settings = tiny_settings(model_dir=str(_tiny_copy(tmp_path / "broken", b"not a checkpoint")))
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            give_up = time.monotonic() + 60
            while (ready := await client.get("/health/ready")).json()["error"]["message"] == "loading":
                assert time.monotonic() < give_up, "the model never finished loading"
                await asyncio.sleep(0.01)
            _assert_error(ready, 503, "not_ready")
            assert ready.json()["error"]["message"] == "failed"
            response = await client.post("/predict?detect=false", content=face_png.read_bytes(), headers=PNG)
            assert "model failed to load" in _assert_error(response, 503, "not_ready")
