"""The confusion matrix as a PNG heat map, drawn with Pillow (already a dependency; no plotting library).

Each cell is shaded by its share of the true class's row (recall-normalised, as FER papers show them) and
carries its count, so the picture reads the same however unbalanced the set is.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw

CELL = 64
MARGIN = 96
LOW = (247, 251, 255)
HIGH = (8, 48, 107)


def draw_confusion(matrix: Sequence[Sequence[int]], labels: Sequence[str], title: str) -> Image.Image:
    """Rows: true labels; columns: predicted."""
    size = len(labels)
    image = Image.new("RGB", (MARGIN + size * CELL + 8, MARGIN + size * CELL + 8), "white")
    draw = ImageDraw.Draw(image)
    draw.text((8, 8), title, fill="black")
    draw.text((MARGIN, 32), "predicted ->   (rows: true label)", fill="black")
    for i, label in enumerate(labels):
        draw.text((8, MARGIN + i * CELL + CELL // 2 - 6), label[:11], fill="black")
        draw.text((MARGIN + i * CELL + 4, MARGIN - 14), label[:9], fill="black")
    for row, counts in enumerate(matrix):
        total = sum(counts)
        for column, count in enumerate(counts):
            share = count / total if total else 0.0
            x, y = MARGIN + column * CELL, MARGIN + row * CELL
            draw.rectangle((x, y, x + CELL - 1, y + CELL - 1), fill=_shade(share), outline="white")
            draw.text((x + CELL // 2 - 8, y + CELL // 2 - 6), str(count), fill="white" if share > 0.5 else "black")
    return image


def write_confusion(path: Path, matrix: Sequence[Sequence[int]], labels: Sequence[str], title: str) -> None:
    draw_confusion(matrix, labels, title).save(path, "PNG")


def _shade(share: float) -> tuple[int, int, int]:
    low, high = LOW, HIGH
    return (
        round(low[0] + (high[0] - low[0]) * share),
        round(low[1] + (high[1] - low[1]) * share),
        round(low[2] + (high[2] - low[2]) * share),
    )
