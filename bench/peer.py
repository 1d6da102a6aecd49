"""The peer: the same model folder behind LitServe, with LitServe's own batching, as its docs set it up.

Run as `python -m bench.peer --model-dir DIR --port N`: one LitServe inference worker on the CPU (or GPU)
with `max_batch_size` and `batch_timeout` on the `LitAPI`, images sent as base64 in JSON (its image
examples; its worker queue cannot carry a multipart upload's file), each image one face (this service's
`detect=false`), and the service's own predictor for decoding, preprocessing and the forward, so only the
serving around it differs.
"""

from __future__ import annotations

import argparse
import base64
from pathlib import Path
from typing import Any

import litserve as ls
import torch

from motivnet_serve.backends.emotion.predictor import Predictor
from motivnet_serve.core.images import decode_image
from motivnet_serve.core.loading import load_predictor
from motivnet_serve.settings import LimitOptions

MAX_IMAGE_PIXELS: int = LimitOptions.model_fields["max_image_pixels"].default


class EmotionAPI(ls.LitAPI):
    """LitServe's hooks around the service's predictor: decode, batch, predict, unbatch, encode."""

    def __init__(self, model_dir: str, **batching: Any) -> None:
        super().__init__(**batching)
        self.model_dir = model_dir
        self.predictor: Predictor

    def setup(self, device: str) -> None:
        """`device` is the one LitServe assigns this worker ("cpu", "cuda:0", ...)."""
        self.predictor = load_predictor(self.model_dir, Path(self.model_dir).parent, device, "auto")

    def decode_request(self, request: dict[str, str]) -> torch.Tensor:
        return decode_image(base64.b64decode(request["image"]), MAX_IMAGE_PIXELS)

    def batch(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        return self.predictor.preprocess(inputs)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.predictor.predict(x)

    def unbatch(self, output: torch.Tensor) -> list[torch.Tensor]:
        return list(output)

    def encode_response(self, output: torch.Tensor) -> dict[str, list[float]]:
        return {"probabilities": output.tolist()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-batch-size", type=int, default=8)
    parser.add_argument("--batch-timeout", type=float, default=0.005, help="seconds, as --max-batch-delay-ms")
    args = parser.parse_args()
    api = EmotionAPI(args.model_dir, max_batch_size=args.max_batch_size, batch_timeout=args.batch_timeout)
    accelerator = "cpu" if args.device == "cpu" else "auto"
    server = ls.LitServer(api, accelerator=accelerator, workers_per_device=1, timeout=120)
    server.run(host="127.0.0.1", port=args.port, generate_client_file=False, log_level="warning")


if __name__ == "__main__":
    main()
