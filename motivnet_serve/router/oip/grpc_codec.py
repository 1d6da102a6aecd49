"""The protocol's gRPC messages to and from the tensors `inference.py` works with.

Inputs arrive in `raw_input_contents` (one entry per input, what tritonclient sends) or in each input's typed
`contents`; outputs always leave in `raw_output_contents`, which every client reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from motivnet_serve.core.errors import ServiceError
from motivnet_serve.router.oip.inference import InferRequest
from motivnet_serve.router.oip.protocol import grpc_service_pb2 as pb
from motivnet_serve.router.oip.tensors import BYTES, Parameters, Tensor, from_raw, from_values

CONTENTS = {
    "BOOL": "bool_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    BYTES: "bytes_contents",
}
"""Which typed field holds each datatype's elements when they are not raw."""


def request_of(message: pb.ModelInferRequest) -> InferRequest:
    raw = list(message.raw_input_contents)
    if raw and len(raw) != len(message.inputs):
        raise ServiceError(f"{len(raw)} raw_input_contents for {len(message.inputs)} inputs: send one per input")
    inputs = [_input(entry, raw[index] if raw else None) for index, entry in enumerate(message.inputs)]
    return InferRequest(
        model=message.model_name,
        version=message.model_version,
        id=message.id,
        inputs=inputs,
        parameters=parameters_of(message.parameters),
        outputs=[output.name for output in message.outputs] or None,
    )


def response_of(request: InferRequest, outputs: list[Tensor]) -> pb.ModelInferResponse:
    response = pb.ModelInferResponse(model_name=request.model, model_version=request.version or "1", id=request.id)
    for tensor in outputs:
        response.outputs.add(name=tensor.name, datatype=tensor.datatype, shape=list(tensor.shape))
        response.raw_output_contents.append(tensor.raw())
    return response


def parameters_of(parameters: Mapping[str, pb.InferParameter]) -> Parameters:
    """Each parameter's value, whichever of the protocol's kinds it was sent as."""
    values: Parameters = {}
    for name, parameter in parameters.items():
        kind = parameter.WhichOneof("parameter_choice")
        values[name] = getattr(parameter, kind) if kind else None
    return values


def _input(entry: pb.ModelInferRequest.InferInputTensor, raw: bytes | None) -> Tensor:
    shape = list(entry.shape)
    if raw is not None:
        return from_raw(entry.name, entry.datatype, shape, raw)
    field = CONTENTS.get(entry.datatype)
    if field is None:
        raise ServiceError(f"input {entry.name!r}: datatype {entry.datatype!r} must be sent in raw_input_contents")
    values: Any = getattr(entry.contents, field)
    return from_values(entry.name, entry.datatype, shape, list(values))
