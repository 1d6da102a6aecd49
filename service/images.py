"""Bytes from a client to an upright HxWx3 uint8 RGB tensor, refusing what we should not decode.

The pixel limit is checked on the header, before any pixel is decoded, so a decompression bomb costs
nothing; only an allow-list of formats reaches Pillow's decoders.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from service.errors import CorruptImageError, ImageTooLargeError, UnsupportedImageError

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF")


@dataclass(frozen=True)
class Upload:
    """One image as a client sent it."""

    filename: str | None
    data: bytes


def decode_image(data: bytes, max_pixels: int) -> torch.Tensor:
    """Decode one image (GIF: first frame; EXIF orientation applied) to an HxWx3 uint8 tensor."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except UnidentifiedImageError:
        raise UnsupportedImageError(
            f"not an image in a supported format; send one of {', '.join(ALLOWED_FORMATS)}"
        ) from None
    except Image.DecompressionBombError:
        raise ImageTooLargeError(f"image too large: at most {max_pixels} pixels") from None
    width, height = image.size
    if width * height > max_pixels:
        raise ImageTooLargeError(f"image is {width}x{height} = {width * height} pixels; at most {max_pixels} allowed")
    try:
        image.seek(0)
        rgb = np.array(ImageOps.exif_transpose(image).convert("RGB"))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise CorruptImageError(f"image could not be decoded (corrupt or truncated?): {exc}") from None
    return torch.from_numpy(rgb)
