"""The MotivNet family behind the `Predictor` contract."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from service.model.checkpoint import load_weights
from service.model.motivnet import build_motivnet
from service.model.preprocess import Preprocessor
from service.model.spec import ModelSpec
from service.predictor import describe_loaded, maybe_compiled


class MotivNetPredictor:
    """Loads a MotivNet folder onto a device; softmax is taken in float32 whatever the compute dtype."""

    def __init__(self, spec: ModelSpec, device: torch.device, dtype: torch.dtype, compile_model: bool = False) -> None:
        model = load_weights(build_motivnet(spec.architecture), spec.checkpoint_path, device, dtype)
        self.model = maybe_compiled(model, compile_model)
        self.preprocessor = Preprocessor(spec.preprocess, spec.architecture, device, dtype)
        self.info = describe_loaded(spec, model, device, dtype)

    def preprocess(self, images: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.preprocessor(list(images))

    @torch.inference_mode()
    def predict(self, batch: torch.Tensor) -> torch.Tensor:
        return self.model(batch).float().softmax(dim=-1).cpu()
