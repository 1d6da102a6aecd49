"""Every face of real photos through POST /predict with the bundled CPU model, offline."""

from __future__ import annotations

import pytest

from motivnet_serve.backends.faces.face import LANDMARK_NAMES
from motivnet_serve.settings import Settings
from tests.conftest import MODEL_STORE
from tests.heif_files import phone_copy
from tests.photos import HAND_BOXES, NOT_SMILING, photo_paths
from tests.router.conftest import serving

pytestmark = pytest.mark.anyio


def _iou(a: list[float], b: tuple[float, ...]) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


async def test_group_photo_and_empty_photo_in_one_request():
    paths = photo_paths()
    names = ["multi_face.jpg", "coffee.png", "single_face.jpg"]
    files = [("file", (name, paths[name].read_bytes(), "image/*")) for name in names]
    settings = Settings(model_dir=str(MODEL_STORE / "mini-xception"), device="cpu")
    async with serving(settings) as client:
        response = await client.post("/predict", files=files)
        metrics = (await client.get("/metrics")).text
    assert "motivnet_detection_duration_seconds_count 1.0" in metrics
    assert "motivnet_faces_total 6.0" in metrics
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["model"] == "mini-xception-fer2013"
    group, empty, single = answer["results"]
    assert empty == {"filename": "coffee.png", "faces": []}
    assert len(group["faces"]) == 5
    assert len(single["faces"]) == 1
    for index, hand_box in enumerate(HAND_BOXES["multi_face.jpg"]):
        face = max(group["faces"], key=lambda f: _iou(f["box"], hand_box))
        assert _iou(face["box"], hand_box) > 0.5
        assert set(face["landmarks"]) == set(LANDMARK_NAMES)
        assert face["score"] >= 0.9
        if ("multi_face.jpg", index) not in NOT_SMILING:
            assert face["label"] == "Happiness"
    assert single["faces"][0]["label"] == "Happiness"


async def test_heic_and_avif_of_the_group_photo_answer_like_its_jpeg(tmp_path):
    """What an iPhone (HEIC) and a browser (AVIF) save: the same faces, boxes and labels as the JPEG."""
    group = photo_paths()["multi_face.jpg"]
    paths = [group, phone_copy(group, "HEIF", tmp_path), phone_copy(group, "AVIF", tmp_path)]
    files = [("file", (path.name, path.read_bytes(), "application/octet-stream")) for path in paths]
    settings = Settings(model_dir=str(MODEL_STORE / "mini-xception"), device="cpu")
    async with serving(settings) as client:
        response = await client.post("/predict", files=files)
    assert response.status_code == 200, response.text
    jpeg, *others = response.json()["results"]
    assert len(jpeg["faces"]) == 5
    for other in others:
        assert [face["label"] for face in other["faces"]] == [face["label"] for face in jpeg["faces"]]
        for face, mine in zip(jpeg["faces"], other["faces"]):
            assert _iou(mine["box"], tuple(face["box"])) > 0.9, other["filename"]
