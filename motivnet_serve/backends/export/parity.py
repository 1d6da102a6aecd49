"""Does the ONNX file answer as the served torch model does? Both run on the same inputs; ONNX Runtime on the CPU.

For a classifier the torch side is the loaded `Predictor` itself (frozen or eager, as the service runs it),
so the check covers the export and the serving path at once. For the detector the torch side is the eager
network; its face probabilities (softmax of the logits) are compared, and top-1 is face-or-background.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from torch import nn

from motivnet_serve.backends.emotion.predictor import Predictor


@dataclass(frozen=True)
class Parity:
    """Largest absolute difference of a probability, and the share of rows whose top class agrees."""

    rows: int
    max_abs_diff: float
    top1_agreement: float

    def __str__(self) -> str:
        return f"{self.rows} rows: max |dp| {self.max_abs_diff:.2e}, top-1 agreement {self.top1_agreement:.1%}"


def onnx_session(path: Path) -> onnxruntime.InferenceSession:
    """ONNX Runtime on the CPU with torch's thread count, so both sides share the cores alike."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def compare(expected: torch.Tensor, got: np.ndarray) -> Parity:
    """`expected` and `got` are [rows, classes] probabilities."""
    actual = torch.from_numpy(got).float()
    agree = (expected.argmax(dim=-1) == actual.argmax(dim=-1)).float().mean()
    return Parity(len(expected), float((expected - actual).abs().max()), float(agree))


def emotion_parity(predictor: Predictor, path: Path, crops: Sequence[torch.Tensor]) -> Parity:
    """Face crops (HxWx3 uint8) through the predictor's own preprocessing, then both models."""
    batch = predictor.preprocess(crops).float()
    expected = predictor.predict(batch)
    (got,) = onnx_session(path).run(["probabilities"], {"pixels": batch.cpu().numpy()})
    return compare(expected, got)


@torch.inference_mode()
def detector_parity(network: nn.Module, path: Path, images: Sequence[torch.Tensor]) -> Parity:
    """Whole photos (HxWx3 uint8), one at a time since their sizes differ; rows are anchors."""
    session = onnx_session(path)
    expected, got = [], []
    for image in images:
        rgb = image.permute(2, 0, 1)[None].float().contiguous()
        expected.append(network(rgb)[1].softmax(dim=-1).flatten(0, 1))
        (logits,) = session.run(["face_logits"], {"rgb": rgb.numpy()})
        got.append(torch.from_numpy(logits).softmax(dim=-1).flatten(0, 1))
    return compare(torch.cat(expected), torch.cat(got).numpy())
