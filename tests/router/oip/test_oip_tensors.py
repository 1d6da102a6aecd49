"""Tensors as the protocol carries them: raw and listed, BYTES length-prefixed, sizes checked before use."""

from __future__ import annotations

import numpy as np
import pytest

from motivnet_serve.core.errors import ServiceError
from motivnet_serve.router.oip.tensors import Tensor, from_raw, from_values, split_bytes


def test_bytes_round_trip_through_the_length_prefixed_layout():
    elements = [b"", b"\x00\xff", b"an image"]
    raw = Tensor.of("IMAGE", elements, "BYTES").raw()
    assert raw[:4] == b"\x00\x00\x00\x00"
    assert from_raw("IMAGE", "BYTES", [3], raw).data == elements


def test_numeric_raw_is_little_endian_and_keeps_its_shape():
    values = np.arange(6, dtype=np.float32).reshape(2, 3)
    tensor = from_raw("FACE", "FP32", [2, 3], Tensor.of("FACE", values, "FP32").raw())
    assert isinstance(tensor.data, np.ndarray)
    np.testing.assert_array_equal(tensor.data, values)
    assert tensor.listed() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_listed_values_may_be_nested_or_flat():
    nested = from_values("FACE", "UINT8", [2, 2], [[1, 2], [3, 4]])
    flat = from_values("FACE", "UINT8", [2, 2], [1, 2, 3, 4])
    assert isinstance(nested.data, np.ndarray)
    assert isinstance(flat.data, np.ndarray)
    np.testing.assert_array_equal(nested.data, flat.data)


@pytest.mark.parametrize(
    ("datatype", "shape", "raw", "says"),
    [
        ("FP32", [1_000_000_000, 3], b"\x00" * 12, "needs"),
        ("FP32", [-1, 3], b"", "negative"),
        ("BYTES", [2], b"\x05\x00\x00\x00abc", "fewer are left"),
        ("BYTES", [2], b"\x01\x00", "inside an element's length"),
        ("BYTES", [2], b"\x01\x00\x00\x00a", "1 elements"),
        ("COMPLEX", [1], b"\x00", "unknown datatype"),
    ],
)
def test_raw_data_that_disagrees_with_its_shape_is_refused(datatype, shape, raw, says):
    with pytest.raises(ServiceError, match=says):
        from_raw("x", datatype, shape, raw)


def test_listed_values_of_the_wrong_kind_or_count_are_refused():
    with pytest.raises(ServiceError, match="not a list of FP32"):
        from_values("x", "FP32", [2], ["a", "b"])
    with pytest.raises(ServiceError, match="3 elements"):
        from_values("x", "FP32", [2], [1, 2, 3])
    with pytest.raises(ServiceError, match="must be strings"):
        from_values("x", "BYTES", [1], [1])


def test_split_bytes_refuses_trailing_elements():
    raw = Tensor.of("IMAGE", [b"a", b"b"], "BYTES").raw()
    with pytest.raises(ServiceError):
        split_bytes("IMAGE", raw, 1)
