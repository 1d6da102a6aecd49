"""The MotivNet family behind the `Predictor` contract."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from motivnet_serve.backends.emotion.checkpoint import load_weights
from motivnet_serve.backends.emotion.motivnet import build_motivnet
from motivnet_serve.backends.emotion.predictor import describe_loaded, finish_warmup, runnable
from motivnet_serve.backends.emotion.preprocess import Preprocessor
from motivnet_serve.backends.emotion.registry import ModelFamily, register_family
from motivnet_serve.backends.emotion.spec import Architecture, ModelSpec
from motivnet_serve.backends.torch_runtime.acceleration import EAGER, Acceleration
from motivnet_serve.backends.torch_runtime.float8 import to_float8


class MotivNetPredictor:
    """Loads a MotivNet folder onto a device; softmax is taken in float32 whatever the compute dtype."""

    def __init__(
        self, spec: ModelSpec, device: torch.device, dtype: torch.dtype, acceleration: Acceleration = EAGER
    ) -> None:
        arch = spec.architecture
        if not isinstance(arch, Architecture):
            raise TypeError(f"{spec.name}: family 'motivnet' needs a MotivNet architecture")
        model = load_weights(build_motivnet(arch), spec.checkpoint_path, device, dtype)
        self.info = describe_loaded(spec, model, device, dtype)
        if acceleration.fp8:
            to_float8(model.pose_encoder)
        self.model = runnable(model, acceleration, self.info, device)
        self.preprocessor = Preprocessor(spec.preprocess, arch, device, dtype)

    def preprocess(self, images: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.preprocessor(list(images))

    @torch.inference_mode()
    def predict(self, batch: torch.Tensor) -> torch.Tensor:
        return self.model(batch).float().softmax(dim=-1).cpu()

    def warmed_up(self) -> None:
        finish_warmup(self.model)


register_family(
    ModelFamily(
        name="motivnet",
        architecture=Architecture,
        build_meta=build_motivnet,
        load=MotivNetPredictor,
        preprocessor=Preprocessor,
    )
)
