"""The batch step with the real tiny model: one bad face fails alone, non-finite outputs become errors."""

from __future__ import annotations

import json
import logging
import shutil
import threading

import torch
import torch._dynamo.config as dynamo_config

from motivnet_serve.backends.emotion.checkpoint import read_state_dict
from motivnet_serve.backends.emotion.motivnet_predictor import MotivNetPredictor
from motivnet_serve.backends.emotion.spec import load_model_spec
from motivnet_serve.backends.torch_runtime.acceleration import Acceleration
from motivnet_serve.core.batch_step import BatchStep
from motivnet_serve.core.errors import InferenceError

CPU = torch.device("cpu")


def _step(model_dir) -> BatchStep:
    return BatchStep(MotivNetPredictor(load_model_spec(model_dir), CPU, torch.float32))


def test_a_face_that_cannot_be_preprocessed_fails_alone(tiny_dir, face_rgb):
    step = _step(tiny_dir)
    empty = torch.zeros((0, 10, 3), dtype=torch.uint8)
    results = step([face_rgb, empty, face_rgb.flip(1)])
    assert isinstance(results[1], InferenceError)
    alone = step([face_rgb])[0]
    assert torch.allclose(results[0], alone, atol=1e-5)
    assert isinstance(results[2], torch.Tensor)
    assert not torch.allclose(results[2], alone, atol=1e-4)


def test_non_finite_probabilities_become_errors(tiny_dir, tmp_path, face_rgb):
    state = {key: tensor.clone() for key, tensor in read_state_dict(tiny_dir / "tiny_motivnet.pth").items()}
    state["decoder.decoder.duplicate_pooling_bias"][0] = float("nan")
    torch.save(state, tmp_path / "tiny_motivnet.pth")
    shutil.copy(tiny_dir / "model.json", tmp_path / "model.json")
    assert json.loads((tmp_path / "model.json").read_text())["checkpoint"] == "tiny_motivnet.pth"
    [result] = _step(tmp_path)([face_rgb])
    assert isinstance(result, InferenceError)
    assert "non-finite" in result.message


def test_warmup_ends_by_saving_a_compiled_model_s_cache(tiny_dir, tmp_path, caplog):
    """Dynamo switched off keeps this fast: the compiled wrapper runs eagerly, and its cache save is tried."""
    acceleration = Acceleration(compile=True, cache_dir=tmp_path)
    step = BatchStep(MotivNetPredictor(load_model_spec(tiny_dir), CPU, torch.float32, acceleration))
    with (
        caplog.at_level(logging.WARNING, "motivnet_serve.backends.torch_runtime.compile_cache"),
        dynamo_config.patch(disable=True),
    ):
        step.warmup([1])
    saves = [r.getMessage() for r in caplog.records if "saved to" in r.getMessage() or "artefacts" in r.getMessage()]
    assert len(saves) == 1, caplog.text


def test_each_forward_takes_the_threads_the_policy_gives_as_it_starts(tiny_dir, face_rgb):
    """The engine's `ThreadPolicy` answers per forward; the step sets the calling thread's count from it."""
    answers = iter([3, 1])
    step = BatchStep(MotivNetPredictor(load_model_spec(tiny_dir), CPU, torch.float32), lambda: next(answers))
    seen: list[int] = []

    def on_worker() -> None:
        for _ in range(2):
            step([face_rgb])
            seen.append(torch.get_num_threads())

    worker = threading.Thread(target=on_worker)
    worker.start()
    worker.join(60)
    assert seen == [3, 1]
