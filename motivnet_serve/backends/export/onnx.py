"""The served networks as ONNX files: the emotion model of a model folder, and the face detector's network.

The emotion graph answers as the service does after its batcher: softmax in float32, columns in the model
folder's label order (mini-Xception's network orders its classes otherwise). Its input is the preprocessed
batch, normalised; finding faces, cropping and letterboxing stay outside (docs/integrations/onnx-triton.md).
The detector graph is the RetinaFace network on RGB pixels 0..255 of any size; anchor decoding and NMS stay
outside. Every file has a dynamic batch axis and says in its metadata which opset, checkpoint (sha256) and
labels it holds.

Two exporters, each where it works (measured on 2 busy cores, docs/integrations/onnx-triton.md): the dynamo
exporter (`torch.export`, needs `onnxscript`) for the emotion models, because the TorchScript exporter cannot
keep mini-Xception's TensorFlow-style pooling, whose padding is computed from the input size in Python, and
because `torch.export` traces a meta-device model, so a size whose weights are absent still exports its graph
(`weights=False`); the TorchScript exporter for the detector, which both export alike, in 8 s instead of 68 s
(dynamo reasons symbolically about the detector's free height and width through every pyramid level).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx
import torch
from torch import nn

from motivnet_serve.backends.emotion.checkpoint import load_weights
from motivnet_serve.backends.emotion.predictor import file_sha256
from motivnet_serve.backends.emotion.registry import get_family
from motivnet_serve.backends.emotion.spec import ModelSpec
from motivnet_serve.backends.export import DEFAULT_OPSET
from motivnet_serve.backends.faces.retinaface_mobilenet import load_rgb_network

EXAMPLE_BATCH = 2
"""The example batch the graph is traced with; 2, not 1, so no size-1 axis is taken for a broadcast one."""


@dataclass(frozen=True)
class TensorSpec:
    """One input or output: its name and its dims after the batch axis (-1: any size)."""

    name: str
    dims: tuple[int, ...]


@dataclass(frozen=True)
class OnnxModel:
    """An exported file and what a runtime needs to know about it (Triton's config is written from this)."""

    name: str
    path: Path
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    labels: tuple[str, ...]
    metadata: dict[str, str]

    @property
    def input_names(self) -> list[str]:
        return [tensor.name for tensor in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [tensor.name for tensor in self.outputs]


class Probabilities(nn.Module):
    """A classifier's logits as the service reports them: float32 softmax, columns in the labels' order."""

    order: torch.Tensor

    def __init__(self, network: nn.Module, output_order: list[int]) -> None:
        super().__init__()
        self.network = network
        self.register_buffer("order", torch.tensor(output_order), persistent=False)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.network(pixels).float().softmax(dim=-1).index_select(1, self.order)


def load_emotion_network(spec: ModelSpec, weights: bool = True) -> nn.Module:
    """The folder's network, eager, float32 on the CPU (on the meta device without `weights`)."""
    network = get_family(spec.family).build_meta(spec.architecture)
    if weights:
        network = load_weights(network, spec.checkpoint_path, torch.device("cpu"), torch.float32)
    return network.eval()


def export_emotion(spec: ModelSpec, path: Path, opset: int = DEFAULT_OPSET, weights: bool = True) -> OnnxModel:
    """`pixels` [B, C, H, W] normalised as `spec.preprocess` says -> `probabilities` [B, len(labels)].

    Without `weights` the checkpoint is not read: the graph is traced on the meta device and saved without
    its initializers, which proves the export of sizes too large (or not at hand) to load here.
    """
    if opset < DEFAULT_OPSET:
        raise ValueError(f"opset {opset}: the emotion models export at opset {DEFAULT_OPSET} or above")
    channels = 1 if spec.preprocess.grayscale else 3
    checkpoint = _checkpoint_metadata(spec.checkpoint_path) if weights else {"weights": "none: graph structure only"}
    model = OnnxModel(
        name=spec.name,
        path=path,
        inputs=(TensorSpec("pixels", (channels, *spec.architecture.input_hw)),),
        outputs=(TensorSpec("probabilities", (len(spec.labels),)),),
        labels=spec.labels,
        metadata={
            "family": spec.family,
            **checkpoint,
            "preprocess": spec.preprocess.model_dump_json(),
        },
    )
    network = Probabilities(load_emotion_network(spec, weights), spec.output_order)
    export_dynamo(network.to("cpu" if weights else "meta").eval(), model, opset, weights)
    return model


DETECTOR_OUTPUTS = (
    TensorSpec("box_offsets", (-1, 4)),
    TensorSpec("face_logits", (-1, 2)),
    TensorSpec("landmark_offsets", (-1, 10)),
)


def export_detector(name: str, weights: Path, path: Path, opset: int = DEFAULT_OPSET) -> OnnxModel:
    """`rgb` [B, 3, H, W] 0..255 -> per anchor: box offsets, face/background logits, landmark offsets."""
    if name != "retinaface-mobilenet":
        raise ValueError(f"only the bundled 'retinaface-mobilenet' detector exports to ONNX, not {name!r}")
    model = OnnxModel(
        name=name,
        path=path,
        inputs=(TensorSpec("rgb", (3, -1, -1)),),
        outputs=DETECTOR_OUTPUTS,
        labels=(),
        metadata={"family": "retinaface", **_checkpoint_metadata(weights)},
    )
    export_torchscript(load_rgb_network(weights, torch.device("cpu")), model, opset)
    return model


def _checkpoint_metadata(path: Path) -> dict[str, str]:
    return {"checkpoint": path.name, "checkpoint_sha256": file_sha256(path)}


def _example(model: OnnxModel, device: str) -> tuple[torch.Tensor, ...]:
    return tuple(torch.zeros(EXAMPLE_BATCH, *(64 if d < 0 else d for d in t.dims), device=device) for t in model.inputs)


def export_dynamo(network: nn.Module, model: OnnxModel, opset: int, weights: bool) -> None:
    """`torch.export` then ONNX; on the meta device nothing can be constant-folded, so nothing is optimised."""
    model.path.parent.mkdir(parents=True, exist_ok=True)
    device = "cpu" if weights else "meta"
    with torch.no_grad():
        program = torch.onnx.export(
            network,
            _example(model, device),
            None,
            opset_version=opset,
            dynamo=True,
            optimize=weights,
            dynamic_shapes=tuple(_dynamic_dims(t) for t in model.inputs),
            input_names=model.input_names,
            output_names=model.output_names,
        )
    assert program is not None  # (f=None returns the program)
    program.save(str(model.path), include_initializers=weights)
    stamp_metadata(model, opset)


def export_torchscript(network: nn.Module, model: OnnxModel, opset: int) -> None:
    model.path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the exporter's notice; see the module's doc
        torch.onnx.export(
            network,
            _example(model, "cpu"),
            str(model.path),
            opset_version=opset,
            dynamo=False,
            dynamic_axes={t.name: _dynamic_axes(t) for t in (*model.inputs, *model.outputs)},
            input_names=model.input_names,
            output_names=model.output_names,
        )
    stamp_metadata(model, opset)


def _dynamic_dims(tensor: TensorSpec) -> dict[int, Any]:
    """The batch axis and every -1 dim, as `torch.export` spells them."""
    return {axis: torch.export.Dim(name) for axis, name in _dynamic_axes(tensor).items()}


def _dynamic_axes(tensor: TensorSpec) -> dict[int, str]:
    axes = {0: "batch"}
    axes.update({index + 1: f"{tensor.name}_{index + 1}" for index, dim in enumerate(tensor.dims) if dim < 0})
    return axes


def stamp_metadata(model: OnnxModel, opset: int) -> None:
    """Writes the labels, opset and checkpoint into the file's `metadata_props`; external weights stay put."""
    graph = onnx.load(str(model.path), load_external_data=False)
    props = {**model.metadata, "model_name": model.name, "opset": str(opset), "labels": json.dumps(model.labels)}
    del graph.metadata_props[:]
    for key, value in props.items():
        graph.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    onnx.save(graph, str(model.path))


def read_metadata(path: Path) -> dict[str, str]:
    graph = onnx.load(str(path), load_external_data=False)
    return {entry.key: entry.value for entry in graph.metadata_props}
