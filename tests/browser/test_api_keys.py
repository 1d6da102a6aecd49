"""With API keys configured the page says so in the API's words, takes a key, keeps it in session storage
and works with it.
Keys are `MOTIVNET_API_KEYS`, sent as `Authorization: Bearer <key>` (and `?access_token=` on the WebSocket).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from selenium.webdriver.common.keys import Keys

from bench.server_process import ServerProcess
from tests.browser.page import MODEL_SHOWN, VISIBLE_ERROR, console_errors, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.slow]

KEY = "page-test-key"


@contextmanager
def slow_network(driver, latency_ms: int) -> Iterator[None]:
    """Chromium's own network emulation, so that a reply is still on its way while the page is read."""
    driver.execute_cdp_cmd("Network.enable", {})
    conditions = {"offline": False, "downloadThroughput": -1, "uploadThroughput": -1}
    driver.execute_cdp_cmd("Network.emulateNetworkConditions", {**conditions, "latency": latency_ms})
    try:
        yield
    finally:
        driver.execute_cdp_cmd("Network.emulateNetworkConditions", {**conditions, "latency": 0})


def test_the_page_asks_for_a_key_keeps_it_and_works_with_it(open_browser, group_photo, bundled_weights, monkeypatch):
    monkeypatch.setenv("MOTIVNET_API_KEYS", KEY)
    with ServerProcess("--model-dir", str(bundled_weights / "mini-xception")) as server:
        server.wait_ready()
        driver = open_browser()
        driver.get(f"{server.url}/")
        shown = wait_for(driver, f"{VISIBLE_ERROR} || ({MODEL_SHOWN} && 'the model')", error_fails=False)
        assert shown != "the model", "no key given, yet /v1/models answered"
        field = driver.find_element("id", "api-key")
        with slow_network(driver, latency_ms=500):  # the answer to the new key cannot be back before we look
            field.send_keys(KEY, Keys.TAB)
            assert driver.execute_script(f"return {VISIBLE_ERROR}") is None, "a new key leaves the old refusal"
            wait_for(driver, MODEL_SHOWN)
        assert driver.execute_script("return sessionStorage.getItem('motivnet-api-key')") == KEY
        driver.find_element("id", "photo-input").send_keys(str(group_photo))
        wait_for(driver, "document.querySelectorAll('.face-box').length === 5")
        errors = console_errors(driver)  # reading the browser's log empties it
        assert len(errors) == 1, errors
        assert "401" in errors[0]["message"], "the only console error is the refusal before the key"
