"""The Triton model repository: files where Triton looks for them, and a config.pbtxt that Triton's own
`ModelConfig` protobuf (tritonclient's copy of model_config.proto) parses strictly."""

from __future__ import annotations

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from motivnet_serve.backends.emotion.spec import MOTIVNET_LABELS, load_model_spec
from motivnet_serve.backends.export.onnx import export_detector, export_emotion
from motivnet_serve.backends.export.parity import onnx_session
from motivnet_serve.backends.export.triton import write_triton_model

pytestmark = pytest.mark.slow  # exports two networks (20 s on 2 busy cores)


def parse(text: str) -> model_config_pb2.ModelConfig:
    return text_format.Parse(text, model_config_pb2.ModelConfig())  # unknown fields or bad values raise


@pytest.fixture(scope="module")
def repo(bundled_weights, tmp_path_factory):
    folder = tmp_path_factory.mktemp("exports")
    spec = load_model_spec(bundled_weights / "mini-xception")
    classifier = export_emotion(spec, folder / "mini.onnx")
    weights = bundled_weights / "detectors" / "mobilenet0.25_Final.pth"
    detector = export_detector("retinaface-mobilenet", weights, folder / "detector.onnx")
    repo = folder / "repo"
    for model in (classifier, detector):
        write_triton_model(repo, model, max_batch_size=16)
    return repo


def test_layout_is_what_triton_loads(repo):
    files = sorted(str(path.relative_to(repo)) for path in repo.rglob("*") if path.is_file())
    assert files == [
        "mini-xception-fer2013/1/model.onnx",
        "mini-xception-fer2013/config.pbtxt",
        "mini-xception-fer2013/labels.txt",
        "retinaface-mobilenet/1/model.onnx",
        "retinaface-mobilenet/config.pbtxt",
    ]
    assert onnx_session(repo / "mini-xception-fer2013" / "1" / "model.onnx").get_inputs()[0].name == "pixels"


def test_classifier_config_parses_and_matches_the_graph(repo):
    folder = repo / "mini-xception-fer2013"
    config = parse((folder / "config.pbtxt").read_text())
    assert config.name == folder.name
    assert config.platform == "onnxruntime_onnx"
    assert config.max_batch_size == 16
    assert config.dynamic_batching.max_queue_delay_microseconds > 0
    (pixels,) = config.input
    assert (pixels.name, pixels.data_type, list(pixels.dims)) == ("pixels", model_config_pb2.TYPE_FP32, [1, 64, 64])
    (probabilities,) = config.output
    assert (probabilities.name, list(probabilities.dims)) == ("probabilities", [7])
    labels = (folder / probabilities.label_filename).read_text().splitlines()
    assert labels == list(MOTIVNET_LABELS)
    session = onnx_session(folder / "1" / "model.onnx")
    assert [i.shape for i in session.get_inputs()] == [["batch", 1, 64, 64]]


def test_detector_config_has_free_sizes_and_no_labels(repo):
    config = parse((repo / "retinaface-mobilenet" / "config.pbtxt").read_text())
    assert list(config.input[0].dims) == [3, -1, -1]
    assert [(o.name, list(o.dims), o.label_filename) for o in config.output] == [
        ("box_offsets", [-1, 4], ""),
        ("face_logits", [-1, 2], ""),
        ("landmark_offsets", [-1, 10], ""),
    ]


def test_rewriting_a_model_replaces_its_folder(repo, bundled_weights, tmp_path):
    stale = repo / "mini-xception-fer2013" / "2"
    stale.mkdir()
    spec = load_model_spec(bundled_weights / "mini-xception")
    write_triton_model(repo, export_emotion(spec, tmp_path / "again.onnx"), max_batch_size=16)
    assert not stale.exists()
