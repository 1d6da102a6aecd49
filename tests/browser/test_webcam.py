"""Webcam mode in a real headless Chromium: its fake camera plays a pan over a real photo (a Y4M made here),
frames go over WS /v1/stream, and live boxes, the frame counter, frames per second and latency show.
"""

from __future__ import annotations

import re

import pytest
from PIL import Image

from bench.server_process import ServerProcess
from tests.browser.clips import pan, write_y4m
from tests.browser.conftest import ARTEFACTS, save_screenshot
from tests.browser.page import VISIBLE_ERROR, console_errors, open_page, show_mode, wait_for
from tests.corpus import ONE
from tests.footage import frame

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.slow]


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


def _camera(driver_factory, tmp_path, frames: list[Image.Image]):
    camera = write_y4m(tmp_path / "camera.y4m", frames, fps=10)
    return driver_factory(
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={camera}",
    )


def test_webcam_goes_on_when_the_person_walks_out_and_back(server, open_browser, tmp_path):
    """The issue's report: the first frame without a face was never answered and the view froze. The fake
    camera loops a person in view for a second, then the empty room for a second."""
    here, gone = Image.fromarray(frame(ONE)), Image.fromarray(frame(()))
    driver = _camera(open_browser, tmp_path, [here] * 10 + [gone] * 10)
    open_page(driver, server.url)
    show_mode(driver, "webcam")
    driver.find_element("id", "webcam-start").click()
    faces = "Number(document.getElementById('webcam-overlay').dataset.faces)"
    counter = "Number(document.getElementById('webcam-frames').textContent)"
    for _ in range(2):  # out of the picture and back, twice
        wait_for(driver, f"{faces} === 0")
        wait_for(driver, f"{faces} === 1")
    assert driver.execute_script(f"return {counter}") >= 4
    driver.find_element("id", "webcam-stop").click()
    assert driver.execute_script(f"return {VISIBLE_ERROR}") is None
    assert console_errors(driver) == []


def test_webcam_shows_a_frames_error_and_keeps_going(bundled_weights, open_browser, tmp_path):
    """A server that takes no frame this large answers each with an error: the page says so and keeps
    sending, so the error names ever later frames."""
    env = {"MOTIVNET_MAX_FRAME_PIXELS": "1000"}
    with ServerProcess("--model-dir", str(bundled_weights / "mini-xception"), env=env) as small:
        small.wait_ready()
        driver = _camera(open_browser, tmp_path, [Image.fromarray(frame(ONE))] * 10)
        open_page(driver, small.url)
        show_mode(driver, "webcam")
        driver.find_element("id", "webcam-start").click()
        error = f"({VISIBLE_ERROR} || '')"
        wait_for(driver, f"Number(({error}.match(/^Frame (\\d+):/) || [0, 0])[1]) >= 5", error_fails=False)
        assert "pixels" in driver.execute_script(f"return {VISIBLE_ERROR}")
        driver.find_element("id", "webcam-stop").click()
