"""A labelled collection made at test time from the real photos of `tests.photos` and a real clip, and one
analysis of it (the bundled mini-Xception with MobileNet face detection, as tests/pipelines/conftest.py's
server), shared by the tests that only read its tables."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from motivnet_serve.pipelines.collection.parts import Output
from motivnet_serve.pipelines.collection.run import Result, analyze
from motivnet_serve.settings import Settings
from tests.clips import group_clip
from tests.conftest import MODEL_STORE, ROOT
from tests.photos import photo_paths

MINI = MODEL_STORE / "mini-xception"
LAYOUT = {
    "happy": ["single_face.jpg", "multi_face.jpg"],  # FER2013's spelling
    "Sadness": ["0-f15-hao-ph.jpg"],  # AffectNet's, capitalised
    "angry": ["astronaut.png"],
    "surprise": ["coffee.png"],  # no face in it: counted apart
    "contempt": ["single_face.jpg"],  # a class the model lacks: excluded, counted
}


@dataclass(frozen=True)
class Analyzed:
    inputs: Path
    output: Output
    result: Result


def mini_settings(**overrides: object) -> Settings:
    return Settings(**{"model_dir": str(MINI), "device": "cpu", "warmup": False, **overrides})


def labelled_folder(root: Path) -> Path:
    photos = photo_paths()
    for label, names in LAYOUT.items():
        (root / label).mkdir(parents=True)
        for name in names:
            shutil.copy(photos[name], root / label / name)
    (root / "clips").mkdir()
    (root / "clips" / "group.mp4").write_bytes(group_clip(seconds=2.0))
    return root


def run_cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "motivnet_serve", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=timeout)


@pytest.fixture(scope="session")
def analyzed(tmp_path_factory, bundled_weights) -> Analyzed:  # noqa: ARG001 - the detector's weights come first
    inputs = labelled_folder(tmp_path_factory.mktemp("labelled"))
    out = tmp_path_factory.mktemp("analyzed")
    result = analyze([str(inputs)], out, labels_from_folders=True, settings=mini_settings())
    return Analyzed(inputs, Output(out), result)
