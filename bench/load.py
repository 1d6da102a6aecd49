"""Driving a running server with real images: closed loop (fixed concurrency) and open loop (Poisson arrivals,
as perf_analyzer's request-rate mode), with the server's own batch and queue numbers read from /metrics."""

from __future__ import annotations

import asyncio
import base64
import random
import re
import statistics
import time
from dataclasses import dataclass

import httpx
from tqdm import tqdm


@dataclass
class LoadResult:
    mode: str
    level: float
    seconds: float
    ok: int
    errors: int
    images_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_batch_size: float
    mean_queue_ms: float


def _sample(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def _server_counters(client: httpx.AsyncClient) -> dict[str, float]:
    text = (await client.get("/metrics")).text
    names = (
        "motivnet_batch_size_sum",
        "motivnet_batch_size_count",
        "motivnet_queue_duration_seconds_sum",
        "motivnet_queue_duration_seconds_count",
    )
    return {name: _sample(text, name) for name in names}


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class LoadRun:
    """Latencies and outcomes of one load level; one POST is one image."""

    def __init__(self, client: httpx.AsyncClient, images: list[bytes], detect: bool, as_json: bool = False) -> None:
        self.client, self.images, self.detect, self.as_json = client, images, detect, as_json
        self.latencies: list[float] = []
        self.errors = 0

    async def one(self) -> None:
        body = random.choice(self.images)
        start = time.perf_counter()
        try:
            response = await self.client.post("/predict", params={"detect": self.detect}, **self._upload(body))
            ok = response.status_code == 200
        except httpx.HTTPError:
            ok = False
        if ok:
            self.latencies.append(time.perf_counter() - start)
        else:
            self.errors += 1

    def _upload(self, body: bytes) -> dict:
        """A raw image body, or JSON `{"image": base64}` (LitServe's image examples; its worker queue cannot
        carry a multipart upload's file)."""
        if self.as_json:
            return {"json": {"image": base64.b64encode(body).decode()}}
        return {"content": body, "headers": {"content-type": "image/jpeg"}}

    async def closed(self, concurrency: int, seconds: float, progress: tqdm) -> None:
        stop_at = time.perf_counter() + seconds

        async def worker() -> None:
            while time.perf_counter() < stop_at:
                await self.one()
                progress.update(1)

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    async def open(self, rate: float, seconds: float, progress: tqdm) -> None:
        stop_at = time.perf_counter() + seconds
        pending: set[asyncio.Task] = set()
        while time.perf_counter() < stop_at:
            task = asyncio.ensure_future(self.one())
            task.add_done_callback(lambda _: progress.update(1))
            pending.add(task)
            task.add_done_callback(pending.discard)
            await asyncio.sleep(random.expovariate(rate))
        await asyncio.gather(*pending)


async def measure(
    url: str,
    images: list[bytes],
    mode: str,
    level: float,
    seconds: float,
    detect: bool = False,
    as_json: bool = False,
) -> LoadResult:
    """One load level: `mode` "closed" (level = concurrency) or "open" (level = requests per second); a server
    without this service's /metrics (the LitServe peer) reports no batch or queue numbers."""
    limits = httpx.Limits(max_connections=1024, max_keepalive_connections=1024)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        run = LoadRun(client, images, detect, as_json)
        await run.closed(min(4, int(level)) if mode == "closed" else 2, 1.0, tqdm(disable=True))
        run.latencies.clear()
        run.errors = 0
        before = await _server_counters(client)
        start = time.perf_counter()
        with tqdm(desc=f"{mode} {level:g}", unit="req", leave=False, mininterval=2.0) as progress:
            if mode == "closed":
                await run.closed(int(level), seconds, progress)
            else:
                await run.open(level, seconds, progress)
        elapsed = time.perf_counter() - start
        after = await _server_counters(client)
    delta = {name: after[name] - before[name] for name in after}
    batches = delta["motivnet_batch_size_count"] or 1
    queued = delta["motivnet_queue_duration_seconds_count"] or 1
    ms = [latency * 1000 for latency in run.latencies]
    return LoadResult(
        mode,
        level,
        elapsed,
        len(ms),
        run.errors,
        len(ms) / elapsed,
        statistics.median(ms) if ms else float("nan"),
        _percentile(ms, 0.9),
        _percentile(ms, 0.99),
        delta["motivnet_batch_size_sum"] / batches,
        1000 * delta["motivnet_queue_duration_seconds_sum"] / queued,
    )


def format_load(results: list[LoadResult]) -> str:
    lines = [
        f"{'mode':>6} {'level':>6} {'img/s':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'batch':>6} "
        f"{'queue ms':>8} {'errors':>6}"
    ]
    for r in results:
        lines.append(
            f"{r.mode:>6} {r.level:6g} {r.images_per_s:8.2f} {r.p50_ms:8.1f} {r.p90_ms:8.1f} {r.p99_ms:8.1f} "
            f"{r.mean_batch_size:6.2f} {r.mean_queue_ms:8.1f} {r.errors:6d}"
        )
    return "\n".join(lines)
