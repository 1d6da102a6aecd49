"""Driving the demo page from tests: waiting on what it shows, its console, its modes and its downloads."""

from __future__ import annotations

import json
import time
from pathlib import Path

VISIBLE_ERROR = "(e => e.hidden ? null : e.textContent)(document.getElementById('error'))"
MODEL_SHOWN = "document.getElementById('model').textContent.includes('mini-xception')"


def wait_for(driver, expression: str, seconds: float = 60, error_fails: bool = True):
    """Polls a JavaScript expression until it is truthy; fails at once when the page shows an error instead."""
    deadline = time.monotonic() + seconds
    while True:
        error = driver.execute_script(f"return {VISIBLE_ERROR}") if error_fails else None
        assert error is None, f"the page shows an error: {error}"
        if value := driver.execute_script(f"return {expression}"):
            return value
        assert time.monotonic() < deadline, f"timed out after {seconds} s waiting for {expression}"
        time.sleep(0.05)


def console_errors(driver) -> list[dict]:
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def open_page(driver, url: str) -> None:
    driver.get(f"{url}/")
    wait_for(driver, MODEL_SHOWN)


def show_mode(driver, mode: str) -> None:
    driver.find_element("css selector", f"[data-mode='{mode}']").click()


def downloaded(driver, folder: Path, button: str, name: str, seconds: float = 30):
    """The file a download button saved (a JSON one parsed), once it holds every byte the page offered.

    Existing is not enough: Chromium creates the file empty at once and moves the finished download over it
    later, so a file read as soon as it exists can be empty. The button's `data-bytes` says how many bytes the
    page offered, and the file is whole when it has that many and no `.crdownload` is left in the folder.
    """
    size = int(wait_for(driver, f"document.getElementById('{button}').dataset.bytes", seconds))
    path = folder / name
    deadline = time.monotonic() + seconds
    while not (path.is_file() and path.stat().st_size == size and not any(folder.glob("*.crdownload"))):
        assert time.monotonic() < deadline, f"{name} did not reach the {size} bytes offered in {seconds} s"
        time.sleep(0.05)
    return json.loads(path.read_text()) if name.endswith(".json") else path.read_text()
