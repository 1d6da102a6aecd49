"""The command line as a user runs it: a real subprocess, real files, exit codes and output."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.clips import encode
from tests.conftest import ROOT
from tests.corpus import ONE, RATE
from tests.footage import frame

pytestmark = pytest.mark.slow  # every test starts a Python process that imports torch


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "motivnet_serve", *args], capture_output=True, text=True, cwd=ROOT, timeout=120
    )


def test_predict_json_reproduces_reference(tiny_dir, face_png, expected):
    result = run_cli("predict", "--model-dir", str(tiny_dir), "--no-detect", "--json", str(face_png))
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["model"] == "motivnet-tiny"
    [image] = document["results"]
    [face] = image["faces"]
    assert image["image"] == str(face_png)
    assert face["box"] is None
    assert face["score"] is None
    assert face["label"] == expected["expected_label"]
    probabilities = [face["probabilities"][label] for label in expected["labels"]]
    assert np.allclose(probabilities, expected["expected_probabilities"], atol=2e-3)


def test_predict_table_without_json(tiny_dir, face_png):
    result = run_cli("predict", "--model-dir", str(tiny_dir), "--no-detect", str(face_png))
    assert result.returncode == 0, result.stderr
    assert "model: motivnet-tiny" in result.stdout
    assert "Fear" in result.stdout


def test_missing_image_is_one_line_exit_2(tiny_dir, tmp_path):
    result = run_cli("predict", "--model-dir", str(tiny_dir), "--no-detect", str(tmp_path / "nope.jpg"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "Traceback" not in result.stderr


def test_unreadable_image_is_one_line_exit_2(tiny_dir, tmp_path):
    (tmp_path / "notes.jpg").write_text("not a picture")
    result = run_cli("predict", "--model-dir", str(tiny_dir), "--no-detect", str(tmp_path / "notes.jpg"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "supported format" in result.stderr


def test_missing_checkpoint_is_one_line_exit_2(tmp_path, face_png):
    (tmp_path / "model.json").write_text(json.dumps({"name": "absent"}))
    result = run_cli("predict", "--model-dir", str(tmp_path), "--no-detect", str(face_png))
    assert result.returncode == 2
    assert "MotivNet.pth not found" in result.stderr


def test_describe_full_model_on_meta_device(manifest):
    result = run_cli("describe", "--model-dir", str(ROOT / "model_store" / "motivnet"), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["model"] == "motivnet-1b"
    assert report["parameters"] == manifest["num_parameters"]
    assert report["state_dict"] == manifest["keys"]


def test_preprocess_writes_what_the_model_sees(tiny_dir, face_png, tmp_path):
    out = tmp_path / "seen.png"
    result = run_cli("preprocess", "--model-dir", str(tiny_dir), str(face_png), "--out", str(out))
    assert result.returncode == 0, result.stderr
    seen = np.array(Image.open(out))
    assert seen.shape == (1024, 768, 3)
    assert (seen[:128] == 255).all()
    assert (seen[-128:] == 255).all()
    assert not (seen[128:-128] == 255).all()


@pytest.mark.usefixtures("bundled_weights")
def test_predict_finds_every_face_of_a_group_photo():
    from tests.photos import photo_paths

    group = photo_paths()["multi_face.jpg"]
    result = run_cli("predict", "--json", str(group))
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["model"] == "mini-xception-fer2013"
    faces = document["results"][0]["faces"]
    assert len(faces) == 5
    assert sum(face["label"] == "Happiness" for face in faces) >= 4
    assert all(len(face["box"]) == 4 and face["landmarks"]["nose"] for face in faces)


@pytest.mark.usefixtures("bundled_weights")
def test_predict_reads_heic_and_avif_like_jpeg(tmp_path):
    from tests.heif_files import phone_copy
    from tests.photos import photo_paths

    group = photo_paths()["multi_face.jpg"]
    paths = [group, phone_copy(group, "HEIF", tmp_path), phone_copy(group, "AVIF", tmp_path)]
    result = run_cli("predict", "--json", *map(str, paths))
    assert result.returncode == 0, result.stderr
    jpeg, heic, avif = json.loads(result.stdout)["results"]
    assert len(jpeg["faces"]) == 5
    for other in (heic, avif):
        assert [face["label"] for face in other["faces"]] == [face["label"] for face in jpeg["faces"]]
        assert np.allclose([f["box"] for f in other["faces"]], [f["box"] for f in jpeg["faces"]], atol=8)


@pytest.mark.usefixtures("bundled_weights")
def test_table_says_when_an_image_has_no_face():
    from tests.photos import photo_paths

    result = run_cli("predict", str(photo_paths()["coffee.png"]))
    assert result.returncode == 0, result.stderr
    assert "coffee.png: no face found" in result.stdout


@pytest.mark.usefixtures("bundled_weights")
def test_preprocess_detect_writes_each_face_as_the_model_sees_it(tmp_path):
    from tests.photos import photo_paths

    out = tmp_path / "seen.png"
    motivnet = str(ROOT / "model_store" / "motivnet")
    result = run_cli(
        "preprocess", "--model-dir", motivnet, "--detect", str(photo_paths()["multi_face.jpg"]), "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    faces = sorted(tmp_path.glob("seen_face*.png"))
    assert len(faces) == 5
    assert not out.exists()
    first = np.array(Image.open(faces[0]))
    assert first.shape == (1024, 768, 3)
    assert (first[:128] == 255).all()
    result = run_cli("preprocess", "--detect", str(photo_paths()["single_face.jpg"]), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert np.array(Image.open(tmp_path / "seen_face0.png")).shape == (64, 64)


def test_predict_video_when_the_person_walks_out_shows_every_frame_and_the_summary(tmp_path, bundled_weights):
    """The issue's report: a person faces the camera, then walks out of the picture; the command used to end
    in a traceback at the first frame without a face."""
    clip = tmp_path / "walks_out.mp4"
    clip.write_bytes(encode([frame(ONE)] * 10 + [frame(())] * 10, rate=RATE))
    result = run_cli("predict-video", "--model-dir", str(bundled_weights / "mini-xception"), str(clip))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    frames = [line for line in lines if line.startswith("frame ")]
    assert len(frames) == 10
    assert all("#1 " in line for line in frames[:5])
    assert all(line.endswith(": no face") for line in frames[5:])
    assert "model: mini-xception-fer2013, 10 frames, 2.0 s" in lines
    assert any(line.startswith("track 1: ") and "over 5 frames, 0.0-0.8 s" in line for line in lines)


def test_predict_video_without_detection_answers_every_frame_as_one_face(tmp_path, bundled_weights):
    """`--no-detect` loads no detector (`Settings.offline`, as predict and analyze): each frame, with a person
    or without, is one face covering the whole frame."""
    clip = tmp_path / "walks_out.mp4"
    clip.write_bytes(encode([frame(ONE)] * 10 + [frame(())] * 10, rate=RATE))
    result = run_cli("predict-video", "--model-dir", str(bundled_weights / "mini-xception"), "--no-detect", str(clip))
    assert result.returncode == 0, result.stderr
    frames = [line for line in result.stdout.splitlines() if line.startswith("frame ")]
    assert len(frames) == 10
    assert all("#1 " in line and "no face" not in line for line in frames)
