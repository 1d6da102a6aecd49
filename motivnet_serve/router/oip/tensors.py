"""Tensors as the Open Inference Protocol carries them: a datatype name, a shape and the elements.

Numeric elements travel as JSON lists or as raw little-endian bytes; BYTES elements as JSON strings or, raw,
each behind its length in 4 little-endian bytes (the binary tensor data extension and gRPC's raw contents
use the same layout). Sizes are checked against the declared shape before anything is allocated, so a shape
that claims more than the body holds costs nothing.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from math import prod
from typing import Any

import numpy as np

from motivnet_serve.core.errors import ServiceError

NUMERIC: dict[str, np.dtype[Any]] = {
    name: np.dtype(kind).newbyteorder("<")
    for name, kind in (
        ("BOOL", np.bool_),
        ("UINT8", np.uint8),
        ("UINT16", np.uint16),
        ("UINT32", np.uint32),
        ("UINT64", np.uint64),
        ("INT8", np.int8),
        ("INT16", np.int16),
        ("INT32", np.int32),
        ("INT64", np.int64),
        ("FP16", np.float16),
        ("FP32", np.float32),
        ("FP64", np.float64),
    )
}
BYTES = "BYTES"
LENGTH = struct.Struct("<I")

Parameters = dict[str, Any]
"""A tensor's or a request's parameters: names to bool, int, float or str."""


@dataclass(frozen=True)
class Tensor:
    """One input or output: `data` is an array in `shape` for numeric types, a flat list for BYTES."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    data: np.ndarray[Any, Any] | list[bytes]
    parameters: Parameters = field(default_factory=dict)

    @classmethod
    def of(cls, name: str, values: np.ndarray[Any, Any] | list[bytes], datatype: str) -> Tensor:
        shape = (len(values),) if isinstance(values, list) else tuple(values.shape)
        return cls(name, datatype, shape, values)

    def raw(self) -> bytes:
        """The elements as raw bytes, in the protocol's layout."""
        if isinstance(self.data, list):
            return b"".join(LENGTH.pack(len(element)) + element for element in self.data)
        return self.data.astype(NUMERIC[self.datatype], copy=False).tobytes()

    def listed(self) -> list[Any]:
        """The elements as a flat JSON list (BYTES as text: every BYTES output here is a label)."""
        if isinstance(self.data, list):
            return [element.decode() for element in self.data]
        return list(self.data.reshape(-1).tolist())


def element_count(name: str, shape: Sequence[int]) -> int:
    if any(dim < 0 for dim in shape):
        raise ServiceError(f"input {name!r}: shape {list(shape)} has a negative dimension")
    return prod(shape)


def from_raw(name: str, datatype: str, shape: Sequence[int], raw: bytes) -> Tensor:
    """A tensor from its raw bytes, which must hold exactly what `shape` declares."""
    count = element_count(name, shape)
    if datatype == BYTES:
        return Tensor(name, datatype, tuple(shape), split_bytes(name, raw, count))
    dtype = _numeric(name, datatype)
    if len(raw) != count * dtype.itemsize:
        raise ServiceError(
            f"input {name!r}: {len(raw)} bytes of data, but shape {list(shape)} of {datatype} needs "
            f"{count * dtype.itemsize}"
        )
    return Tensor(name, datatype, tuple(shape), np.frombuffer(raw, dtype=dtype).reshape(shape))


def from_values(name: str, datatype: str, shape: Sequence[int], values: Sequence[Any]) -> Tensor:
    """A tensor from listed elements (JSON `data`, flat or nested; gRPC's typed contents)."""
    count = element_count(name, shape)
    if datatype == BYTES:
        elements = [value.encode() if isinstance(value, str) else bytes(value) for value in _flat(name, values)]
        _check_count(name, shape, len(elements), count)
        return Tensor(name, datatype, tuple(shape), elements)
    dtype = _numeric(name, datatype)
    try:
        array = np.asarray(values, dtype=dtype).reshape(-1)
    except (ValueError, TypeError, OverflowError):
        raise ServiceError(f"input {name!r}: data is not a list of {datatype} numbers") from None
    _check_count(name, shape, array.size, count)
    return Tensor(name, datatype, tuple(shape), array.reshape(shape))


def split_bytes(name: str, raw: bytes, count: int) -> list[bytes]:
    """BYTES elements from their length-prefixed layout; exactly `count` of them, and nothing left over."""
    elements: list[bytes] = []
    offset = 0
    while offset < len(raw):
        if offset + LENGTH.size > len(raw):
            raise ServiceError(f"input {name!r}: BYTES data ends inside an element's length")
        (length,) = LENGTH.unpack_from(raw, offset)
        offset += LENGTH.size
        if offset + length > len(raw):
            raise ServiceError(f"input {name!r}: a BYTES element says {length} bytes, fewer are left")
        elements.append(raw[offset : offset + length])
        offset += length
    _check_count(name, (count,), len(elements), count)
    return elements


def _flat(name: str, values: Sequence[Any]) -> list[Any]:
    """Nested JSON lists, flattened in row-major order (the protocol allows either form)."""
    flat: list[Any] = []
    for value in values:
        if isinstance(value, list):
            flat.extend(_flat(name, value))
        elif isinstance(value, (str, bytes)):
            flat.append(value)
        else:
            raise ServiceError(f"input {name!r}: BYTES elements must be strings")
    return flat


def _numeric(name: str, datatype: str) -> np.dtype[Any]:
    if datatype not in NUMERIC:
        raise ServiceError(f"input {name!r}: unknown datatype {datatype!r}; one of {', '.join([*NUMERIC, BYTES])}")
    return NUMERIC[datatype]


def _check_count(name: str, shape: Sequence[int], found: int, count: int) -> None:
    if found != count:
        raise ServiceError(f"input {name!r}: {found} elements, but shape {list(shape)} holds {count}")
