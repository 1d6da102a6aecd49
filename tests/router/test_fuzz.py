"""No input gives a 5xx: schemathesis over the OpenAPI document, then mutated real images of every accepted
format (a fixed seed), all against a real server, which must still be live and ready afterwards."""

from __future__ import annotations

import asyncio
import random

import httpx
import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from schemathesis import GenerationMode

from bench.server_process import ServerProcess
from tests.conftest import encode
from tests.core.test_images import FORMATS, mutations
from tests.heif_files import avif_10bit, avif_coded_larger, multi_image_heic

MUTANTS_PER_FORMAT = 300
SCHEMA_EXAMPLES = 50
HEADER_MUTANTS = 150

pytestmark = [pytest.mark.server, pytest.mark.slow]


def _schema_fuzz(url: str) -> list[str]:
    """Server errors found by schemathesis, positive and negative cases for every operation."""
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        modes = st.sampled_from([GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
        strategy = modes.flatmap(lambda mode, op=operation: op.as_strategy(generation_mode=mode))

        @given(case=strategy)
        @settings(max_examples=SCHEMA_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
        def run(case) -> None:
            response = case.call(base_url=url, timeout=30)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.path}: {response.status_code} {response.text[:200]}")

        run()
    return failures


def _corpus(face_image: Image.Image) -> list[tuple[str, bytes]]:
    small = face_image.resize((96, 96))
    corpus = []
    for fmt, params in FORMATS.items():
        rng = random.Random(f"fuzz-{fmt}")
        corpus += [(fmt, data) for data in mutations(encode(small, fmt, **params), rng, MUTANTS_PER_FORMAT)]
    return corpus + _phone_corpus(small)


def _phone_corpus(small: Image.Image) -> list[tuple[str, bytes]]:
    """HEIC and AVIF beyond plain 8-bit encodes (a 10-bit AVIF, a burst HEIC, an AVIF coding more than it
    declares), mutated anywhere and mutated inside the header boxes before `mdat` (ispe, iloc, av1C, pitm),
    where sizes and offsets are read before anything is decoded."""
    ramp = np.linspace(0, 65535, 64 * 64 * 3).reshape(64, 64, 3).astype(np.uint16)
    sources = {
        "AVIF-10bit": avif_10bit(ramp),
        "HEIF-burst": multi_image_heic([small, small.rotate(90), small.transpose(Image.Transpose.FLIP_LEFT_RIGHT)], 1),
        "AVIF-coded-larger": avif_coded_larger(256),
    }
    corpus = []
    for name, data in sources.items():
        rng = random.Random(f"fuzz-{name}")
        corpus += [(name, mutant) for mutant in mutations(data, rng, MUTANTS_PER_FORMAT)]
        corpus += [(name, mutant) for mutant in _header_mutations(data, rng, HEADER_MUTANTS)]
    return corpus


def _header_mutations(data: bytes, rng: random.Random, count: int) -> list[bytes]:
    """One to four bytes changed before the media data: box sizes, item locations and declared sizes."""
    end = data.find(b"mdat") if b"mdat" in data else len(data)
    out = []
    for _ in range(count):
        mutable = bytearray(data)
        for _ in range(rng.randrange(1, 5)):
            mutable[rng.randrange(end)] = rng.choice([0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256)])
        out.append(bytes(mutable))
    return out


async def _post_all(url: str, corpus: list[tuple[str, bytes]]) -> list[tuple[str, int]]:
    limits = httpx.Limits(max_connections=4)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        gate = asyncio.Semaphore(4)

        async def one(index: int, fmt: str, data: bytes) -> tuple[str, int]:
            detect = "true" if index % 2 else "false"
            async with gate:
                if index % 3:
                    response = await client.post(f"/predict?detect={detect}", files={"file": (f"{fmt}.bin", data)})
                else:
                    response = await client.post(f"/predict?detect={detect}", content=data)
            return fmt, response.status_code

        return await asyncio.gather(*(one(i, fmt, data) for i, (fmt, data) in enumerate(corpus)))


def test_no_input_gives_a_server_error(face_image):
    with ServerProcess() as server:
        server.wait_ready()
        failures = _schema_fuzz(server.url)
        statuses = asyncio.run(_post_all(server.url, _corpus(face_image)))
        assert httpx.get(f"{server.url}/health/live", timeout=5).status_code == 200
        assert httpx.get(f"{server.url}/health/ready", timeout=5).status_code == 200
    assert not failures, failures[:5]
    server_errors = [(fmt, status) for fmt, status in statuses if status >= 500]
    assert not server_errors, server_errors[:10]
    assert {status for _, status in statuses} <= {200, 400, 413, 415, 422}
