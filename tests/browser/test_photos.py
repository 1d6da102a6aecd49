"""Photos mode in a real headless Chromium against the real server: boxes, labels and bars as the API answers."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from PIL import Image
from selenium.webdriver import ActionChains

from tests.browser.conftest import save_screenshot
from tests.browser.page import VISIBLE_ERROR, console_errors, open_page, wait_for
from tests.heif_files import phone_copy

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.slow]


def shown_boxes(driver) -> list[list]:
    """Each face box on the page: its label text, then left, top, width, height in % of the picture."""
    return driver.execute_script(
        "return [...document.querySelectorAll('.face-box')].map(b => [b.textContent,"
        " ...[b.style.left, b.style.top, b.style.width, b.style.height].map(parseFloat)])"
    )


def api_photo_faces(url: str, photo: Path) -> list[dict]:
    with photo.open("rb") as body:
        answer = httpx.post(f"{url}/predict", files={"file": (photo.name, body, "image/jpeg")}, timeout=60)
    assert answer.status_code == 200, answer.text
    return answer.json()["results"][0]["faces"]


def picked(open_browser, url: str, photo: Path):
    """A fresh page that was given `photo` in its file picker and shows the server's answer."""
    driver = open_browser()
    open_page(driver, url)
    driver.find_element("id", "photo-input").send_keys(str(photo))
    wait_for(driver, "document.querySelectorAll('#photo-results .result').length === 1")
    return driver


def test_photos_show_one_box_and_label_per_face_as_the_api_answers(server, open_browser, group_photo):
    faces = api_photo_faces(server.url, group_photo)
    width, height = Image.open(group_photo).size
    driver = picked(open_browser, server.url, group_photo)
    shown = shown_boxes(driver)
    assert len(faces) == 5
    assert len(shown) == len(faces)
    for index, (face, (text, *place)) in enumerate(zip(faces, shown)):
        x1, y1, x2, y2 = face["box"]
        assert text == f"{index + 1} {face['label']}"
        expected = [100 * x1 / width, 100 * y1 / height, 100 * (x2 - x1) / width, 100 * (y2 - y1) / height]
        assert place == pytest.approx(expected, abs=0.01)
    cards = driver.find_elements("css selector", ".face-card")
    assert [len(card.find_elements("css selector", ".bar")) for card in cards] == [7] * len(faces)
    ActionChains(driver).move_to_element(cards[2]).perform()
    hot = driver.execute_script("return [...document.querySelectorAll('.face-box')].map(b => b.matches('.hot'))")
    assert hot == [False, False, True, False, False]
    timings = driver.find_element("id", "photo-timings").text
    assert all(f"{stage} " in timings for stage in ("detection", "queue", "inference", "total"))
    save_screenshot(driver, "photos")
    assert console_errors(driver) == []


def test_a_refused_upload_shows_the_apis_own_words(server, open_browser, tmp_path):
    notes = tmp_path / "notes.jpg"
    notes.write_text("these are words, not a photo")
    with notes.open("rb") as body:
        refused = httpx.post(f"{server.url}/predict", files={"file": (notes.name, body, "image/jpeg")}, timeout=30)
    assert refused.status_code == 415
    driver = open_browser()
    open_page(driver, server.url)
    driver.find_element("id", "photo-input").send_keys(str(notes))
    assert wait_for(driver, VISIBLE_ERROR, error_fails=False) == refused.json()["error"]["message"]


def test_a_heic_photo_lists_the_faces_the_server_found_without_a_preview(server, open_browser, group_photo, tmp_path):
    """Chromium cannot draw HEIC: the page says so and lists the server's faces (labels and bars), no boxes."""
    heic = phone_copy(group_photo, "HEIF", tmp_path)
    faces = api_photo_faces(server.url, heic)
    driver = picked(open_browser, server.url, heic)
    assert len(faces) == 5
    assert driver.find_element("css selector", ".result h3").text == f"{heic.name}: 5 face(s)"
    assert "cannot show this picture" in driver.find_element("css selector", ".no-preview").text
    assert shown_boxes(driver) == []
    titles = [card.text.split("\n")[0] for card in driver.find_elements("css selector", ".face-card")]
    expected = [f"{index + 1}. {face['label']}" for index, face in enumerate(faces)]
    assert [title.rsplit(" ", 1)[0] for title in titles] == expected
    assert console_errors(driver) == []


def test_an_avif_photo_is_shown_with_its_boxes(server, open_browser, group_photo, tmp_path):
    """Chromium draws AVIF itself, so an AVIF gets the picture and a box per face like a JPEG."""
    avif = phone_copy(group_photo, "AVIF", tmp_path)
    faces = api_photo_faces(server.url, avif)
    driver = picked(open_browser, server.url, avif)
    assert [text for text, *_ in shown_boxes(driver)] == [f"{i + 1} {face['label']}" for i, face in enumerate(faces)]
    assert len(faces) == 5
    assert driver.find_elements("css selector", ".no-preview") == []
    assert console_errors(driver) == []
