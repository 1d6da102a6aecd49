"""An AVIF's coded size from its AV1 sequence headers: right on ordinary files, cheap on hostile tables."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from motivnet_serve.core.av1_size import coded_size
from tests.conftest import encode
from tests.heif_files import avif_10bit


@pytest.mark.parametrize("size", [(64, 64), (97, 31)])
def test_the_coded_size_of_ordinary_avif_is_its_size(size):
    rgb16 = np.zeros((size[1], size[0], 3), np.uint16)
    assert coded_size(encode(Image.new("RGB", size), "AVIF")) == size
    assert coded_size(avif_10bit(rgb16)) == size
    assert coded_size(encode(Image.new("RGB", size), "PNG")) is None


def box(kind: bytes, payload: bytes) -> bytes:
    return (8 + len(payload)).to_bytes(4, "big") + kind + payload


def test_a_hostile_item_table_is_read_only_as_far_as_it_matters():
    """65,535 items of 65,535 extents each (4 billion entries in 393 KB) would take hours to walk."""
    item = (1).to_bytes(2, "big") + b"\x00\x00" + b"\xff\xff"  # id, data reference, extent count
    iloc = box(b"iloc", b"\x00\x00\x00\x00" + b"\x00\x00" + b"\xff\xff" + item * 65535)
    data = box(b"ftyp", b"avif\x00\x00\x00\x00avif") + box(b"meta", b"\x00\x00\x00\x00" + iloc)
    assert coded_size(data) is None
    assert coded_size(data[:200]) is None
