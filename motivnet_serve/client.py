"""A small httpx client for a running motivnet-serve, sync and async.

Errors come back as `ClientError` carrying the server's status, code and message. `video` yields each answer
line as the server sends it; `stream` opens a live session over the `websockets` package.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, BinaryIO

import httpx
from websockets.asyncio.client import ClientConnection as AsyncConnection
from websockets.asyncio.client import connect as async_connect
from websockets.sync.client import ClientConnection, connect


class ClientError(RuntimeError):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


def _files(images: list[str | Path]) -> list[tuple[str, tuple[str, bytes]]]:
    return [("file", (Path(image).name, Path(image).read_bytes())) for image in images]


def _result(response: httpx.Response) -> dict[str, Any]:
    if response.is_success:
        document: dict[str, Any] = response.json()
        return document
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        error = {"code": "http_error", "message": response.text[:200]}
    raise ClientError(response.status_code, error["code"], error["message"])


def _video_request(file: BinaryIO, fps: float, detect: bool, max_faces: int | None) -> dict[str, Any]:
    """The upload streams from the open file; the server spools it to disk."""
    query: dict[str, Any] = {"fps": fps, "detect": detect}
    if max_faces is not None:
        query["max_faces"] = max_faces
    return {"params": query, "files": {"file": (Path(file.name).name, file, "application/octet-stream")}}


def _raise_for(response: httpx.Response) -> None:
    """An error answer (its body already read) as `ClientError`."""
    if not response.is_success:
        _result(response)


def _ws_url(http: httpx.Client | httpx.AsyncClient) -> str:
    return str(http.base_url.copy_with(scheme="wss" if http.base_url.scheme == "https" else "ws", path="/v1/stream"))


def _config_message(config: dict[str, Any] | None) -> str | None:
    return json.dumps({"config": config}) if config is not None else None


class StreamSession:
    """A live session: `send(jpeg)` a frame, `receive()` its reply (one per frame, in order)."""

    def __init__(self, url: str, max_message_bytes: int) -> None:
        self._opened = ExitStack()
        self.connection: ClientConnection = self._opened.enter_context(connect(url, max_size=max_message_bytes))

    def send(self, frame: bytes) -> None:
        self.connection.send(frame)

    def receive(self) -> dict[str, Any]:
        reply: dict[str, Any] = json.loads(self.connection.recv())
        return reply

    def close(self) -> None:
        self._opened.close()

    def __enter__(self) -> StreamSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncStreamSession:
    """`StreamSession` for asyncio code."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def send(self, frame: bytes) -> None:
        await self.connection.send(frame)

    async def receive(self) -> dict[str, Any]:
        reply: dict[str, Any] = json.loads(await self.connection.recv())
        return reply

    async def close(self) -> None:
        await self.connection.close()

    async def __aenter__(self) -> AsyncStreamSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class MotivNetClient:
    """Blocking client; `with MotivNetClient(url) as client: client.predict(["a.jpg"])`."""

    def __init__(self, base_url: str, timeout: float = 60.0) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=timeout)

    def predict(self, images: list[str | Path], detect: bool = True) -> dict[str, Any]:
        return _result(self.http.post("/predict", params={"detect": detect}, files=_files(images)))

    def video(
        self, path: str | Path, fps: float = 5, detect: bool = True, max_faces: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Each answer line of `POST /v1/video` as it arrives: frames, then `{"summary"}` (after an `{"error"}` line
        when the video stopped early)."""
        with (
            Path(path).open("rb") as file,
            self.http.stream("POST", "/v1/video", **_video_request(file, fps, detect, max_faces)) as response,
        ):
            if not response.is_success:
                response.read()
                _raise_for(response)
            for line in response.iter_lines():
                if line:
                    yield json.loads(line)

    def stream(self, config: dict[str, Any] | None = None, max_message_bytes: int = 2**24) -> StreamSession:
        """A live session on `WS /v1/stream`, configured with `config` (detect, max_faces, smoothing)."""
        session = StreamSession(_ws_url(self.http), max_message_bytes)
        if (message := _config_message(config)) is not None:
            session.connection.send(message)
        return session

    def ready(self) -> bool:
        return self.http.get("/health/ready").status_code == 200

    def models(self) -> dict[str, Any]:
        return _result(self.http.get("/v1/models"))

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> MotivNetClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncMotivNetClient:
    """Non-blocking client for asyncio code; the same methods, awaited."""

    def __init__(self, base_url: str, timeout: float = 60.0) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, timeout=timeout)

    async def predict(self, images: list[str | Path], detect: bool = True) -> dict[str, Any]:
        return _result(await self.http.post("/predict", params={"detect": detect}, files=_files(images)))

    async def video(
        self, path: str | Path, fps: float = 5, detect: bool = True, max_faces: int | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        with Path(path).open("rb") as file:
            request = _video_request(file, fps, detect, max_faces)
            async with self.http.stream("POST", "/v1/video", **request) as response:
                if not response.is_success:
                    await response.aread()
                    _raise_for(response)
                async for line in response.aiter_lines():
                    if line:
                        yield json.loads(line)

    async def stream(self, config: dict[str, Any] | None = None, max_message_bytes: int = 2**24) -> AsyncStreamSession:
        session = AsyncStreamSession(await async_connect(_ws_url(self.http), max_size=max_message_bytes))
        if (message := _config_message(config)) is not None:
            await session.connection.send(message)
        return session

    async def ready(self) -> bool:
        return (await self.http.get("/health/ready")).status_code == 200

    async def models(self) -> dict[str, Any]:
        return _result(await self.http.get("/v1/models"))

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncMotivNetClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
