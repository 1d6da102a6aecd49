"""Video mode in a real headless Chromium: a clip made here from a real photo, its lines drawn as they arrive,
the overlay in sync with playback, a timeline and a table row per track, JSON and CSV downloads.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.browser.clips import pan, write_webm
from tests.browser.conftest import save_screenshot
from tests.browser.page import console_errors, downloaded, open_page, show_mode, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.slow]


def api_video_lines(url: str, clip: Path, fps: int) -> list[dict]:
    with clip.open("rb") as body:
        files = {"file": (clip.name, body, "video/webm")}
        response = httpx.post(f"{url}/v1/video", params={"fps": fps}, files=files, timeout=120)
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


def test_video_file_shows_progress_timelines_tracks_and_overlay(server, open_browser, group_photo, tmp_path):
    clip = write_webm(tmp_path / "pan.webm", pan(group_photo, (640, 360), 30), fps=15)
    lines = api_video_lines(server.url, clip, fps=5)
    frames, summary = [line for line in lines if "frame" in line], lines[-1]["summary"]
    driver = open_browser()
    open_page(driver, server.url)
    show_mode(driver, "video")
    driver.find_element("id", "video-input").send_keys(str(clip))
    wait_for(driver, "!document.getElementById('video-summary').hidden")
    assert driver.find_element("id", "video-status").text.startswith(f"done: {len(frames)} frames")
    rows = driver.find_elements("css selector", "#video-summary tbody tr")
    assert [row.text.split()[0] for row in rows] == [f"#{track['track_id']}" for track in summary["tracks"]]
    points = driver.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('#video-timelines canvas')]"
        ".map(c => [c.dataset.track, Number(c.dataset.points)]))"
    )
    assert points == {str(track["track_id"]): track["frames"] for track in summary["tracks"]}
    middle = frames[len(frames) // 2]
    driver.execute_script(f"document.getElementById('video-player').currentTime = {middle['time_ms'] / 1000}")
    overlay = "document.getElementById('video-overlay').dataset"
    wait_for(driver, f"{overlay}.frame === '{middle['frame']}' && {overlay}.faces === '{len(middle['faces'])}'")
    downloads = tmp_path / "downloads"
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.find_element("id", "video-csv").click()
    driver.find_element("id", "video-json").click()
    saved = downloaded(driver, downloads, "video-json", "motivnet-video.json")
    assert [(f["frame"], len(f["faces"])) for f in saved["frames"]] == [(f["frame"], len(f["faces"])) for f in frames]
    assert [t["track_id"] for t in saved["summary"]["tracks"]] == [t["track_id"] for t in summary["tracks"]]
    csv_rows = downloaded(driver, downloads, "video-csv", "motivnet-video.csv").splitlines()
    assert csv_rows[0].startswith("frame,time_ms,track_id,x1,y1,x2,y2,score,label,Neutral,Happiness,")
    assert len(csv_rows) == 1 + sum(len(frame["faces"]) for frame in frames)
    save_screenshot(driver, "video")
    assert console_errors(driver) == []
