"""GET /: the demo page and its static files, their Content-Security-Policy, and MOTIVNET_DEMO=false."""

from __future__ import annotations

import re

import pytest

from service.api.page import STATIC
from tests.api.conftest import serving, tiny_settings

pytestmark = pytest.mark.anyio


async def test_page_and_its_files_are_served_under_a_strict_policy():
    async with serving(tiny_settings()) as client:
        page = await client.get("/")
        script, style, icon = [await client.get(f"/static/{name}") for name in ("app.js", "app.css", "favicon.svg")]
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self';" in policy and "connect-src 'self';" in policy
    assert "unsafe" not in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert [r.status_code for r in (script, style, icon)] == [200, 200, 200]
    assert "javascript" in script.headers["content-type"] and script.text == (STATIC / "app.js").read_text()
    assert style.headers["content-type"].startswith("text/css")


def test_page_has_no_inline_code_that_the_policy_would_block():
    html = (STATIC / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline <script>"
    assert not re.search(r"<style|\sstyle=|\son[a-z]+=", html), "inline style or event handler"
    assert "http://" not in html and "https://" not in html, "the page loads nothing from elsewhere"


async def test_demo_false_leaves_only_the_api():
    async with serving(tiny_settings(demo=False)) as client:
        page = await client.get("/")
        script = await client.get("/static/app.js")
        ready = await client.get("/health/ready")
    assert page.status_code == 404 and page.json()["error"]["code"] == "not_found"
    assert script.status_code == 404
    assert ready.status_code == 200
