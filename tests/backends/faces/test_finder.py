"""FaceFinder: detected crops and whole images are bounded in size before they queue."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from motivnet_serve.backends.faces.crops import crop_faces
from motivnet_serve.backends.faces.finder import FaceFinder
from motivnet_serve.backends.faces.resize import shrink_to
from tests.photos import HAND_BOXES


@pytest.mark.slow  # the detector on a 4x enlarged photo (~4 s)
def test_large_detected_crops_and_whole_images_are_reduced(mobilenet, photos):
    photo = photos["single_face.jpg"]
    big = F.interpolate(photo.permute(2, 0, 1)[None].float(), scale_factor=4, mode="bilinear")
    big = big[0].round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).contiguous()
    [[(face, crop)]] = FaceFinder(mobilenet, 0.25, False, 512).find([big])
    assert max(crop.shape[:2]) == 512
    assert crop.dtype == torch.uint8
    assert face.box[2] - face.box[0] > 512
    [[(whole, image)]] = FaceFinder(None, 0.25, False, 512).find([big])  # the `none` detector
    assert whole.whole_image
    assert max(image.shape[:2]) == 512
    [[(whole, image)]] = FaceFinder(mobilenet, 0.25, False, 512).whole([big])
    assert whole.whole_image
    assert max(image.shape[:2]) == 512
    assert image.dtype == torch.uint8
    small = photo[:500, :500]
    [[(_, untouched)]] = FaceFinder(mobilenet, 0.25, False, 512).whole([small])
    assert untouched is small


def test_shrink_keeps_the_picture():
    gradient = torch.arange(1000, dtype=torch.float32).div(1000 / 255).round().to(torch.uint8)
    image = gradient.view(1000, 1, 1).expand(1000, 1000, 3).contiguous()
    small = shrink_to(image, 100)
    assert small.shape == (100, 100, 3)
    assert (small[:, 0, 0].int() - gradient[5::10].int()).abs().max() <= 1
    assert shrink_to(small, 100) is small


def test_a_face_cut_by_the_frame_has_its_box_inside_the_image_and_its_crop_unchanged(mobilenet, photos):
    """A tight portrait (a profile picture, a selfie filling the frame) cuts the face at the image's edges, and
    the detector's box runs past them (here from 17 px above the image to 25 px below it). Clients slice
    pixels with the box, where a negative index wraps around, so the box is clipped to the image; the crop
    the model sees is still taken around the whole face the detector estimated."""
    x1, y1, x2, y2 = (round(v) for v in HAND_BOXES["0-f15-hao-ph.jpg"][0])
    tight = photos["0-f15-hao-ph.jpg"][y1 + 20 : y2 - 20, x1 + 20 : x2 - 20].contiguous()
    height, width = tight.shape[:2]
    [[raw]] = mobilenet.detect([tight])
    assert raw.box[1] < -10
    assert raw.box[3] > height + 10
    [[(face, crop)]] = FaceFinder(mobilenet, 0.25, False, 512).find([tight])
    assert 0 <= face.box[0] < face.box[2] <= width
    assert 0 <= face.box[1] < face.box[3] <= height
    assert face.box == (max(raw.box[0], 0), 0, min(raw.box[2], width), height)
    assert torch.equal(crop, crop_faces(tight, [raw], margin=0.25, align=False)[0])
