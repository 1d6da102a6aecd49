"""Detection's own CUDA stream: a no-op on the CPU; on a GPU the crops equal those found on the default stream
while the default stream is busy with other work."""

from __future__ import annotations

import pytest
import torch

from motivnet_serve.backends.faces.finder import FaceFinder
from motivnet_serve.backends.faces.side_stream import SideStream
from motivnet_serve.backends.torch_runtime.upload import upload


@pytest.mark.slow  # the detector over several photos twice (~3 s)
def test_on_a_cpu_the_side_stream_changes_nothing(mobilenet, photos):
    side = SideStream(torch.device("cpu"))
    assert side.stream is None
    tensor = torch.ones(3)
    with side.running():
        doubled = tensor * 2
    side.hand_over([doubled])
    assert doubled.tolist() == [2.0, 2.0, 2.0]
    finder = FaceFinder(mobilenet, 0.25, False, 512)
    assert finder.side_stream.stream is None
    found = finder.find([photos["multi_face.jpg"]])
    assert len(found[0]) == 5
    assert all(crop.device.type == "cpu" for _, crop in found[0])


def test_upload_to_the_cpu_is_the_same_tensor():
    image = torch.zeros(4, 4, 3, dtype=torch.uint8)
    assert upload(image, torch.device("cpu")) is image


@pytest.mark.gpu
def test_crops_from_the_side_stream_equal_the_default_stream_s_while_it_is_busy(model_store, photos):
    from motivnet_serve.backends.faces.detector import build_detector
    from motivnet_serve.core.loading import detector_settings
    from motivnet_serve.settings import Settings

    device = torch.device("cuda")
    detector = build_detector("retinaface-mobilenet", device, model_store, detector_settings(Settings().detector))
    finder = FaceFinder(detector, 0.25, False, 512)
    assert finder.side_stream.stream is not None
    photo = photos["multi_face.jpg"]
    with torch.cuda.stream(torch.cuda.default_stream(device)):
        expected = [crop.clone() for _, crop in finder._find(detector, [photo])[0]]
    busy = torch.randn(4096, 4096, device=device)
    for _ in range(20):
        busy = busy @ busy / 64  # keeps the default stream occupied while the side stream works
    found = finder.find([photo])[0]
    assert len(found) == len(expected) == 5
    for (_, crop), reference in zip(found, expected):
        assert torch.equal(crop, reference)
    pinned = upload(photo, device)
    assert pinned.device.type == "cuda"
    assert torch.equal(pinned.cpu(), photo)
