"""Decoding client bytes: every failure is a 4xx ServiceError, high bit depths are scaled, not clipped."""

from __future__ import annotations

import io
import random

import numpy as np
import pytest
from PIL import Image

from motivnet_serve.core.errors import CorruptImageError, ImageTooLargeError, ServiceError, UnsupportedImageError
from motivnet_serve.core.images import decode_image, image_pixels
from tests.conftest import encode
from tests.heif_files import TEN_BIT_PIXI, avif_10bit, avif_coded_larger, declaring, heic_10bit, multi_image_heic

FORMATS = {
    "JPEG": {},
    "PNG": {},
    "GIF": {},
    "TIFF": {},
    "WEBP": {"quality": 80},
    "BMP": {},
    "HEIF": {"quality": 80},
    "AVIF": {"quality": 80},
}
PHONE_FORMATS = ("HEIF", "AVIF")
STORED_AS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}
"""How a camera stores an upright picture under each EXIF orientation (the inverse of what a viewer applies)."""
LIMIT = 40_000_000


def _picture(size: tuple[int, int] = (48, 40)) -> Image.Image:
    rng = np.random.default_rng(7)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def mutations(data: bytes, rng: random.Random, count: int) -> list[bytes]:
    """Truncations, flipped bytes and spliced garbage: what broken uploads and fuzzers send."""
    out = []
    for _ in range(count):
        kind = rng.randrange(3)
        if kind == 0:
            out.append(data[: rng.randrange(1, len(data))])
        elif kind == 1:
            mutable = bytearray(data)
            for _ in range(rng.randrange(1, 8)):
                mutable[rng.randrange(len(mutable))] = rng.randrange(256)
            out.append(bytes(mutable))
        else:
            at = rng.randrange(len(data))
            out.append(data[:at] + rng.randbytes(rng.randrange(1, 64)) + data[at + rng.randrange(0, 64) :])
    return out


@pytest.mark.parametrize("fmt", FORMATS)
def test_mutated_images_fail_as_client_errors_only(fmt):
    rng = random.Random(f"images-{fmt}")
    for data in mutations(encode(_picture(), fmt, **FORMATS[fmt]), rng, 400):
        try:
            image_pixels(data, LIMIT)
            pixels = decode_image(data, LIMIT)
        except ServiceError as exc:
            assert 400 <= exc.status < 500  # noqa: PT017 - a clean 4xx or a picture are both fine
        else:
            assert pixels.ndim == 3
            assert pixels.shape[2] == 3


