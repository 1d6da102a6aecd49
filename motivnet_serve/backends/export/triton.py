"""A Triton model repository of exported ONNX files, laid out as Triton loads it unchanged.

    REPO/<model>/config.pbtxt      platform onnxruntime_onnx, inputs and outputs, dynamic batching
    REPO/<model>/labels.txt        one label a line, in the output's column order (classifiers only)
    REPO/<model>/1/model.onnx      the graph (and its external weights file, when it has one)

No `instance_group`: Triton then puts one instance on each GPU it has, or on the CPU when it has none.
`max_batch_size` makes Triton's first axis the batch, so the dims below leave it out, as the ONNX graphs'
dynamic `batch` axis expects. The labels file is named by the output's `label_filename`, so Triton's
classification extension (`class_count`) answers with label names.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import onnx

from motivnet_serve.backends.export.onnx import OnnxModel, TensorSpec

LABELS_FILE = "labels.txt"
MAX_QUEUE_DELAY_US = 5000
"""Triton's wait for batch partners; the service's own default batch delay (5 ms) is the same trade."""


def write_triton_model(repo: Path, model: OnnxModel, max_batch_size: int) -> Path:
    """Writes `repo/<model.name>/` and returns that folder; an existing folder of the name is replaced."""
    folder = repo / model.name
    if folder.exists():
        shutil.rmtree(folder)
    version = folder / "1"
    version.mkdir(parents=True)
    for source in (model.path, *external_data_files(model.path)):
        shutil.copyfile(source, version / ("model.onnx" if source == model.path else source.name))
    if model.labels:
        (folder / LABELS_FILE).write_text("".join(f"{label}\n" for label in model.labels))
    (folder / "config.pbtxt").write_text(triton_config(model, max_batch_size))
    return folder


def external_data_files(path: Path) -> list[Path]:
    """The files beside an ONNX graph that hold its weights (graphs over 2 GB keep them outside)."""
    graph = onnx.load(str(path), load_external_data=False)
    locations = {
        entry.value for tensor in graph.graph.initializer for entry in tensor.external_data if entry.key == "location"
    }
    return [path.parent / location for location in sorted(locations)]


def triton_config(model: OnnxModel, max_batch_size: int) -> str:
    """The model's `config.pbtxt` (protobuf text format of Triton's `ModelConfig`)."""
    labels = f' label_filename: "{LABELS_FILE}"' if model.labels else ""
    lines = [
        f'name: "{model.name}"',
        'platform: "onnxruntime_onnx"',
        f"max_batch_size: {max_batch_size}",
        _tensors("input", model.inputs, ""),
        _tensors("output", model.outputs, labels),
        f"dynamic_batching {{ max_queue_delay_microseconds: {MAX_QUEUE_DELAY_US} }}",
    ]
    return "\n".join(lines) + "\n"


def _tensors(field: str, tensors: tuple[TensorSpec, ...], extra: str) -> str:
    entries = [
        f'  {{ name: "{t.name}" data_type: TYPE_FP32 dims: [ {", ".join(map(str, t.dims))} ]{extra} }}' for t in tensors
    ]
    return f"{field} [\n" + ",\n".join(entries) + "\n]"
