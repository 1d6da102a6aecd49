"""Webcam mode in a real headless Chromium: its fake camera plays a pan over a real photo (a Y4M made here),
frames go over WS /v1/stream, and live boxes, the frame counter, frames per second and latency show.
"""

from __future__ import annotations

import re

import pytest

from tests.browser.clips import pan, write_y4m
from tests.browser.conftest import ARTEFACTS, save_screenshot
from tests.browser.page import VISIBLE_ERROR, console_errors, open_page, show_mode, wait_for

pytestmark = [pytest.mark.server, pytest.mark.slow]


def test_webcam_streams_frames_and_draws_live_boxes(server, open_browser, group_photo, tmp_path):
    there = pan(group_photo, (640, 480), 30)
    camera = write_y4m(tmp_path / "camera.y4m", there + there[::-1], fps=10)  # 6 s there and back, looped
    driver = open_browser(
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={camera}",
    )
    open_page(driver, server.url)
    show_mode(driver, "webcam")
    driver.find_element("id", "webcam-start").click()
    counter = "Number(document.getElementById('webcam-frames').textContent)"
    first = wait_for(driver, f"{counter} >= 3 && {counter}")
    wait_for(driver, f"{counter} >= {first + 20}")
    wait_for(driver, "Number(document.getElementById('webcam-overlay').dataset.faces) >= 1")
    fps = float(driver.find_element("id", "webcam-fps").text)
    latency = driver.find_element("id", "webcam-latency").text
    assert fps > 0
    assert re.fullmatch(r"\d+ \(server \d+\)", latency), latency
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    (ARTEFACTS / "webcam.txt").write_text(f"frames per second {fps}, latency {latency} ms\n")
    save_screenshot(driver, "webcam")
    driver.find_element("id", "webcam-stop").click()
    assert driver.execute_script(f"return {VISIBLE_ERROR}") is None
    assert console_errors(driver) == []
