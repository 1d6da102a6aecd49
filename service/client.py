"""A small httpx client for a running motivnet-serve, sync and async.

Errors come back as `ClientError` carrying the server's status, code and message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx


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


class MotivNetClient:
    """Blocking client; `with MotivNetClient(url) as client: client.predict(["a.jpg"])`."""

    def __init__(self, base_url: str, timeout: float = 60.0) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=timeout)

    def predict(self, images: list[str | Path], detect: bool = True) -> dict[str, Any]:
        return _result(self.http.post("/predict", params={"detect": detect}, files=_files(images)))

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
