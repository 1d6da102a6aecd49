"""What the Open Inference Protocol means for this service, written once for REST and gRPC alike.

Two inputs make sense here. `IMAGE` (BYTES, one encoded photo per element) goes the way of `/predict`: faces
found (parameter `detect`, default true; `max_faces` keeps each image's best), each labelled; the outputs
are one row per face: `LABEL`, `PROBABILITIES`, `BOX` (x1, y1, x2, y2 in image pixels; the whole image when
not detecting) and `IMAGE_INDEX` (which element the face came from). `FACE` (FP32 or UINT8, [N, 3, H, W]
in the model's input size, pixel values 0..255) is N faces already cropped, one `PROBABILITIES` row each.
Both go through the engine's `classify`, so batching, limits and metrics are `/predict`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from motivnet_serve.core.engine import Classified, Engine
from motivnet_serve.core.errors import ModelNotFoundError, ServiceError, TooManyFilesError
from motivnet_serve.core.images import Upload
from motivnet_serve.core.results import ModelDescription
from motivnet_serve.router.oip.tensors import BYTES, Parameters, Tensor

IMAGE, FACE = "IMAGE", "FACE"
OUTPUTS = {IMAGE: ("LABEL", "PROBABILITIES", "BOX", "IMAGE_INDEX"), FACE: ("PROBABILITIES",)}
FACE_DATATYPES = ("FP32", "UINT8")
VERSION = "1"
SERVER_NAME, SERVER_VERSION, EXTENSIONS = "motivnet-serve", "0.1.0", ["binary_tensor_data"]


@dataclass(frozen=True)
class InferRequest:
    """A decoded infer request; `outputs` None asks for every output of its input."""

    model: str
    version: str
    id: str
    inputs: list[Tensor]
    parameters: Parameters
    outputs: list[str] | None


def check_model(description: ModelDescription, name: str, version: str = "") -> None:
    if name != description.name or version not in ("", VERSION):
        served = f"{description.name!r} (version {VERSION})"
        raise ModelNotFoundError(f"no model {name!r} version {version or 'any'!r} here; this server serves {served}")


def model_metadata(description: ModelDescription) -> dict[str, Any]:
    """The protocol's model metadata: the inputs and outputs above, with this model's sizes."""
    height, width = description.architecture["input_hw"]
    classes = len(description.labels)
    return {
        "name": description.name,
        "versions": [VERSION],
        "platform": f"pytorch_{description.family}",
        "inputs": [_meta(IMAGE, BYTES, [-1]), _meta(FACE, "FP32", [-1, 3, height, width])],
        "outputs": [
            _meta("LABEL", BYTES, [-1]),
            _meta("PROBABILITIES", "FP32", [-1, classes]),
            _meta("BOX", "FP32", [-1, 4]),
            _meta("IMAGE_INDEX", "INT32", [-1]),
        ],
    }


async def infer(engine: Engine, max_files: int, request: InferRequest, deadline: float) -> list[Tensor]:
    """The request's outputs, in the order asked for (every output of its input when none was named)."""
    description = engine.describe()
    check_model(description, request.model, request.version)
    if len(request.inputs) != 1 or request.inputs[0].name not in OUTPUTS:
        names = [tensor.name for tensor in request.inputs]
        raise ServiceError(f"send exactly one input, {IMAGE!r} (BYTES) or {FACE!r} (FP32/UINT8); got {names}")
    tensor = request.inputs[0]
    wanted = _wanted(tensor.name, request.outputs)
    if tensor.name == IMAGE:
        outputs = await _images(engine, max_files, tensor, request.parameters, deadline, len(description.labels))
    else:
        outputs = await _faces(engine, max_files, description, tensor, deadline)
    return [outputs[name] for name in wanted]


async def _images(
    engine: Engine, max_files: int, tensor: Tensor, parameters: Parameters, deadline: float, classes: int
) -> dict[str, Tensor]:
    if tensor.datatype != BYTES or not isinstance(tensor.data, list):
        raise ServiceError(f"input {IMAGE!r} must be BYTES, one encoded image per element; got {tensor.datatype}")
    uploads = [Upload(None, data, unnamed=f"{IMAGE} element {index}") for index, data in enumerate(tensor.data)]
    _check_batch(len(uploads), max_files)
    detect = _parameter(parameters, "detect", bool, True)
    max_faces = _parameter(parameters, "max_faces", int, None)
    if max_faces is not None and max_faces < 1:
        raise ServiceError("parameter 'max_faces' must be at least 1")
    classified = await engine.classify(uploads, detect=detect, deadline=deadline, max_faces=max_faces)
    return _image_outputs(classified, classes)


