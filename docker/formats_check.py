"""Build-time check that the image decodes HEIC/HEIF and AVIF photos through the service's own decoder.

The pillow-heif and Pillow wheels bundle libheif (with libde265 and x265) and libavif and need only glibc and
libstdc++ from the base image. But a Pillow the base image already carries satisfies `pillow>=11.3` without
being reinstalled, and a Pillow built without libavif opens no AVIF: this fails the build instead of the
first AVIF upload.
"""

from __future__ import annotations

import io

from PIL import Image

from motivnet_serve.core.images import decode_image


def main() -> None:
    for fmt in ("HEIF", "AVIF"):
        buffer = io.BytesIO()
        Image.new("RGB", (64, 64), (128, 110, 90)).save(buffer, fmt)
        pixels = decode_image(buffer.getvalue(), 64 * 64)
        assert tuple(pixels.shape) == (64, 64, 3), f"{fmt} decoded to {tuple(pixels.shape)}"


if __name__ == "__main__":
    main()
