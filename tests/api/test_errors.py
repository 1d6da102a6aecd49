"""Every client mistake gets its 4xx JSON error, and the server keeps serving afterwards."""

from __future__ import annotations

import pytest

from tests.api.conftest import serving, tiny_settings
from tests.conftest import encode

pytestmark = pytest.mark.anyio


def _assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code
    assert body["error"]["message"]


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