def test_truncated_and_unsupported_variants_have_their_codes():
    png = encode(_picture(), "PNG")
    with pytest.raises(CorruptImageError):
        decode_image(png[: len(png) // 2], LIMIT)
    bmp = bytearray(encode(_picture(), "BMP"))
    bmp[30:34] = (9).to_bytes(4, "little")  # a compression method Pillow does not decode
    with pytest.raises(ServiceError) as caught:
        decode_image(bytes(bmp), LIMIT)
    assert caught.value.status in (415, 422)
    with pytest.raises(UnsupportedImageError):
        decode_image(b"GIF89a", LIMIT)


def test_a_variant_of_an_accepted_format_is_refused_as_that_format_not_as_no_image():
    """A 32-bit colour TIFF (what HDR tools export) has no Pillow mode; 'not an image in a supported format;
    send ... TIFF' would tell the client to send what it sent."""
    with pytest.raises(UnsupportedImageError) as caught:
        decode_image(_with_shorts(encode(_picture(), "TIFF"), 258, 32), LIMIT)
    assert "TIFF" in str(caught.value).split(";")[0]
    with pytest.raises(UnsupportedImageError) as caught:
        decode_image(b"%PDF-1.4 not an image", LIMIT)
    assert str(caught.value).startswith("not an image")


def _with_shorts(tiff: bytes, tag: int, value: int) -> bytes:
    """A little-endian TIFF whose SHORT tag `tag` (in the entry when 2 bytes fit, else stored apart) says
    `value` for every sample."""
    data = bytearray(tiff)
    ifd = int.from_bytes(data[4:8], "little")
    for entry in range(ifd + 2, ifd + 2 + 12 * int.from_bytes(data[ifd : ifd + 2], "little"), 12):
        if int.from_bytes(data[entry : entry + 2], "little") == tag:
            count = int.from_bytes(data[entry + 4 : entry + 8], "little")
            at = entry + 8 if count <= 2 else int.from_bytes(data[entry + 8 : entry + 12], "little")
            data[at : at + 2 * count] = value.to_bytes(2, "little") * count
    return bytes(data)


@pytest.mark.parametrize("mode", ["I;16", "I"])
def test_sixteen_bit_grey_is_scaled_not_clipped(mode):
    ramp = (np.arange(256, dtype=np.uint32) * 257).reshape(16, 16)
    image = Image.fromarray(ramp.astype(np.uint16 if mode == "I;16" else np.int32))
    assert image.mode == mode
    pixels = decode_image(encode(image, "PNG" if mode == "I;16" else "TIFF"), LIMIT).numpy()
    assert pixels.shape == (16, 16, 3)
    assert np.array_equal(pixels[..., 0], np.arange(256, dtype=np.uint8).reshape(16, 16))


def test_unsigned_32_bit_grey_tiff_is_scaled_not_wrapped():
    """Scientific cameras write 32-bit unsigned grey (SampleFormat 1); values above 2**31 came out black."""
    grey = np.arange(256, dtype=np.uint32).reshape(16, 16) * 16843009  # 0 .. 2**32 - 1
    signed = encode(Image.fromarray(grey.view(np.int32)), "TIFF")  # Pillow writes SampleFormat 2 (signed)
    pixels = decode_image(_with_shorts(signed, 339, 1), LIMIT).numpy()
    assert np.abs(pixels[..., 0].astype(int) - np.arange(256).reshape(16, 16)).max() <= 1


def test_float_images_in_zero_to_one_are_scaled():
    image = Image.fromarray(np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8), mode="F")
    pixels = decode_image(encode(image, "TIFF"), LIMIT).numpy()
    assert pixels[0, 0, 0] == 0
    assert pixels[-1, -1, 0] == 255


def test_damaged_exif_costs_only_the_rotation():
    exif = Image.Exif()
    exif[0x0112] = 6
    data = bytearray(encode(_picture(), "JPEG", exif=exif.tobytes()))
    start = data.index(b"Exif\x00\x00")
    data[start + 10 : start + 30] = b"\xff" * 20
    try:
        pixels = decode_image(bytes(data), LIMIT)
    except ServiceError as exc:
        assert exc.status < 500  # noqa: PT017 - a clean 4xx or a picture are both fine
    else:
        assert pixels.shape[2] == 3


def _gap(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


@pytest.mark.parametrize("fmt", PHONE_FORMATS)
@pytest.mark.parametrize("orientation", list(STORED_AS))
def test_phone_formats_are_turned_upright(face_image, fmt, orientation):
    """The encoders turn the EXIF tag into HEIF `irot`/`imir` boxes; decoding must undo them."""
    upright = face_image.crop((40, 0, 360, 256))
    stored = upright.transpose(STORED_AS[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(stored, fmt, quality=90, exif=exif.tobytes())
    assert image_pixels(data, LIMIT) == 320 * 256
    pixels = decode_image(data, LIMIT).numpy()
    assert pixels.shape == (256, 320, 3)
    assert _gap(pixels, np.array(upright)) < 6
    assert _gap(np.array(stored.resize(upright.size)), np.array(upright)) > 20


def test_a_multi_image_heic_gives_its_primary_image(face_image, photo_variants):
    burst = [face_image, photo_variants["small"], photo_variants["flipped"]]
    data = multi_image_heic(burst, primary=1)
    assert image_pixels(data, LIMIT) == 200 * 160
    pixels = decode_image(data, LIMIT).numpy()
    assert _gap(pixels, np.array(photo_variants["small"])) < 6


@pytest.mark.parametrize("make", [heic_10bit, avif_10bit])
def test_ten_bit_phone_images_become_eight_bit(make):
    ramp = np.linspace(0, 65535, 96 * 64).reshape(64, 96).astype(np.uint16)
    rgb16 = np.stack([ramp, ramp // 2, 65535 - ramp], axis=-1)
    data = make(rgb16)
    if make is avif_10bit:
        assert TEN_BIT_PIXI in data
    else:
        assert Image.open(io.BytesIO(data)).info["bit_depth"] == 10
    pixels = decode_image(data, LIMIT).numpy()
    assert pixels.dtype == np.uint8
    assert _gap(pixels, (rgb16 >> 8).astype(np.uint8)) < 4


@pytest.mark.parametrize("fmt", PHONE_FORMATS)
def test_phone_format_bombs_are_counted_from_the_header(fmt):
    """A small file declaring 6000 x 6000: counted without decoding, refused by the limit before decoding.
    Under the limit it is charged in full: libheif refuses the size mismatch, libavif scales up to it."""
    bomb = declaring(encode(Image.new("RGB", (64, 64), (120, 100, 90)), fmt, quality=80), 6000, 6000)
    assert len(bomb) < 1024
    assert image_pixels(bomb, LIMIT) == 36_000_000
    with pytest.raises(ImageTooLargeError):
        decode_image(bomb, 10_000_000)
    try:
        pixels = decode_image(bomb, LIMIT)
    except ServiceError as exc:
        assert 400 <= exc.status < 500  # noqa: PT017 - a clean 4xx or the declared picture are both fine
    else:
        assert pixels.shape == (6000, 6000, 3)


def test_an_avif_coding_more_pixels_than_it_declares_is_charged_its_coded_size():
    """libavif decodes the AV1 frame at its coded size and scales it to `ispe`: 1 KB declaring 64 x 64 over a
    coded 16384 x 16384 frame made the decoder take ~560 MB. The sequence header's size is what is charged."""
    bomb = avif_coded_larger(1024)
    assert image_pixels(bomb, LIMIT) == 1024 * 1024
    with pytest.raises(ImageTooLargeError):
        decode_image(bomb, 100_000)
    assert decode_image(bomb, LIMIT).shape == (64, 64, 3)
