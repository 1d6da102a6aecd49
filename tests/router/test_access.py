"""API keys, origins, CORS, nosniff, the OpenAPI statuses, one log line per server error, no paths in answers."""

from __future__ import annotations

import asyncio
import logging
import shutil

import httpx
import pytest
from fastapi import WebSocket
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from motivnet_serve.router.app import create_app
from tests.conftest import TINY_DIR
from tests.router.conftest import serving, tiny_settings

pytestmark = pytest.mark.anyio
PNG = {"content-type": "image/png"}


async def test_api_keys_guard_the_model_but_not_health(face_png):
    async with serving(tiny_settings(api_keys="alpha, beta", metrics_public=False)) as client:
        bare = await client.post("/predict", content=face_png.read_bytes(), headers=PNG)
        assert bare.status_code == 401
        assert bare.headers["www-authenticate"] == "Bearer"
        assert bare.json()["error"]["code"] == "unauthorized"
        wrong = await client.get("/v1/models", headers={"authorization": "Bearer gamma"})
        assert wrong.status_code == 401
        ok = await client.post(
            "/predict", content=face_png.read_bytes(), headers={**PNG, "authorization": "Bearer beta"}
        )
        assert ok.status_code == 200
        assert (await client.get("/health/live")).status_code == 200
        assert (await client.get("/metrics")).status_code == 401
        assert (await client.get("/metrics", headers={"authorization": "Bearer alpha"})).status_code == 200
        assert (await client.get("/static/app.js")).status_code == 404, "static files stay open"


async def test_metrics_open_by_default_with_keys():
    async with serving(tiny_settings(api_keys="alpha")) as client:
        assert (await client.get("/metrics")).status_code == 200


def test_websocket_key_from_header_or_access_token():
    app = create_app(tiny_settings(api_keys="alpha"))

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("in")
        await websocket.close()

    app.add_api_websocket_route("/v1/echo", echo)
    client = TestClient(app)
    with client.websocket_connect("/v1/echo?access_token=alpha") as socket:
        assert socket.receive_text() == "in"
    with client.websocket_connect("/v1/echo", headers={"authorization": "Bearer alpha"}) as socket:
        assert socket.receive_text() == "in"
    with pytest.raises(WebSocketDisconnect):
        with client.websocket_connect("/v1/echo?access_token=wrong") as socket:
            socket.receive_text()


async def test_cross_origin_requests_need_the_allow_list(face_png):
    async with serving(tiny_settings()) as client:
        foreign = await client.post(
            "/predict", content=face_png.read_bytes(), headers={**PNG, "origin": "https://evil.example"}
        )
        assert foreign.status_code == 403
        assert foreign.json()["error"]["code"] == "origin_not_allowed"
        assert "access-control-allow-origin" not in foreign.headers
        same = await client.post("/predict", content=face_png.read_bytes(), headers={**PNG, "origin": "http://test"})
        assert same.status_code == 200
    async with serving(tiny_settings(cors_allow_origins="https://app.example")) as client:
        preflight = await client.options(
            "/predict",
            headers={"origin": "https://app.example", "access-control-request-method": "POST"},
        )
        assert preflight.headers["access-control-allow-origin"] == "https://app.example"
        allowed = await client.post(
            "/predict", content=face_png.read_bytes(), headers={**PNG, "origin": "https://app.example"}
        )
        assert allowed.status_code == 200
        assert "x-total-time" in allowed.headers["access-control-expose-headers"]


async def test_every_answer_says_nosniff_and_the_openapi_lists_every_status():
    async with serving(tiny_settings()) as client:
        for response in (await client.get("/health/live"), await client.get("/nowhere")):
            assert response.headers["x-content-type-options"] == "nosniff"
        document = (await client.get("/openapi.json")).json()
    paths = document["paths"]
    assert {"401", "403", "408", "413", "503", "504"} <= set(paths["/predict"]["post"]["responses"])
    assert {"401", "503"} <= set(paths["/v1/models"]["get"]["responses"])
    schema = paths["/predict"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert schema["properties"]["file"]["minItems"] == 1


async def test_a_server_error_is_one_log_line_and_a_json_500(caplog):
    app = create_app(tiny_settings())

    @app.get("/boom")
    async def boom() -> None:
        raise AttributeError("a bug")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        with caplog.at_level(logging.INFO):
            response = await client.get("/boom")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal"
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert not errors[0].exc_info
    assert "AttributeError: a bug" in errors[0].getMessage()
    assert "\n" not in errors[0].getMessage()


async def test_a_load_failure_shows_no_server_paths(tmp_path):
    folder = tmp_path / "broken-model"
    shutil.copytree(TINY_DIR, folder)
    (folder / "tiny_motivnet.pth").write_bytes(b"not a checkpoint")
    app = create_app(tiny_settings().model_copy(update={"model_dir": str(folder)}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            for _ in range(600):
                ready = await client.get("/health/ready")
                if ready.json()["error"]["message"] == "failed":
                    break
                await asyncio.sleep(0.05)
            answers = [await client.get("/v1/models"), await client.post("/predict", content=b"x", headers=PNG)]
    for answer in answers:
        assert answer.status_code == 503
        assert answer.headers["retry-after"]
        assert str(tmp_path) not in answer.text
        assert "/" not in answer.json()["error"]["message"]


@pytest.mark.parametrize("size", [(3841, 1), (1, 3841), (1, 1), (2, 5000)])
async def test_degenerate_sizes_are_answered(size):
    from PIL import Image

    from tests.conftest import encode

    body = encode(Image.new("RGB", size, (120, 90, 60)), "PNG")
    async with serving(tiny_settings()) as client:
        for detect in ("true", "false"):
            response = await client.post(f"/predict?detect={detect}", content=body, headers=PNG)
            assert response.status_code == 200, response.text
