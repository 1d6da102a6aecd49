"""Face crops: the image's own pixels when unaligned, black beyond the edges, eyes level when aligned."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from motivnet_serve.backends.faces.crops import crop_faces, crop_square
from motivnet_serve.backends.faces.face import Face


def _face(box: tuple[float, float, float, float], right_eye=(0.0, 0.0), left_eye=(1.0, 0.0)) -> Face:
    return Face(box=box, score=1.0, landmarks={"right_eye": right_eye, "left_eye": left_eye})


def test_unaligned_crop_is_a_square_of_the_images_own_pixels(photos):
    image = photos["astronaut.png"]
    [crop] = crop_faces(image, [_face((180.0, 60.0, 260.0, 180.0))], margin=0.25, align=False)
    assert crop.shape == (150, 150, 3)
    assert crop.dtype == torch.uint8
    assert torch.equal(crop, image[45:195, 145:295])


def test_square_leaving_the_image_is_padded_black(photos):
    image = photos["coffee.png"]
    [crop] = crop_faces(image, [_face((-20.0, -10.0, 60.0, 70.0))], margin=0.0, align=False)
    assert crop.shape == (80, 80, 3)
    assert torch.equal(crop[10:, 20:], image[:70, :60])
    assert int(crop[:10].max()) == 0
    assert int(crop[:, :20].max()) == 0


@pytest.mark.parametrize("corner", [(-30.0, -30.0), (300.0, -5.0), (-5.0, 180.0), (5000.0, 5000.0)])
def test_cut_square_is_what_sampling_at_pixel_centres_gives(photos, corner):
    """The unrotated fast path against the rotation path at a tiny angle, whose samples land within
    0.0001 px of the pixel centres (so bilinear weights round back to the pixels)."""
    image = photos["coffee.png"]
    x0, y0 = corner
    angle = 1e-7
    cut = crop_square(image, x0, y0, 96, 1.0, 0.0)
    sampled = crop_square(image, x0, y0, 96, math.cos(angle), math.sin(angle))
    assert torch.equal(cut, sampled)


def test_whole_image_face_passes_the_image_through(photos):
    image = photos["coffee.png"]
    crops = crop_faces(image, [Face.covering(image), _face((10.0, 10.0, 50.0, 50.0))], margin=0.25, align=False)
    assert crops[0] is image
    assert crops[1].shape == (50, 50, 3)


def _eye_line_degrees(face: Face) -> float:
    (rx, ry), (lx, ly) = face.landmarks["right_eye"], face.landmarks["left_eye"]
    return math.degrees(math.atan2(ly - ry, lx - rx))


@pytest.mark.slow
def test_alignment_levels_the_eyes_of_a_tilted_face(mobilenet, photo_files):
    """Tilt a face by 20 degrees: in its aligned crop the detector finds the eyes (nearly) level again.

    Not exactly level: the detector's eye landmarks on a tilted face are a few pixels off themselves.
    """
    tilted = Image.open(photo_files["0-f15-hao-ph.jpg"]).rotate(-20, Image.Resampling.BILINEAR)
    image = torch.from_numpy(np.array(tilted))
    [face] = mobilenet.detect([image])[0]
    assert abs(_eye_line_degrees(face)) > 15
    [crop] = crop_faces(image, [face], margin=0.25, align=True)
    [found] = mobilenet.detect([crop])[0]
    assert abs(_eye_line_degrees(found)) < 4


@pytest.mark.gpu
def test_crops_stay_on_the_images_device(photos):
    image = photos["astronaut.png"]
    face = _face((180.0, 60.0, 260.0, 180.0), (200.0, 100.0), (240.0, 110.0))
    for align in (False, True):
        [cpu] = crop_faces(image, [face], margin=0.25, align=align)
        [cuda] = crop_faces(image.cuda(), [face], margin=0.25, align=align)
        assert cuda.device.type == "cuda"
        assert (cuda.cpu().int() - cpu.int()).abs().max() <= 1