async def _faces(
    engine: Engine, max_files: int, description: ModelDescription, tensor: Tensor, deadline: float
) -> dict[str, Tensor]:
    height, width = description.architecture["input_hw"]
    if tensor.datatype not in FACE_DATATYPES or isinstance(tensor.data, list):
        raise ServiceError(f"input {FACE!r} must be FP32 or UINT8; got {tensor.datatype}")
    if len(tensor.shape) != 4 or tensor.shape[1:] != (3, height, width):
        raise ServiceError(f"input {FACE!r} must have shape [N, 3, {height}, {width}]; got {list(tensor.shape)}")
    _check_batch(tensor.shape[0], max_files)
    faces = [torch.from_numpy(face) for face in _pixels(tensor.data).transpose(0, 2, 3, 1).copy()]
    classified = await engine.classify(faces, detect=False, deadline=deadline)
    rows = [face.probabilities for faces in classified.images for face in faces]
    classes = len(description.labels)
    return {"PROBABILITIES": Tensor.of("PROBABILITIES", _probabilities(rows, classes), "FP32")}


def _pixels(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """UINT8 as it is; FP32 must hold pixel values 0..255 and is rounded to them (the model's own input)."""
    if values.dtype == np.uint8:
        return values
    if not np.isfinite(values).all() or values.min(initial=0) < 0 or values.max(initial=0) > 255:
        raise ServiceError(f"input {FACE!r}: FP32 values must be pixel values from 0 to 255")
    rounded: np.ndarray[Any, Any] = np.rint(values).astype(np.uint8)
    return rounded


def _image_outputs(classified: Classified, classes: int) -> dict[str, Tensor]:
    """One row per face of every image; an image without faces adds none (all outputs may have 0 rows)."""
    faces = [(index, face) for index, found in enumerate(classified.images) for face in found]
    boxes = [face.box or [0.0, 0.0, *map(float, classified.sizes[index])] for index, face in faces]
    return {
        "LABEL": Tensor.of("LABEL", [face.label.encode() for _, face in faces], BYTES),
        "PROBABILITIES": Tensor.of(
            "PROBABILITIES", _probabilities([face.probabilities for _, face in faces], classes), "FP32"
        ),
        "BOX": Tensor.of("BOX", np.asarray(boxes, dtype=np.float32).reshape(-1, 4), "FP32"),
        "IMAGE_INDEX": Tensor.of("IMAGE_INDEX", np.asarray([index for index, _ in faces], dtype=np.int32), "INT32"),
    }


def _probabilities(rows: list[dict[str, float]], classes: int) -> np.ndarray[Any, Any]:
    """One row per face, in the model's label order (each dict keeps it)."""
    return np.asarray([list(row.values()) for row in rows], dtype=np.float32).reshape(len(rows), classes)


def _wanted(input_name: str, requested: list[str] | None) -> list[str]:
    known = OUTPUTS[input_name]
    unknown = [name for name in requested or () if name not in known]
    if unknown:
        raise ServiceError(f"unknown output(s) {unknown} for input {input_name!r}; it gives {list(known)}")
    return list(requested) if requested else list(known)


def _check_batch(count: int, max_files: int) -> None:
    if count < 1:
        raise ServiceError("the input holds no element: send at least one")
    if count > max_files:
        raise TooManyFilesError(f"{count} elements in one request; at most {max_files} (max_files_per_request)")


def _parameter(parameters: Parameters, name: str, kind: type[Any], default: Any) -> Any:
    value = parameters.get(name, default)
    if value is not default and (type(value) is not kind):
        raise ServiceError(f"parameter {name!r} must be a {kind.__name__}; got {value!r}")
    return value


def _meta(name: str, datatype: str, shape: list[int]) -> dict[str, Any]:
    return {"name": name, "datatype": datatype, "shape": shape}
