"""The images the container tests run: a local stand-in for the CUDA PyTorch base, and docker/Dockerfile.

The base (Debian bookworm + the CPU torch wheel, see image/bookworm-torch.sh) is tagged by a hash of its
recipe and inputs, and rebuilt only when they change; docker/Dockerfile is built as it is, on top of it.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

from deploykit import REPO, TORCH_VERSION
from enginekit import CACHE, Engine

BASE_RECIPE = Path(__file__).resolve().parent / "image" / "bookworm-torch.sh"
TORCH = f"torch=={TORCH_VERSION}"  # the stand-in base gets the CPU build of the image's torch
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
BASE_REPOSITORY = "motivnet-test-base"
SERVE_IMAGE = "motivnet-serve:image-test"
BASE_SECONDS = 1200
BUILD_SECONDS = 1200


def torch_wheel() -> Path:
    """The wheel pip picks for the pinned torch on this machine: it must be the CPU build."""
    folder = CACHE / "wheels"
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(folder), TORCH]
    subprocess.run(command, check=True, timeout=600)
    version = TORCH.split("==")[1]
    (wheel,) = sorted(folder.glob(f"torch-{version}*.whl"))
    assert "+cpu" in wheel.name, f"{wheel.name}: pip resolved {TORCH} to a CUDA build, expected the CPU wheel"
    return wheel


def base_tag(wheel: Path) -> str:
    digest = hashlib.sha256(BASE_RECIPE.read_bytes() + wheel.name.encode() + CA_BUNDLE.read_bytes())
    return f"{BASE_REPOSITORY}:{digest.hexdigest()[:16]}"


def base_image(engine: Engine) -> str:
    """The base image's tag; built (debootstrap, torch, `docker import`) only when its recipe changed."""
    wheel = torch_wheel()
    tag = base_tag(wheel)
    if engine.run("image", "inspect", tag, check=False).returncode == 0:
        return tag
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        rootfs = Path(tmp) / "rootfs.tar"
        subprocess.run(["bash", str(BASE_RECIPE), str(rootfs), str(wheel)], check=True, timeout=BASE_SECONDS)
        engine.run(
            "import",
            "--change",
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            str(rootfs),
            tag,
            timeout=600,
        )
    stale = engine.out("image", "ls", BASE_REPOSITORY, "--format", "{{.Repository}}:{{.Tag}}").split()
    for old in set(stale) - {tag}:
        engine.run("image", "rm", old)
    return tag


def build_serve_image(engine: Engine, base: str) -> str:
    """docker/Dockerfile as it is, with BASE_IMAGE the local base; pip reaches PyPI over the host network.

    The builder stage is tagged too: the classic builder's layer cache is its images, and an untagged stage
    that no final image descends from would go with the prune of the previous build's leftovers."""
    argv = ["build", "--network", "host", "--file", str(REPO / "docker" / "Dockerfile")]
    argv += ["--build-arg", f"BASE_IMAGE={base}"]
    engine.run(*argv, "--target", "builder", "--tag", f"{SERVE_IMAGE}-builder", str(REPO), timeout=BUILD_SECONDS)
    engine.run(*argv, "--tag", SERVE_IMAGE, str(REPO), timeout=BUILD_SECONDS)
    engine.run("image", "prune", "--force")
    return SERVE_IMAGE
