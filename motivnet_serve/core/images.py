"""Bytes from a client to an upright HxWx3 uint8 RGB tensor, refusing what we should not decode.

The pixel limit is checked on the header, before any pixel is decoded, so a decompression bomb costs
nothing; only an allow-list of formats reaches Pillow's decoders. HEIC/HEIF (phones) comes through
pillow-heif's opener, AVIF through Pillow's own plugin: both read the size from the container's `ispe` box
at open, so they are charged like any other format. Pillow's decoders raise many kinds of
errors on hostile bytes (OSError, ValueError, SyntaxError, struct.error, even AttributeError); every one of
them is the input's fault, so each becomes a 4xx here and never a 500.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
import pillow_heif
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from motivnet_serve.core.av1_size import coded_size
from motivnet_serve.core.errors import CorruptImageError, ImageTooLargeError, UnsupportedImageError

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF", "HEIF", "AVIF")
ACCEPTED_NAMES = "JPEG, PNG, WebP, BMP, GIF, TIFF, HEIC/HEIF or AVIF"
"""The formats as a client knows them (Pillow calls HEIC "HEIF"); the 415 message and the docs say this."""
HIGH_DEPTH_MODES = ("I", "I;16", "I;16L", "I;16B", "I;16N", "F")
"""Single-channel modes wider than 8 bits: `convert("RGB")` would clip them to 255 instead of scaling."""


# Only the primary image of a HEIF file is ever decoded: thumbnails, depth maps and auxiliary images are not
# even listed. libheif applies `irot`/`imir` while decoding and the opener converts 10/12-bit to 8-bit.
pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)


@dataclass(frozen=True)
class Upload:
    """One image as a client sent it."""

    filename: str | None
    data: bytes
    unnamed: str = "the body"
    """What an error calls an upload without a file name (a raw body, a live frame)."""


def image_pixels(data: bytes, max_pixels: int) -> int:
    """Width x height from the header alone, so admission can count a request's pixels before decoding (for
    AVIF, the larger of the declared and the coded size)."""
    width, height = _largest(data, _open(data, max_pixels))
    return width * height


def decode_image(data: bytes, max_pixels: int) -> torch.Tensor:
    """Decode one image to an HxWx3 uint8 tensor: the frame an open file starts at (GIF, WebP, AVIF: the first;
    HEIF: the primary image, which need not be the first), with EXIF or HEIF orientation applied."""
    image = _open(data, max_pixels)
    try:
        image.load()
        rgb = _rgb_array(_upright(image), unsigned=_unsigned_32(image))
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoder failure on client bytes is a corrupt image, not a server error
        raise CorruptImageError(f"image could not be decoded (corrupt or truncated?): {_reason(exc)}") from None
    return torch.from_numpy(rgb)


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """The image with only its header read; refuses unknown formats and sizes over `max_pixels`."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except UnidentifiedImageError:
        raise UnsupportedImageError(_unidentified(data)) from None
    except Image.DecompressionBombError:
        raise ImageTooLargeError(f"image too large: at most {max_pixels} pixels") from None
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - a known format whose header this decoder cannot read (variant or damage)
        raise UnsupportedImageError(f"unsupported or damaged image header: {_reason(exc)}") from None
    width, height = _largest(data, image)
    if width * height > max_pixels:
        raise ImageTooLargeError(f"image is {width}x{height} = {width * height} pixels; at most {max_pixels} allowed")
    return image


def _unidentified(data: bytes) -> str:
    """Why no decoder took the bytes. Pillow says only that none did; a file that starts as one of our formats
    is a variant of it that Pillow has no mode for (a 32-bit colour TIFF from an HDR tool), and telling its
    sender to send a TIFF would not help."""
    for fmt in ALLOWED_FORMATS:
        accept = Image.OPEN.get(fmt, (None, None))[1]
        if accept is not None and accept(data[:16]):
            return (
                f"this {fmt} file cannot be read here (a variant such as 32-bit colour, or a damaged header); "
                "send 8-bit JPEG or PNG"
            )
    return f"not an image in a supported format; send {ACCEPTED_NAMES}"


def _largest(data: bytes, image: Image.Image) -> tuple[int, int]:
    """The header's size, or for AVIF the AV1 stream's frame size where that is larger: the decoder works at
    that size before scaling to the header's (see `av1_size`)."""
    coded = coded_size(data) if image.format == "AVIF" else None
    if coded is None or coded[0] * coded[1] <= image.size[0] * image.size[1]:
        return image.size
    return coded


def _upright(image: Image.Image) -> Image.Image:
    """EXIF orientation applied; a damaged EXIF block only costs the rotation, not the picture."""
    try:
        return ImageOps.exif_transpose(image)
    except (SyntaxError, ValueError, TypeError, KeyError, IndexError, AttributeError, OSError):
        return image


def _rgb_array(image: Image.Image, unsigned: bool = False) -> np.ndarray:
    """HxWx3 uint8; 16-bit and 32-bit grey is scaled to 0..255 by its bit depth instead of clipped. `unsigned`:
    the 'I' pixels' bits are unsigned 32-bit values."""
    if image.mode not in HIGH_DEPTH_MODES:
        return np.array(image.convert("RGB"))
    values = (np.asarray(image).view(np.uint32) if unsigned else np.asarray(image)).astype(np.float32)
    grey = np.rint(values * (255.0 / _full_scale(image.mode, values))).clip(0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def _unsigned_32(image: Image.Image) -> bool:
    """Pillow reads a TIFF's unsigned 32-bit grey (SampleFormat 1, as scientific cameras write) into its signed
    'I' mode, so values past 2**31 wrap negative; read from the file's tags before turning drops them."""
    tags = getattr(image, "tag_v2", None)
    return image.mode == "I" and tags is not None and tags.get(339) == (1,) and tags.get(258) == (32,)


def _full_scale(mode: str, values: np.ndarray) -> float:
    """The value that means white: 65535 for 16-bit modes; for 'I' and 'F' the smallest usual range that
    holds the data (1.0 for float images in 0..1, 255, 65535, else the 32-bit range)."""
    if mode.startswith("I;16"):
        return 65535.0
    peak = float(values.max(initial=0.0))
    for full in ((1.0,) if mode == "F" else ()) + (255.0, 65535.0):
        if peak <= full:
            return full
    return float(2**32 - 1)


def _reason(exc: Exception) -> str:
    """The decoder's own words, short; never a path (there is none: images arrive as bytes)."""
    text = str(exc) or type(exc).__name__
    return text[:200]
