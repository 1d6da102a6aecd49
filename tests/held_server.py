"""`python -m tests.held_server serve ...`: the real service with a gate in front of its batch worker, so a
test knows what is queued when, instead of hoping a sleep was long enough.

`HELD_SERVER_GATE` names a folder holding two FIFOs the test made (see `Gate`). Every batch, before it runs,
writes its size (one byte) to `entered`, then waits for one byte from `gate`:
  `g`: run the batch on the real model;
  `f`: fail it as a raising model does (out of GPU memory, say): the batcher answers 503 model_failed;
  `k`: kill the batch worker, as a bug in the batcher would; readiness must notice.
The seam is `motivnet_serve.core.batching._timed_call`, the one place a batch meets the model; nothing else is replaced.
"""

from __future__ import annotations

import os
import select
import sys
from pathlib import Path
from typing import Any

from motivnet_serve.cli.main import main
from motivnet_serve.core import batching


class WorkerKilled(BaseException):
    """Not an Exception: it passes every `except Exception` and ends the batch worker task."""


def _model_failure(_: list[Any]) -> list[Any]:
    raise RuntimeError("CUDA out of memory (held_server)")


def install(folder: Path) -> None:
    gate = (folder / "gate").open("rb", buffering=0)
    entered = (folder / "entered").open("wb", buffering=0)
    run_batch = batching._timed_call

    def held(process: batching.Process, payloads: list[Any], clock: batching.Clock) -> Any:
        entered.write(bytes([min(len(payloads), 255)]))
        token = gate.read(1)
        if token == b"k":
            raise WorkerKilled
        return run_batch(_model_failure if token == b"f" else process, payloads, clock)

    batching._timed_call = held


class Gate:
    """The test's side: two FIFOs opened read-write, so neither side ever blocks on opening them."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        os.mkfifo(folder / "gate")
        os.mkfifo(folder / "entered")
        self._gate = os.open(folder / "gate", os.O_RDWR)
        self._entered = os.open(folder / "entered", os.O_RDWR)

    @property
    def env(self) -> dict[str, str]:
        """The server's environment: the gate; no warm-up or detector, which these tests never need (they
        send whole images) and which would only slow each start; and a request deadline of ten minutes, so
        only a test that sets its own deadline ever sees one pass."""
        settings = {"MOTIVNET_WARMUP": "false", "MOTIVNET_DETECTOR": "none", "MOTIVNET_REQUEST_TIMEOUT_MS": "600000"}
        return {**os.environ, **settings, "HELD_SERVER_GATE": str(self.folder)}

    def wait_batch(self, timeout_s: float = 300) -> int:
        """Blocks until a batch reaches the gate; returns its size."""
        ready, _, _ = select.select([self._entered], [], [], timeout_s)
        assert ready, "no batch reached the gate"
        return os.read(self._entered, 1)[0]

    def release(self, tokens: bytes = b"g") -> None:
        os.write(self._gate, tokens)

    def close(self) -> None:
        os.close(self._gate)
        os.close(self._entered)


if __name__ == "__main__":
    install(Path(os.environ["HELD_SERVER_GATE"]))
    sys.exit(main())
