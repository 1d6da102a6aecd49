"""Face crops for the emotion model: a square around each box, grown by a margin, optionally eye-levelled.

Every crop is one bilinear `grid_sample` at the crop's own resolution, so the emotion model's preprocessing
does the only resize. Without alignment the square's corner is snapped to whole pixels, which makes the
sampling land on pixel centres: the crop holds the image's own pixels, untouched. Where the square leaves
the image it is padded black: replicated edges would smear hair or a cheek into streaks, and black is what
the retina-face package fills its rotated images with.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from motivnet_serve.backends.faces.face import Face


def face_squares(faces: Sequence[Face], margin: float, align: bool, device: torch.device) -> torch.Tensor:
    """[N, 5] rows (x0, y0, side, cos, sin): the square's corner before rotation, its side, the eye-line angle."""
    boxes = torch.tensor([face.box for face in faces], dtype=torch.float32, device=device).view(-1, 4)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    sides = ((boxes[:, 2:] - boxes[:, :2]).amax(dim=1) * (1 + margin)).round().clamp(min=1)
    corners = (centres - sides[:, None] / 2).round()
    angles = torch.zeros(len(faces), dtype=torch.float32, device=device)
    if align:
        eyes = torch.tensor(
            [[*face.landmarks["right_eye"], *face.landmarks["left_eye"]] for face in faces],
            dtype=torch.float32,
            device=device,
        ).view(-1, 4)
        angles = torch.atan2(eyes[:, 3] - eyes[:, 1], eyes[:, 2] - eyes[:, 0])
    return torch.cat([corners, sides[:, None], angles.cos()[:, None], angles.sin()[:, None]], dim=1)


def cut_square(image: torch.Tensor, x0: int, y0: int, side: int) -> torch.Tensor:
    """The unrotated square whose corner is the pixel (x0, y0): the image's own pixels, black beyond its edges.

    This is what sampling at the pixel centres gives, without sampling: a copy of the overlap (no float
    image of the region), which on the CPU is most of a video frame's cropping time.
    """
    height, width = image.shape[:2]
    crop = torch.zeros(side, side, 3, dtype=torch.uint8, device=image.device)
    left, top = max(x0, 0), max(y0, 0)
    right, bottom = min(x0 + side, width), min(y0 + side, height)
    if right > left and bottom > top:
        crop[top - y0 : bottom - y0, left - x0 : right - x0] = image[top:bottom, left:right]
    return crop


def crop_square(image: torch.Tensor, x0: float, y0: float, side: int, cos: float, sin: float) -> torch.Tensor:
    """One side x side crop of an HxWx3 uint8 image, rotated by the angle (cos, sin) about the square's centre."""
    if sin == 0.0 and cos == 1.0:
        return cut_square(image, int(x0), int(y0), side)
    height, width = image.shape[:2]
    centre_x, centre_y = x0 + side / 2, y0 + side / 2
    reach = side / 2 * (abs(cos) + abs(sin)) + 2
    left, top = max(int(centre_x - reach), 0), max(int(centre_y - reach), 0)
    right, bottom = min(int(centre_x + reach) + 1, width), min(int(centre_y + reach) + 1, height)
    if right <= left or bottom <= top:
        return torch.zeros(side, side, 3, dtype=torch.uint8, device=image.device)
    region = image[top:bottom, left:right].permute(2, 0, 1).unsqueeze(0).float()
    offsets = torch.arange(side, dtype=torch.float32, device=image.device) + 0.5 - side / 2
    v, u = torch.meshgrid(offsets, offsets, indexing="ij")
    source_x = centre_x + u * cos - v * sin - left
    source_y = centre_y + u * sin + v * cos - top
    grid = torch.stack([2 * source_x / (right - left) - 1, 2 * source_y / (bottom - top) - 1], dim=-1)
    crop = F.grid_sample(region, grid[None], mode="bilinear", padding_mode="zeros", align_corners=False)
    return crop[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8)


def crop_faces(image: torch.Tensor, faces: Sequence[Face], *, margin: float, align: bool) -> list[torch.Tensor]:
    """HxWx3 uint8 image + its faces -> one square HxWx3 uint8 crop per face, on the image's device.

    `margin` grows the box's longer side (0.25: a quarter more, split evenly around it); `align` rotates
    each crop so the eyes lie level. Both come from the settings (`crop_margin`, `crop_align`), which hold
    their defaults. A `whole_image` face yields the image itself, uncropped.
    """
    detected = [face for face in faces if not face.whole_image]
    squares = face_squares(detected, margin, align, image.device).tolist() if detected else []
    crops = iter(crop_square(image, x0, y0, int(side), cos, sin) for x0, y0, side, cos, sin in squares)
    return [image if face.whole_image else next(crops) for face in faces]
