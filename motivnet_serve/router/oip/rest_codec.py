"""The REST body of an infer request and of its answer: JSON, optionally followed by binary tensor data.

With the binary tensor data extension (what tritonclient sends by default) the body is a JSON header of
`Inference-Header-Content-Length` bytes, then each binary input's bytes in input order, each input naming
its size in its `binary_data_size` parameter. Outputs come back binary when asked (`binary_data` on an
output, else `binary_data_output` on the request), the same way. In JSON, an `IMAGE` element is the image
file base64-encoded: a JSON string cannot hold raw bytes.
"""

from __future__ import annotations

import binascii
import json
from base64 import b64decode
from dataclasses import dataclass
from typing import Any

from fastapi.responses import JSONResponse, Response

from motivnet_serve.core.errors import ServiceError
from motivnet_serve.router.oip.inference import IMAGE, InferRequest
from motivnet_serve.router.oip.tensors import BYTES, Tensor, from_raw, from_values

HEADER_LENGTH = "inference-header-content-length"


@dataclass(frozen=True)
class RestRequest:
    """The request, and which outputs go back as binary data (by name; `binary_default` for the rest)."""

    request: InferRequest
    binary: dict[str, bool]
    binary_default: bool

    def is_binary(self, name: str) -> bool:
        return self.binary.get(name, self.binary_default)


def parse_request(body: bytes, header_length: str | None, model: str, version: str) -> RestRequest:
    """The request from its body; every malformation is a 400 that says what was wrong."""
    split = _header_length(header_length, len(body))
    document = _object(_json(body[:split]), "the request")
    binary = body[split:]
    inputs = []
    for entry in _list(document, "inputs"):
        tensor, binary = _input(_object(entry, "an input"), binary)
        inputs.append(tensor)
    if binary:
        raise ServiceError(f"{len(binary)} bytes of binary data beyond what the inputs' binary_data_size declare")
    outputs = [_object(entry, "an output") for entry in _list(document, "outputs", required=False)]
    parameters = _object(document.get("parameters", {}), "parameters")
    request = InferRequest(
        model=model,
        version=version,
        id=str(document.get("id", "")),
        inputs=inputs,
        parameters=parameters,
        outputs=[str(entry.get("name", "")) for entry in outputs] if "outputs" in document else None,
    )
    explicit = {str(entry.get("name", "")): _object(entry.get("parameters", {}), "parameters") for entry in outputs}
    flags = {name: bool(given["binary_data"]) for name, given in explicit.items() if "binary_data" in given}
    return RestRequest(request, flags, bool(parameters.get("binary_data_output", False)))


def render(rest: RestRequest, outputs: list[Tensor]) -> Response:
    """The answer: JSON alone, or JSON then the binary outputs' bytes with the header length set."""
    entries, chunks = [], []
    for tensor in outputs:
        entry: dict[str, Any] = {"name": tensor.name, "datatype": tensor.datatype, "shape": list(tensor.shape)}
        if rest.is_binary(tensor.name):
            chunks.append(tensor.raw())
            entry["parameters"] = {"binary_data_size": len(chunks[-1])}
        else:
            entry["data"] = tensor.listed()
        entries.append(entry)
    request = rest.request
    document: dict[str, Any] = {"model_name": request.model, "model_version": request.version or "1"}
    document |= {"id": request.id} if request.id else {}
    document["outputs"] = entries
    if not chunks:
        return JSONResponse(document)
    header = json.dumps(document, separators=(",", ":")).encode()
    headers = {"Inference-Header-Content-Length": str(len(header))}
    return Response(b"".join([header, *chunks]), media_type="application/octet-stream", headers=headers)


def _input(entry: dict[str, Any], binary: bytes) -> tuple[Tensor, bytes]:
    """One input, and the binary data left after it."""
    name, datatype, shape = str(entry.get("name", "")), str(entry.get("datatype", "")), entry.get("shape")
    if not isinstance(shape, list) or not all(type(dim) is int for dim in shape):
        raise ServiceError(f"input {name!r}: 'shape' must be a list of integers")
    size = _object(entry.get("parameters", {}), "parameters").get("binary_data_size")
    if size is not None:
        if type(size) is not int or not 0 <= size <= len(binary):
            raise ServiceError(f"input {name!r}: binary_data_size {size!r} exceeds the {len(binary)} bytes left")
        return from_raw(name, datatype, shape, binary[:size]), binary[size:]
    data = entry.get("data")
    if not isinstance(data, list):
        raise ServiceError(f"input {name!r}: no 'data' list and no binary_data_size parameter")
    if name == IMAGE and datatype == BYTES:
        data = [_base64(name, value) for value in data]
    return from_values(name, datatype, shape, data), binary


def _base64(name: str, value: Any) -> bytes:
    try:
        return b64decode(str(value), validate=True)
    except binascii.Error:
        raise ServiceError(f"input {name!r}: in JSON each element is an image file, base64-encoded") from None


def _header_length(value: str | None, body_bytes: int) -> int:
    if value is None:
        return body_bytes
    if not value.isdigit() or int(value) > body_bytes:
        raise ServiceError(f"Inference-Header-Content-Length {value!r} is not a length within the body")
    return int(value)


def _json(text: bytes) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise ServiceError("the request is not valid JSON (an infer request object, then any binary data)") from None


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ServiceError(f"{what} must be a JSON object")
    return value


def _list(document: dict[str, Any], key: str, *, required: bool = True) -> list[Any]:
    value = document.get(key, None if required else [])
    if not isinstance(value, list):
        raise ServiceError(f"'{key}' must be a list")
    return value
