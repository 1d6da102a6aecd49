"""The default deployment, measured as `docker compose up` runs it: compile 'auto', the compile cache,
detection on, default batch limits. Cold start (empty caches), warm restart (only our cache folder, as a
new replica sees it), then photos with detection, one client at a time, and saturation, on the warm server.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx

from bench.load import measure
from bench.server_process import ServerProcess

CACHE_LINES = (
    "compile cache loaded",
    "compile cache saved",
    "no compile cache",
    "could not be",
    "torch.compile failed",
)


def _step(result: dict[str, Any], name: str, work: Callable[[], Any]) -> None:
    """One measurement; its failure is recorded and the next one still runs."""
    try:
        result[name] = work()
    except Exception:  # noqa: BLE001 - a benchmark reports what broke and goes on
        result[name] = {"error": traceback.format_exc()}
        print(result[name]["error"], flush=True)


def _start(options: list[str], log: Path, env: dict[str, str], timeout_s: float) -> tuple[ServerProcess, dict]:
    """A server and how long it took to be ready, with the compile-cache lines of its log."""
    began = time.perf_counter()
    server = ServerProcess(*options, log_path=log, env=env)
    try:
        server.wait_ready(timeout_s)
    except BaseException:
        server.stop()
        raise
    seconds = time.perf_counter() - began
    lines = [line.strip() for line in log.read_text().splitlines() if any(key in line for key in CACHE_LINES)]
    return server, {"ready_s": round(seconds, 1), "cache_log": lines}


def _faces_in(url: str, photo: bytes) -> int:
    answer = httpx.post(f"{url}/predict", content=photo, headers={"content-type": "image/jpeg"}, timeout=60)
    return len(answer.json()["results"][0]["faces"])


def measure_deployment(
    model_dir: Path,
    device: str,
    photo: Path,
    plain: Path,
    out: Path,
    seconds: float,
    max_batch_size: int,
    detect_concurrency: int = 16,
    start_timeout_s: float = 540,
) -> dict[str, Any]:
    """`max_batch_size` is the server's own (the default deployment's unless the smoke test shrinks it)."""
    options = ["--model-dir", str(model_dir), "--device", device, "--max-batch-size", str(max_batch_size)]
    cache = Path(tempfile.mkdtemp(prefix="motivnet-compile-cache-"))
    result: dict[str, Any] = {"compile_cache_dir": str(cache), "options": options, "photo": photo.name}

    def env(name: str) -> dict[str, str]:
        inductor = tempfile.mkdtemp(prefix=f"inductor-{name}-")  # torch's own cache starts empty each time
        return {"MOTIVNET_COMPILE_CACHE_DIR": str(cache), "TORCHINDUCTOR_CACHE_DIR": inductor}

    def cold() -> dict:
        server, started = _start(options, out / "server_cold.log", env("cold"), start_timeout_s)
        server.stop()
        return {**started, "cache_files": sorted(path.name for path in cache.iterdir())}

    _step(result, "cold_start", cold)
    server, started = _start(options, out / "server_warm.log", env("warm"), start_timeout_s)
    result["warm_start"] = started
    with server:
        image, plain_image = photo.read_bytes(), plain.read_bytes()

        def detect() -> dict:
            faces = _faces_in(server.url, image)
            load = asdict(asyncio.run(measure(server.url, [image], "closed", detect_concurrency, seconds, detect=True)))
            return {"faces_per_image": faces, "faces_per_s": faces * load["images_per_s"], "load": load}

        def closed(level: int) -> Callable[[], dict]:
            return lambda: asdict(asyncio.run(measure(server.url, [plain_image], "closed", level, seconds)))

        _step(result, "served_detect", detect)
        _step(result, "concurrency_1", closed(1))
        _step(result, "saturation", closed(min(4 * max_batch_size, detect_concurrency * 2)))
    return result
